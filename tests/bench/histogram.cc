#include "tests/bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace meridian::bench {
namespace {

// Values below kExact get a bucket each; above, every power of two
// [2^e, 2^(e+1)) (e >= 8) is split into kSub buckets of width 2^(e-7).
constexpr uint64_t kExact = 256;
constexpr uint64_t kSub = 128;

}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

size_t Histogram::BucketOf(uint64_t value) {
  if (value < kExact) return static_cast<size_t>(value);
  const int e = 63 - std::countl_zero(value);  // >= 8
  const int shift = e - 7;
  return static_cast<size_t>(kExact + (shift - 1) * kSub + ((value >> shift) - kSub));
}

uint64_t Histogram::BucketLow(size_t index) {
  if (index < kExact) return index;
  const uint64_t shift = (index - kExact) / kSub + 1;
  const uint64_t sub = (index - kExact) % kSub + kSub;
  return sub << shift;
}

uint64_t Histogram::BucketHigh(size_t index) {
  if (index < kExact) return index;
  const uint64_t shift = (index - kExact) / kSub + 1;
  return BucketLow(index) + ((uint64_t{1} << shift) - 1);
}

void Histogram::RecordN(uint64_t value, uint64_t n) {
  if (n == 0) return;
  counts_[BucketOf(value)] += n;
  count_ += n;
  sum_ += value * n;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::Clear() { *this = Histogram(); }

uint64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  // Nearest rank: the smallest value with at least p% of values <= it.
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketHigh(i), min_, max_);
  }
  return max_;
}

}  // namespace meridian::bench
