#!/usr/bin/env bash
# What an online split costs: a shard of --mib MiB split in two while
# YCSB A runs against it, on a 3-node meridiand group on this machine.
#
#   tests/bench/split.sh [--mib N] [--value-size BYTES] [--duration SECONDS]
#                        [--rounds R] [--keep]
#
#   --mib         data loaded into the one shard before it splits (default 32)
#   --value-size  bytes per value (default 1000)
#   --duration    seconds of each measured run (default 12)
#   --rounds      splits measured, each on a fresh group (default 3); the
#                 table shows every round and the medians
#   --keep        keep the work directory (data, logs, JSON) afterwards
#
# Each round: start a group with one shard (--split-size 0), load the data,
# run YCSB A for --duration as a baseline, then run it again and, a third
# of the way in, split the shard at its middle key (meridianctl shard
# split). Reported per round: how long the split command took; how long
# each replica's apply spent seeding the new group (the log's "seeded a
# split's new group": the parent's consensus rounds on that node wait for
# it); and the throughput, p99 and worst latency of the run without and
# with the split.
#
# Builds nothing: it uses ${MERIDIAN_BUILD_DIR:-build/release}.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

MIB=32 VALUE_SIZE=1000 DURATION=12 ROUNDS=3 KEEP=0
while [[ $# -gt 0 ]]; do
  help_header 24 "$1"
  case $1 in
    --mib) need_value "$@"; check_posint "$1" "$2"; MIB=$2; shift 2 ;;
    --value-size) need_value "$@"; check_posint "$1" "$2"; VALUE_SIZE=$2; shift 2 ;;
    --duration) need_value "$@"; check_seconds "$1" "$2"; DURATION=$2; shift 2 ;;
    --rounds) need_value "$@"; check_posint "$1" "$2"; ROUNDS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) help_or_unknown 24 "$1" ;;
  esac
done

find_bench
MERIDIAND=$BUILD/server/meridiand
CTL=$BUILD/client/meridianctl
need_tools python3
make_work meridian-split
check_fs
RECORDS=$((MIB * 1024 * 1024 / (VALUE_SIZE + 24)))
MIDDLE=$(bench_split_points 2)
log "$(machine_summary)"
log "$ROUNDS round(s): $RECORDS records of $VALUE_SIZE B (~$MIB MiB), split at $MIDDLE"

for ((r = 1; r <= ROUNDS; r++)); do
  rm -rf "$WORK/meridian"
  MPIDS=()
  start_meridian_group --split-size 0
  ready=0
  for _ in $(seq 1 300); do
    if meridian_shards "$WORK/shards-$r.json"; then ready=1; break; fi
    sleep 0.1
  done
  [[ $ready -eq 1 ]] || fail "round $r: the group did not elect a leader in 30 s"
  COMMON=(--driver meridian --endpoints "$MERIDIAN_EP" --workload a --records "$RECORDS"
    --value-size "$VALUE_SIZE" --quiet)
  log "round $r: load"
  run_bench "load-$r" "$BENCH" "${COMMON[@]}" --load --load-order sorted --ops 1 \
    --json "$WORK/load-$r.json"
  log "round $r: baseline, $DURATION s"
  run_bench "base-$r" "$BENCH" "${COMMON[@]}" --no-load --duration "$DURATION" \
    --json "$WORK/base-$r.json"
  log "round $r: split during the run"
  "$BENCH" "${COMMON[@]}" --no-load --duration "$DURATION" --json "$WORK/split-$r.json" \
    </dev/null >"$WORK/split-$r.out" 2>&1 &
  BPID=$!
  sleep "$(python3 -c "print($DURATION / 3)")"
  start_ns=$(date +%s%N)
  "$CTL" --endpoints "$MERIDIAN_EP" --timeout 60s shard split "$MIDDLE" >"$WORK/ctl-$r.out" 2>&1 ||
    fail "round $r: shard split failed: $(cat "$WORK/ctl-$r.out")"
  echo $((($(date +%s%N) - start_ns) / 1000000)) >"$WORK/ctl-$r.ms"
  wait "$BPID" || fail "round $r: meridian-bench failed during the split; see $WORK/split-$r.out"
  BPID=
  grep -h "seeded a split" "$WORK"/meridiand-*.log >"$WORK/seed-$r.log" || true
  for p in "${MPIDS[@]}"; do stop_child "$p"; done
  : >"$WORK/meridiand-1.log"; : >"$WORK/meridiand-2.log"; : >"$WORK/meridiand-3.log"
done

python3 - "$WORK" "$ROUNDS" <<'PY'
import json, re, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
rows = []
for r in range(1, rounds + 1):
    base = json.load(open(f"{work}/base-{r}.json"))["total"]
    split = json.load(open(f"{work}/split-{r}.json"))["total"]
    ctl_ms = int(open(f"{work}/ctl-{r}.ms").read())
    seeds = [int(m) for m in re.findall(r"ms=(\d+)", open(f"{work}/seed-{r}.log").read())]
    rows.append((r, ctl_ms, max(seeds) if seeds else -1, len(seeds),
                 base["ops_per_sec"], split["ops_per_sec"],
                 base["latency_us"]["p99"] / 1000, split["latency_us"]["p99"] / 1000,
                 base["latency_us"]["max"] / 1000, split["latency_us"]["max"] / 1000))
hdr = ("round", "split ms", "seed ms", "seeds", "ops/s base", "ops/s split",
       "p99 base", "p99 split", "max base", "max split")
print(" ".join(f"{h:>11}" for h in hdr))
for row in rows:
    print(" ".join(f"{v:>11.1f}" if isinstance(v, float) else f"{v:>11}" for v in row))
med = lambda i: statistics.median(row[i] for row in rows)
print(" ".join(f"{'median':>11}" if i == 0 else f"{med(i):>11.1f}" for i in range(len(hdr))))
print(f"ratio throughput split/base: {med(5) / med(4):.2f}")
PY
