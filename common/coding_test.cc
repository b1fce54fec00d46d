#include "common/coding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "common/random.h"

namespace meridian {
namespace {

TEST(CodingTest, FixedAndVarintRoundTrip) {
  std::string buf;
  PutFixed32(&buf, 0xdeadbeef);
  PutFixed64(&buf, 0x0123456789abcdefull);
  PutBigEndian64(&buf, 42);
  PutVarint64(&buf, 300);
  PutVarint64(&buf, UINT64_MAX);
  PutLengthPrefixed(&buf, "hello");
  std::string_view in = buf;
  uint32_t a;
  uint64_t b, c, d, e;
  std::string_view s;
  ASSERT_TRUE(GetFixed32(&in, &a));
  ASSERT_TRUE(GetFixed64(&in, &b));
  ASSERT_TRUE(GetBigEndian64(&in, &c));
  ASSERT_TRUE(GetVarint64(&in, &d));
  ASSERT_TRUE(GetVarint64(&in, &e));
  ASSERT_TRUE(GetLengthPrefixed(&in, &s));
  EXPECT_EQ(a, 0xdeadbeef);
  EXPECT_EQ(b, 0x0123456789abcdefull);
  EXPECT_EQ(c, 42u);
  EXPECT_EQ(d, 300u);
  EXPECT_EQ(e, UINT64_MAX);
  EXPECT_EQ(s, "hello");
  EXPECT_TRUE(in.empty());
  EXPECT_FALSE(GetFixed32(&in, &a));
}

TEST(CodingTest, TruncatedInputIsRejected) {
  std::string buf;
  PutLengthPrefixed(&buf, "hello");
  std::string_view in = std::string_view(buf).substr(0, 3);
  std::string_view s;
  EXPECT_FALSE(GetLengthPrefixed(&in, &s));
}

TEST(CodingTest, OrderedBytesPreserveOrderWithSuffixes) {
  Random rnd(7);
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) {
    std::string k;
    size_t n = rnd.Uniform(6);
    for (size_t j = 0; j < n; ++j) k.push_back(static_cast<char>(rnd.Uniform(3) == 0 ? 0 : rnd.Uniform(256)));
    keys.push_back(k);
  }
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    const std::string& a = keys[i];
    const std::string& b = keys[i + 1];
    std::string ea, eb;
    PutOrderedBytes(&ea, a);
    PutOrderedBytes(&eb, b);
    // Whatever follows the encoding (a version suffix) must not change order.
    std::string ea_hi = ea + "\xff\xff", eb_lo = eb + std::string(2, '\0');
    if (a < b) {
      EXPECT_LT(ea_hi, eb_lo) << i;
    } else if (b < a) {
      EXPECT_GT(ea + std::string(2, '\0'), eb + "\xff\xff") << i;
    }
    std::string_view in = ea_hi;
    std::string back;
    ASSERT_TRUE(GetOrderedBytes(&in, &back));
    EXPECT_EQ(back, a);
    EXPECT_EQ(in, "\xff\xff");
  }
}

TEST(CodingTest, PrefixSuccessor) {
  EXPECT_EQ(PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(PrefixSuccessor(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixSuccessor("\xff\xff"), "");
}

}  // namespace
}  // namespace meridian
