#!/usr/bin/env bash
# Shell helpers shared by the scripts in tests/bench/ (sourced, not run).
# Messages start with "$PROG: ", the sourcing script's file name. Sourcing
# defines functions and sets PROG, BENCH_DIR, MPIDS=() and BPID= only.
# shellcheck disable=SC2034  # BUILD_TYPE, FSTYPE, WORK, CLUSTER, ... are for the caller

PROG=${0##*/}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MPIDS=()  # meridiand pids (index = member id - 1), stopped by cleanup_work
BPID=     # the run_bg child in flight, stopped by cleanup_work

# ---- messages and arguments

# log MSG...: "PROG: MSG" on stderr.
log() { echo "$PROG: $*" >&2; }

# die MSG...: log MSG and exit 2 (a usage or set-up error).
die() { log "$*"; exit 2; }

# fail MSG...: log MSG and exit 1 (a run that went wrong).
fail() { log "$*"; exit 1; }

# print_header LAST: the script's header comment, lines 2..LAST, without "# ".
print_header() { sed -n "2,${1}p" "$0" | sed 's/^# \{0,1\}//'; }

# need_value "$@": dies unless the option in $1 has a value after it.
need_value() { [[ $# -ge 2 ]] || die "$1 needs a value (try --help)"; }

# help_or_unknown ARG: for -h/--help the caller's usage and exit 0; else dies
# naming ARG as an unknown argument (a parser's last case).
help_or_unknown() {
  case "$1" in
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
}

# help_header LAST ARG: when ARG is -h or --help, print_header LAST and exit 0.
help_header() { if [[ $2 == -h || $2 == --help ]]; then print_header "$1"; exit 0; fi; }

# require FLAG VALUE: dies unless the required FLAG was given (VALUE not empty).
require() { [[ -n $2 ]] || die "$1 is required (try --help)"; }

# check_posint FLAG VALUE: dies unless VALUE is a positive integer.
check_posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer"; }

# check_seconds FLAG VALUE: dies unless VALUE is a number of seconds (2, 0.5).
check_seconds() { [[ $2 =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$1 must be a number of seconds"; }

# parse_memory_mb FLAG VALUE: sets MEMORY_MB to VALUE (bytes, optionally
# with KiB, MiB or GiB) in whole MiB; dies unless that is at least 1.
parse_memory_mb() {
  local n mult
  case "$2" in
    *GiB) n=${2%GiB}; mult=$((1 << 30)) ;;
    *MiB) n=${2%MiB}; mult=$((1 << 20)) ;;
    *KiB) n=${2%KiB}; mult=$((1 << 10)) ;;
    *) n=$2; mult=1 ;;
  esac
  [[ $n =~ ^[0-9]+$ ]] || die "$1 must be bytes, optionally with KiB, MiB or GiB"
  MEMORY_MB=$((n * mult >> 20))
  [[ $MEMORY_MB -ge 1 ]] || die "$1 must be at least 1 MiB"
}

# check_list FLAG VALUE PATTERN: dies unless VALUE is a comma-separated list
# whose every item matches the regex PATTERN.
check_list() {
  local item items
  IFS=, read -r -a items <<<"$2"
  [[ ${#items[@]} -gt 0 ]] || die "$1 must not be empty"
  for item in "${items[@]}"; do
    [[ $item =~ ^($3)$ ]] || die "$1: bad item '$item'"
  done
}

# need_tools TOOL...: dies naming the first TOOL not on PATH.
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found (./deploy/local/install-deps.sh installs it)"
  done
}

# ---- build, work directory, machine

# abs_build DIR: DIR, made absolute against $ROOT when relative.
abs_build() { if [[ $1 == /* ]]; then echo "$1"; else echo "$ROOT/$1"; fi; }

# check_build_type: sets BUILD_TYPE from $BUILD/CMakeCache.txt; warns unless Release.
check_build_type() {
  BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
  [[ $BUILD_TYPE == Release ]] || log "warning: $BUILD is a '${BUILD_TYPE:-unknown}' build, not Release"
}

# find_bench: BUILD=${MERIDIAN_BUILD_DIR:-build/release} (absolute) and
# BENCH=its meridian-bench; exits 2 with the commands that build it when it
# is missing; then check_build_type. REQUIRES: ROOT.
find_bench() {
  BUILD=$(abs_build "${MERIDIAN_BUILD_DIR:-build/release}")
  BENCH=$BUILD/tests/bench/meridian-bench
  if [[ ! -x $BENCH ]]; then
    cat >&2 <<MSG
$PROG: no meridian-bench in $BUILD.
Build it (Release) first, from $ROOT:
  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build/release --target meridian-bench
or point MERIDIAN_BUILD_DIR at a build that has it.
MSG
    exit 2
  fi
  check_build_type
}

# make_work NAME: WORK=a fresh ${TMPDIR:-/tmp}/NAME.XXXXXX; on exit
# cleanup_work, on Ctrl-C or SIGTERM a note and exit 130 or 143.
make_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  trap cleanup_work EXIT
  trap 'log interrupted; exit 130' INT
  trap 'log terminated; exit 143' TERM
}

# cleanup_work: the EXIT trap: stops BPID, MPIDS and any etcd in $WORK/etcd;
# removes $WORK after success unless KEEP=1, else says "$KEPT kept in $WORK".
cleanup_work() {
  local rc=$? p
  trap - EXIT INT TERM
  stop_child "$BPID"
  for p in "${MPIDS[@]}"; do stop_child "$p"; done
  stop_etcd "$WORK/etcd"
  if [[ $rc -eq 0 && ${KEEP:-0} -eq 0 ]]; then
    rm -rf "$WORK"
  else
    log "${KEPT:-data, logs and JSON} kept in $WORK"
  fi
  exit "$rc"
}

# check_fs: sets FSTYPE to $WORK's file system; warns on tmpfs and ramfs.
check_fs() {
  FSTYPE=$(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || stat -f -c %T "$WORK")
  if [[ $FSTYPE == tmpfs || $FSTYPE == ramfs ]]; then
    log "warning: $WORK is on $FSTYPE, where fsync costs nothing;" \
        "set TMPDIR to a directory on a disk"
  fi
}

# machine_summary: one line on CPUs, RAM, load and $FSTYPE, for the tables.
machine_summary() {
  echo "$(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)," \
       "load average $(cut -d' ' -f1-3 /proc/loadavg) at start; data on $FSTYPE"
}

# has_pagestore: whether $BENCH's engine driver takes --engine pagestore;
# false when it answers "unknown engine" (a build before PageStore); fails
# on any other error. REQUIRES: BENCH, WORK.
has_pagestore() {
  local rc=0
  "$BENCH" --driver engine --engine pagestore --engine-dir "$WORK/probe" --workload write \
    --records 1 --ops 1 --no-load --quiet >"$WORK/probe.out" 2>&1 || rc=$?
  rm -rf "$WORK/probe"
  [[ $rc -eq 0 ]] && return 0
  grep -qi "unknown engine" "$WORK/probe.out" && return 1
  cat "$WORK/probe.out" >&2
  fail "probing --engine pagestore failed unexpectedly (exit $rc)"
}

# json_field FILE KEY[.KEY...]: that field of the JSON object in FILE.
json_field() {
  python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)
PY
}

# ---- processes

# stop_child PID: SIGTERM, up to 15 s to exit, then SIGKILL; reaps it.
stop_child() {
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# running PID: whether PID still runs (a zombie waiting to be reaped does not).
running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# run_bg NAME CMD...: runs CMD in the background with its output in
# $WORK/NAME.out and waits, so Ctrl-C runs the caller's trap at once (bash
# defers traps while a foreground command runs, and skips a SIGINT trap when
# that command exits normally); BPID names it meanwhile. Returns CMD's status.
run_bg() {
  local name=$1 rc=0
  shift
  "$@" </dev/null >"$WORK/$name.out" 2>&1 &
  BPID=$!
  wait "$BPID" || rc=$?
  BPID=
  return "$rc"
}

# run_bench NAME CMD...: run_bg of one meridian-bench command (the caller
# passes --json $WORK/NAME.json); on failure shows the output's tail and exits 1.
run_bench() {
  local name=$1 rc=0
  shift
  run_bg "$name" "$@" || rc=$?
  if [[ $rc -ne 0 ]]; then
    tail -n 30 "$WORK/$name.out" >&2
    fail "meridian-bench failed (exit $rc) in $name; see $WORK/$name.out"
  fi
}

# run_checked OUT WHAT CMD...: runs CMD with its output in OUT; if it fails,
# prints OUT and "FAIL: WHAT exited RC" on stdout and exits 1 (smoke tests).
run_checked() {
  local out=$1 what=$2 rc=0
  shift 2
  "$@" >"$out" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    cat "$out"
    echo "FAIL: $what exited $rc"
    exit 1
  fi
}

# free_ports N: N distinct free loopback ports, space-separated (all sockets
# are held open at once so the kernel hands out distinct ones).
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# ---- clusters

# stop_etcd DIR: stops the etcd_cluster.sh cluster in DIR, if DIR exists, quietly.
stop_etcd() {
  [[ -d $1 ]] || return 0
  "$BENCH_DIR/etcd_cluster.sh" stop "$1" >/dev/null 2>&1 || true
}

# start_meridian I [FLAGS...]: starts member I (1-based) of the group in
# $CLUSTER, appending to $WORK/meridiand-I.log; MPIDS[I-1]=its pid.
# REQUIRES: MERIDIAND, CLUSTER, WORK.
start_meridian() {
  local i=$1
  shift
  # setsid: Ctrl-C reaches only the script, whose trap stops meridiand.
  setsid "$MERIDIAND" --cluster "$CLUSTER" --member-id "$i" --data-dir "$WORK/meridian/node$i" \
    --log-format text "$@" </dev/null >>"$WORK/meridiand-$i.log" 2>&1 &
  MPIDS[i - 1]=$!
  # Out of the job table, so its death by SIGKILL is not announced on
  # stderr; bash still reaps it.
  disown "$!"
}

# start_meridian_group [FLAGS...]: 3 meridiand on free loopback ports, each
# with FLAGS; sets CLUSTER and MERIDIAN_EP (the client endpoints). Does not wait.
start_meridian_group() {
  local ports i
  read -r -a ports < <(free_ports 3)
  CLUSTER="1=127.0.0.1:${ports[0]},2=127.0.0.1:${ports[1]},3=127.0.0.1:${ports[2]}"
  MERIDIAN_EP="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
  for i in 1 2 3; do start_meridian "$i" "$@"; done
}

# bench_split_points SHARDS [KEY_SIZE]: the SHARDS-1 meridiand --split-points
# (comma-separated) that cut meridian-bench's key space into SHARDS ranges
# holding about as many of its keys each. A key (generators.cc, KeyNamer) is
# "user" and the scrambled key number as zero-padded decimal: KEY_SIZE - 4
# digits (default key size 24), the number uniform over [0, 2^bits) with
# 2^bits the largest power of two <= 10^min(digits, 20). Split point i is
# the key of the number i * 2^bits / SHARDS. Prints nothing for 1 shard.
bench_split_points() {
  python3 - "$1" "${2:-24}" <<'PY'
import sys
shards, key_size = int(sys.argv[1]), int(sys.argv[2])
digits = key_size - 4
assert shards >= 1 and digits >= 1
bits = 64 if min(digits, 20) >= 20 else (10 ** digits).bit_length() - 1
print(",".join("user" + str(i * (1 << bits) // shards).zfill(digits) for i in range(1, shards)))
PY
}

# meridian_shards JSON_OUT: writes `meridianctl shard list -w json` to
# JSON_OUT and succeeds when every shard's group has a leader.
# REQUIRES: BUILD, MERIDIAN_EP.
meridian_shards() {
  "$BUILD/client/meridianctl" --endpoints "$MERIDIAN_EP" --timeout 2s shard list -w json \
    >"$1" 2>/dev/null || return 1
  python3 - "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
sys.exit(0 if m["shards"] and all(g["leader_id"] for s in m["shards"] for g in s["groups"]) else 1)
PY
}

# shard_summary JSON: one line from a meridian_shards file: the shard count
# and which node leads which shards, e.g.
#   "4 shards; leaders: node 1: shards 1 3; node 2: shard 2; node 3: shard 4"
shard_summary() {
  python3 - "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
by_node = {}
for s in m["shards"]:
    for g in s["groups"]:
        by_node.setdefault(g["leader_id"], []).append(s["shard_id"])
n = len(m["shards"])
parts = [f"node {node}: shard{'s' if len(ids) > 1 else ''} {' '.join(map(str, ids))}"
         for node, ids in sorted(by_node.items())]
print(f"{n} shard{'s' if n > 1 else ''}; leaders: " + "; ".join(parts))
PY
}

# check_meridians MSG: fails with MSG, after the logs' tails, if a meridiand exited.
check_meridians() {
  local p
  for p in "${MPIDS[@]}"; do
    kill -0 "$p" 2>/dev/null || { tail -n 20 "$WORK"/meridiand-*.log >&2; fail "$1"; }
  done
}

# ---- CPU time

# cpu_snapshot OUT PID...: writes to OUT the CPU time used so far by each
# PID ("pid PID TICKS": utime + stime of all its threads, /proc/PID/stat),
# by the children this shell has waited for ("children USER SYS", bash's
# `times`, e.g. 0m1.234s), and by the machine ("machine BUSY STEAL TOTAL"
# ticks over all CPUs, /proc/stat; busy excludes idle, iowait and steal).
# Ticks are 1/$(getconf CLK_TCK) s. Two snapshots bracket a run: the
# difference of "children" is the CPU of what was waited for in between
# (run_bench's meridian-bench), with no wrapper process. Fails if a PID is gone.
cpu_snapshot() {
  local out=$1 pid stat f kids
  shift
  {
    for pid in "$@"; do
      read -r stat <"/proc/$pid/stat" || return 1
      # Fields after the command name, from field 3 (state): 14 and 15 are
      # utime and stime.
      read -r -a f <<<"${stat##*) }"
      echo "pid $pid $((f[11] + f[12]))"
    done
    # Not in a pipe or $(...): a subshell's `times` knows none of our children.
    times >"$out.times"
    { read -r _; read -r kids; } <"$out.times"
    echo "children $kids"
    read -r -a f </proc/stat
    # cpu user nice system idle iowait irq softirq steal ...
    echo "machine $((f[1] + f[2] + f[3] + f[6] + f[7])) $((f[8])) $((f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7] + f[8]))"
  } >"$out"
  rm -f "$out.times"
}

# ---- tables

# py_table ARGS...: runs the Python on stdin, as sys.argv[1:] = ARGS, after
# these definitions: tput, p50 and p99 (ms) of one meridian-bench JSON result;
# load_runs(work, names, rounds) -> {name: [WORK/NAME-1.json, ...]}; and
# med(name, f), the median of f over runs[name]; print_rounds(names, label,
# width), the table of every round (runs: set by the Python on stdin).
py_table() {
  {
    cat <<'PY'
import json, os, statistics, sys
def load_runs(work, names, rounds):
    return {n: [json.load(open(os.path.join(work, f"{n}-{r}.json"))) for r in range(1, rounds + 1)]
            for n in names}
def tput(r): return r["ops_per_sec"]
def p50(r): return r["total"]["latency_us"]["p50"] / 1000
def p99(r): return r["total"]["latency_us"]["p99"] / 1000
def med(n, f): return statistics.median(f(r) for r in runs[n])
def print_rounds(names, label, width):
    # Workloads with read-modify-writes also show their aborts per commit.
    ab = "aborts_per_commit" in runs[names[0]][0]
    print(f"{'round':<6} {label:<{width}} {'ops/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"
          + (f" {'aborts/commit':>14}" if ab else ""))
    for i in range(len(runs[names[0]])):
        for n in names:
            r = runs[n][i]
            print(f"{i + 1:<6} {n:<{width}} {tput(r):>10.0f} {p50(r):>9.3f} {p99(r):>9.3f} {r['errors']:>7}"
                  + (f" {r['aborts_per_commit']:>14.3f}" if ab else ""))
PY
    cat
  } | python3 - "$@"
}
