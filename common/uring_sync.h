// UringSync: writes a buffer to a file and makes it durable with one io_uring
// submission: IORING_OP_WRITE linked (IOSQE_IO_LINK) to IORING_OP_FSYNC with
// IORING_FSYNC_DATASYNC, so a group commit costs one system call and one
// wait. The WAL uses it on real files; everything else goes through the
// FileSystem seam (common/file_system.h).
//
// Not thread-safe: one owner issues one request at a time and waits for it.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "common/status.h"

struct io_uring;

namespace meridian {

class UringSync {
 public:
  // Sets up a small ring. Fails with kUnimplemented, naming the errno, when
  // the kernel refuses io_uring (EPERM or ENOSYS under seccomp in many
  // containers, ENOMEM under a low RLIMIT_MEMLOCK): the caller falls back to
  // pwrite + fdatasync(2).
  static Result<std::unique_ptr<UringSync>> Create();
  ~UringSync();
  UringSync(const UringSync&) = delete;
  UringSync& operator=(const UringSync&) = delete;

  // Writes all of `data` at `offset` in `fd`, then fdatasyncs `fd`; returns
  // once both completed. A short write is continued where it stopped. On
  // failure the bytes may be partly written and nothing is known durable:
  // ENOSPC/EDQUOT give kResourceExhausted, other errors kDataLoss. `data`
  // may be empty (fdatasync only). REQUIRES: fd is open for writing.
  Status WriteAndSync(int fd, uint64_t offset, std::string_view data);

 private:
  explicit UringSync(std::unique_ptr<io_uring> ring);
  // Submits what is queued and reaps `n` completions into res[user_data].
  Status SubmitAndReap(int n, int res[2]);

  std::unique_ptr<io_uring> ring_;
};

}  // namespace meridian
