#!/usr/bin/env bash
# Smoke test of failover.sh: 2 trials against a 3-node Meridian group and a
# 3-member etcd, then checks that the table has a median for both systems and
# ends with the ratio line. It measures nothing worth keeping (dev build,
# 2 trials); docs/benchmarks.md has the real figures.
#
#   tests/bench/failover_smoke_test.sh [BUILD_DIR]
#
# Default build: ${MERIDIAN_BUILD_DIR:-build/dev}. Registered in ctest as
# bench_failover_smoke (label integration).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
help_header 10 "${1:-}"
BUILD=${1:-$ROOT/${MERIDIAN_BUILD_DIR:-build/dev}}

out=$(mktemp "${TMPDIR:-/tmp}/failover-smoke.XXXXXX")
trap 'rm -f "$out"' EXIT
run_checked "$out" failover.sh "$ROOT/tests/bench/failover.sh" --build "$BUILD" --trials 2 --settle 0.5
python3 - "$out" <<'PY' || { cat "$out"; exit 1; }
import re, sys
lines = open(sys.argv[1]).read().splitlines()
problems = []
trials = [l for l in lines if re.match(r"^[12]\s+(meridian|etcd)\s+\d+\.\d\s", l)]
if len(trials) != 4:
    problems.append(f"expected 4 trial rows, found {len(trials)}")
median = [l for l in lines if l.startswith("median ")]
if not median or not re.match(r"^median\s+\d+\.\d\s+\d+\.\d$", median[0]):
    problems.append(f"no median for both systems: {median}")
if not lines or not re.match(r"^ratio failover median meridian/etcd: \d+\.\d\d$", lines[-1]):
    problems.append(f"last line is not the ratio: {lines[-1:] }")
if problems:
    print("FAIL: " + "; ".join(problems))
    sys.exit(1)
m, e = median[0].split()[1:]
print(f"failover smoke OK: median meridian {m} ms, etcd {e} ms; {lines[-1]}")
PY
