#!/bin/bash
# End-to-end test of lossyfs: mounts it on temp dirs and checks that a "lose"
# puts every file back to its last fsync/fdatasync, and that sync, rename,
# truncate, fallocate, locks, O_DIRECT, io_uring syncs and unmount behave as
# jepsen/lossyfs/README.md says.
#
# Usage: jepsen/lossyfs/lossyfs_test.sh [build-dir]   (default /tmp/lossyfs-build)
# Exit: 0 pass, 1 fail, 77 skipped (no FUSE here, or the binaries are missing).
set -u

BUILD=${1:-${LOSSYFS_BUILD:-/tmp/lossyfs-build}}
LOSSYFS=$BUILD/lossyfs
CTL=$BUILD/lossyfs-ctl
PROBE=$BUILD/lossyfs_uring_probe
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
[ -x "$LOSSYFS" ] && [ -x "$CTL" ] || skip "lossyfs not built in $BUILD"
[ -x "$PY" ] || skip "$PY not found"
[ -e /dev/fuse ] || skip "/dev/fuse missing"

TMP=$(mktemp -d /tmp/lossyfs-test.XXXXXX)
BACK=$TMP/backing
MNT=$TMP/mnt
SOCK=$TMP/ctl.sock
LOG=$TMP/lossyfs.log
mkdir -p "$BACK" "$MNT"
PID=

unmount() {
  if mountpoint -q "$MNT"; then
    fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
  fi
  if [ -n "$PID" ]; then
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PID" 2>/dev/null && kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=
  fi
}
cleanup() {
  unmount
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mount_lossyfs() {
  "$LOSSYFS" -f "$@" --control "$SOCK" "$BACK" "$MNT" >>"$LOG" 2>&1 &
  PID=$!
  local up=
  for _ in $(seq 100); do
    kill -0 "$PID" 2>/dev/null || break
    if "$CTL" "$SOCK" ping >/dev/null 2>&1 && mountpoint -q "$MNT"; then up=1; break; fi
    sleep 0.1
  done
  if [ -z "$up" ]; then
    cat "$LOG"
    if grep -qi 'permission\|not permitted\|fuse: device not found\|fusermount' "$LOG"; then
      skip "FUSE mounting not permitted here"
    fi
    echo "FAIL: lossyfs did not mount"
    exit 1
  fi
}

mount_lossyfs
echo "mounted $BACK on $MNT (pid $PID)"

# The scenarios run in Python for precise pwrite/fsync control.
export MNT BACK SOCK CTL PROBE LOSSYFS_PID=$PID
"$PY" - <<'EOF'
import ctypes, errno, fcntl, os, signal, subprocess, sys, time

MNT, BACK, SOCK, CTL, PROBE = (os.environ[k] for k in ("MNT", "BACK", "SOCK", "CTL", "PROBE"))
PID = int(os.environ["LOSSYFS_PID"])
failures = []

def ctl(cmd):
    out = subprocess.run([CTL, SOCK, cmd], capture_output=True, text=True, check=True).stdout.strip()
    return out

def stats():
    return {k: int(v) for k, v in (kv.split("=") for kv in ctl("stats").split()[1:])}

def p(name):
    return os.path.join(MNT, name)

def read(name):
    with open(p(name), "rb") as f:
        return f.read()

def pattern(n, seed):
    return bytes((i * 31 + seed) % 251 for i in range(n))

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail))
    if not cond:
        failures.append(name)

def write_at(fd, data, off):
    assert os.pwrite(fd, data, off) == len(data)

# 1. A fsynced, B (overwrite part + extend) not: lose gives A exactly.
A = pattern(10000, 1)
fd = os.open(p("ab"), os.O_RDWR | os.O_CREAT, 0o644)
write_at(fd, A, 0); os.fsync(fd)
write_at(fd, pattern(2000, 2), 3000); write_at(fd, pattern(5000, 3), 10000)
os.close(fd)
check("B visible before lose", len(read("ab")) == 15000)
ctl("lose")
got = read("ab")
check("lose restores A (content and size)", got == A, f"size {len(got)}")
check("backing file equals A", open(os.path.join(BACK, "ab"), "rb").read() == A)

# 2. A new file never fsynced ends up empty (in a new directory too).
os.mkdir(p("newdir"))
for name in ("fresh", "newdir/fresh"):
    with open(p(name), "wb") as f:
        f.write(pattern(5000, 4))
ctl("lose")
check("never-fsynced file emptied", read("fresh") == b"" and read("newdir/fresh") == b"")

# 3. fdatasync commits like fsync.
C = pattern(7000, 5)
fd = os.open(p("c"), os.O_RDWR | os.O_CREAT, 0o644)
write_at(fd, C, 0); os.fdatasync(fd)
write_at(fd, pattern(9000, 6), 0)
os.close(fd)
ctl("lose")
check("fdatasync commits", read("c") == C)

# 4. sync makes everything durable; later writes are lost again.
E = pattern(3000, 7)
with open(p("e"), "wb") as f:
    f.write(E)
ctl("sync")
ctl("lose")
check("nothing lost after sync", read("e") == E)
with open(p("e"), "r+b") as f:
    f.write(pattern(100, 8))
ctl("lose")
check("writes after sync are lost", read("e") == E)

# 5. rename: an fsynced file keeps its content; undo follows the file.
G = pattern(4096, 9)
fd = os.open(p("g"), os.O_RDWR | os.O_CREAT, 0o644)
write_at(fd, G, 0); os.fsync(fd)
write_at(fd, pattern(8192, 10), 0)
os.close(fd)
os.rename(p("g"), p("g-renamed"))
ctl("lose")
check("rename keeps fsynced content, drops unsynced",
      read("g-renamed") == G and not os.path.exists(p("g")))
fd = os.open(p("h"), os.O_RDWR | os.O_CREAT, 0o644)
write_at(fd, G, 0); os.fsync(fd); os.close(fd)
os.rename(p("h"), p("h2"))
ctl("lose")
check("rename of fsynced file keeps content", read("h2") == G)

# 6. ftruncate (shrink, then regrow) and O_TRUNC are rolled back.
fd = os.open(p("ab"), os.O_RDWR)
os.ftruncate(fd, 100); write_at(fd, b"z" * 50, 20000)
os.close(fd)
ctl("lose")
check("ftruncate rolled back", read("ab") == A)
with open(p("ab"), "wb") as f:  # O_TRUNC
    f.write(b"short")
ctl("lose")
check("O_TRUNC rolled back", read("ab") == A)

# 7. fallocate: growth and a punched hole are rolled back.
fd = os.open(p("ab"), os.O_RDWR)
os.posix_fallocate(fd, 0, 1 << 20)
check("fallocate grows the file", os.fstat(fd).st_size == 1 << 20)
os.close(fd)
# (not the fallocate(1) tool: it fsyncs the file afterwards)
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
fd = os.open(p("ab"), os.O_RDWR)
rc = libc.fallocate(fd, 3, 4096, 4096)  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
check("punch hole accepted", rc == 0 and os.pread(fd, 4096, 4096) == bytes(4096),
      os.strerror(ctypes.get_errno()))
os.close(fd)
ctl("lose")
check("fallocate and punch hole rolled back", read("ab") == A)

# 8. The harness's sequence: a writer killed -9, then lose.
fd = os.open(p("ab"), os.O_RDWR)
child = subprocess.Popen([sys.executable, "-c",
    "import os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR); "
    "os.pwrite(fd, b'K'*20000, 0); print('w', flush=True); time.sleep(60)", p("ab")],
    stdout=subprocess.PIPE, text=True)
child.stdout.readline()
child.kill(); child.wait()
os.close(fd)
ctl("lose")
check("writes of a killed process are lost", read("ab") == A)

# 9. Unlinked-but-open files keep working.
fd = os.open(p("tmpfile"), os.O_RDWR | os.O_CREAT, 0o644)
os.unlink(p("tmpfile"))
write_at(fd, b"still here", 0); os.fsync(fd)
check("unlinked open file: read/fstat", os.pread(fd, 10, 0) == b"still here"
      and os.fstat(fd).st_size == 10)
os.close(fd)
check("unlinked file gone", "tmpfile" not in os.listdir(MNT))

# 10. mkdir, readdir, directory fsync, statfs.
os.makedirs(p("d1/d2"))
with open(p("d1/d2/x"), "wb") as f:
    f.write(b"x")
check("readdir", sorted(os.listdir(p("d1"))) == ["d2"] and os.listdir(p("d1/d2")) == ["x"])
before = stats()["fsyncdirs"]
dfd = os.open(p("d1"), os.O_RDONLY | os.O_DIRECTORY); os.fsync(dfd); os.close(dfd)
check("directory fsync arrives", stats()["fsyncdirs"] == before + 1)
check("statfs", os.statvfs(MNT).f_bsize > 0 and os.statvfs(MNT).f_blocks > 0)

# 11. flock and fcntl locks exclude other processes (the daemon's LOCK file).
lock_probe = ("import fcntl,os,sys; fd=os.open(sys.argv[1], os.O_RDWR)\n"
              "try:\n fcntl.{}(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('got')\n"
              "except OSError as e: print('busy')")
lfd = os.open(p("LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
out = subprocess.run([sys.executable, "-c", lock_probe.format("flock"), p("LOCK")],
                     capture_output=True, text=True).stdout.strip()
check("flock excludes another process", out == "busy", out)
fcntl.flock(lfd, fcntl.LOCK_UN)
fcntl.lockf(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
out = subprocess.run([sys.executable, "-c", lock_probe.format("lockf"), p("LOCK")],
                     capture_output=True, text=True).stdout.strip()
check("fcntl lock excludes another process", out == "busy", out)
os.close(lfd)
out = subprocess.run([sys.executable, "-c", lock_probe.format("flock"), p("LOCK")],
                     capture_output=True, text=True).stdout.strip()
check("lock released on close", out == "got", out)

# 12. O_DIRECT is accepted; io_uring fsync and fdatasync reach lossyfs.
try:
    dfd = os.open(p("direct"), os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
    os.close(dfd)
    check("O_DIRECT open accepted", True)
except OSError as e:
    check("O_DIRECT open accepted", False, str(e))
if os.access(PROBE, os.X_OK):
    for sync, key in (("fsync", "fsyncs"), ("fdatasync", "fdatasyncs")):
        name = "uring-" + sync
        s0 = stats()
        out = subprocess.run([PROBE, p(name), "a", sync, "--direct"], capture_output=True, text=True)
        s1 = stats()
        check(f"io_uring O_DIRECT write + {sync}", out.returncode == 0 and "O_DIRECT" in out.stdout,
              out.stdout + out.stderr)
        check(f"io_uring {sync} reaches lossyfs", s1[key] == s0[key] + 1, f"{s0[key]} -> {s1[key]}")
        subprocess.run([PROBE, p(name), "b", "none", "--direct"], check=True, capture_output=True)
        ctl("lose")
        check(f"io_uring {sync} commits", read(name) == b"a" * 4096)
else:
    print("note: lossyfs_uring_probe not built (no liburing); io_uring checks skipped")

# 12b. Concurrent writers (multi-threaded FUSE): random pwrite/ftruncate/
# fsync on their own files and on one shared file region each; lose must give
# each worker's last fsynced state.
worker = r'''
import os, random, sys
path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
cur = bytearray(); durable = bytes()
for step in range(400):
    op = rng.random()
    if op < 0.6:
        off = rng.randrange(0, 60000); data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        os.pwrite(fd, data, off)
        if len(cur) < off + len(data): cur.extend(bytes(off + len(data) - len(cur)))
        cur[off:off + len(data)] = data
    elif op < 0.75:
        n = rng.randrange(0, 60000); os.ftruncate(fd, n)
        cur = cur[:n] + bytes(max(0, n - len(cur)))
    elif op < 0.9:
        (os.fsync if rng.random() < 0.5 else os.fdatasync)(fd); durable = bytes(cur)
assert os.pread(fd, len(cur) + 10, 0) == bytes(cur)
sys.stdout.buffer.write(durable)
'''
procs = [subprocess.Popen([sys.executable, "-c", worker, p(f"conc{i}"), str(i)],
                          stdout=subprocess.PIPE) for i in range(4)]
expected = [pr.communicate()[0] for pr in procs]
check("concurrent writers ran", all(pr.returncode == 0 for pr in procs))
ctl("lose")
check("concurrent writers: lose gives each last fsync",
      all(read(f"conc{i}") == expected[i] for i in range(4)))

# 13. SIGUSR1 = lose (asynchronous; completion seen in stats).
with open(p("ab"), "r+b") as f:
    f.write(b"S" * 100)
loses = stats()["loses"]
os.kill(PID, signal.SIGUSR1)
for _ in range(100):
    if stats()["loses"] > loses:
        break
    time.sleep(0.05)
check("SIGUSR1 loses", read("ab") == A)

s = stats()
check("stats count fsync and fdatasync", s["fsyncs"] > 0 and s["fdatasyncs"] > 0, str(s))
print("stats:", ctl("stats"))
sys.exit(1 if failures else 0)
EOF
rc=$?

# 14. Unmount cleans up: the process exits 0 and removes its control socket.
fusermount3 -u "$MNT"
for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
wait "$PID"; exit_code=$?
PID=
if [ $exit_code -eq 0 ] && ! mountpoint -q "$MNT" && [ ! -e "$SOCK" ]; then
  echo "ok   unmount: process exited 0, socket removed"
else
  echo "FAIL unmount: exit $exit_code, socket $( [ -e "$SOCK" ] && echo left || echo removed)"
  rc=1
fi
if [ "$(cat "$BACK/ab" | cmp - <("$PY" -c 'import sys; sys.stdout.buffer.write(bytes((i*31+1)%251 for i in range(10000)))') && echo same)" = same ]; then
  echo "ok   backing dir keeps the durable state after unmount"
else
  echo "FAIL backing dir content after unmount"; rc=1
fi

# 15. --refuse-direct: O_DIRECT opens fail with EINVAL; the fallback works.
if [ -x "$PROBE" ]; then
  mount_lossyfs --refuse-direct
  out=$("$PROBE" "$MNT/refused" c fdatasync --direct)
  if [[ $out == *"O_DIRECT refused"* ]]; then
    echo "ok   --refuse-direct: $out"
  else
    echo "FAIL --refuse-direct: $out"; rc=1
  fi
  unmount
fi

[ $rc -eq 0 ] && echo "PASS lossyfs_test" || { echo "FAIL lossyfs_test"; tail -20 "$LOG"; }
exit $rc
