#!/usr/bin/env bash
# Starts or stops a local etcd 3.4 cluster on 127.0.0.1 for benchmarks.
#
#   tests/bench/etcd_cluster.sh start DIR [--members N] [--base-port P]
#   tests/bench/etcd_cluster.sh stop DIR
#   tests/bench/etcd_cluster.sh endpoints DIR
#   tests/bench/etcd_cluster.sh restart DIR --member I
#
# start: N members (default 3), each with its own data dir and log under
#   DIR/mI/ (etcd.log), wired together with --initial-cluster. Member I listens
#   for clients on P+2I and for peers on P+2I+1; without --base-port every
#   port is a free one the kernel picks. fsync stays on (etcd's default; no
#   --unsafe-no-fsync). Waits until `etcdctl endpoint health` passes on every
#   member, then prints the client endpoints, comma-separated, as the only
#   line on stdout (also saved in DIR/endpoints). Progress goes to stderr.
# stop: SIGTERM to every member started in DIR, then waits for them to exit
#   (SIGKILL after 3 s). Data and logs stay in DIR.
# endpoints: prints DIR/endpoints.
# restart: starts member I (0-based, i.e. DIR/mI) again with the command line
#   it was started with, after it died (failover.sh kills leaders), appending
#   to its log; waits until `etcdctl endpoint health` passes on that member.
#
# Needs /usr/bin/etcd and etcdctl (Debian: etcd-server, etcd-client).
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "$0")/lib.sh"

usage() { print_header 22; }

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
case "$1" in
  -h|--help|help) usage; exit 0 ;;
  start|stop|endpoints|restart) CMD=$1; shift ;;
  *) die "unknown command '$1' (try --help)" ;;
esac
[[ $# -ge 1 && $1 != -* ]] || fail "$CMD needs a directory (try --help)"
DIR=$1; shift
MEMBERS=3
BASE_PORT=
MEMBER=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --members) [[ $# -ge 2 ]] || fail "--members needs a value"; MEMBERS=$2; shift 2 ;;
    --base-port) [[ $# -ge 2 ]] || fail "--base-port needs a value"; BASE_PORT=$2; shift 2 ;;
    --member) [[ $# -ge 2 ]] || fail "--member needs a value"; MEMBER=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown argument '$1' (try --help)" ;;
  esac
done
[[ $MEMBERS =~ ^[1-9][0-9]*$ ]] || fail "--members must be a positive integer, not '$MEMBERS'"
[[ -z $BASE_PORT || $BASE_PORT =~ ^[1-9][0-9]*$ ]] || fail "--base-port must be a port number"

ETCD=${ETCD_BIN:-etcd}
ETCDCTL=${ETCDCTL_BIN:-etcdctl}
export ETCDCTL_API=3

# A member's pid if it is still our etcd (pid files can outlive processes).
live_pid() {
  local f=$1/pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--data-dir $1/data" || return 1
  echo "$pid"
}

stop_cluster() {
  local pids=() m pid
  for m in "$DIR"/m*/; do
    m=${m%/}
    [[ -d $m ]] || continue
    if pid=$(live_pid "$m"); then pids+=("$pid"); fi
  done
  if [[ ${#pids[@]} -eq 0 ]]; then
    log "no running members under $DIR"
    return 0
  fi
  kill -TERM "${pids[@]}" 2>/dev/null || true
  # A leader stopping tries to hand leadership to a follower first and, when
  # the followers are stopping too, waits several seconds for it; nothing
  # here needs that, so stragglers get SIGKILL (etcd is crash-safe) after 3 s.
  local tries
  for ((tries = 0; tries < 30; tries++)); do
    local alive=0
    for pid in "${pids[@]}"; do running "$pid" && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    while running "$pid"; do sleep 0.05; done
  done
  log "stopped ${#pids[@]} member(s) under $DIR"
}

case "$CMD" in
  stop)
    [[ -d $DIR ]] || fail "no such directory: $DIR"
    DIR=$(cd "$DIR" && pwd)
    stop_cluster
    exit 0 ;;
  endpoints)
    [[ -f $DIR/endpoints ]] || fail "no cluster started in $DIR"
    cat "$DIR/endpoints"
    exit 0 ;;
  restart)
    [[ $MEMBER =~ ^[0-9]+$ ]] || fail "restart needs --member I (0-based)"
    m=$DIR/m$MEMBER
    [[ -f $m/args && -f $m/client ]] || fail "no member $MEMBER started in $DIR"
    m=$(cd "$m" && pwd)
    if pid=$(live_pid "$m"); then fail "member $MEMBER still runs (pid $pid)"; fi
    mapfile -t args <"$m/args"
    setsid "$ETCD" "${args[@]}" </dev/null >>"$m/etcd.log" 2>&1 &
    echo $! >"$m/pid"
    deadline=$((SECONDS + 60))
    until "$ETCDCTL" --endpoints="$(<"$m/client")" --dial-timeout=2s --command-timeout=3s \
        endpoint health >"$m/health.out" 2>&1; do
      live_pid "$m" >/dev/null || { tail -n 15 "$m/etcd.log" >&2; fail "member $MEMBER exited on restart"; }
      [[ $SECONDS -lt $deadline ]] || { cat "$m/health.out" >&2; fail "member $MEMBER not healthy 60 s after restart"; }
      sleep 0.1
    done
    log "member $MEMBER restarted (pid $(<"$m/pid"))"
    exit 0 ;;
esac

# ---- start
command -v "$ETCD" >/dev/null || fail "etcd not found; install it: sudo apt-get install -y etcd-server etcd-client"
command -v "$ETCDCTL" >/dev/null || fail "etcdctl not found; install it: sudo apt-get install -y etcd-client"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
for ((i = 0; i < MEMBERS; i++)); do
  [[ ! -e $DIR/m$i/data ]] || fail "$DIR/m$i/data exists: stop that cluster and remove $DIR, or use a new directory"
done

# etcd 3.4 refuses to run outside amd64/ppc64le unless told otherwise.
case "$(uname -m)" in
  x86_64|ppc64le) ;;
  *) export ETCD_UNSUPPORTED_ARCH=${ETCD_UNSUPPORTED_ARCH:-$(dpkg --print-architecture 2>/dev/null || uname -m)}
     log "ETCD_UNSUPPORTED_ARCH=$ETCD_UNSUPPORTED_ARCH" ;;
esac

# Ports: client and peer per member.
PORTS=()
if [[ -n $BASE_PORT ]]; then
  for ((i = 0; i < 2 * MEMBERS; i++)); do PORTS+=($((BASE_PORT + i))); done
else
  read -r -a PORTS < <(free_ports "$((2 * MEMBERS))")
fi

CLUSTER=""
ENDPOINTS=""
for ((i = 0; i < MEMBERS; i++)); do
  CLUSTER+="${CLUSTER:+,}m$i=http://127.0.0.1:${PORTS[2 * i + 1]}"
  ENDPOINTS+="${ENDPOINTS:+,}127.0.0.1:${PORTS[2 * i]}"
done
TOKEN="meridian-bench-$$-$RANDOM"

started=()
cleanup_on_failure() {
  for m in "${started[@]}"; do
    echo "---- $m/etcd.log (last 15 lines)" >&2
    tail -n 15 "$m/etcd.log" >&2 || true
  done
  stop_cluster
}

for ((i = 0; i < MEMBERS; i++)); do
  m=$DIR/m$i
  mkdir -p "$m"
  client=${PORTS[2 * i]}
  peer=${PORTS[2 * i + 1]}
  # setsid: a session of its own, so a Ctrl-C meant for the caller does not
  # kill members behind its back (etcd would exit on SIGINT); the caller stops
  # them with `stop`. stdin/stdout/stderr detached, so a caller capturing our
  # stdout is not held open by etcd. The quota is raised from 2 GiB so long benchmark runs (etcd
  # keeps every revision) do not hit "database space exceeded".
  args=(
    --name "m$i"
    --data-dir "$m/data"
    --listen-client-urls "http://127.0.0.1:$client"
    --advertise-client-urls "http://127.0.0.1:$client"
    --listen-peer-urls "http://127.0.0.1:$peer"
    --initial-advertise-peer-urls "http://127.0.0.1:$peer"
    --initial-cluster "$CLUSTER"
    --initial-cluster-token "$TOKEN"
    --initial-cluster-state new
    --quota-backend-bytes $((8 * 1024 * 1024 * 1024))
    --logger zap
  )
  printf '%s\n' "${args[@]}" >"$m/args"
  echo "127.0.0.1:$client" >"$m/client"
  setsid "$ETCD" "${args[@]}" </dev/null >"$m/etcd.log" 2>&1 &
  echo $! >"$m/pid"
  started+=("$m")
done

log "started $MEMBERS member(s) in $DIR; waiting for health"
deadline=$((SECONDS + 60))
while :; do
  for m in "${started[@]}"; do
    # Alive is enough here: just after the fork the process may not have
    # exec'd etcd yet, so live_pid's command-line check (against a reused
    # pid, for `stop`) would take a starting member for a dead one.
    if ! kill -0 "$(<"$m/pid")" 2>/dev/null; then
      log "member $(basename "$m") exited during start-up"
      cleanup_on_failure
      exit 1
    fi
  done
  if "$ETCDCTL" --endpoints="$ENDPOINTS" --dial-timeout=2s --command-timeout=3s \
       endpoint health >"$DIR/health.out" 2>&1; then
    break
  fi
  if [[ $SECONDS -ge $deadline ]]; then
    log "cluster not healthy after 60 s:"
    cat "$DIR/health.out" >&2
    cleanup_on_failure
    exit 1
  fi
  sleep 0.3
done
echo "$ENDPOINTS" >"$DIR/endpoints"
log "healthy: $ENDPOINTS (logs: $DIR/m*/etcd.log)"
echo "$ENDPOINTS"
