#include "common/hlc.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace meridian {

std::string FormatHlc(HlcTimestamp t) {
  return absl::StrCat(HlcPhysicalMillis(t), ".", HlcLogical(t));
}

Hlc::Hlc(Clock* clock, Options options) : clock_(clock), options_(options) {}

HlcTimestamp Hlc::Now() {
  const HlcTimestamp physical = MakeHlc(clock_->NowUnixMillis(), 0);
  absl::MutexLock lock(&mu_);
  // When the physical clock has not moved past last_, the logical counter
  // carries; an overflowing counter borrows into the physical part, which is
  // what the 48/16 split intends.
  last_ = std::max(physical, last_ + 1);
  return last_;
}

Status Hlc::Observe(HlcTimestamp remote) {
  const uint64_t now_ms = clock_->NowUnixMillis();
  if (HlcPhysicalMillis(remote) > now_ms + options_.max_offset_ms) {
    return UnavailableError(absl::StrCat("remote clock ", FormatHlc(remote), " is more than ",
                                         options_.max_offset_ms,
                                         " ms ahead of the local clock; refusing it"));
  }
  absl::MutexLock lock(&mu_);
  last_ = std::max(last_, remote);
  return absl::OkStatus();
}

HlcTimestamp Hlc::Last() {
  absl::MutexLock lock(&mu_);
  return last_;
}

}  // namespace meridian
