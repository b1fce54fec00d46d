// Hybrid logical clock (Kulkarni et al., 2014).
//
// A timestamp is 64 bits: the high 48 are physical milliseconds since the
// Unix epoch, the low 16 a logical counter. Timestamps from one Hlc are
// strictly increasing, stay within max_offset of the physical clock of any
// well-behaved peer, and order every event after the events it has heard of.
#pragma once

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian {

using HlcTimestamp = uint64_t;

constexpr int kHlcLogicalBits = 16;
constexpr uint64_t kHlcLogicalMask = (uint64_t{1} << kHlcLogicalBits) - 1;

constexpr HlcTimestamp MakeHlc(uint64_t physical_ms, uint64_t logical) {
  return (physical_ms << kHlcLogicalBits) | (logical & kHlcLogicalMask);
}
constexpr uint64_t HlcPhysicalMillis(HlcTimestamp t) { return t >> kHlcLogicalBits; }
constexpr uint64_t HlcLogical(HlcTimestamp t) { return t & kHlcLogicalMask; }

// "1700000000123.7" — physical ms and logical counter.
std::string FormatHlc(HlcTimestamp t);

// Thread-safe.
class Hlc {
 public:
  struct Options {
    // A remote timestamp more than this far ahead of our physical clock is
    // refused rather than adopted. Milliseconds; > 0.
    uint64_t max_offset_ms = 500;
  };

  // REQUIRES: clock outlives this object.
  Hlc(Clock* clock, Options options);
  explicit Hlc(Clock* clock) : Hlc(clock, Options()) {}

  // A new timestamp, greater than every one returned or observed before.
  HlcTimestamp Now();

  // Merges a timestamp received from a peer or client, so that the next Now()
  // is greater than it. Returns Unavailable, and adopts nothing, if `remote` is
  // more than max_offset ahead of the local physical clock.
  Status Observe(HlcTimestamp remote);

  // The greatest timestamp handed out or observed so far (no tick).
  HlcTimestamp Last();

 private:
  Clock* const clock_;
  const Options options_;
  absl::Mutex mu_;
  HlcTimestamp last_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace meridian
