#!/usr/bin/env bash
# Shell helpers shared by compare.sh and compare-engines.sh (sourced).

# stop_child PID: SIGTERM, up to 15 s to exit, then SIGKILL; reaps it.
stop_child() {
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
