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

# run_bench NAME CMD...: runs one meridian-bench command with its output in
# $WORK/NAME.{out,json} (the caller passes --json). It runs in the background
# and is waited for, so Ctrl-C runs the caller's trap at once (bash defers
# traps while a foreground command runs, and skips a SIGINT trap when that
# command exits normally); BPID names it meanwhile. On failure it shows the
# output's tail and exits 1. REQUIRES: WORK and a log function.
run_bench() {
  local name=$1
  shift
  local rc=0
  "$@" </dev/null >"$WORK/$name.out" 2>&1 &
  BPID=$!
  wait "$BPID" || rc=$?
  BPID=
  if [[ $rc -ne 0 ]]; then
    tail -n 30 "$WORK/$name.out" >&2
    log "meridian-bench failed (exit $rc) in $name; see $WORK/$name.out"
    exit 1
  fi
}
