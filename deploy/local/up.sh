#!/usr/bin/env bash
# Installs what is missing, builds Release, and runs Meridian in the
# foreground with embedded defaults: a replicated group of 3 nodes on
# 127.0.0.1 (ports 2379, 12379, 22379; HTTP /metrics, /livez and /readyz on
# 2380, 12380, 22380), data under ./data. Ctrl-C stops it cleanly.
#
#   ./deploy/local/up.sh [--nodes N] [--port BASE] [--metrics-port M] [--data-dir DIR] [-- extra meridiand flags]
#
#   --nodes 1         a single unreplicated node on 127.0.0.1:BASE
#   --port BASE       node i listens on BASE + (i-1)*10000 (default 2379)
#   --metrics-port M  node i serves metrics on M + (i-1)*10000 (default BASE+1)
set -euo pipefail
cd "$(dirname "$0")/../.."

NODES=3
BASE=2379
METRICS_BASE=""
DATA_DIR=./data
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nodes) NODES=$2; shift 2 ;;
    --port) BASE=$2; shift 2 ;;
    --metrics-port) METRICS_BASE=$2; shift 2 ;;
    --data-dir) DATA_DIR=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "up.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$NODES" =~ ^[0-9]+$ ]] || (( NODES < 1 || NODES > 7 )); then
  echo "up.sh: --nodes must be 1..7" >&2; exit 2
fi

./deploy/local/install-deps.sh
# MERIDIAN_UP_BUILD_DIR reuses an existing build (the integration test uses
# the dev build rather than compiling Release a second time).
BIN=${MERIDIAN_UP_BUILD_DIR:-build/release}
if [[ -z "${MERIDIAN_UP_BUILD_DIR:-}" ]]; then
  echo "== building Release (the first time takes several minutes)"
  cmake -S . -B "$BIN" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BIN" -j "$(nproc)" --target meridiand meridianctl
fi

ENDPOINTS=()
for i in $(seq 1 "$NODES"); do ENDPOINTS+=("127.0.0.1:$((BASE + (i - 1) * 10000))"); done
CLUSTER=""
for i in $(seq 1 "$NODES"); do CLUSTER+="${CLUSTER:+,}$i=${ENDPOINTS[$((i - 1))]}"; done
EP_LIST=$(IFS=,; echo "${ENDPOINTS[*]}")
METRICS_BASE=${METRICS_BASE:-$((BASE + 1))}
METRICS=()
for i in $(seq 1 "$NODES"); do METRICS+=("127.0.0.1:$((METRICS_BASE + (i - 1) * 10000))"); done

PIDS=()
stop() {
  echo
  echo "== stopping ${#PIDS[@]} meridiand process(es)"
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  exit 0
}
trap stop INT TERM

mkdir -p "$DATA_DIR"
for i in $(seq 1 "$NODES"); do
  if (( NODES == 1 )); then
    args=(--dev --data-dir "$DATA_DIR" --listen "${ENDPOINTS[0]}")
  else
    args=(--cluster "$CLUSTER" --member-id "$i" --data-dir "$DATA_DIR/node$i")
  fi
  args+=(--metrics-listen "${METRICS[$((i - 1))]}")
  "$BIN/server/meridiand" "${args[@]}" --log-format text "${EXTRA[@]}" \
    2> >(sed -u "s/^/[node$i] /" >&2) &
  PIDS+=($!)
done

CTL="$BIN/client/meridianctl --endpoints $EP_LIST"
for _ in $(seq 1 150); do
  for p in "${PIDS[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then
      echo "up.sh: a meridiand exited during start-up; see the messages above" >&2
      stop
    fi
  done
  # Ready once the group has a leader that answers a read.
  if $CTL get up.sh/probe >/dev/null 2>&1; then break; fi
  sleep 0.2
done

cat <<MSG

== Meridian is running: $NODES node(s)
   endpoints: $EP_LIST
   data dir:  $DATA_DIR
   metrics:   $(for m in "${METRICS[@]}"; do echo "http://$m/metrics"; done | paste -sd' ')
   readiness: $(for m in "${METRICS[@]}"; do echo "http://$m/readyz"; done | paste -sd' ')
   try:       $CTL put hello world
              $CTL get hello
              $CTL -w table member list
              $CTL -w table endpoint status
   stop:      Ctrl-C

MSG
wait
