#!/usr/bin/env bash
# Backup and restore throughput (issue 8): `meridianctl snapshot save` of a
# loaded 3-node group, then `snapshot restore` into a fresh 3-node group.
#
#   tests/bench/backup.sh [--records N] [--value-size B] [--build DIR] [--keep]
#
#   --records     keys loaded into the source group (default 200000)
#   --value-size  bytes per value (default 100)
#   --build       build directory (default ${MERIDIAN_BUILD_DIR:-build/release})
#   --keep        keep the work directory (data, logs, the backup) afterwards
#
# Starts group A on free loopback ports in a fresh directory under
# ${TMPDIR:-/tmp}, loads it with meridian-bench (keys of 24 bytes), saves it
# with meridianctl, starts group B and restores the file into it, then
# checks that B holds as many keys as A. Prints, for save and restore, the
# records, bytes, seconds, records/s and MB/s as meridianctl reported them
# (-w json), and the file size. Everything started is stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

usage() { print_header 17; }

RECORDS=200000 VALUE_SIZE=100 KEEP=0
BUILD=${MERIDIAN_BUILD_DIR:-build/release}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --records) need_value "$@"; RECORDS=$2; shift 2 ;;
    --value-size) need_value "$@"; VALUE_SIZE=$2; shift 2 ;;
    --build) need_value "$@"; BUILD=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) help_or_unknown "$1" ;;
  esac
done
check_posint --records "$RECORDS"
check_posint --value-size "$VALUE_SIZE"
BUILD=$(abs_build "$BUILD")
MERIDIAND=$BUILD/server/meridiand
CTL=$BUILD/client/meridianctl
BENCH=$BUILD/tests/bench/meridian-bench
for bin in "$MERIDIAND" "$CTL" "$BENCH"; do
  [[ -x $bin ]] || die "$bin not found; build first (cmake --build $BUILD)"
done
check_build_type
make_work meridian-backup
check_fs

# start_group NAME: 3 meridiand in $WORK/NAME; waits for a leader; sets EP
# (client endpoints) and adds their pids to MPIDS. Writes nothing: a restore
# needs a group that never took a write.
start_group() {
  local name=$1 ports i
  read -r -a ports < <(free_ports 3)
  local cluster="1=127.0.0.1:${ports[0]},2=127.0.0.1:${ports[1]},3=127.0.0.1:${ports[2]}"
  EP="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
  for i in 1 2 3; do
    setsid "$MERIDIAND" --cluster "$cluster" --member-id "$i" --data-dir "$WORK/$name/node$i" \
      --log-format text </dev/null >>"$WORK/$name-$i.log" 2>&1 &
    MPIDS+=("$!")
    disown "$!"
  done
  local deadline=$((SECONDS + 60))
  until "$CTL" --endpoints "$EP" --timeout 1s -w json endpoint status 2>/dev/null |
          grep -q '"is_leader":true'; do
    check_meridians "a meridiand of $name exited"
    [[ $SECONDS -lt $deadline ]] || fail "group $name did not come up in 60 s (see $WORK)"
    sleep 0.2
  done
}

log "machine: $(machine_summary)"
start_group a
EP_A=$EP
log "loading $RECORDS records of $VALUE_SIZE bytes into group A"
run_bench load "$BENCH" --driver meridian --endpoints "$EP_A" --workload c --records "$RECORDS" \
  --value-size "$VALUE_SIZE" --load --ops 1 --clients 64 --quiet

FILE=$WORK/a.mbk
run_bg save "$CTL" --endpoints "$EP_A" -w json snapshot save --no-progress "$FILE" ||
  { cat "$WORK/save.out" >&2; fail "snapshot save failed"; }
start_group b
EP_B=$EP
run_bg restore "$CTL" --endpoints "$EP_B" -w json snapshot restore --no-progress "$FILE" ||
  { cat "$WORK/restore.out" >&2; fail "snapshot restore failed"; }

KEYS_A=$("$CTL" --endpoints "$EP_A" --timeout 60s scan --prefix user --keys-only | wc -l)
KEYS_B=$("$CTL" --endpoints "$EP_B" --timeout 60s scan --prefix user --keys-only | wc -l)
[[ $KEYS_A -eq $KEYS_B ]] || fail "group A has $KEYS_A keys, group B $KEYS_B"

python3 - "$WORK/save.out" "$WORK/restore.out" "$FILE" "$BUILD_TYPE" <<'PY'
import json, os, sys
save, restore = (json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[1:3])
size = os.path.getsize(sys.argv[3])
print(f"build: {sys.argv[4]}; backup file: {size} bytes, {save['records']} records in {save['blocks']} blocks")
print(f"{'':<8} {'records':>9} {'seconds':>8} {'records/s':>10} {'MB/s':>7}")
for name, r in (("save", save), ("restore", restore)):
    s = r["duration_ms"] / 1000
    print(f"{name:<8} {r['records']:>9} {s:>8.2f} {r['records'] / s:>10.0f} {size / s / 1e6:>7.1f}")
PY
log "group A and B: $KEYS_A keys each"
