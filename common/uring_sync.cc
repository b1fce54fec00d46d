#include "common/uring_sync.h"

#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace meridian {
namespace {

constexpr unsigned kRingEntries = 4;
constexpr size_t kMaxWrite = 1u << 30;  // one write SQE carries at most this
constexpr uint64_t kWriteTag = 0;
constexpr uint64_t kSyncTag = 1;

Status IoError(const char* what, int fd, int err) {
  std::string msg = absl::StrCat("io_uring ", what, " fd ", fd, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return ResourceExhaustedError(msg + " (disk full)");
  return absl::DataLossError(msg);  // EIO and friends: the data may be gone
}

}  // namespace

Result<std::unique_ptr<UringSync>> UringSync::Create() {
  auto ring = std::make_unique<io_uring>();
  int rc = io_uring_queue_init(kRingEntries, ring.get(), 0);
  if (rc < 0) {
    return absl::UnimplementedError(
        absl::StrCat("io_uring_queue_init refused: ", std::strerror(-rc)));
  }
  return std::unique_ptr<UringSync>(new UringSync(std::move(ring)));
}

UringSync::UringSync(std::unique_ptr<io_uring> ring) : ring_(std::move(ring)) {}

UringSync::~UringSync() { io_uring_queue_exit(ring_.get()); }

Status UringSync::SubmitAndReap(int n, int res[2]) {
  int submitted = 0;
  while (submitted < n) {
    int rc = io_uring_submit(ring_.get());
    if (rc == -EINTR || rc == -EAGAIN) continue;
    if (rc < 0) return IoError("submit", -1, -rc);
    submitted += rc;
  }
  for (int i = 0; i < n; ++i) {
    io_uring_cqe* cqe = nullptr;
    int rc;
    do {
      rc = io_uring_wait_cqe(ring_.get(), &cqe);
    } while (rc == -EINTR);
    if (rc < 0) return IoError("wait", -1, -rc);
    res[cqe->user_data == kSyncTag ? 1 : 0] = cqe->res;
    io_uring_cqe_seen(ring_.get(), cqe);
  }
  return absl::OkStatus();
}

Status UringSync::WriteAndSync(int fd, uint64_t offset, std::string_view data) {
  while (true) {
    // The fsync rides on the write of the last chunk; if that write comes
    // up short the kernel cancels the linked fsync and we go round again.
    const size_t n = std::min(data.size(), kMaxWrite);
    const bool final_chunk = n == data.size();
    int queued = 0;
    if (n > 0) {
      io_uring_sqe* w = io_uring_get_sqe(ring_.get());
      io_uring_prep_write(w, fd, data.data(), static_cast<unsigned>(n), offset);
      io_uring_sqe_set_data64(w, kWriteTag);
      if (final_chunk) w->flags |= IOSQE_IO_LINK;
      ++queued;
    }
    if (final_chunk) {
      io_uring_sqe* s = io_uring_get_sqe(ring_.get());
      io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
      io_uring_sqe_set_data64(s, kSyncTag);
      ++queued;
    }
    int res[2] = {0, 0};
    MERIDIAN_RETURN_IF_ERROR(SubmitAndReap(queued, res));
    if (n > 0) {
      if (res[0] < 0) return IoError("write", fd, -res[0]);
      if (res[0] == 0) return IoError("write", fd, EIO);  // no progress on a regular file
      data.remove_prefix(res[0]);
      offset += res[0];
      if (static_cast<size_t>(res[0]) < n) continue;  // short: the fsync was cancelled
    }
    if (final_chunk) {
      if (res[1] < 0) return IoError("fdatasync", fd, -res[1]);
      return absl::OkStatus();
    }
  }
}

}  // namespace meridian
