#!/usr/bin/env bash
# The storage engines against each other, in-process (meridian-bench
# --driver engine: no network, no transactions layer).
#
#   tests/bench/compare-engines.sh --workload NAME --records N [--threads T]
#       [--duration S] [--memory BYTES] [--direct-io] [--clients N]
#       [--rounds R] [--keep]
#
#   --workload   meridian-bench workload: a b c d e f write txn scan
#   --records    keys in the data set
#   --threads    engine worker threads (default: meridian-bench's, 4)
#   --duration   measured seconds per run (default 10)
#   --memory     engine cache budget in bytes (suffixes KiB MiB GiB allowed;
#                default: meridian-bench's, 256 MiB)
#   --direct-io  O_DIRECT for the engines
#   --clients    operations in flight (default: meridian-bench's)
#   --rounds     runs per engine, alternating engines (default 3)
#   --keep       keep the work directory afterwards
#
# Engines: rocksdb always; pagestore when meridian-bench's engine driver
# accepts --engine pagestore (probed at start, so nothing here changes when
# PageStore lands). Each engine gets its own data directory under
# ${TMPDIR:-/tmp}, loaded once before the rounds when the workload reads
# existing keys: in unsynced batches made durable at the end of the load
# (meridian-bench --load-batch). The measured writes are each fdatasync'ed
# (meridian-bench's default). The last line is `ratio throughput
# pagestore/rocksdb: X.XX`, or `... n/a (pagestore not built yet)` while
# only RocksDB exists. compare-engines-suite.sh runs several workloads and
# thread counts on one load.
#
# Builds nothing: uses ${MERIDIAN_BUILD_DIR:-build/release}/tests/bench/meridian-bench.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

usage() { print_header 31; }

WORKLOAD='' RECORDS='' THREADS='' DURATION=10 MEMORY='' DIRECT=0 CLIENTS='' ROUNDS=3 KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workload|--records|--threads|--duration|--memory|--clients|--rounds) need_value "$@" ;;&
    --workload) WORKLOAD=$2; shift 2 ;;
    --records) RECORDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --memory) MEMORY=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --direct-io) DIRECT=1; shift ;;
    --keep) KEEP=1; shift ;;
    *) help_or_unknown "$1" ;;
  esac
done
require --workload "$WORKLOAD"
require --records "$RECORDS"
check_posint --records "$RECORDS"
[[ -z $THREADS ]] || check_posint --threads "$THREADS"
[[ -z $CLIENTS ]] || check_posint --clients "$CLIENTS"
check_seconds --duration "$DURATION"
check_posint --rounds "$ROUNDS"
MEMORY_MB=
[[ -z $MEMORY ]] || parse_memory_mb --memory "$MEMORY"

find_bench
command -v python3 >/dev/null || die "python3 not found"

make_work meridian-engines

COMMON=(--driver engine --workload "$WORKLOAD" --records "$RECORDS" --quiet)
[[ -n $THREADS ]] && COMMON+=(--threads "$THREADS")
[[ -n $CLIENTS ]] && COMMON+=(--clients "$CLIENTS")
[[ -n $MEMORY_MB ]] && COMMON+=(--engine-memory-mb "$MEMORY_MB")
[[ $DIRECT -eq 1 ]] && COMMON+=(--engine-direct-io)

# Which engines this build has. RocksDB always; PageStore once the engine
# driver accepts it (it answers "unknown engine" until then).
ENGINES=(rocksdb)
if has_pagestore; then ENGINES+=(pagestore); fi
log "engines: ${ENGINES[*]}"

# bench ENGINE NAME ARGS...: one run; output in $WORK/NAME.{out,json}. Each
# run inserts (workloads d, e) from where the engine's last run stopped.
declare -A NEXT_INSERT=()
bench() {
  local engine=$1 name=$2
  shift 2
  run_bench "$name" "$BENCH" "${COMMON[@]}" --engine "$engine" --engine-dir "$WORK/$engine" \
    --insert-start "${NEXT_INSERT[$engine]:-$RECORDS}" "$@" --json "$WORK/$name.json"
  NEXT_INSERT[$engine]=$(json_field "$WORK/$name.json" next_insert)
}

# meridian-bench loads by default exactly when the workload reads existing
# keys; its engine driver loads in unsynced batches, flushed at the end.
for engine in "${ENGINES[@]}"; do
  log "load $engine (if workload $WORKLOAD reads)"
  bench "$engine" "load-$engine" --ops 1
done
for ((r = 1; r <= ROUNDS; r++)); do
  for engine in "${ENGINES[@]}"; do
    log "round $r/$ROUNDS: $engine, $DURATION s"
    bench "$engine" "$engine-$r" --no-load --duration "$DURATION"
  done
done

py_table "$WORK" "$ROUNDS" "$WORKLOAD" "$DURATION" "${BUILD_TYPE:-unknown}" "$DIRECT" "${ENGINES[@]}" <<'PY'
work, rounds, workload, duration, build_type, direct = sys.argv[1:7]
rounds = int(rounds)
engines = sys.argv[7:]
runs = load_runs(work, engines, rounds)
first = runs[engines[0]][0]
print(f"workload {workload}: {first['mix']}; {first['distribution']} over {first['records']} records; "
      f"key {first['key_size']} B, value {first['value_size']} B")
print(f"in-process engine driver, {first['engine_threads']} threads, {first['clients']} clients; "
      f"{duration} s per run; {rounds} rounds; fdatasync per write; "
      f"direct I/O {'on' if direct == '1' else 'off'}; {build_type} build")
for e in engines:
    print(f"{e}: {runs[e][0]['target']}")
print()
w = 12
print(f"{'median of ' + str(rounds):<18}" + "".join(f"{e:>{w}}" for e in engines))
print(f"{'throughput ops/s':<18}" + "".join(f"{med(e, tput):>{w}.0f}" for e in engines))
print(f"{'p50 ms':<18}" + "".join(f"{med(e, p50):>{w}.3f}" for e in engines))
print(f"{'p99 ms':<18}" + "".join(f"{med(e, p99):>{w}.3f}" for e in engines))
print(f"{'errors (all)':<18}" + "".join(f"{sum(r['errors'] for r in runs[e]):>{w}}" for e in engines))
print()
print_rounds(engines, "engine", 10)
print()
if "pagestore" in engines and med("rocksdb", tput) > 0:
    print(f"ratio throughput pagestore/rocksdb: {med('pagestore', tput) / med('rocksdb', tput):.2f}")
else:
    print("ratio throughput pagestore/rocksdb: n/a (pagestore not built yet)")
PY
