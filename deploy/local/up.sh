#!/usr/bin/env bash
# Installs what is missing, builds Release, and runs Meridian in the
# foreground with embedded defaults. Ctrl-C stops it cleanly.
#
#   ./deploy/local/up.sh [--data-dir DIR] [--listen HOST:PORT] [-- extra meridiand flags]
#
# Today this runs one node (the replicated cluster arrives with issue 4).
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA_DIR=./data
LISTEN=127.0.0.1:2379
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR=$2; shift 2 ;;
    --listen) LISTEN=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "up.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

./deploy/local/install-deps.sh
# MERIDIAN_UP_BUILD_DIR reuses an existing build (the integration test uses
# the dev build rather than compiling Release a second time).
BIN=${MERIDIAN_UP_BUILD_DIR:-build/release}
if [[ -z "${MERIDIAN_UP_BUILD_DIR:-}" ]]; then
  echo "== building Release (the first time takes several minutes)"
  cmake -S . -B "$BIN" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BIN" -j "$(nproc)" --target meridiand meridianctl
fi

mkdir -p "$DATA_DIR"
"$BIN/server/meridiand" --dev --data-dir "$DATA_DIR" --listen "$LISTEN" --log-format text \
  "${EXTRA[@]}" &
PID=$!
stop() {
  echo
  echo "== stopping meridiand (pid $PID)"
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  exit 0
}
trap stop INT TERM

for _ in $(seq 1 100); do
  if ! kill -0 "$PID" 2>/dev/null; then
    wait "$PID" || true
    echo "up.sh: meridiand exited during start-up; see the messages above" >&2
    exit 1
  fi
  if "$BIN/client/meridianctl" --endpoints "$LISTEN" endpoint health >/dev/null 2>&1; then
    break
  fi
  sleep 0.1
done

cat <<MSG

== Meridian is running
   endpoint:  $LISTEN
   data dir:  $DATA_DIR
   try:       $BIN/client/meridianctl --endpoints $LISTEN put hello world
              $BIN/client/meridianctl --endpoints $LISTEN get hello
              $BIN/client/meridianctl --endpoints $LISTEN -w table endpoint status
   stop:      Ctrl-C

MSG
wait "$PID"
