// What every storage engine needs around its I/O, in one place:
//   - FailLatch: fail-stop. The first I/O error sticks; every later call
//     returns it, so an engine never serves state it could not persist.
//   - RaiseAtLeast: a monotonic durable index.
//   - FreeSpaceReserve: RESOURCE_EXHAUSTED once a write would eat into the
//     free-disk reserve (--min-free-disk). statvfs(2) per write costs a
//     path walk, so its answer is reused for a while, less what was written
//     since, except near the reserve, where every write re-reads it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian::storage {

class FailLatch {
 public:
  // The latched error, or OK while healthy. Cheap while healthy.
  Status Health() const;
  // Latches `s` (the first error wins) and returns the latched error.
  // REQUIRES: !s.ok().
  Status Fail(Status s);
  bool failed() const { return failed_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> failed_{false};
  mutable absl::Mutex mu_;
  Status error_ ABSL_GUARDED_BY(mu_);
};

// Raises *value to at least `v`.
inline void RaiseAtLeast(std::atomic<uint64_t>* value, uint64_t v) {
  uint64_t cur = value->load();
  while (cur < v && !value->compare_exchange_weak(cur, v)) {
  }
}

class FreeSpaceReserve {
 public:
  // `dir` is on the file system to watch; min_free_bytes = 0 turns it off.
  // REQUIRES: clock outlives the reserve.
  FreeSpaceReserve(std::string dir, uint64_t min_free_bytes, Clock* clock)
      : dir_(std::move(dir)), min_free_bytes_(min_free_bytes), clock_(clock) {}

  // OK, and counts `bytes` as written, if they fit above the reserve;
  // RESOURCE_EXHAUSTED naming the dir and the reserve otherwise.
  Status Check(uint64_t bytes);

 private:
  const std::string dir_;
  const uint64_t min_free_bytes_;
  Clock* const clock_;
  absl::Mutex mu_;
  uint64_t checked_us_ ABSL_GUARDED_BY(mu_) = 0;     // 0 = never
  uint64_t free_bytes_ ABSL_GUARDED_BY(mu_) = 0;     // at checked_us_
  uint64_t written_since_ ABSL_GUARDED_BY(mu_) = 0;  // accepted since checked_us_
};

}  // namespace meridian::storage
