#include "storage/page_store/segment.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "common/random.h"
#include "gtest/gtest.h"

namespace meridian::storage::page_store {
namespace {

std::string RandomKey(Random& rnd, const std::string& alphabet, size_t max_len) {
  std::string k(rnd.Uniform(max_len + 1), '\0');
  for (char& c : k) c = alphabet[rnd.Uniform(alphabet.size())];
  return k;
}

TEST(KeyHeadTest, BigEndianZeroPaddedAfterPrefix) {
  EXPECT_EQ(KeyHead("", 0), 0u);
  EXPECT_EQ(KeyHead("\x01", 0), 0x0100000000000000u);
  EXPECT_EQ(KeyHead("ab\x01\x02", 2), 0x0102000000000000u);
  EXPECT_EQ(KeyHead("abcdefghijk", 1), KeyHead("bcdefghi", 0));
  EXPECT_EQ(KeyHead("ab", 5), 0u);
}

TEST(KeyHeadTest, OrderPreservingForKeysWithThePrefix) {
  Random rnd(1);
  for (int i = 0; i < 5000; ++i) {
    std::string a = "pre" + RandomKey(rnd, std::string("\0\x01z\xff", 4), 12);
    std::string b = "pre" + RandomKey(rnd, std::string("\0\x01z\xff", 4), 12);
    if (a > b) std::swap(a, b);
    EXPECT_LE(KeyHead(a, 3), KeyHead(b, 3));
  }
}

TEST(SeparatorTest, ShortestBetween) {
  EXPECT_EQ(Separator("abc", "abd"), "abd");
  EXPECT_EQ(Separator("abc", "b"), "b");
  EXPECT_EQ(Separator("ab", "abzzz"), "abz");
  EXPECT_EQ(Separator("", std::string("\0", 1)), std::string("\0", 1));
  Random rnd(2);
  for (int i = 0; i < 5000; ++i) {
    std::string a = RandomKey(rnd, "ab\xff", 6), b = RandomKey(rnd, "ab\xff", 6);
    if (a == b) continue;
    if (a > b) std::swap(a, b);
    const std::string s = Separator(a, b);
    EXPECT_LT(a, s);
    EXPECT_LE(s, b);
  }
}

TEST(PageFencesTest, TruncatedFencesStillBound) {
  const std::string longkey(1000, 'x');
  EXPECT_EQ(PageLowerFence(longkey).size(), kMaxFenceBytes);
  EXPECT_LE(PageLowerFence(longkey), longkey);
  EXPECT_FALSE(PageUpperFence(std::string_view(longkey)).has_value());
  EXPECT_EQ(PageUpperFence(std::string_view("abc")), std::optional<std::string_view>("abc"));
}

// PageFor is monotone, and PageStart(i) is exactly where PageFor reaches i.
void CheckModel(const PageModel& m, const std::vector<std::string>& keys) {
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  uint32_t prev = 0;
  for (const std::string& k : sorted) {
    const uint32_t p = m.PageFor(k);
    ASSERT_LT(p, m.pages);
    ASSERT_GE(p, prev) << "not monotone at " << k;
    prev = p;
    const std::optional<std::string> start = m.PageStart(p);
    const std::optional<std::string> next = m.PageStart(p + 1);
    ASSERT_TRUE(start.has_value());
    EXPECT_LE(*start, k) << "page " << p;
    if (next) {
      EXPECT_LT(k, *next) << "page " << p;
    }
  }
  EXPECT_EQ(m.PageStart(0), std::optional<std::string>(""));
  EXPECT_FALSE(m.PageStart(m.pages).has_value());
}

TEST(PageModelTest, PageStartMatchesPageFor) {
  Random rnd(3);
  for (int round = 0; round < 200; ++round) {
    PageModel m;
    m.pages = 1u << rnd.Uniform(5);
    m.prefix = RandomKey(rnd, "ab", 3);
    if (rnd.OneIn(2)) {
      // Narrow byte ranges, as decimal or alphanumeric keys give.
      for (size_t j = 0; j < 8; ++j) {
        const uint8_t a = static_cast<uint8_t>(rnd.Uniform(256));
        const uint8_t b = static_cast<uint8_t>(rnd.Uniform(256));
        m.lo[j] = std::min(a, b);
        m.hi[j] = rnd.OneIn(4) ? m.lo[j] : std::max(a, b);
      }
    }
    m.base = rnd.Uniform(m.MaxHead() / 2 + 1);
    m.slope = static_cast<double>(m.pages) /
              (static_cast<double>(rnd.Uniform(m.MaxHead() - m.base) + 1));
    std::vector<std::string> keys;
    for (int i = 0; i < 300; ++i) {
      // Keys around and inside the prefix range, with awkward bytes.
      keys.push_back(RandomKey(rnd, std::string("ab\0\xff", 4), 4) +
                     RandomKey(rnd, std::string("\0\x01\x7f\x80\xff", 5), 10));
      keys.push_back(m.prefix + RandomKey(rnd, std::string("\0\x01\x7f\x80\xff", 5), 10));
      std::string inside = m.prefix;
      for (size_t j = 0; j < rnd.Uniform(11); ++j) {
        inside.push_back(static_cast<char>(j < 8 ? m.lo[j] + rnd.Uniform(m.hi[j] - m.lo[j] + 1)
                                                 : rnd.Uniform(256)));
      }
      keys.push_back(inside);
    }
    CheckModel(m, keys);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

std::vector<PlanRecord> Records(const std::vector<std::string>& keys, size_t bytes) {
  std::vector<PlanRecord> r;
  for (const std::string& k : keys) r.push_back(PlanRecord{k, bytes});
  return r;
}

// Every record in exactly one segment, in order, pages within capacity.
void CheckPlan(const std::vector<PlanRecord>& records, const std::vector<SegmentPlan>& plans,
               std::string_view lower) {
  ASSERT_FALSE(plans.empty());
  EXPECT_EQ(plans.front().lower, lower);
  EXPECT_EQ(plans.front().begin, 0u);
  EXPECT_EQ(plans.back().end, records.size());
  for (size_t k = 0; k < plans.size(); ++k) {
    const SegmentPlan& p = plans[k];
    if (k > 0) {
      EXPECT_EQ(p.begin, plans[k - 1].end);
      EXPECT_LT(plans[k - 1].lower, p.lower);
      EXPECT_LT(records[p.begin - 1].key, p.lower);
      EXPECT_LE(p.lower, records[p.begin].key);
    }
    std::vector<size_t> bytes(p.model.pages, 0);
    for (size_t i = p.begin; i < p.end; ++i) bytes[p.model.PageFor(records[i].key)] += records[i].bytes;
    for (size_t b : bytes) EXPECT_LE(b, kPageCapacity);
  }
}

TEST(PlanSegmentsTest, UniformKeysGetLargeSegments) {
  Random rnd(4);
  std::set<std::string> keys;
  while (keys.size() < 20000) keys.insert("user" + std::to_string(rnd.Uniform(1ull << 60)));
  const std::vector<std::string> sorted(keys.begin(), keys.end());
  const std::vector<PlanRecord> records = Records(sorted, 120);
  const std::vector<SegmentPlan> plans = PlanSegments(records, "", 0.7);
  CheckPlan(records, plans, "");
  size_t in_large = 0;
  for (const SegmentPlan& p : plans) {
    if (p.model.pages >= 8) in_large += p.end - p.begin;
  }
  EXPECT_GT(in_large, records.size() * 7 / 10) << plans.size() << " segments";
}

TEST(PageModelTest, HeadIsMonotoneAndDenseForDecimalKeys) {
  PageModel m;
  m.prefix = "user";
  m.lo.fill('0');
  m.hi.fill('9');
  EXPECT_EQ(m.Head("user00000000"), 0u);
  EXPECT_EQ(m.Head("user00000012"), 12u);
  EXPECT_EQ(m.Head("user12345678xyz"), 12345678u);
  EXPECT_EQ(m.Head("user99999999"), m.MaxHead());
  EXPECT_EQ(m.MaxHead(), 99999999u);
  EXPECT_EQ(m.Head("user"), 0u);
  EXPECT_EQ(m.Head("user5"), 50000000u);
  EXPECT_EQ(m.Head("user5a"), 59999999u);  // above the range: the rest is max
  EXPECT_EQ(m.Head("user5!"), 50000000u);  // below: the rest is min
}

TEST(PlanSegmentsTest, DecimalKeysGetLargeSegments) {
  Random rnd(6);
  std::set<std::string> keys;
  char buf[32];
  while (keys.size() < 20000) {
    snprintf(buf, sizeof(buf), "user%019llu", static_cast<unsigned long long>(rnd.Uniform(1ull << 62)));
    keys.insert(buf);
  }
  const std::vector<std::string> sorted(keys.begin(), keys.end());
  const std::vector<PlanRecord> records = Records(sorted, 130);
  const std::vector<SegmentPlan> plans = PlanSegments(records, "", 0.7);
  CheckPlan(records, plans, "");
  size_t in_large = 0;
  for (const SegmentPlan& p : plans) {
    if (p.model.pages >= 8) in_large += p.end - p.begin;
  }
  EXPECT_GT(in_large, records.size() * 7 / 10) << plans.size() << " segments";
}

TEST(PlanSegmentsTest, SkewedAndCollidingKeysStillFit) {
  Random rnd(5);
  std::set<std::string> keys;
  // Long shared prefixes, keys equal in their first 8 bytes after any short
  // prefix, and a dense cluster.
  while (keys.size() < 3000) {
    switch (rnd.Uniform(3)) {
      case 0:
        keys.insert(std::string(40, 'p') + std::to_string(rnd.Uniform(100000)));
        break;
      case 1:
        keys.insert("same-head-" + std::string(rnd.Uniform(20), 'q') + std::to_string(rnd.Uniform(50)));
        break;
      default:
        keys.insert(RandomKey(rnd, std::string("\0\xff", 2), 30));
    }
  }
  const std::vector<std::string> sorted(keys.begin(), keys.end());
  std::vector<PlanRecord> records;
  for (const std::string& k : sorted) records.push_back(PlanRecord{k, 20 + rnd.Uniform(1100)});
  CheckPlan(records, PlanSegments(records, "", 0.7), "");
  CheckPlan(records, PlanSegments(records, "", 1.0), "");
}

TEST(PlanSegmentsTest, EmptyAndSingle) {
  std::vector<SegmentPlan> plans = PlanSegments({}, "m", 0.7);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].lower, "m");
  EXPECT_EQ(plans[0].begin, plans[0].end);
  EXPECT_EQ(plans[0].model.pages, 1u);
  const std::vector<PlanRecord> one = {PlanRecord{"x", 1200}};
  plans = PlanSegments(one, "m", 0.1);  // a record larger than the fill target
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].end, 1u);
}

TEST(ForecastFillTest, NoInsertsIsDenseManyAreRoomyAndClamped) {
  EXPECT_EQ(ForecastFill(100, 0), kMaxForecastFill);  // read- or update-only
  EXPECT_EQ(ForecastFill(0, 0), kMaxForecastFill);    // no history, nothing to pad
  EXPECT_DOUBLE_EQ(ForecastFill(80, 20), 0.8);        // room for 1 insert per 4 records
  EXPECT_DOUBLE_EQ(ForecastFill(60, 40), 0.6);
  EXPECT_EQ(ForecastFill(100, 1), kMaxForecastFill);  // clamped: 0.99
  EXPECT_EQ(ForecastFill(10, 30), kMinForecastFill);  // clamped: 0.25
  EXPECT_EQ(ForecastFill(0, 5), kMinForecastFill);    // all of it inserted
  EXPECT_LT(ForecastFill(50, 30), ForecastFill(50, 10)) << "more inserts, more room";
}

TEST(PlanSegmentsTest, RecordsWithALowerFillGetMoreRoom) {
  // Evenly spaced keys: the end-point model places them exactly, so the
  // plan reaches the fill it aims at (random keys crowd some pages and stop
  // multi-page segments near 0.7 whatever the fill).
  std::vector<std::string> sorted;
  char buf[32];
  for (int i = 0; i < 6000; ++i) {
    snprintf(buf, sizeof(buf), "user%019d", i * 7);
    sorted.push_back(buf);
  }
  std::vector<PlanRecord> records = Records(sorted, 120);
  // The first half forecast to double (fill 0.5), the second half cold (0.95).
  for (size_t i = 0; i < records.size(); ++i) records[i].fill = i < records.size() / 2 ? 0.5 : 0.95;
  const std::vector<SegmentPlan> plans = PlanSegments(records, "", 0.7);
  CheckPlan(records, plans, "");
  // Pages per record in each half (segments straddling the middle skipped).
  double hot_pages = 0, hot_records = 0, cold_pages = 0, cold_records = 0;
  for (const SegmentPlan& p : plans) {
    if (p.end <= records.size() / 2) {
      hot_pages += p.model.pages;
      hot_records += static_cast<double>(p.end - p.begin);
    } else if (p.begin >= records.size() / 2) {
      cold_pages += p.model.pages;
      cold_records += static_cast<double>(p.end - p.begin);
    }
  }
  ASSERT_GT(hot_records, 0);
  ASSERT_GT(cold_records, 0);
  const double per_page = static_cast<double>(kPageCapacity) / 120;
  const double hot_fill = hot_records / hot_pages / per_page;
  const double cold_fill = cold_records / cold_pages / per_page;
  EXPECT_NEAR(hot_fill, 0.5, 0.06);
  EXPECT_NEAR(cold_fill, 0.95, 0.06);
  // Records without a fill of their own plan exactly as before.
  std::vector<PlanRecord> plain = Records(sorted, 120);
  std::vector<PlanRecord> same = plain;
  for (PlanRecord& r : same) r.fill = 0.7;
  const std::vector<SegmentPlan> a = PlanSegments(plain, "", 0.7);
  const std::vector<SegmentPlan> b = PlanSegments(same, "", 0.7);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].end, b[i].end);
    EXPECT_EQ(a[i].model, b[i].model);
  }
}

TEST(SegmentIndexTest, FindAndUpper) {
  SegmentIndex index;
  for (const char* lower : {"", "f", "m"}) index.map()[lower].lower = lower;
  EXPECT_EQ(index.Find("")->first, "");
  EXPECT_EQ(index.Find("a")->first, "");
  EXPECT_EQ(index.Find("f")->first, "f");
  EXPECT_EQ(index.Find("lzz")->first, "f");
  EXPECT_EQ(index.Find("\xff")->first, "m");
  EXPECT_EQ(index.Upper(index.Find("a")), std::optional<std::string_view>("f"));
  EXPECT_FALSE(index.Upper(index.Find("z")).has_value());
}

}  // namespace
}  // namespace meridian::storage::page_store
