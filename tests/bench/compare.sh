#!/usr/bin/env bash
# Meridian against etcd 3.4 on this machine, same workload, same client.
#
#   tests/bench/compare.sh --workload NAME --duration SECONDS [--clients N]
#                          [--rounds R] [--records N] [--shards N]
#                          [--txn-keys N] [--keep]
#
#   --workload   meridian-bench workload: a b c d e f write txn scan
#   --duration   measured seconds per run
#   --clients    operations in flight (default: meridian-bench's, 32)
#   --rounds     runs per target, alternating meridian, etcd, meridian, ...
#                (default 3); the table shows medians and every round
#   --records    keys in the data set (default: meridian-bench's, 10000)
#   --shards     meridian range shards (default 1), split where each holds
#                about as many of meridian-bench's keys (bench_split_points)
#   --txn-keys   keys per transaction of workload txn (default 4)
#   --keep       keep the work directory (data, logs, JSON) afterwards
#
# Starts a 3-member etcd cluster (etcd_cluster.sh) and a 3-node replicated
# meridiand group (--cluster) on 127.0.0.1, both with fsync on,
# in a fresh directory under ${TMPDIR:-/tmp}. When the workload reads
# existing keys, each target is loaded once before the rounds; the rounds
# then run with --no-load. Everything started is stopped on exit, failure or
# Ctrl-C. The table goes to stdout and ends with the line
#   ratio throughput meridian/etcd: X.XX
# Its header gives the shard count and which node leads which shard, at the
# start and, if that changed, at the end. Workloads with read-modify-writes
# (f, txn) also show aborts per commit: transaction attempts that aborted on
# a conflict and were retried (etcd: Txn compares that failed), per commit.
#
# Builds nothing: it uses the build in ${MERIDIAN_BUILD_DIR:-build/release}
# (relative to the repository) and, if that lacks meridiand or
# meridian-bench, prints the commands that build them. Benchmark a Release
# build; the table notes any other build type.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

usage() { print_header 34; }

WORKLOAD='' DURATION='' CLIENTS='' RECORDS='' ROUNDS=3 SHARDS=1 TXN_KEYS=4 KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workload|--duration|--clients|--rounds|--records|--shards|--txn-keys) need_value "$@" ;;&
    --workload) WORKLOAD=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --records) RECORDS=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    --txn-keys) TXN_KEYS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) help_or_unknown "$1" ;;
  esac
done
require --workload "$WORKLOAD"
require --duration "$DURATION"
check_seconds --duration "$DURATION"
check_posint --rounds "$ROUNDS"
[[ -z $CLIENTS ]] || check_posint --clients "$CLIENTS"
[[ -z $RECORDS ]] || check_posint --records "$RECORDS"
check_posint --shards "$SHARDS"
check_posint --txn-keys "$TXN_KEYS"

BUILD=$(abs_build "${MERIDIAN_BUILD_DIR:-build/release}")
BENCH=$BUILD/tests/bench/meridian-bench
MERIDIAND=$BUILD/server/meridiand
if [[ ! -x $BENCH || ! -x $MERIDIAND || ! -x $BUILD/client/meridianctl ]]; then
  cat >&2 <<MSG
compare.sh: no meridiand, meridianctl and meridian-bench in $BUILD.
Build them (Release) first, from $ROOT:
  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build/release --target meridiand meridianctl meridian-bench
or point MERIDIAN_BUILD_DIR at a build that has them.
MSG
  exit 2
fi
check_build_type
need_tools etcd etcdctl python3

make_work meridian-compare
check_fs

# ---- targets
MACHINE=$(machine_summary)
log "starting a 3-member etcd cluster"
ETCD_EPS=$("$ROOT/tests/bench/etcd_cluster.sh" start "$WORK/etcd" --members 3)

MERIDIAN_FLAGS=()
SPLIT_POINTS=
if [[ $SHARDS -gt 1 ]]; then
  SPLIT_POINTS=$(bench_split_points "$SHARDS")
  MERIDIAN_FLAGS=(--split-points "$SPLIT_POINTS")
fi
log "starting a 3-node meridian group, $SHARDS shard(s)${SPLIT_POINTS:+ split at $SPLIT_POINTS}"
start_meridian_group "${MERIDIAN_FLAGS[@]}"
ready=0
for _ in $(seq 1 300); do
  check_meridians "a meridiand exited during start-up"
  if meridian_shards "$WORK/shards-start.json" &&
      "$BUILD/client/meridianctl" --endpoints "$MERIDIAN_EP" --timeout 1s get compare/probe \
      >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
[[ $ready -eq 1 ]] || fail "the meridian group did not elect a leader for every shard in 30 s"
SHARDS_START=$(shard_summary "$WORK/shards-start.json")
log "meridian: $SHARDS_START"

declare -A EP=([meridian]=$MERIDIAN_EP [etcd]=$ETCD_EPS)
COMMON=(--workload "$WORKLOAD" --quiet)
[[ -n $CLIENTS ]] && COMMON+=(--clients "$CLIENTS")
[[ -n $RECORDS ]] && COMMON+=(--records "$RECORDS")
COMMON+=(--txn-keys "$TXN_KEYS")

# bench SIDE NAME ARGS...: one meridian-bench run; output in $WORK/NAME.{out,json}.
bench() {
  local side=$1 name=$2
  shift 2
  run_bench "$name" "$BENCH" --driver "$side" --endpoints "${EP[$side]}" "${COMMON[@]}" "$@" \
    --json "$WORK/$name.json"
}

# ---- load: meridian-bench loads by default exactly when the workload reads
# existing keys; one measured operation, then every round runs --no-load.
for side in meridian etcd; do
  log "load $side (if workload $WORKLOAD reads)"
  bench "$side" "load-$side" --ops 1
done

# ---- rounds, alternating
for ((r = 1; r <= ROUNDS; r++)); do
  for side in meridian etcd; do
    log "round $r/$ROUNDS: $side, $DURATION s"
    bench "$side" "$side-$r" --no-load --duration "$DURATION"
    python3 - "$WORK/$side-$r.json" <<'PY' >&2
import json, sys
r = json.load(open(sys.argv[1]))
print(f"compare.sh:   {r['ops_per_sec']:.0f} ops/s, p50 {r['total']['latency_us']['p50']/1000:.2f} ms, "
      f"p99 {r['total']['latency_us']['p99']/1000:.2f} ms, {r['errors']} errors"
      + (f", {r['aborts_per_commit']:.3f} aborts/commit" if "aborts_per_commit" in r else ""))
PY
  done
done

# ---- table
SHARDS_END=
meridian_shards "$WORK/shards-end.json" && SHARDS_END=$(shard_summary "$WORK/shards-end.json")
py_table "$WORK" "$ROUNDS" "$WORKLOAD" "$DURATION" "${BUILD_TYPE:-unknown}" "$MACHINE" \
    "$SHARDS_START" "${SHARDS_END:-unknown (no leader for every shard)}" "$SPLIT_POINTS" <<'PY'
work, workload, duration, build_type, machine = sys.argv[1], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
rounds = int(sys.argv[2])
shards_start, shards_end, split_points = sys.argv[7], sys.argv[8], sys.argv[9]
sides = ["meridian", "etcd"]
runs = load_runs(work, sides, rounds)
loads = {s: json.load(open(os.path.join(work, f"load-{s}.json"))) for s in sides}

first = runs["meridian"][0]
print(f"workload {workload}: {first['mix']}; {first['distribution']} over {first['records']} records; "
      f"key {first['key_size']} B, value {first['value_size']} B"
      + (f"; {first['rmw_keys']} keys per transaction" if "rmw" in first.get("by_op", {}) else ""))
print(f"closed loop, {first['clients']} clients; {duration} s per run; {rounds} rounds, "
      f"alternating meridian, etcd; loopback; fsync on for both; {build_type} build")
print(f"machine: {machine}")
print("meridian: 3 nodes on one machine, each shard a MultiPaxos group of all 3 "
      "(WAL fdatasync on a majority per commit)")
print(f"meridian shards: {shards_start}" +
      (f"; at the end: {shards_end}" if shards_end != shards_start else " (unchanged at the end)"))
if split_points:
    print(f"meridian split points: {split_points}")
print(f"etcd:     {runs['etcd'][0]['target']} on one machine")
loaded = [s for s in sides if loads[s].get("loaded")]
if loaded:
    print("loaded before the rounds: " + ", ".join(
        f"{s} {loads[s]['load']['keys']} keys in {loads[s]['load']['seconds']:.1f} s" for s in loaded))
print()
print(f"{'median of ' + str(rounds):<18} {'meridian':>12} {'etcd':>12}")
print(f"{'throughput ops/s':<18} {med('meridian', tput):>12.0f} {med('etcd', tput):>12.0f}")
print(f"{'p50 ms':<18} {med('meridian', p50):>12.3f} {med('etcd', p50):>12.3f}")
print(f"{'p99 ms':<18} {med('meridian', p99):>12.3f} {med('etcd', p99):>12.3f}")
ops = list(first.get("by_op", {}))
if len(ops) > 1:
    for op in ops:
        def op_ms(pct, op=op):
            return lambda r: r["by_op"][op]["latency_us"][pct] / 1000
        for pct in ("p50", "p99"):
            label = f"  {op} {pct} ms"
            print(f"{label:<18} {med('meridian', op_ms(pct)):>12.3f} {med('etcd', op_ms(pct)):>12.3f}")
if "aborts_per_commit" in first:
    print(f"{'aborts/commit':<18} {med('meridian', lambda r: r['aborts_per_commit']):>12.3f} "
          f"{med('etcd', lambda r: r['aborts_per_commit']):>12.3f}")
    print(f"{'abort rate %':<18} {med('meridian', lambda r: 100 * r['abort_rate']):>12.1f} "
          f"{med('etcd', lambda r: 100 * r['abort_rate']):>12.1f}")
errs = {s: sum(r["errors"] for r in runs[s]) for s in sides}
print(f"{'errors (all)':<18} {errs['meridian']:>12} {errs['etcd']:>12}")
print()
print_rounds(sides, "target", 9)
for s in sides:
    kinds = {}
    for r in runs[s]:
        for k, e in r.get("errors_by_kind", {}).items():
            kinds.setdefault(k, [0, e["first"]])[0] += e["count"]
    for k, (n, first_msg) in kinds.items():
        print(f"{s} errors {k}: {n} (first: {first_msg})")
print()
m, e = med("meridian", tput), med("etcd", tput)
print(f"ratio throughput meridian/etcd: {m / e:.2f}" if e > 0 else
      "ratio throughput meridian/etcd: n/a (etcd completed no operations)")
PY
