#include "tests/bench/generators.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

namespace meridian::bench {
namespace {

std::vector<uint64_t> Draw(KeyChooser& c, uint64_t seed, uint64_t limit, int n) {
  Random rng(seed);
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(c.Next(rng, limit));
  return out;
}

std::vector<uint64_t> Counts(const std::vector<uint64_t>& draws, uint64_t limit) {
  std::vector<uint64_t> counts(limit, 0);
  for (uint64_t v : draws) ++counts.at(v);
  return counts;
}

TEST(ZipfianTest, FrequenciesFollowZipfsLaw) {
  constexpr uint64_t kItems = 1000;
  constexpr int kDraws = 400'000;
  ZipfianGenerator zipf(kItems);
  Random rng(1);
  std::vector<uint64_t> counts(kItems, 0);
  for (int i = 0; i < kDraws; ++i) {
    const uint64_t v = zipf.Next(rng, kItems);
    ASSERT_LT(v, kItems);
    ++counts[v];
  }
  // P(rank i) = (1 / i^theta) / zeta(n).
  const double zeta = ZipfianGenerator::Zeta(0, kItems, ZipfianGenerator::kTheta, 0);
  for (uint64_t rank : {0, 1, 9}) {
    const double expected = kDraws / std::pow(rank + 1.0, ZipfianGenerator::kTheta) / zeta;
    EXPECT_NEAR(counts[rank], expected, 0.05 * expected) << "rank " << rank;
  }
  EXPECT_GT(counts[0], counts[1]);
  EXPECT_GT(counts[1], counts[10]);
  EXPECT_GT(counts[10], counts[500]);
}

TEST(ZipfianTest, GrowingItemsMatchesFreshGenerator) {
  ZipfianGenerator grown(100);
  Random rng(1);
  grown.Next(rng, 100);
  grown.Next(rng, 5000);  // extends zeta from 100 to 5000 terms
  ZipfianGenerator fresh(5000);
  Random a(9), b(9);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(grown.Next(a, 5000), fresh.Next(b, 5000));
}

TEST(ZipfianTest, SingleItem) {
  ZipfianGenerator zipf(1);
  Random rng(3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(zipf.Next(rng, 1), 0u);
}

TEST(KeyChooserTest, SameSeedSameSequenceOtherSeedOther) {
  for (Distribution d : {Distribution::kZipfian, Distribution::kUniform, Distribution::kLatest}) {
    auto c1 = MakeKeyChooser(d, 10'000);
    auto c2 = MakeKeyChooser(d, 10'000);
    auto c3 = MakeKeyChooser(d, 10'000);
    const auto first = Draw(*c1, 42, 10'000, 1000);
    EXPECT_EQ(first, Draw(*c2, 42, 10'000, 1000));
    EXPECT_NE(first, Draw(*c3, 43, 10'000, 1000));
  }
}

TEST(KeyChooserTest, ScrambledZipfianIsSkewedButSpread) {
  constexpr uint64_t kLimit = 10'000;
  constexpr int kDraws = 200'000;
  auto c = MakeKeyChooser(Distribution::kZipfian, kLimit);
  std::vector<uint64_t> counts = Counts(Draw(*c, 1, kLimit, kDraws), kLimit);
  std::vector<uint64_t> sorted = counts;
  std::sort(sorted.rbegin(), sorted.rend());
  // YCSB's hottest item has probability 1 / zeta(10^10) = 3.8%.
  EXPECT_NEAR(sorted[0], kDraws / 26.469, 0.1 * kDraws / 26.469);
  // Skewed: the top 1% of keys take a large share (uniform would be 1%).
  uint64_t top = 0;
  for (size_t i = 0; i < kLimit / 100; ++i) top += sorted[i];
  EXPECT_GT(top, kDraws / 8);
  // Spread: the hot keys are not clustered at the start of the key space.
  const auto hottest = std::max_element(counts.begin(), counts.end()) - counts.begin();
  EXPECT_GT(hottest, 10);
}

TEST(KeyChooserTest, UniformIsFlat) {
  constexpr uint64_t kLimit = 100;
  constexpr int kDraws = 200'000;
  auto c = MakeKeyChooser(Distribution::kUniform, kLimit);
  for (uint64_t count : Counts(Draw(*c, 5, kLimit, kDraws), kLimit)) {
    EXPECT_NEAR(count, kDraws / kLimit, 0.15 * kDraws / kLimit);
  }
}

TEST(KeyChooserTest, LatestFavorsTheNewestKeysAndFollowsTheLimit) {
  auto c = MakeKeyChooser(Distribution::kLatest, 1000);
  Random rng(11);
  std::vector<uint64_t> counts(1000, 0);
  for (int i = 0; i < 100'000; ++i) ++counts.at(c->Next(rng, 1000));
  EXPECT_EQ(std::max_element(counts.begin(), counts.end()) - counts.begin(), 999);
  EXPECT_GT(counts[999], counts[998]);
  EXPECT_GT(counts[990], counts[500]);
  // New keys (a larger limit) become the most popular at once.
  std::map<uint64_t, int> after;
  for (int i = 0; i < 10'000; ++i) {
    const uint64_t v = c->Next(rng, 1500);
    ASSERT_LT(v, 1500u);
    ++after[v];
  }
  EXPECT_GT(after[1499], after[999]);
}

TEST(KeyChooserTest, EveryDistributionStaysBelowTheLimit) {
  for (Distribution d : {Distribution::kZipfian, Distribution::kUniform, Distribution::kLatest}) {
    auto c = MakeKeyChooser(d, 10);
    Random rng(2);
    for (uint64_t limit : {1, 2, 3, 10, 11, 1000}) {
      for (int i = 0; i < 2000; ++i) ASSERT_LT(c->Next(rng, limit), limit);
    }
  }
}

TEST(KeyNamerTest, FixedWidthDistinctKeys) {
  for (size_t size : {8, 12, 24, 40}) {
    KeyNamer namer(size);
    std::set<std::string> keys;
    const uint64_t n = std::min<uint64_t>(namer.capacity(), 20'000);
    for (uint64_t k = 0; k < n; ++k) {
      const std::string key = namer.Key(k);
      ASSERT_EQ(key.size(), size);
      ASSERT_EQ(key.substr(0, 4), "user");
      ASSERT_TRUE(
          std::all_of(key.begin() + 4, key.end(), [](char c) { return c >= '0' && c <= '9'; }));
      keys.insert(key);
    }
    EXPECT_EQ(keys.size(), n) << "key size " << size;
  }
  EXPECT_EQ(KeyNamer(8).capacity(), 8192u);  // 2^13 <= 10^4
  EXPECT_EQ(KeyNamer(24).capacity(), UINT64_MAX);
}

TEST(KeyNamerTest, ScrambleIsABijectionOnSmallDomains) {
  KeyNamer namer(5);  // one digit: 8 key numbers
  std::set<uint64_t> seen;
  for (uint64_t k = 0; k < namer.capacity(); ++k) seen.insert(namer.Scramble(k));
  EXPECT_EQ(seen.size(), namer.capacity());
  EXPECT_LT(*seen.rbegin(), namer.capacity());
}

TEST(KeyNamerTest, ConsecutiveKeysAreScattered) {
  KeyNamer namer(24);
  EXPECT_NE(namer.Key(0).substr(0, 10), namer.Key(1).substr(0, 10));
}

}  // namespace
}  // namespace meridian::bench
