#!/usr/bin/env bash
# Smoke test of meridian-bench's etcd driver against a real etcd: starts a
# 1-member etcd 3.4 (etcd_cluster.sh) in a temp dir on free loopback ports,
# runs a 3-second write workload with --verify-writes, and checks that
# meridian-bench exits 0, completed operations, and read every write back.
#
#   tests/bench/etcd_smoke_test.sh [PATH/TO/meridian-bench]
#
# Default binary: ${MERIDIAN_BUILD_DIR:-build/dev}/tests/bench/meridian-bench.
# Registered in ctest as etcd_smoke_test (label integration).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
help_header 10 "${1:-}"
BENCH=${1:-$ROOT/${MERIDIAN_BUILD_DIR:-build/dev}/tests/bench/meridian-bench}
[[ -x $BENCH ]] || { echo "FAIL: meridian-bench not found at $BENCH (build target meridian-bench)"; exit 1; }
for tool in etcd etcdctl python3; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool not found (sudo apt-get install -y etcd-server etcd-client python3)"; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/etcd-smoke.XXXXXX")
cleanup() {
  stop_etcd "$work/etcd"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

eps=$("$ROOT/tests/bench/etcd_cluster.sh" start "$work/etcd" --members 1) || {
  echo "FAIL: could not start etcd"; exit 1; }

run_checked "$work/bench.out" meridian-bench "$BENCH" --driver etcd --endpoints "$eps" --workload write \
  --duration 3 --verify-writes --json "$work/result.json"

python3 - "$work/result.json" <<'PY' || { cat "$work/bench.out"; exit 1; }
import json, sys
r = json.load(open(sys.argv[1]))
problems = []
if r.get("driver") != "etcd":
    problems.append(f"driver is {r.get('driver')!r}, not 'etcd'")
if not r.get("ops", 0) > 0:
    problems.append(f"ops = {r.get('ops')}, expected > 0")
if r.get("errors", 0) != 0:
    problems.append(f"errors = {r.get('errors')}: {r.get('errors_by_kind')}")
v = r.get("verify")
if v is None:
    problems.append("no verify section despite --verify-writes")
elif v.get("mismatched", 0) != 0 or v.get("intact", 0) != v.get("written_keys", -1):
    problems.append(f"verify: {v}")
if problems:
    print("FAIL: " + "; ".join(problems))
    sys.exit(1)
print(f"etcd smoke OK: {r['target']}: {r['ops']} ops, {r['ops_per_sec']:.0f} ops/s, "
      f"{v['intact']} keys verified")
PY
