#!/usr/bin/env bash
# The README's first command: up.sh starts Meridian, prints the endpoint and
# a command to try, serves requests, and stops cleanly on Ctrl-C (SIGINT).
set -euo pipefail
BUILD_DIR=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT
# A base port whose +10000 and +20000 neighbours are free too.
port=$(python3 - <<'PY'
import random, socket
for _ in range(100):
    base = random.randint(20000, 25000)
    try:
        for p in (base, base + 10000, base + 20000):
            s = socket.socket(); s.bind(("127.0.0.1", p)); s.close()
        print(base); break
    except OSError:
        pass
PY
)
eps="127.0.0.1:$port,127.0.0.1:$((port + 10000)),127.0.0.1:$((port + 20000))"
ctl="$BUILD_DIR/client/meridianctl --endpoints $eps"

# setsid: its own process group, so we can send SIGINT like a terminal would.
MERIDIAN_UP_BUILD_DIR=$BUILD_DIR setsid "$ROOT/deploy/local/up.sh" --data-dir "$work/data" \
  --port "$port" >"$work/out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q "Meridian is running" "$work/out" && break
  kill -0 $pid 2>/dev/null || { cat "$work/out"; echo "FAIL: up.sh exited early"; exit 1; }
  sleep 0.1
done
grep -q "endpoints: $eps" "$work/out" || { cat "$work/out"; echo "FAIL: no endpoints line"; exit 1; }
grep -q "meridianctl --endpoints $eps put hello world" "$work/out" || { echo "FAIL: no try line"; exit 1; }

$ctl put hello world
[[ "$($ctl get hello)" == "world" ]] || { echo "FAIL: get hello"; exit 1; }
# Three members, one leader, and every node answers (followers redirect).
[[ $($ctl -w json member list | grep -o '"is_leader":true' | wc -l) == 1 ]] || {
  $ctl -w json member list; echo "FAIL: not exactly one leader"; exit 1; }
for e in ${eps//,/ }; do
  [[ "$("$BUILD_DIR/client/meridianctl" --endpoints "$e" get hello)" == "world" ]] || {
    echo "FAIL: get via $e"; exit 1; }
done

kill -INT -- -$pid
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then echo "FAIL: still running 10 s after Ctrl-C"; exit 1; fi
wait $pid || { cat "$work/out"; echo "FAIL: up.sh exit code $?"; exit 1; }
[[ $(grep -c "stopped" "$work/out") -ge 3 ]] || { cat "$work/out"; echo "FAIL: not every node stopped cleanly"; exit 1; }
[[ -d "$work/data/node3/wal" ]] || { echo "FAIL: no data under --data-dir"; exit 1; }
echo "up.sh OK"
