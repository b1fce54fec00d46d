// lossyfs: a FUSE passthrough of a backing directory that can forget every
// write not made durable by fsync/fdatasync (a simulated power loss).
// Semantics, control protocol and limits: jepsen/lossyfs/README.md.
//
// Threading: libfuse's multi-threaded loop calls the operations below
// concurrently. Reads run unlocked; every operation that changes file data
// (write, truncate, fallocate, O_TRUNC opens) and every fsync, lose and sync
// runs under State::mu, so an undo record is always saved before the bytes it
// covers change and a lose never interleaves with a write.
#define FUSE_USE_VERSION 312

#include <dirent.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jepsen/lossyfs/control.h"
#include "jepsen/lossyfs/undo_journal.h"

namespace meridian::lossyfs {
namespace {

struct Counters {
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> truncates{0};
  std::atomic<uint64_t> fallocates{0};
  std::atomic<uint64_t> fsyncs{0};
  std::atomic<uint64_t> fdatasyncs{0};
  std::atomic<uint64_t> fsyncdirs{0};
  std::atomic<uint64_t> direct_opens{0};
  std::atomic<uint64_t> loses{0};
  std::atomic<uint64_t> syncs{0};
};

struct State {
  int backing_fd = -1;
  bool refuse_direct = false;
  std::mutex mu;
  Journal journal;  // guarded by mu
  Counters counters;
};

State* g_state = nullptr;

// libfuse's names for unlinked files that are still open.
constexpr char kHiddenPrefix[] = ".fuse_hidden";

// An open file: its backing descriptor and whether every write is durable.
struct Handle {
  int fd;
  bool sync_writes;
};

Handle* H(const fuse_file_info* fi) { return reinterpret_cast<Handle*>(fi->fh); }
DIR* D(const fuse_file_info* fi) { return reinterpret_cast<DIR*>(fi->fh); }

// FUSE paths are absolute within the mount; the backing calls take them
// relative to the backing directory descriptor.
const char* Rel(const char* path) {
  while (*path == '/') path++;
  return *path == '\0' ? "." : path;
}

int Errno(int rc) { return rc < 0 ? -errno : 0; }

std::string Lose() {
  std::lock_guard<std::mutex> lock(g_state->mu);
  Journal::Totals t = g_state->journal.LoseAll();
  g_state->counters.loses++;
  std::fprintf(stderr, "lossyfs: lose: rolled back %llu files, %llu saved bytes, error %d\n",
               static_cast<unsigned long long>(t.files), static_cast<unsigned long long>(t.bytes),
               t.error);
  if (t.error != 0) return "error lose " + std::string(std::strerror(-t.error));
  return "done lose files=" + std::to_string(t.files) + " bytes=" + std::to_string(t.bytes);
}

std::string Sync() {
  std::lock_guard<std::mutex> lock(g_state->mu);
  Journal::Totals t = g_state->journal.SyncAll();
  g_state->counters.syncs++;
  return "done sync files=" + std::to_string(t.files) + " bytes=" + std::to_string(t.bytes);
}

std::string Stats() {
  uint64_t dirty_files, saved_bytes;
  {
    std::lock_guard<std::mutex> lock(g_state->mu);
    dirty_files = g_state->journal.dirty_files();
    saved_bytes = g_state->journal.saved_bytes();
  }
  const Counters& c = g_state->counters;
  std::string s = "ok";
  auto add = [&s](const char* name, uint64_t v) {
    s += std::string(" ") + name + "=" + std::to_string(v);
  };
  add("dirty_files", dirty_files);
  add("saved_bytes", saved_bytes);
  add("writes", c.writes);
  add("bytes_written", c.bytes_written);
  add("truncates", c.truncates);
  add("fallocates", c.fallocates);
  add("fsyncs", c.fsyncs);
  add("fdatasyncs", c.fdatasyncs);
  add("fsyncdirs", c.fsyncdirs);
  add("direct_opens", c.direct_opens);
  add("loses", c.loses);
  add("syncs", c.syncs);
  return s;
}

std::string HandleCommand(const std::string& command) {
  if (command == "lose") return Lose();
  if (command == "sync") return Sync();
  if (command == "stats") return Stats();
  if (command == "ping") return "ok pong";
  return "error unknown command '" + command + "' (lose, sync, stats, ping)";
}

// ---- FUSE operations ----

void* Init(fuse_conn_info* conn, fuse_config* cfg) {
  cfg->use_ino = 1;
  // Per-file operations use the handle's descriptor, never the path.
  cfg->nullpath_ok = 1;
  // libfuse renames an unlinked-but-open file to .fuse_hidden* until its last
  // close (hard_remove would make fstat(2) on it fail with ESTALE, because
  // the kernel sends no handle with fstat). ReadDir hides those names.
  cfg->hard_remove = 0;
  // No attribute/entry caching: after a lose the backing files change behind
  // the kernel's back, so sizes and names must be asked for each time.
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->kernel_cache = 0;  // page cache dropped on every open(2)
  cfg->auto_cache = 0;
  cfg->direct_io = 0;
  // Write-through: each write(2) reaches Write() before it returns, so the
  // undo record exists before the writer can be killed.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  return g_state;
}

int GetAttr(const char* path, struct stat* st, fuse_file_info* fi) {
  if (fi != nullptr) return Errno(::fstat(H(fi)->fd, st));
  return Errno(::fstatat(g_state->backing_fd, Rel(path), st, AT_SYMLINK_NOFOLLOW));
}

int Access(const char* path, int mask) {
  return Errno(::faccessat(g_state->backing_fd, Rel(path), mask, AT_SYMLINK_NOFOLLOW));
}

int ReadLink(const char* path, char* buf, size_t size) {
  if (size == 0) return -EINVAL;
  ssize_t n = ::readlinkat(g_state->backing_fd, Rel(path), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

int OpenDir(const char* path, fuse_file_info* fi) {
  int fd = ::openat(g_state->backing_fd, Rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  fi->fh = reinterpret_cast<uint64_t>(dir);
  return 0;
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t offset, fuse_file_info* fi,
            fuse_readdir_flags flags) {
  DIR* dir = D(fi);
  // Offset 0 on every fill call: libfuse buffers the whole listing.
  ::rewinddir(dir);
  errno = 0;
  while (dirent* e = ::readdir(dir)) {
    if (std::strncmp(e->d_name, kHiddenPrefix, sizeof(kHiddenPrefix) - 1) == 0) continue;
    struct stat st;
    std::memset(&st, 0, sizeof(st));
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    if (fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
  }
  return -errno;
}

int ReleaseDir(const char* path, fuse_file_info* fi) {
  ::closedir(D(fi));
  return 0;
}

int FsyncDir(const char* path, int datasync, fuse_file_info* fi) {
  // Names are durable at once in our model; pass the sync through anyway.
  g_state->counters.fsyncdirs++;
  int fd = ::dirfd(D(fi));
  return Errno(datasync ? ::fdatasync(fd) : ::fsync(fd));
}

int MkNod(const char* path, mode_t mode, dev_t rdev) {
  if (S_ISFIFO(mode)) return Errno(::mkfifoat(g_state->backing_fd, Rel(path), mode));
  return Errno(::mknodat(g_state->backing_fd, Rel(path), mode, rdev));
}

int MkDir(const char* path, mode_t mode) {
  return Errno(::mkdirat(g_state->backing_fd, Rel(path), mode));
}

int Unlink(const char* path) { return Errno(::unlinkat(g_state->backing_fd, Rel(path), 0)); }

int RmDir(const char* path) {
  return Errno(::unlinkat(g_state->backing_fd, Rel(path), AT_REMOVEDIR));
}

int SymLink(const char* target, const char* path) {
  return Errno(::symlinkat(target, g_state->backing_fd, Rel(path)));
}

int Rename(const char* from, const char* to, unsigned int flags) {
  return Errno(::renameat2(g_state->backing_fd, Rel(from), g_state->backing_fd, Rel(to), flags));
}

int Link(const char* from, const char* to) {
  return Errno(::linkat(g_state->backing_fd, Rel(from), g_state->backing_fd, Rel(to), 0));
}

int ChMod(const char* path, mode_t mode, fuse_file_info* fi) {
  if (fi != nullptr) return Errno(::fchmod(H(fi)->fd, mode));
  return Errno(::fchmodat(g_state->backing_fd, Rel(path), mode, 0));
}

int ChOwn(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  if (fi != nullptr) return Errno(::fchown(H(fi)->fd, uid, gid));
  return Errno(::fchownat(g_state->backing_fd, Rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

// REQUIRES: g_state->mu held.
int TruncateLocked(int fd, off_t size) {
  if (size < 0) return -EINVAL;
  if (int err = g_state->journal.BeforeTruncate(fd, static_cast<uint64_t>(size)); err != 0) {
    return err;
  }
  g_state->counters.truncates++;
  return Errno(::ftruncate(fd, size));
}

int Truncate(const char* path, off_t size, fuse_file_info* fi) {
  std::lock_guard<std::mutex> lock(g_state->mu);
  if (fi != nullptr) return TruncateLocked(H(fi)->fd, size);
  int fd = ::openat(g_state->backing_fd, Rel(path), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = TruncateLocked(fd, size);
  ::close(fd);
  return rc;
}

int UTimeNs(const char* path, const timespec tv[2], fuse_file_info* fi) {
  if (fi != nullptr) return Errno(::futimens(H(fi)->fd, tv));
  return Errno(::utimensat(g_state->backing_fd, Rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

// Opens (and with O_CREAT creates) the backing file for a FUSE open/create.
int OpenBacking(const char* path, int flags, mode_t mode, fuse_file_info* fi) {
  if (flags & O_DIRECT) {
    if (g_state->refuse_direct) return -EINVAL;
    g_state->counters.direct_opens++;
  }
  // O_DIRECT: the kernel already sends O_DIRECT I/O to us uncached; the
  // backing file need not honour it (tmpfs refuses it, and FUSE requests are
  // not aligned). O_APPEND: the kernel picks the offset; with O_APPEND on the
  // backing descriptor pwrite would ignore it. O_TRUNC: journaled below.
  int backing_flags = (flags & ~(O_DIRECT | O_APPEND | O_TRUNC | O_NOCTTY)) | O_CLOEXEC;
  int fd = ::openat(g_state->backing_fd, Rel(path), backing_flags, mode);
  if (fd < 0) return -errno;
  if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
    struct stat st;
    int err = Errno(::fstat(fd, &st));
    if (err == 0 && S_ISREG(st.st_mode) && st.st_size != 0) {
      std::lock_guard<std::mutex> lock(g_state->mu);
      err = TruncateLocked(fd, 0);
    }
    if (err != 0) {
      ::close(fd);
      return err;
    }
  }
  fi->fh = reinterpret_cast<uint64_t>(new Handle{fd, (flags & (O_SYNC | O_DSYNC)) != 0});
  fi->keep_cache = 0;
  return 0;
}

int Open(const char* path, fuse_file_info* fi) { return OpenBacking(path, fi->flags, 0, fi); }

int Create(const char* path, mode_t mode, fuse_file_info* fi) {
  return OpenBacking(path, fi->flags | O_CREAT, mode, fi);
}

int Read(const char* path, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  ssize_t n = ::pread(H(fi)->fd, buf, size, offset);
  return n < 0 ? -errno : static_cast<int>(n);
}

int Write(const char* path, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  if (offset < 0) return -EINVAL;
  Handle* h = H(fi);
  std::lock_guard<std::mutex> lock(g_state->mu);
  uint64_t begin = static_cast<uint64_t>(offset);
  if (int err = g_state->journal.BeforeModify(h->fd, begin, begin + size); err != 0) return err;
  ssize_t n = ::pwrite(h->fd, buf, size, offset);
  if (n < 0) return -errno;
  g_state->counters.writes++;
  g_state->counters.bytes_written += static_cast<uint64_t>(n);
  // O_SYNC/O_DSYNC: the backing descriptor has the flag too, so the write is
  // on disk; treat it as an fdatasync of the whole file.
  if (h->sync_writes) g_state->journal.MarkDurable(h->fd);
  return static_cast<int>(n);
}

int StatFs(const char* path, struct statvfs* st) {
  return Errno(::fstatvfs(g_state->backing_fd, st));
}

int Release(const char* path, fuse_file_info* fi) {
  Handle* h = H(fi);
  ::close(h->fd);
  delete h;
  return 0;
}

int Fsync(const char* path, int datasync, fuse_file_info* fi) {
  int fd = H(fi)->fd;
  (datasync ? g_state->counters.fdatasyncs : g_state->counters.fsyncs)++;
  std::lock_guard<std::mutex> lock(g_state->mu);
  // A failed sync makes nothing durable.
  if (int err = Errno(datasync ? ::fdatasync(fd) : ::fsync(fd)); err != 0) return err;
  g_state->journal.MarkDurable(fd);
  return 0;
}

int Fallocate(const char* path, int mode, off_t offset, off_t length, fuse_file_info* fi) {
  if (offset < 0 || length <= 0) return -EINVAL;
  // Allocation (optionally keeping the size), hole punching and zeroing.
  // Collapse/insert range shift data and are refused.
  const int destroys = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if ((mode & ~(FALLOC_FL_KEEP_SIZE | destroys)) != 0) return -EOPNOTSUPP;
  int fd = H(fi)->fd;
  std::lock_guard<std::mutex> lock(g_state->mu);
  uint64_t begin = static_cast<uint64_t>(offset);
  uint64_t end = (mode & destroys) ? begin + static_cast<uint64_t>(length) : begin;
  // Even a plain allocation needs the record first: it may grow the file.
  if (int err = g_state->journal.BeforeModify(fd, begin, end); err != 0) return err;
  g_state->counters.fallocates++;
  return Errno(::fallocate(fd, mode, offset, length));
}

fuse_operations MakeOperations() {
  fuse_operations ops;
  std::memset(&ops, 0, sizeof(ops));
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.access = Access;
  ops.readlink = ReadLink;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.releasedir = ReleaseDir;
  ops.fsyncdir = FsyncDir;
  ops.mknod = MkNod;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.symlink = SymLink;
  ops.rename = Rename;
  ops.link = Link;
  ops.chmod = ChMod;
  ops.chown = ChOwn;
  ops.truncate = Truncate;
  ops.utimens = UTimeNs;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.statfs = StatFs;
  ops.release = Release;
  ops.fsync = Fsync;
  ops.fallocate = Fallocate;
  // No lock/flock: the kernel then keeps flock(2) and fcntl(2) locks itself,
  // which is right for processes sharing this one mount.
  return ops;
}

// SIGUSR1 = lose (no reply; poll "stats" for loses=). SIGUSR2 stops the thread.
void SignalThread(sigset_t set) {
  for (;;) {
    int sig = 0;
    if (::sigwait(&set, &sig) != 0) continue;
    if (sig == SIGUSR2) return;
    if (sig == SIGUSR1) Lose();
  }
}

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [options] <backing-dir> <mountpoint>\n"
               "  --control PATH    control socket (default <mountpoint>.lossyfs-ctl)\n"
               "  --refuse-direct   fail O_DIRECT opens with EINVAL (default: accept)\n"
               "  -f                stay in the foreground\n"
               "  -s                single-threaded\n"
               "  -d                FUSE debug output (implies -f)\n"
               "  -o OPTS           extra FUSE mount options\n",
               argv0);
}

int Main(int argc, char** argv) {
  std::string control, backing, mountpoint;
  std::vector<std::string> fuse_opts = {
      "default_permissions,allow_other,fsname=lossyfs,subtype=lossyfs"};
  bool foreground = false, single_thread = false, debug = false, refuse_direct = false;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--control" && i + 1 < argc) {
      control = argv[++i];
    } else if (a == "--refuse-direct") {
      refuse_direct = true;
    } else if (a == "-f") {
      foreground = true;
    } else if (a == "-s") {
      single_thread = true;
    } else if (a == "-d") {
      debug = foreground = true;
    } else if (a == "-o" && i + 1 < argc) {
      fuse_opts.push_back(argv[++i]);
    } else if (a == "-h" || a == "--help") {
      Usage(argv[0]);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      Usage(argv[0]);
      return 2;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) {
    Usage(argv[0]);
    return 2;
  }
  backing = positional[0];
  char* abs_mount = ::realpath(positional[1].c_str(), nullptr);
  if (abs_mount == nullptr) {
    std::fprintf(stderr, "lossyfs: mountpoint %s: %s\n", positional[1].c_str(),
                 std::strerror(errno));
    return 1;
  }
  mountpoint = abs_mount;
  std::free(abs_mount);
  if (control.empty()) control = mountpoint + ".lossyfs-ctl";
  // Absolute: fuse_daemonize() changes the working directory to "/", and the
  // socket file is removed by name at exit.
  if (control[0] != '/') {
    char* cwd = ::getcwd(nullptr, 0);
    if (cwd == nullptr) return 1;
    control = std::string(cwd) + "/" + control;
    std::free(cwd);
  }

  static State state;
  state.refuse_direct = refuse_direct;
  state.backing_fd = ::open(backing.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (state.backing_fd < 0) {
    std::fprintf(stderr, "lossyfs: backing dir %s: %s\n", backing.c_str(), std::strerror(errno));
    return 1;
  }
  g_state = &state;

  ControlServer server;
  if (int err = server.Listen(control); err != 0) {
    std::fprintf(stderr, "lossyfs: control socket %s: %s\n", control.c_str(), std::strerror(-err));
    return 1;
  }

  std::vector<std::string> fuse_argv_s = {argv[0]};
  for (const std::string& o : fuse_opts) {
    fuse_argv_s.push_back("-o");
    fuse_argv_s.push_back(o);
  }
  if (debug) fuse_argv_s.push_back("-d");
  std::vector<char*> fuse_argv;
  for (std::string& s : fuse_argv_s) fuse_argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), fuse_argv.data());
  fuse_operations ops = MakeOperations();
  fuse* f = ::fuse_new(&args, &ops, sizeof(ops), &state);
  if (f == nullptr) {
    server.Stop();
    return 1;
  }
  if (::fuse_mount(f, mountpoint.c_str()) != 0) {
    ::fuse_destroy(f);
    server.Stop();
    return 1;
  }
  // In the background the parent exits only now, after the mount exists.
  if (::fuse_daemonize(foreground ? 1 : 0) != 0) {
    ::fuse_unmount(f);
    ::fuse_destroy(f);
    return 1;
  }
  // Threads start after the fork. SIGUSR1/2 are blocked in all of them and
  // taken by the signal thread.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGUSR1);
  sigaddset(&sigs, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::thread signal_thread(SignalThread, sigs);
  server.Start(HandleCommand);
  std::fprintf(stderr, "lossyfs: %s mounted on %s, control %s\n", backing.c_str(),
               mountpoint.c_str(), control.c_str());

  int rc = 1;
  if (::fuse_set_signal_handlers(::fuse_get_session(f)) == 0) {
    if (single_thread) {
      rc = ::fuse_loop(f);
    } else {
      fuse_loop_config* config = ::fuse_loop_cfg_create();
      rc = ::fuse_loop_mt(f, config);
      ::fuse_loop_cfg_destroy(config);
    }
    ::fuse_remove_signal_handlers(::fuse_get_session(f));
  }
  ::fuse_unmount(f);
  ::fuse_destroy(f);
  server.Stop();
  ::pthread_kill(signal_thread.native_handle(), SIGUSR2);
  signal_thread.join();
  std::fprintf(stderr, "lossyfs: unmounted %s (loop rc %d)\n", mountpoint.c_str(), rc);
  return rc == 0 ? 0 : 1;
}

}  // namespace
}  // namespace meridian::lossyfs

int main(int argc, char** argv) { return meridian::lossyfs::Main(argc, argv); }
