#!/usr/bin/env bash
# Failover time of Meridian and of etcd 3.4 on this machine (issue 4): after
# kill -9 of the leader, how long until the first write succeeds.
#
#   tests/bench/failover.sh [--trials N] [--systems meridian,etcd] [--writers W]
#                           [--rpc-timeout-ms MS] [--settle S] [--stable-load S]
#                           [--build DIR] [--keep] [-- extra meridiand flags]
#
#   --trials       kills per system (default 10), alternating meridian, etcd
#   --systems      which to measure (default meridian,etcd)
#   --writers      probe threads writing, one write in flight each (default 4)
#   --rpc-timeout-ms  deadline of each probe write (default 100)
#   --settle       seconds to wait after the killed member is back and
#                  healthy before the next trial (default 2)
#   --stable-load  first run S seconds of meridian-bench write load (64
#                  clients) against each system with nothing killed and
#                  count leader changes; 0 skips it (default 0)
#   --build        build directory (default ${MERIDIAN_BUILD_DIR:-build/release})
#   --keep         keep the work directory (data, logs) afterwards
#
# Starts a 3-member etcd cluster (etcd_cluster.sh) and a 3-node meridiand
# group on 127.0.0.1, fsync on for both, in a fresh directory under
# ${TMPDIR:-/tmp}. Each trial finds the leader (meridianctl / etcdctl
# endpoint status), runs failover-probe, which writes continuously (every
# write a new key, deadline --rpc-timeout-ms, after a failure a 5 ms pause
# and the next write), SIGKILLs the leader after 1 s and reports the time from
# the kill to the first success of a write sent after it; then restarts the
# killed member and waits until every member answers, there is one leader and
# the restarted member has caught up. Prints every trial, the median and p90
# per system, and last
#   ratio failover median meridian/etcd: X.XX
# Everything started is stopped on exit, failure or Ctrl-C.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

usage() { print_header 32; }

TRIALS=10 SYSTEMS=meridian,etcd WRITERS=4 RPC_TIMEOUT_MS=100 SETTLE=2 STABLE_LOAD=0 KEEP=0
BUILD=${MERIDIAN_BUILD_DIR:-build/release}
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --trials|--systems|--writers|--rpc-timeout-ms|--settle|--stable-load|--build) need_value "$@" ;;&
    --trials) TRIALS=$2; shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --writers) WRITERS=$2; shift 2 ;;
    --rpc-timeout-ms) RPC_TIMEOUT_MS=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --stable-load) STABLE_LOAD=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) help_or_unknown "$1" ;;
  esac
done
check_posint --trials "$TRIALS"
check_posint --writers "$WRITERS"
check_posint --rpc-timeout-ms "$RPC_TIMEOUT_MS"
check_seconds --settle "$SETTLE"
[[ $STABLE_LOAD =~ ^[0-9]+$ ]] || die "--stable-load must be a whole number of seconds"
IFS=, read -r -a SIDES <<<"$SYSTEMS"
[[ ${#SIDES[@]} -ge 1 ]] || die "--systems is empty"
for s in "${SIDES[@]}"; do
  [[ $s == meridian || $s == etcd ]] || die "--systems takes meridian and/or etcd, not '$s'"
done
has() { [[ ",$SYSTEMS," == *",$1,"* ]]; }

BUILD=$(abs_build "$BUILD")
BENCH=$BUILD/tests/bench/meridian-bench
PROBE=$BUILD/tests/bench/failover-probe
MERIDIAND=$BUILD/server/meridiand
CTL=$BUILD/client/meridianctl
for bin in "$PROBE" "$MERIDIAND" "$CTL" "$BENCH"; do
  if [[ ! -x $bin ]]; then
    cat >&2 <<MSG
failover.sh: $bin is missing. Build (Release) first, from $ROOT:
  cmake --preset release
  ninja -C build/release -j2 meridiand meridianctl meridian-bench failover-probe
or pass --build DIR (or MERIDIAN_BUILD_DIR) naming a build that has them.
MSG
    exit 2
  fi
done
check_build_type
need_tools python3 etcd etcdctl
export ETCDCTL_API=3

KEPT="data and logs"
make_work meridian-failover
check_fs
MACHINE=$(machine_summary)

# ---- meridian
# meridian_state: prints "LEADER_INDEX ANSWERING APPLIED..." from endpoint
# status; LEADER_INDEX is 0-based, -1 unless exactly one member leads.
meridian_state() {
  "$CTL" --endpoints "$MERIDIAN_EP" --timeout 1s -w json endpoint status 2>/dev/null |
    python3 -c '
import json, sys
eps = sys.argv[1].split(",")
try:
    st = {s["endpoint"]: s for s in json.load(sys.stdin)}
except ValueError:
    st = {}
ok = [ep for ep in eps if ep in st and "error" not in st[ep]]
leaders = [i for i, ep in enumerate(eps) if ep in ok and st[ep]["is_leader"]]
applied = [str(st[ep]["applied_index"]) if ep in ok else "-1" for ep in eps]
print(leaders[0] if len(leaders) == 1 else -1, len(ok), " ".join(applied))
' "$MERIDIAN_EP" || echo "-1 0"
}

# wait_meridian [RESTARTED]: one leader, every member answering and the
# restarted member (0-based) applied as far as the leader.
wait_meridian() {
  local restarted=${1:--1} deadline=$((SECONDS + 60)) leader answering applied
  while :; do
    check_meridians "a meridiand exited"
    read -r leader answering applied <<<"$(meridian_state)"
    if [[ $leader -ge 0 && $answering -eq 3 ]]; then
      read -r -a applied <<<"$applied"
      [[ $restarted -lt 0 || ${applied[$restarted]} -ge ${applied[$leader]} ]] && return 0
    fi
    [[ $SECONDS -lt $deadline ]] || fail "the meridian group did not settle in 60 s (see $WORK)"
    sleep 0.1
  done
}

# ---- etcd
etcd_leader() {  # prints the leader's 0-based index, or -1
  etcdctl --endpoints="$ETCD_EPS" --dial-timeout=1s --command-timeout=2s -w json \
      endpoint status 2>/dev/null |
    python3 -c '
import json, sys
eps = sys.argv[1].split(",")
try:
    st = json.load(sys.stdin)
except ValueError:
    st = []
leaders = [eps.index(s["Endpoint"]) for s in st
           if s["Endpoint"] in eps and s["Status"]["header"]["member_id"] == s["Status"]["leader"]]
print(leaders[0] if len(leaders) == 1 and len(st) == len(eps) else -1)
' "$ETCD_EPS" || echo -1
}

wait_etcd() {
  local deadline=$((SECONDS + 60))
  until [[ $(etcd_leader) -ge 0 ]]; do
    [[ $SECONDS -lt $deadline ]] || fail "the etcd cluster did not settle in 60 s (see $WORK/etcd)"
    sleep 0.1
  done
}

if has etcd; then
  log "starting a 3-member etcd cluster"
  ETCD_EPS=$("$ROOT/tests/bench/etcd_cluster.sh" start "$WORK/etcd" --members 3)
fi
if has meridian; then
  log "starting a 3-node meridian group"
  start_meridian_group "${EXTRA[@]}"
  wait_meridian
fi

# ---- optional: leader changes under load with nothing killed
leader_changes() {  # leader_changes SIDE: ballots (terms) that elected a leader so far
  if [[ $1 == meridian ]]; then
    cat "$WORK"/meridiand-*.log | grep -o 'leader changed leader=[1-9][0-9]* ballot_round=[0-9]*' |
      sed 's/.*=//' | sort -u | wc -l
  else
    cat "$WORK"/etcd/m*/etcd.log | grep -o 'elected leader [0-9a-f]* at term [0-9]*' |
      awk '{print $NF}' | sort -u | wc -l
  fi
}
declare -A STABLE=()
if [[ $STABLE_LOAD -gt 0 ]]; then
  for side in "${SIDES[@]}"; do
    if [[ $side == meridian ]]; then eps=$MERIDIAN_EP; else eps=$ETCD_EPS; fi
    before=$(leader_changes "$side")
    log "$side: $STABLE_LOAD s of write load (64 clients), nothing killed"
    run_bg "stable-$side" "$BENCH" --driver "$side" --endpoints "$eps" --workload write \
      --clients 64 --duration "$STABLE_LOAD" --quiet --json "$WORK/stable-$side.json" ||
      fail "meridian-bench failed; see $WORK/stable-$side.out"
    after=$(leader_changes "$side")
    summary=$(python3 - "$WORK/stable-$side.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p99 = r["total"]["latency_us"]["p99"] / 1000
print(f"{r['ops_per_sec']:.0f} ops/s, p99 {p99:.1f} ms, {r['errors']} errors")
PY
)
    STABLE[$side]="$((after - before)) new leaders; $summary"
    log "$side: ${STABLE[$side]}"
  done
fi

# ---- trials
RESULTS=$WORK/results.tsv
: >"$RESULTS"
for ((t = 1; t <= TRIALS; t++)); do
  for side in "${SIDES[@]}"; do
    if [[ $side == meridian ]]; then
      wait_meridian
      leader=$(meridian_state | cut -d' ' -f1)
      [[ $leader -ge 0 ]] || fail "meridian: no leader before trial $t"
      pid=${MPIDS[$leader]} eps=$MERIDIAN_EP
    else
      wait_etcd
      leader=$(etcd_leader)
      [[ $leader -ge 0 ]] || fail "etcd: no leader before trial $t"
      pid=$(<"$WORK/etcd/m$leader/pid") eps=$ETCD_EPS
    fi
    run_bg "probe-$side-$t" "$PROBE" --driver "$side" --endpoints "$eps" --kill-pid "$pid" \
      --writers "$WRITERS" --rpc-timeout-ms "$RPC_TIMEOUT_MS" --key-prefix "failover/$t/" ||
      { cat "$WORK/probe-$side-$t.out" >&2; fail "trial $t ($side): the probe failed"; }
    line=$(grep '^failover_ms ' "$WORK/probe-$side-$t.out") ||
      fail "trial $t ($side): no result in $WORK/probe-$side-$t.out"
    read -r _ ms _ sent _ failed _ last <<<"$line"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$side" "$ms" "$((leader + 1))" "$sent" "$failed" \
      "$last" >>"$RESULTS"
    log "trial $t/$TRIALS $side: killed member $((leader + 1)) (pid $pid): first write ${ms} ms after"
    while running "$pid"; do sleep 0.05; done
    if [[ $side == meridian ]]; then
      start_meridian "$((leader + 1))" "${EXTRA[@]}"
      wait_meridian "$leader"
    else
      "$ROOT/tests/bench/etcd_cluster.sh" restart "$WORK/etcd" --member "$leader" 2>>"$WORK/restarts.log" ||
        fail "etcd member $leader did not come back; see $WORK/restarts.log"
      wait_etcd
    fi
    sleep "$SETTLE"
  done
done

# ---- table
STABLE_TEXT=""
for side in "${SIDES[@]}"; do
  [[ -n ${STABLE[$side]:-} ]] && STABLE_TEXT+="$side: ${STABLE[$side]}"$'\n'
done
python3 - "$RESULTS" "$SYSTEMS" "$TRIALS" "$WRITERS" "$RPC_TIMEOUT_MS" "${BUILD_TYPE:-unknown}" \
    "$MACHINE" "$STABLE_LOAD" "$STABLE_TEXT" "${EXTRA[*]:-}" <<'PY'
import math, statistics, sys
path, systems, trials, writers, timeout_ms, build_type, machine, stable_s, stable, extra = sys.argv[1:]
sides = systems.split(",")
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
ms = {s: [float(r[2]) for r in rows if r[1] == s] for s in sides}

def p90(v):  # nearest rank
    v = sorted(v)
    return v[max(0, math.ceil(0.9 * len(v)) - 1)]

print("failover: kill -9 of the leader, then the time to the first successful write sent after the kill")
print(f"{trials} trials per system, alternating {', '.join(sides)}; {writers} writers, one write in flight each, "
      f"{timeout_ms} ms deadline per write; loopback; fsync on for both; {build_type} build")
print(f"machine: {machine}")
if "meridian" in sides:
    print("meridian: 3-node MultiPaxos group on one machine" + (f"; meridiand {extra}" if extra else ""))
if "etcd" in sides:
    print("etcd:     etcd 3.4, 3 members on one machine (default --heartbeat-interval 100 ms, "
          "--election-timeout 1000 ms)")
if stable:
    print(f"write load for {stable_s} s (64 clients) with nothing killed:")
    for line in stable.strip().split("\n"):
        print("  " + line)
print()
print(f"{'trial':<6} {'target':<9} {'failover ms':>12} {'killed':>7} {'sent':>6} {'failed':>7} {'last pre-kill ok ms':>20}")
for r in rows:
    print(f"{r[0]:<6} {r[1]:<9} {float(r[2]):>12.1f} {r[3]:>7} {r[4]:>6} {r[5]:>7} {float(r[6]):>20.1f}")
print()
print(f"{'failover ms':<12}" + "".join(f"{s:>12}" for s in sides))
for name, f in (("median", statistics.median), ("p90", p90), ("min", min), ("max", max)):
    print(f"{name:<12}" + "".join(f"{f(ms[s]):>12.1f}" for s in sides))
print()
if "meridian" in sides and "etcd" in sides:
    m, e = statistics.median(ms["meridian"]), statistics.median(ms["etcd"])
    print(f"ratio failover median meridian/etcd: {m / e:.2f}")
else:
    print("ratio failover median meridian/etcd: n/a (one system measured)")
PY
