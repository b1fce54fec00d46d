// A log-linear latency histogram in the manner of HdrHistogram: exact below
// 256, then 128 equal buckets per power of two, so a recorded value is known
// to within 1/128 (< 0.8%) of itself. Values are unsigned integers in any
// unit (meridian-bench records microseconds); the whole uint64 range fits in
// 7,424 buckets (58 KiB).
//
// Percentiles report the highest value of the bucket holding the requested
// rank, clamped to the exact recorded min and max: never below the true
// value and at most 0.8% above it. Two histograms merge exactly (bucket
// counts add), so per-thread histograms can be combined after a run.
//
// Not thread-safe: one writer at a time; merge copies under the caller's lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace meridian::bench {

class Histogram {
 public:
  Histogram();

  void Record(uint64_t value) { RecordN(value, 1); }
  void RecordN(uint64_t value, uint64_t n);
  void Merge(const Histogram& other);
  void Clear();

  uint64_t count() const { return count_; }
  // 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0 : static_cast<double>(sum_) / count_; }

  // The value at or below which `p` percent of the recorded values fall
  // (nearest rank), within the precision above. 0 when empty.
  // REQUIRES: 0 <= p <= 100.
  uint64_t Percentile(double p) const;

  // Bucket layout, exposed for tests.
  static size_t BucketOf(uint64_t value);
  // The smallest and largest value that land in bucket `index`.
  static uint64_t BucketLow(size_t index);
  static uint64_t BucketHigh(size_t index);
  static constexpr size_t kBuckets = 256 + 56 * 128;

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;  // wraps only after ~584,000 years of microseconds
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace meridian::bench
