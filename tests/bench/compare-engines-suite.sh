#!/usr/bin/env bash
# The storage engines against each other over several YCSB workloads and
# thread counts on one load (meridian-bench --driver engine, in-process).
#
#   tests/bench/compare-engines-suite.sh --records N [--workloads a,b,c,f,d,e]
#       [--threads-list 1,2] [--value-size B] [--key-size B] [--memory BYTES]
#       [--direct-io] [--rounds R] [--duration S] [--warmup S] [--clients N]
#       [--load-batch N] [--load-order hashed|sorted] [--distribution NAME]
#       [--out FILE] [--keep]
#
#   --records       keys loaded into each engine
#   --workloads     YCSB workloads, run in this order (default a,b,c,f,d,e:
#                   d and e insert new keys, so they go last)
#   --threads-list  engine worker threads, each a set of runs (default 1,2)
#   --value-size    bytes per value (default 100)
#   --key-size      bytes per key (default 16)
#   --memory        each engine's cache budget in bytes (KiB MiB GiB allowed;
#                   default: meridian-bench's, 256 MiB)
#   --direct-io     O_DIRECT for both engines
#   --rounds        runs per engine of each workload and thread count (default 3)
#   --duration      measured seconds per run (default 10)
#   --warmup        seconds run before measuring, per run (default 0)
#   --clients       operations in flight (default: meridian-bench's, 32)
#   --load-batch    keys per load WriteBatch (default: meridian-bench's, 1000)
#   --load-order    hashed (default, YCSB's: keys scattered over the key
#                   space as they are loaded) or sorted (a bulk load in key
#                   order); the measured runs are the same either way
#   --distribution  zipfian|uniform|latest for every workload (default: each
#                   workload's own: zipfian, and latest for d, as YCSB)
#   --out FILE      also write the summary: JSON to FILE, the printed text to
#                   FILE with .json replaced by (or else followed by) .txt
#   --keep          keep the work directory (data, logs, JSON) afterwards
#
# Each engine (rocksdb, pagestore) is loaded once, in its own directory
# under ${TMPDIR:-/tmp}: unsynced WriteBatches of --load-batch keys, made
# durable by one engine Flush at the end. Then, for each workload and thread
# count, --rounds rounds, each running both engines (rocksdb first in odd
# rounds, pagestore first in even ones), each run a separate meridian-bench
# process (--no-load; seed = round; the measured writes each fdatasync'ed,
# one WriteBatch per write). Runs of d and e insert from where the engine's
# previous run stopped. Prints, per workload and thread count, the median
# throughput and p99 of each engine and the ratio pagestore/rocksdb; per
# thread count the geometric mean of the ratios of the point workloads (a b
# c f present) and e's ratio; each engine's load time and rate; and its open
# time (recovery) after the load and over all runs. Progress goes to stderr.
#
# Builds nothing: uses ${MERIDIAN_BUILD_DIR:-build/release}/tests/bench/meridian-bench.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

usage() { print_header 47; }

RECORDS='' WORKLOADS=a,b,c,f,d,e THREADS_LIST=1,2 VALUE_SIZE=100 KEY_SIZE=16 MEMORY='' DIRECT=0
ROUNDS=3 DURATION=10 WARMUP=0 CLIENTS='' LOAD_BATCH='' LOAD_ORDER='' DISTRIBUTION='' OUT='' KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --records|--workloads|--threads-list|--value-size|--key-size|--memory|--rounds|--duration|\
    --warmup|--clients|--load-batch|--load-order|--distribution|--out) need_value "$@" ;;&
    --records) RECORDS=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --threads-list) THREADS_LIST=$2; shift 2 ;;
    --value-size) VALUE_SIZE=$2; shift 2 ;;
    --key-size) KEY_SIZE=$2; shift 2 ;;
    --memory) MEMORY=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --load-batch) LOAD_BATCH=$2; shift 2 ;;
    --load-order) LOAD_ORDER=$2; shift 2 ;;
    --distribution) DISTRIBUTION=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --direct-io) DIRECT=1; shift ;;
    --keep) KEEP=1; shift ;;
    *) help_or_unknown "$1" ;;
  esac
done
require --records "$RECORDS"
check_posint --records "$RECORDS"
check_list --workloads "$WORKLOADS" '[a-f]'
check_list --threads-list "$THREADS_LIST" '[1-9][0-9]*'
check_posint --value-size "$VALUE_SIZE"
check_posint --key-size "$KEY_SIZE"
check_posint --rounds "$ROUNDS"
check_seconds --duration "$DURATION"
check_seconds --warmup "$WARMUP"
[[ -z $CLIENTS ]] || check_posint --clients "$CLIENTS"
[[ -z $LOAD_BATCH ]] || check_posint --load-batch "$LOAD_BATCH"
[[ -z $LOAD_ORDER ]] || check_list --load-order "$LOAD_ORDER" 'hashed|sorted'
[[ -z $DISTRIBUTION || $DISTRIBUTION =~ ^(zipfian|uniform|latest)$ ]] ||
  die "--distribution must be zipfian, uniform or latest"
MEMORY_MB=
[[ -z $MEMORY ]] || parse_memory_mb --memory "$MEMORY"
IFS=, read -r -a WLIST <<<"$WORKLOADS"
IFS=, read -r -a TLIST <<<"$THREADS_LIST"
# Inserting workloads change the data set the ones after them read.
seen_insert=''
for w in "${WLIST[@]}"; do
  if [[ $w == [de] ]]; then
    seen_insert=$w
  elif [[ -n $seen_insert ]]; then
    log "warning: workload $w runs after $seen_insert, on more keys than --records"
  fi
done

find_bench
command -v python3 >/dev/null || die "python3 not found"
if [[ -n $OUT ]]; then
  OUT=$(realpath -m "$OUT")
  mkdir -p "$(dirname "$OUT")"
fi
OUT_TEXT=''
[[ -z $OUT ]] || OUT_TEXT=${OUT%.json}.txt

make_work meridian-engines-suite
check_fs
MACHINE=$(machine_summary)
has_pagestore || die "this meridian-bench has no --engine pagestore"
ENGINES=(rocksdb pagestore)
est_gib=$(python3 -c "print(f'{$RECORDS * ($KEY_SIZE + $VALUE_SIZE + 32) / 2**30:.1f}')")
free_gib=$(df -BG --output=avail "$WORK" | tail -n1 | tr -dc 0-9)
log "data: ~$est_gib GiB per engine before space overhead; $free_gib GiB free in $WORK"
# Two engines, each up to about twice the raw data (compaction, free pages).
python3 -c "import sys; sys.exit(4 * float(sys.argv[1]) > float(sys.argv[2]))" "$est_gib" \
  "$free_gib" || log "warning: that may not be enough disk for both engines"

COMMON=(--driver engine --records "$RECORDS" --key-size "$KEY_SIZE" --value-size "$VALUE_SIZE"
        --quiet)
[[ -n $CLIENTS ]] && COMMON+=(--clients "$CLIENTS")
[[ -n $MEMORY_MB ]] && COMMON+=(--engine-memory-mb "$MEMORY_MB")
[[ $DIRECT -eq 1 ]] && COMMON+=(--engine-direct-io)

# bench ENGINE NAME ARGS...: one run; output in $WORK/NAME.{out,json}, its
# wall-clock seconds in $WORK/NAME.wall. Inserts continue where the
# engine's previous run stopped.
declare -A NEXT_INSERT=()
bench() {
  local engine=$1 name=$2 start
  shift 2
  start=$EPOCHREALTIME
  run_bench "$name" "$BENCH" "${COMMON[@]}" --engine "$engine" --engine-dir "$WORK/$engine" \
    --insert-start "${NEXT_INSERT[$engine]:-$RECORDS}" "$@" --json "$WORK/$name.json"
  python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" \
    "$EPOCHREALTIME" >"$WORK/$name.wall"
  NEXT_INSERT[$engine]=$(json_field "$WORK/$name.json" next_insert)
}

for engine in "${ENGINES[@]}"; do
  log "load $engine: $RECORDS records of $KEY_SIZE + $VALUE_SIZE B"
  load_args=(--workload c --load --ops 1)
  [[ -n $LOAD_BATCH ]] && load_args+=(--load-batch "$LOAD_BATCH")
  [[ -n $LOAD_ORDER ]] && load_args+=(--load-order "$LOAD_ORDER")
  bench "$engine" "load-$engine" "${load_args[@]}"
  log "load $engine: done in $(json_field "$WORK/load-$engine.json" load.seconds) s"
done

total=$((${#WLIST[@]} * ${#TLIST[@]} * ROUNDS * ${#ENGINES[@]}))
n=0
suite_start=$EPOCHREALTIME
for w in "${WLIST[@]}"; do
  for t in "${TLIST[@]}"; do
    for ((r = 1; r <= ROUNDS; r++)); do
      order=("${ENGINES[@]}")
      ((r % 2 == 1)) || order=("${ENGINES[1]}" "${ENGINES[0]}")
      for engine in "${order[@]}"; do
        eta=''
        if ((n > 0)); then
          eta=$(python3 -c "import sys; s, now, n, t = map(float, sys.argv[1:]); \
print(f', about {(now - s) / n * (t - n) / 60:.0f} min left')" \
            "$suite_start" "$EPOCHREALTIME" "$n" "$total")
        fi
        n=$((n + 1))
        log "run $n/$total: workload $w, threads $t, round $r/$ROUNDS, $engine$eta"
        run_args=(--workload "$w" --threads "$t" --no-load --duration "$DURATION"
                  --warmup "$WARMUP" --seed "$r")
        [[ -n $DISTRIBUTION ]] && run_args+=(--distribution "$DISTRIBUTION")
        bench "$engine" "$w-t$t-$engine-$r" "${run_args[@]}"
      done
    done
  done
done

py_table "$WORK" "$ROUNDS" "$DURATION" "$WARMUP" "${BUILD_TYPE:-unknown}" "$DIRECT" \
  "${MEMORY_MB:-default}" "$MACHINE" "$OUT" "$OUT_TEXT" "$WORKLOADS" "$THREADS_LIST" <<'PY'
import io, math
(work, rounds, duration, warmup, build_type, direct, memory_mb, machine, out_json, out_text,
 workloads, threads_list) = sys.argv[1:13]
rounds = int(rounds)
engines = ["rocksdb", "pagestore"]
wl = workloads.split(",")
tl = [int(t) for t in threads_list.split(",")]
POINT = ["a", "b", "c", "f"]

def wall(name): return float(open(os.path.join(work, name + ".wall")).read())
loads = {e: json.load(open(os.path.join(work, f"load-{e}.json"))) for e in engines}
runs = {}
for w in wl:
    for t in tl:
        runs.update(load_runs(work, [f"{w}-t{t}-{e}" for e in engines], rounds))
def geomean(xs): return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None

text = io.StringIO()
def p(s=""): print(s, file=text)
first = loads["rocksdb"]
p(f"PageStore vs RocksDB: {first['records']} records, key {first['key_size']} B, "
  f"value {first['value_size']} B; memory {memory_mb} MiB per engine; "
  f"direct I/O {'on' if direct == '1' else 'off'}")
p(f"in-process engine driver, {first['clients']} clients; {duration} s per run after "
  f"{warmup} s warmup; median of {rounds} rounds, engines alternating; "
  f"one fdatasync'ed WriteBatch per write; {build_type} build")
p(machine)
p()
p(f"load ({first['load']['method']}):")
p(f"{'engine':<10} {'keys':>10} {'seconds':>9} {'keys/s':>9} {'flush s':>8} {'process s':>10}")
load_summary = {}
for e in engines:
    l = loads[e]["load"]
    rate = l["keys"] / l["seconds"] if l["seconds"] > 0 else 0
    load_summary[e] = {"keys": l["keys"], "seconds": l["seconds"], "keys_per_sec": rate,
                       "finish_seconds": l["finish_seconds"], "process_seconds": wall(f"load-{e}"),
                       "method": l["method"]}
    p(f"{e:<10} {l['keys']:>10} {l['seconds']:>9.1f} {rate:>9.0f} {l['finish_seconds']:>8.2f} "
      f"{wall(f'load-{e}'):>10.1f}")
p("(process s: the whole load process, open and close included)")
p()
opens = {}
for e in engines:
    first_run = runs[f"{wl[0]}-t{tl[0]}-{e}"][0]  # the engine's first open after its load
    all_opens = [r["open_seconds"] for n, rs in runs.items() if n.endswith("-" + e) for r in rs]
    opens[e] = {"after_load": first_run["open_seconds"], "median": statistics.median(all_opens),
                "max": max(all_opens)}
p("open (recovery after a clean close), seconds: " + "; ".join(
    f"{e} {opens[e]['after_load']:.3f} after the load, median {opens[e]['median']:.3f}, "
    f"max {opens[e]['max']:.3f}" for e in engines))
p()
p(f"{'workload':<9} {'threads':>7} {'distribution':<13} {'rocksdb ops/s':>14} "
  f"{'pagestore ops/s':>16} {'ratio':>6} {'rocksdb p99 ms':>15} {'pagestore p99 ms':>17} "
  f"{'errors':>7}")
results = []
ratios = {}
for w in wl:
    for t in tl:
        names = {e: f"{w}-t{t}-{e}" for e in engines}
        row = {"workload": w, "threads": t, "mix": runs[names["rocksdb"]][0]["mix"],
               "distribution": runs[names["rocksdb"]][0]["distribution"], "engines": {}}
        for e in engines:
            n = names[e]
            row["engines"][e] = {
                "ops_per_sec": med(n, tput), "p50_ms": med(n, p50), "p99_ms": med(n, p99),
                "errors": sum(r["errors"] for r in runs[n]),
                "rounds_ops_per_sec": [tput(r) for r in runs[n]],
                "rounds_p99_ms": [p99(r) for r in runs[n]]}
        rk, ps = row["engines"]["rocksdb"], row["engines"]["pagestore"]
        ratio = ps["ops_per_sec"] / rk["ops_per_sec"] if rk["ops_per_sec"] > 0 else None
        row["ratio"] = ratio
        ratios[(w, t)] = ratio
        results.append(row)
        errors = rk["errors"] + ps["errors"]
        p(f"{w:<9} {t:>7} {row['distribution']:<13} {rk['ops_per_sec']:>14.0f} "
          f"{ps['ops_per_sec']:>16.0f} {ratio if ratio is not None else float('nan'):>6.2f} "
          f"{rk['p99_ms']:>15.3f} {ps['p99_ms']:>17.3f} {errors:>7}")
p()
geo, scan = {}, {}
point = [w for w in POINT if w in wl]
for t in tl:
    rs = [ratios[(w, t)] for w in point if ratios[(w, t)]]
    geo[t] = geomean(rs) if len(rs) == len(point) else None
    scan[t] = ratios.get(("e", t))
def fmt(x): return "n/a" if x is None else f"{x:.2f}"
if point:
    p(f"geometric mean of the point workloads' ratios ({' '.join(point)}; target 2.00): " +
      "; ".join(f"threads {t}: {fmt(geo[t])}" for t in tl))
if "e" in wl:
    p("scans, workload e ratio (target 0.80): " +
      "; ".join(f"threads {t}: {fmt(scan[t])}" for t in tl))
p()
p("every round, ops/s:")
for row in results:
    for e in engines:
        p(f"  {row['workload']} {row['threads']}t {e:<10} " +
          " ".join(f"{x:.0f}" for x in row["engines"][e]["rounds_ops_per_sec"]))

summary = {
    "records": first["records"], "key_size": first["key_size"], "value_size": first["value_size"],
    "memory_mb": memory_mb, "direct_io": direct == "1", "rounds": rounds,
    "duration_s": float(duration), "warmup_s": float(warmup), "clients": first["clients"],
    "build_type": build_type, "machine": machine, "load": load_summary, "open_seconds": opens,
    "results": results,
    "point_workloads": point,
    "geomean_point_ratio": {str(t): geo[t] for t in tl},
    "scan_ratio": {str(t): scan[t] for t in tl},
}
print(text.getvalue(), end="")
if out_json:
    with open(out_json, "w") as f: json.dump(summary, f, indent=2)
    with open(out_text, "w") as f: f.write(text.getvalue())
PY
[[ -z $OUT ]] || log "summary written to $OUT and $OUT_TEXT"
