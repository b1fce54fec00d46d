#include "tests/bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/random.h"

namespace meridian::bench {
namespace {

// The nearest-rank percentile of sorted values, the histogram's definition.
uint64_t Exact(const std::vector<uint64_t>& sorted, double p) {
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void ExpectWithinPrecision(uint64_t got, uint64_t exact) {
  // Never below the true value, at most 1/128 above it.
  EXPECT_GE(got, exact);
  EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * (1 + 1.0 / 128) + 1e-9)
      << "exact " << exact;
}

TEST(HistogramTest, BucketsAreContiguousAndCoverEveryValue) {
  EXPECT_EQ(Histogram::BucketLow(0), 0u);
  for (size_t i = 1; i < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::BucketLow(i), Histogram::BucketHigh(i - 1) + 1) << i;
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketLow(i)), i);
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketHigh(i)), i);
  }
  EXPECT_EQ(Histogram::BucketHigh(Histogram::kBuckets - 1), UINT64_MAX);
  EXPECT_EQ(Histogram::BucketOf(UINT64_MAX), Histogram::kBuckets - 1);
}

TEST(HistogramTest, BucketWidthIsWithinOnePercent) {
  for (size_t i = 256; i < Histogram::kBuckets; ++i) {
    const double low = static_cast<double>(Histogram::BucketLow(i));
    const double width = static_cast<double>(Histogram::BucketHigh(i)) - low + 1;
    ASSERT_LE(width / low, 0.01) << i;
  }
}

TEST(HistogramTest, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(50), 50u);
  EXPECT_EQ(h.Percentile(99), 99u);
  EXPECT_EQ(h.Percentile(100), 100u);
  EXPECT_EQ(h.Percentile(0), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(HistogramTest, PercentilesMatchSortedVector) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    Random rng(seed);
    Histogram h;
    std::vector<uint64_t> values;
    for (int i = 0; i < 20'000; ++i) {
      // Log-uniform over 1 us .. ~17 min, like latencies with a long tail.
      const uint64_t v = uint64_t{1} << rng.Uniform(30);
      values.push_back(v + rng.Uniform(v));
      h.Record(values.back());
    }
    std::sort(values.begin(), values.end());
    for (double p : {0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
      SCOPED_TRACE(p);
      ExpectWithinPrecision(h.Percentile(p), Exact(values, p));
    }
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.max(), values.back());
    EXPECT_EQ(h.Percentile(100), values.back());
  }
}

TEST(HistogramTest, MergeEqualsRecordingEverythingInOne) {
  Random rng(7);
  Histogram a, b, all;
  std::vector<uint64_t> values;
  for (int i = 0; i < 10'000; ++i) {
    const uint64_t v = rng.Uniform(1'000'000);
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
    values.push_back(v);
  }
  Histogram merged;
  merged.Merge(a);
  merged.Merge(b);
  merged.Merge(Histogram());  // merging nothing changes nothing
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    EXPECT_EQ(merged.Percentile(p), all.Percentile(p));
    ExpectWithinPrecision(merged.Percentile(p), Exact(values, p));
  }
}

TEST(HistogramTest, RecordNCountsMany) {
  Histogram h;
  h.RecordN(1000, 99);
  h.RecordN(5000, 1);
  h.RecordN(7, 0);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.min(), 1000u);
  ExpectWithinPrecision(h.Percentile(99), 1000);
  EXPECT_EQ(h.Percentile(100), 5000u);
}

}  // namespace
}  // namespace meridian::bench
