#!/usr/bin/env bash
# What causal sessions cost and what follower reads buy, on a 3-node
# meridiand group on this machine (issue 7's three figures):
#
#   tests/bench/sessions.sh [--records N] [--duration SECONDS] [--rounds R]
#                           [--clients N] [--keep]
#
#   --records   keys loaded before the runs (default 100000, 100 B values)
#   --duration  seconds of each measured run (default 10)
#   --rounds    rounds of the four runs below (default 3); the table shows
#               every round, the medians and the ratios of the medians
#   --clients   operations in flight (default 32)
#   --keep      keep the work directory (data, logs, JSON) afterwards
#
# Each round runs, on the same loaded group:
#   1. YCSB B (95% reads) with sessions on, the SDK's default: every call
#      carries its session's signed token and keeps the reply's;
#   2. the same with sessions off (--no-sessions): no token at all.
#      Session overhead = 1 - (1) / (2) in throughput.
#   3. YCSB C (reads only), linearizable: every read at the shard leader;
#   4. the same with SESSION reads: any replica serves a read once it has
#      caught up with the session's token, so followers take a share.
#      3 and 4 both read through the SDK's blocking calls, so the only
#      difference is where reads go and the wait for the token.
# The order within each pair alternates by round, so drift does not favour
# one side. The causal waits are the meridian_causal_wait_seconds histogram
# (Prometheus, scraped from every node before and after run 4): how many
# session reads had to wait for their replica, and for how long.
#
# Throughput on this shared 2-core machine swings by +-20% from round to
# round, so every run also reports its CPU time per operation: the three
# meridiand (utime + stime from /proc/PID/stat, before and after) and
# meridian-bench (bash's `times` of the waited-for child), in microseconds
# per completed operation. The machine is CPU-bound, so throughput is about
# 1 / (CPU per op); CPU per op leaves out how much CPU a run got, though not
# how fast that CPU ran (with other work on the machine it moved as much as
# throughput did, docs/benchmarks.md). The group's idle CPU (5 s before and
# after the runs) is a cost per second, not per op, so "net" takes it out:
# the ratio of the medians of net CPU per op (on / off) is the overhead
# estimate; the per-round ratios show its spread. "other" is the rest of
# the machine's busy time during the run.
#
# Builds nothing: it uses ${MERIDIAN_BUILD_DIR:-build/release}.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

RECORDS=100000 DURATION=10 ROUNDS=3 CLIENTS=32 KEEP=0
while [[ $# -gt 0 ]]; do
  help_header 43 "$1"
  case $1 in
    --records) need_value "$@"; check_posint "$1" "$2"; RECORDS=$2; shift 2 ;;
    --duration) need_value "$@"; check_seconds "$1" "$2"; DURATION=$2; shift 2 ;;
    --rounds) need_value "$@"; check_posint "$1" "$2"; ROUNDS=$2; shift 2 ;;
    --clients) need_value "$@"; check_posint "$1" "$2"; CLIENTS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) help_or_unknown 43 "$1" ;;
  esac
done

find_bench
MERIDIAND=$BUILD/server/meridiand
need_tools python3 curl
make_work meridian-sessions
check_fs
log "$(machine_summary)"
log "$ROUNDS round(s) of 4 runs x $DURATION s; $RECORDS records; $CLIENTS clients"

MPIDS=()
start_meridian_group --metrics-listen 127.0.0.1:0
ready=0
for _ in $(seq 1 300); do
  if meridian_shards "$WORK/shards.json"; then ready=1; break; fi
  sleep 0.1
done
[[ $ready -eq 1 ]] || fail "the group did not elect a leader in 30 s"
for p in "${MPIDS[@]}"; do
  # setsid execs in place (the shell's child is no group leader): the pid
  # is meridiand's own, whose CPU the runs read.
  [[ $(cat "/proc/$p/comm") == meridiand ]] || fail "pid $p is not meridiand: $(cat "/proc/$p/comm")"
done
METRICS=()
for i in 1 2 3; do
  addr=$(sed -n 's/.*serving metrics.*addr=\([0-9.:]*\).*/\1/p' "$WORK/meridiand-$i.log" | tail -1)
  [[ -n $addr ]] || fail "node $i logged no metrics address; see $WORK/meridiand-$i.log"
  METRICS+=("$addr")
done

# scrape OUT: the causal-wait lines of every node's /metrics, concatenated.
scrape() {
  local a
  for a in "${METRICS[@]}"; do
    curl -fsS "http://$a/metrics" | grep '^meridian_causal_wait' || true
  done >"$1"
}

COMMON=(--driver meridian --endpoints "$MERIDIAN_EP" --records "$RECORDS" --value-size 100
  --clients "$CLIENTS" --quiet --no-load)
log "load"
run_bench load "$BENCH" --driver meridian --endpoints "$MERIDIAN_EP" --records "$RECORDS" \
  --value-size 100 --workload c --load --ops 1 --quiet --json "$WORK/load.json"
# idle NAME: the group's own CPU over 5 s with no requests (ticks,
# heartbeats, closes), a floor under every run's server CPU.
idle() {
  cpu_snapshot "$WORK/$1.cpu0" "${MPIDS[@]}"
  sleep 5
  cpu_snapshot "$WORK/$1.cpu1" "${MPIDS[@]}"
}
idle idle-before

run() {  # run NAME ARGS...: one measured run into $WORK/NAME.json, its CPU in NAME.cpu0/1
  local name=$1
  shift
  log "$name"
  cpu_snapshot "$WORK/$name.cpu0" "${MPIDS[@]}"
  run_bench "$name" "$BENCH" "${COMMON[@]}" --duration "$DURATION" "$@" --json "$WORK/$name.json"
  cpu_snapshot "$WORK/$name.cpu1" "${MPIDS[@]}"
}
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then
    run "on-$r" --workload b
    run "off-$r" --workload b --no-sessions
  else
    run "off-$r" --workload b --no-sessions
    run "on-$r" --workload b
  fi
  session_run() {
    scrape "$WORK/waits-before-$r.txt"
    run "session-$r" --workload c --read-consistency session
    scrape "$WORK/waits-after-$r.txt"
  }
  if ((r % 2)); then
    run "leader-$r" --workload c --read-consistency linearizable
    session_run
  else
    session_run
    run "leader-$r" --workload c --read-consistency linearizable
  fi
done
idle idle-after
for p in "${MPIDS[@]}"; do stop_child "$p"; done
log "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

python3 - "$WORK" "$ROUNDS" "$(getconf CLK_TCK)" <<'PY'
import json, os, re, statistics, sys
work, rounds, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def total(name):
    return json.load(open(f"{work}/{name}.json"))["total"]

def buckets(path):
    """le -> count and the sum/count, summed over the nodes."""
    out, total_sum, count = {}, 0.0, 0
    for line in open(path):
        m = re.match(r'meridian_causal_wait_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            le = float("inf") if m[1] == "+Inf" else float(m[1])
            out[le] = out.get(le, 0) + float(m[2])
        elif line.startswith("meridian_causal_wait_seconds_sum"):
            total_sum += float(line.split()[-1])
        elif line.startswith("meridian_causal_wait_seconds_count"):
            count += int(float(line.split()[-1]))
    return out, total_sum, count

def quantile(cum, n, q):
    """The upper bound of the bucket holding quantile q (cumulative buckets)."""
    for le in sorted(cum):
        if cum[le] >= q * n:
            return le
    return float("inf")

rows, waits = [], []
for r in range(1, rounds + 1):
    on, off = total(f"on-{r}"), total(f"off-{r}")
    lead, sess = total(f"leader-{r}"), total(f"session-{r}")
    rows.append((r, on["ops_per_sec"], off["ops_per_sec"], on["latency_us"]["p99"] / 1000,
                 off["latency_us"]["p99"] / 1000, lead["ops_per_sec"], sess["ops_per_sec"],
                 lead["latency_us"]["p99"] / 1000, sess["latency_us"]["p99"] / 1000))
    b0, s0, c0 = buckets(f"{work}/waits-before-{r}.txt")
    b1, s1, c1 = buckets(f"{work}/waits-after-{r}.txt")
    cum = {le: b1[le] - b0.get(le, 0) for le in b1}
    n = c1 - c0
    reads = sess["ops"]
    for name, t in ((f"on-{r}", on), (f"off-{r}", off), (f"leader-{r}", lead), (f"session-{r}", sess)):
        if t["errors"]:
            print(f"note: run {name} had {t['errors']} errors (see {name}.json errors_by_kind)")
    waits.append((r, n, reads, (s1 - s0) / n * 1000 if n else 0.0,
                  *(quantile(cum, n, q) * 1000 if n else 0.0 for q in (0.5, 0.9, 0.99))))
hdr = ("round", "B ops/s on", "B ops/s off", "B p99 on", "B p99 off",
       "C leader", "C session", "C p99 lead", "C p99 sess")
print(" ".join(f"{h:>11}" for h in hdr))
for row in rows:
    print(" ".join(f"{v:>11.1f}" if isinstance(v, float) else f"{v:>11}" for v in row))
med = lambda i: statistics.median(row[i] for row in rows)
print(" ".join(f"{'median':>11}" if i == 0 else f"{med(i):>11.1f}" for i in range(len(hdr))))
print(f"session overhead (YCSB B throughput, 1 - on/off): {100 * (1 - med(1) / med(2)):.1f}%")
print(f"session reads / leader reads (YCSB C throughput): {med(6) / med(5):.2f}x")
print()
print("causal waits during the session-read run (every node; a read that found its")
print("replica caught up does not count); ms are bucket upper bounds:")
print(f"{'round':>6} {'waited':>8} {'reads':>9} {'mean ms':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}")
for w in waits:
    print(f"{w[0]:>6} {w[1]:>8} {w[2]:>9} {w[3]:>8.2f} {w[4]:>7.1f} {w[5]:>7.1f} {w[6]:>7.1f}")

def snapshot(path):
    """cpu_snapshot's file: server ticks (all pids), children us, machine ticks."""
    server, child, machine = 0, 0.0, None
    for line in open(path):
        f = line.split()
        if f[0] == "pid":
            server += int(f[2])
        elif f[0] == "children":
            for t in f[1:]:
                m, s = re.fullmatch(r"(\d+)m(\d+[.,]\d+)s", t).groups()
                child += (int(m) * 60 + float(s.replace(",", "."))) * 1e6
        elif f[0] == "machine":
            machine = tuple(int(x) for x in f[1:])
    return server * 1e6 / tck, child, machine

def delta(name):
    """us of server and client CPU, and of the machine's busy, steal, all, wall time."""
    s0, c0, m0 = snapshot(f"{work}/{name}.cpu0")
    s1, c1, m1 = snapshot(f"{work}/{name}.cpu1")
    busy, steal, cap = ((m1[i] - m0[i]) * 1e6 / tck for i in range(3))
    return s1 - s0, c1 - c0, busy, steal, cap, cap / os.cpu_count()

def idle_rate(name):
    """The group's idle CPU, us per s of wall time."""
    srv, _, _, _, _, wall = delta(name)
    return srv / wall * 1e6

idle = statistics.mean((idle_rate("idle-before"), idle_rate("idle-after")))

def cpu(name):
    """us of CPU per op: server, client, total, net of the idle floor; % of the
    machine: ours, other, steal."""
    srv, cli, busy, steal, cap, wall = delta(name)
    ops = total(name)["ops"]
    floor = idle * wall / 1e6
    return (srv / ops, cli / ops, (srv + cli) / ops, (srv + cli - floor) / ops,
            100 * (srv + cli) / cap, 100 * max(busy - srv - cli, 0) / cap, 100 * steal / cap)

print()
print("CPU per operation: us of CPU time per completed operation; server = the three")
print("meridiand, client = meridian-bench, net = total less the group's idle CPU for the")
print("run's wall time; ours/other/steal = % of the machine's CPUs during the run (other:")
print("everything else busy). Idle, the group uses "
      f"{idle_rate('idle-before') / 1000:.0f} ms (before) and {idle_rate('idle-after') / 1000:.0f} ms "
      "(after the runs) of CPU per s.")
kinds = ("on", "off", "leader", "session")
cols = ("ops/s", "server", "client", "total", "net", "ours %", "other %", "steal %")
print(f"{'round':>5} {'run':<10}" + "".join(f" {c:>8}" for c in cols))
table = {k: [] for k in kinds}
for r in range(1, rounds + 1):
    for k in kinds:
        name = f"{k}-{r}"
        row = (total(name)["ops_per_sec"], *cpu(name))
        table[k].append(row)
        print(f"{r:>5} {name:<10}" + "".join(f" {v:>8.1f}" for v in row))
medians = {k: [statistics.median(row[i] for row in table[k]) for i in range(len(cols))]
           for k in kinds}
for k in kinds:
    print(f"{'median':>5} {k:<10}" + "".join(f" {v:>8.1f}" for v in medians[k]))
on, off = medians["on"], medians["off"]
paired = [a[4] / b[4] for a, b in zip(table["on"], table["off"])]
print()
print("SESSION OVERHEAD ESTIMATE (YCSB B, net CPU per op, median on / median off - 1): "
      f"{100 * (on[4] / off[4] - 1):+.1f}% ({on[4]:.1f} vs {off[4]:.1f} us/op)")
print("  per round, net CPU per op on/off: " + " ".join(f"{p:.3f}" for p in paired)
      + f"; median {statistics.median(paired):.3f}")
print(f"  total CPU per op: {100 * (on[3] / off[3] - 1):+.1f}%; "
      f"server {100 * (on[1] / off[1] - 1):+.1f}% ({on[1]:.1f} vs {off[1]:.1f} us/op), "
      f"client {100 * (on[2] / off[2] - 1):+.1f}% ({on[2]:.1f} vs {off[2]:.1f} us/op)")
print(f"  for comparison, throughput on/off: {on[0] / off[0]:.3f} (loss {100 * (1 - on[0] / off[0]):+.1f}%); "
      "per round: " + " ".join(f"{a[0] / b[0]:.3f}" for a, b in zip(table["on"], table["off"])))
print("SESSION reads / leader reads, net CPU per op: "
      f"{medians['session'][4] / medians['leader'][4]:.3f}x")
PY
