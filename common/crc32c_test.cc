#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace meridian::crc32c {
namespace {

TEST(Crc32cTest, KnownVectors) {
  // From RFC 3720, B.4.
  EXPECT_EQ(Value(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(Value(std::string(32, '\xff')), 0x62a8ab43u);
  EXPECT_EQ(Value("123456789"), 0xe3069283u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  EXPECT_EQ(Extend(Value("hello "), "world", 5), Value("hello world"));
}

TEST(Crc32cTest, MaskRoundTripsAndDiffers) {
  uint32_t c = Value("foo");
  EXPECT_NE(Mask(c), c);
  EXPECT_EQ(Unmask(Mask(c)), c);
}

}  // namespace
}  // namespace meridian::crc32c
