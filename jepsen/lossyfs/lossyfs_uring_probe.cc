// Test helper for lossyfs_test.sh: writes 4 KiB of one byte at offset 0 of a
// file with io_uring (optionally O_DIRECT, like the page store), then syncs it
// with an io_uring fsync or fdatasync, like the WAL. Prints "ok <io mode>".
//
// Usage: lossyfs_uring_probe <file> <byte> fsync|fdatasync|none [--direct]
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int RunOne(io_uring* ring) {
  if (int rc = io_uring_submit(ring); rc < 0) return rc;
  io_uring_cqe* cqe = nullptr;
  if (int rc = io_uring_wait_cqe(ring, &cqe); rc < 0) return rc;
  int res = cqe->res;
  io_uring_cqe_seen(ring, cqe);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <file> <byte> fsync|fdatasync|none [--direct]\n", argv[0]);
    return 2;
  }
  std::string sync = argv[3];
  bool direct = argc > 4 && std::strcmp(argv[4], "--direct") == 0;
  int fd = ::open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC | (direct ? O_DIRECT : 0), 0644);
  const char* mode = direct ? "O_DIRECT" : "buffered";
  if (fd < 0 && direct && errno == EINVAL) {  // the page store's fallback
    fd = ::open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    mode = "buffered (O_DIRECT refused)";
  }
  if (fd < 0) {
    std::perror("open");
    return 1;
  }
  void* buf = nullptr;
  if (::posix_memalign(&buf, 4096, 4096) != 0) return 1;
  std::memset(buf, argv[2][0], 4096);

  io_uring ring;
  if (int rc = io_uring_queue_init(4, &ring, 0); rc < 0) {
    std::fprintf(stderr, "io_uring_queue_init: %s\n", std::strerror(-rc));
    return 77;
  }
  io_uring_prep_write(io_uring_get_sqe(&ring), fd, buf, 4096, 0);
  int res = RunOne(&ring);
  if (res != 4096) {
    std::fprintf(stderr, "io_uring write: %d (%s)\n", res, res < 0 ? std::strerror(-res) : "short");
    return 1;
  }
  if (sync != "none") {
    unsigned flags = sync == "fdatasync" ? IORING_FSYNC_DATASYNC : 0;
    io_uring_prep_fsync(io_uring_get_sqe(&ring), fd, flags);
    res = RunOne(&ring);
    if (res != 0) {
      std::fprintf(stderr, "io_uring %s: %s\n", sync.c_str(), std::strerror(-res));
      return 1;
    }
  }
  io_uring_queue_exit(&ring);
  ::close(fd);
  std::free(buf);
  std::printf("ok %s\n", mode);
  return 0;
}
