#include "tests/bench/workload.h"

#include <gtest/gtest.h>

#include <array>
#include <thread>
#include <vector>

namespace meridian::bench {
namespace {

std::array<double, kOpTypes> Proportions(const WorkloadSpec& spec, int n) {
  OpChooser chooser(spec);
  Random rng(1);
  std::array<double, kOpTypes> seen{};
  for (int i = 0; i < n; ++i) seen[static_cast<int>(chooser.Next(rng))] += 1.0 / n;
  return seen;
}

TEST(WorkloadTest, YcsbCoreMixes) {
  struct Case {
    const char* name;
    std::array<double, kOpTypes> mix;  // read, update, insert, scan, rmw
    Distribution distribution;
  };
  const Case cases[] = {
      {"a", {0.5, 0.5, 0, 0, 0}, Distribution::kZipfian},
      {"b", {0.95, 0.05, 0, 0, 0}, Distribution::kZipfian},
      {"c", {1, 0, 0, 0, 0}, Distribution::kZipfian},
      {"d", {0.95, 0, 0.05, 0, 0}, Distribution::kLatest},
      {"e", {0, 0, 0.05, 0.95, 0}, Distribution::kZipfian},
      {"f", {0.5, 0, 0, 0, 0.5}, Distribution::kZipfian},
      {"write", {0, 1, 0, 0, 0}, Distribution::kZipfian},
      {"txn", {0, 0, 0, 0, 1}, Distribution::kZipfian},
      {"scan", {0, 0, 0, 1, 0}, Distribution::kZipfian},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Result<WorkloadSpec> spec = WorkloadByName(c.name);
    ASSERT_TRUE(spec.ok());
    EXPECT_EQ(spec->mix, c.mix);
    EXPECT_EQ(spec->distribution, c.distribution);
    const auto seen = Proportions(*spec, 200'000);
    for (int i = 0; i < kOpTypes; ++i) {
      EXPECT_NEAR(seen[i], c.mix[i], 0.005) << OpTypeName(static_cast<OpType>(i));
      // An absent type is never chosen.
      if (c.mix[i] == 0) {
        EXPECT_EQ(seen[i], 0);
      }
    }
  }
}

TEST(WorkloadTest, OnlyWriteSkipsTheLoad) {
  for (const char* name : {"a", "b", "c", "d", "e", "f", "txn", "scan"}) {
    EXPECT_TRUE(WorkloadByName(name)->reads_existing) << name;
  }
  EXPECT_FALSE(WorkloadByName("write")->reads_existing);
}

TEST(WorkloadTest, TxnKeys) {
  EXPECT_EQ(WorkloadByName("txn", 5)->rmw_keys, 5);
  EXPECT_EQ(WorkloadByName("f", 5)->rmw_keys, 1);  // YCSB F: one key
}

TEST(WorkloadTest, UnknownNames) {
  EXPECT_FALSE(WorkloadByName("g").ok());
  EXPECT_FALSE(WorkloadByName("").ok());
  EXPECT_FALSE(ParseDistribution("hotspot").ok());
  EXPECT_EQ(*ParseDistribution("latest"), Distribution::kLatest);
}

TEST(WorkloadTest, DescribeMix) {
  EXPECT_EQ(WorkloadByName("b")->DescribeMix(), "read 95% update 5%");
}

TEST(InsertCounterTest, LimitWaitsForTheOldestPendingInsert) {
  InsertCounter c(10);
  EXPECT_EQ(c.Limit(), 10u);
  const uint64_t a = c.Allocate(), b = c.Allocate(), d = c.Allocate();
  EXPECT_EQ(a, 10u);
  EXPECT_EQ(b, 11u);
  EXPECT_EQ(d, 12u);
  EXPECT_EQ(c.Limit(), 10u);
  c.Finish(b);
  EXPECT_EQ(c.Limit(), 10u);  // 10 still in flight
  c.Finish(a);
  EXPECT_EQ(c.Limit(), 12u);
  c.Finish(d);
  EXPECT_EQ(c.Limit(), 13u);
}

TEST(InsertCounterTest, ConcurrentInsertsAllCount) {
  InsertCounter c(0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 1000; ++i) c.Finish(c.Allocate());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Limit(), 4000u);
}

}  // namespace
}  // namespace meridian::bench
