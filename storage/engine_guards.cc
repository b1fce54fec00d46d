#include "storage/engine_guards.h"

#include <sys/statvfs.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace meridian::storage {

Status FailLatch::Health() const {
  if (!failed_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::MutexLock l(&mu_);
  return error_;
}

Status FailLatch::Fail(Status s) {
  absl::MutexLock l(&mu_);
  if (error_.ok()) {
    error_ = std::move(s);
    failed_.store(true, std::memory_order_release);
  }
  return error_;
}

Status FreeSpaceReserve::Check(uint64_t bytes) {
  if (min_free_bytes_ == 0) return absl::OkStatus();
  constexpr uint64_t kRefreshMicros = 100'000;
  constexpr uint64_t kSlack = 64ull << 20;
  absl::MutexLock l(&mu_);
  const uint64_t now = clock_->NowMonotonicMicros();
  uint64_t free_bytes = free_bytes_ - std::min(written_since_, free_bytes_);
  if (checked_us_ == 0 || now - checked_us_ >= kRefreshMicros ||
      free_bytes < min_free_bytes_ + bytes + kSlack) {
    struct statvfs st;
    if (::statvfs(dir_.c_str(), &st) != 0) return absl::OkStatus();  // the write will tell
    free_bytes = free_bytes_ = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    written_since_ = 0;
    checked_us_ = std::max<uint64_t>(now, 1);
  }
  if (free_bytes < min_free_bytes_ + bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "disk full: ", free_bytes, " bytes free on the file system of ", dir_,
        ", below the reserve of ", min_free_bytes_,
        " bytes (--min-free-disk); free space or grow the disk"));
  }
  written_since_ += bytes;
  return absl::OkStatus();
}

}  // namespace meridian::storage
