#!/usr/bin/env bash
# The README's first command: up.sh starts Meridian, prints the endpoint and
# a command to try, serves requests, and stops cleanly on Ctrl-C (SIGINT).
set -euo pipefail
BUILD_DIR=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ep=127.0.0.1:$port
ctl="$BUILD_DIR/client/meridianctl --endpoints $ep"

# setsid: its own process group, so we can send SIGINT like a terminal would.
MERIDIAN_UP_BUILD_DIR=$BUILD_DIR setsid "$ROOT/deploy/local/up.sh" --data-dir "$work/data" \
  --listen "$ep" >"$work/out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q "Meridian is running" "$work/out" && break
  kill -0 $pid 2>/dev/null || { cat "$work/out"; echo "FAIL: up.sh exited early"; exit 1; }
  sleep 0.1
done
grep -q "endpoint:  $ep" "$work/out" || { cat "$work/out"; echo "FAIL: no endpoint line"; exit 1; }
grep -q "meridianctl --endpoints $ep put hello world" "$work/out" || { echo "FAIL: no try line"; exit 1; }

$ctl put hello world
[[ "$($ctl get hello)" == "world" ]] || { echo "FAIL: get hello"; exit 1; }

kill -INT -- -$pid
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then echo "FAIL: still running 10 s after Ctrl-C"; exit 1; fi
wait $pid || { cat "$work/out"; echo "FAIL: up.sh exit code $?"; exit 1; }
grep -q "stopped" "$work/out" || { cat "$work/out"; echo "FAIL: no clean stop logged"; exit 1; }
[[ -d "$work/data/engine" ]] || { echo "FAIL: no data under --data-dir"; exit 1; }
echo "up.sh OK"
