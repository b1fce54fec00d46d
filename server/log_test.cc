#include "server/log.h"

#include <gtest/gtest.h>

namespace meridian::server {
namespace {

TEST(LogTest, JsonEscapeMakesAnyBytesSafe) {
  EXPECT_EQ(JsonEscape("plain"), "plain");
  EXPECT_EQ(JsonEscape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
  EXPECT_EQ(JsonEscape(std::string("\x00\xff", 2)), "\\u0000\\u00ff");
}

}  // namespace
}  // namespace meridian::server
