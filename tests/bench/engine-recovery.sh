#!/usr/bin/env bash
# Recovery time of the storage engines: how long Open takes on a loaded
# store after a clean close, and after kill -9 in the middle of synced
# writes (meridian-bench --driver engine; no network, no consensus).
#
#   tests/bench/engine-recovery.sh --records N [--value-size B]
#       [--memory BYTES] [--direct-io] [--write-seconds S] [--trials T]
#       [--engines rocksdb,pagestore] [--keep]
#
#   --records        keys loaded (batched, unsynced, flushed at the end)
#   --value-size     bytes per value (default 100)
#   --memory         engine cache budget (KiB MiB GiB suffixes; default 256MiB)
#   --direct-io      O_DIRECT for the engines
#   --write-seconds  synced YCSB A (50% updates) before each kill -9 (default 20)
#   --trials         kill -9 and reopen this many times per engine (default 3)
#   --engines        which engines (default: rocksdb, and pagestore if built)
#   --keep           keep the work directory afterwards
#
# Per engine: load, time a clean open (one read, --no-load), then T times:
# run workload a with synced writes for S seconds, kill -9, and time the
# next open, which replays what the crash left in the log (PageStore: the
# redo log since the last checkpoint, at most its checkpoint interval of
# 64 MiB; RocksDB: its WAL). Prints each open time and the median.
#
# Builds nothing: uses ${MERIDIAN_BUILD_DIR:-build/release}/tests/bench/meridian-bench.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

usage() { print_header 25; }

RECORDS='' VALUE=100 MEMORY='' DIRECT=0 WRITE_SECONDS=20 TRIALS=3 ENGINE_LIST='' KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --records|--value-size|--memory|--write-seconds|--trials|--engines) need_value "$@" ;;&
    --records) RECORDS=$2; shift 2 ;;
    --value-size) VALUE=$2; shift 2 ;;
    --memory) MEMORY=$2; shift 2 ;;
    --write-seconds) WRITE_SECONDS=$2; shift 2 ;;
    --trials) TRIALS=$2; shift 2 ;;
    --engines) ENGINE_LIST=$2; shift 2 ;;
    --direct-io) DIRECT=1; shift ;;
    --keep) KEEP=1; shift ;;
    *) help_or_unknown "$1" ;;
  esac
done
require --records "$RECORDS"
check_posint --records "$RECORDS"
check_posint --value-size "$VALUE"
check_seconds --write-seconds "$WRITE_SECONDS"
check_posint --trials "$TRIALS"
MEMORY_MB=
[[ -z $MEMORY ]] || parse_memory_mb --memory "$MEMORY"

find_bench
need_tools python3
make_work meridian-recovery

ENGINES=()
if [[ -n $ENGINE_LIST ]]; then
  check_list --engines "$ENGINE_LIST" 'rocksdb|pagestore'
  IFS=, read -r -a ENGINES <<<"$ENGINE_LIST"
else
  ENGINES=(rocksdb)
  if has_pagestore; then ENGINES+=(pagestore); fi
fi

COMMON=(--driver engine --records "$RECORDS" --value-size "$VALUE" --quiet)
[[ -n $MEMORY_MB ]] && COMMON+=(--engine-memory-mb "$MEMORY_MB")
[[ $DIRECT -eq 1 ]] && COMMON+=(--engine-direct-io)

# open_time ENGINE NAME: opens the engine's store for one read and prints
# the open time meridian-bench reports.
open_time() {
  "$BENCH" "${COMMON[@]}" --engine "$1" --engine-dir "$WORK/$1" --workload c --ops 1 --no-load \
    --json "$WORK/$2.json" >"$WORK/$2.out" 2>&1 || { cat "$WORK/$2.out" >&2; fail "$2 failed"; }
  json_field "$WORK/$2.json" open_seconds
}

declare -A CLEAN CRASHED
for engine in "${ENGINES[@]}"; do
  log "load $engine: $RECORDS records of $VALUE B"
  "$BENCH" "${COMMON[@]}" --engine "$engine" --engine-dir "$WORK/$engine" --workload c --ops 1 \
    >"$WORK/load-$engine.out" 2>&1 || { cat "$WORK/load-$engine.out" >&2; fail "load failed"; }
  CLEAN[$engine]=$(open_time "$engine" "clean-$engine")
  log "$engine: clean open ${CLEAN[$engine]} s"
  times=()
  for ((t = 1; t <= TRIALS; t++)); do
    "$BENCH" "${COMMON[@]}" --engine "$engine" --engine-dir "$WORK/$engine" --workload a \
      --no-load --duration 3600 >"$WORK/write-$engine-$t.out" 2>&1 &
    BPID=$!
    sleep "$WRITE_SECONDS"
    running "$BPID" || { cat "$WORK/write-$engine-$t.out" >&2; fail "the write run ended early"; }
    kill -KILL "$BPID"
    wait "$BPID" 2>/dev/null || true
    BPID=
    times+=("$(open_time "$engine" "crash-$engine-$t")")
    log "$engine: open after kill -9 #$t: ${times[-1]} s"
  done
  CRASHED[$engine]="${times[*]}"
done

echo "engine recovery: $RECORDS records of $VALUE B; memory ${MEMORY:-default}; direct I/O $([[ $DIRECT -eq 1 ]] && echo on || echo off); ${BUILD_TYPE:-unknown} build"
echo "machine: $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
printf '%-10s %14s %28s %12s\n' engine "clean open s" "open after kill -9, s" "median s"
for engine in "${ENGINES[@]}"; do
  # shellcheck disable=SC2086  # the list is split on purpose
  median=$(printf '%s\n' ${CRASHED[$engine]} | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  printf '%-10s %14.3f %28s %12.3f\n' "$engine" "${CLEAN[$engine]}" "${CRASHED[$engine]}" "$median"
done
