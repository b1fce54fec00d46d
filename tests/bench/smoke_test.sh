#!/usr/bin/env bash
# Smoke test of meridian-bench against a live target (ctest, label
# integration). A 3 s write run must finish with operations done and no
# errors, and every key it reports as written must read back
# (--verify-writes); then a short workload A run, with its load, must do
# the same (the engine driver's load: batched, unsynced, finished OK). Also
# checks the usage exit code.
#
#   smoke_test.sh meridian|engine MERIDIAN_BENCH MERIDIAND
#
# meridian: starts a real meridiand (--dev, kernel-chosen port) and kills it
# on exit. engine: RocksEngine in-process, in a temporary directory.
set -euo pipefail
driver=$1
bench=$2
meridiand=$3
work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n $pid ]]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL ($driver): $*"
  [[ -f $work/meridiand.log ]] && { echo "--- meridiand log (tail)"; tail -n 30 "$work/meridiand.log"; }
  exit 1
}

case $driver in
  meridian)
    [[ -x $meridiand ]] || fail "no meridiand at $meridiand (build it first)"
    "$meridiand" --dev --data-dir "$work/data" --listen 127.0.0.1:0 --port-file "$work/port" \
      --log-format text 2>"$work/meridiand.log" &
    pid=$!
    for _ in $(seq 1 300); do
      [[ -f $work/port && $(wc -l <"$work/port") -ge 1 ]] && break
      kill -0 "$pid" 2>/dev/null || fail "meridiand exited early"
      sleep 0.1
    done
    [[ -f $work/port ]] || fail "meridiand wrote no port file in 30 s"
    target=(--driver meridian --endpoints "127.0.0.1:$(head -n1 "$work/port")")
    # Serving once a one-key load succeeds (the node may still be electing).
    for _ in $(seq 1 60); do
      "$bench" "${target[@]}" --workload c --records 1 --ops 1 --quiet >/dev/null 2>&1 && break
      sleep 0.5
    done
    ;;
  engine)
    target=(--driver engine --engine-dir "$work/engine" --threads 4)
    ;;
  *)
    echo "usage: $0 meridian|engine MERIDIAN_BENCH MERIDIAND" >&2
    exit 2
    ;;
esac

# check JSON_FILE READ_AND_UPDATE(0|1): the run did operations, none failed,
# and every written key read back.
check() {
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
problems = []
if r["ops"] <= 0: problems.append("no operations completed")
if r["errors"] != 0: problems.append(f"{r['errors']} errors: {r['errors_by_kind']}")
if r["stuck"] != 0: problems.append(f"{r['stuck']} operations never completed")
v = r.get("verify")
if v is None: problems.append("no verify section")
else:
    if v["written_keys"] <= 0: problems.append("no keys reported as written")
    if v["intact"] != v["written_keys"] or v["mismatched"] != 0:
        problems.append(f"verify: {v['intact']} of {v['written_keys']} intact, {v['errors_by_kind']}")
if sys.argv[2] == "1":
    for op in ("read", "update"):
        if r["by_op"][op]["ops"] <= 0: problems.append(f"no {op} completed")
if problems:
    print("\n".join(problems)); sys.exit(1)
print(f"ok: {r['ops']} ops, {r['ops_per_sec']:.0f} ops/s, "
      f"{v['written_keys']} written keys all read back")
PY
}

echo "== write, 3 s, --verify-writes"
"$bench" "${target[@]}" --workload write --duration 3 --records 5000 --clients 32 \
  --verify-writes --json "$work/write.json" --quiet || fail "write run exited $?"
check "$work/write.json" 0 || fail "write run"

echo "== workload a, 1 s, after a load"
"$bench" "${target[@]}" --workload a --duration 1 --records 500 --clients 32 \
  --verify-writes --json "$work/a.json" --quiet || fail "workload a exited $?"
check "$work/a.json" 1 || fail "workload a"
if [[ $driver == engine ]]; then
  # The engine driver loads in unsynced batches, durable once the load is done.
  python3 - "$work/a.json" <<'PY' || fail "workload a's load"
import json, sys
load = json.load(open(sys.argv[1]))["load"]
if "unsynced" not in load["method"] or load["finish"] != "OK":
    print(f"load: {load}"); sys.exit(1)
PY
fi

echo "== usage errors exit 2"
set +e
"$bench" "${target[@]}" --workload nosuch >/dev/null 2>&1
code=$?
set -e
[[ $code -eq 2 ]] || fail "bad --workload exited $code, want 2"

echo "smoke test OK ($driver)"
