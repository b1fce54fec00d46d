#include "client/ctl/json_writer.h"

#include <gtest/gtest.h>

namespace meridian::ctl {
namespace {

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

TEST(JsonWriter, NestsWithCommas) {
  JsonWriter w;
  // clang-format off
  w.BeginObject()
      .Key("a").Int(-1)
      .Key("b").BeginArray().Uint(1).Bool(true).Null().BeginObject().EndObject().EndArray()
      .Key("c").String("x")
      .Key("d").BeginArray().EndArray()
      .EndObject();
  // clang-format on
  EXPECT_EQ(w.str(), R"({"a":-1,"b":[1,true,null,{}],"c":"x","d":[]})");
}

TEST(JsonWriter, TopLevelArray) {
  JsonWriter w;
  w.BeginArray().BeginObject().Key("k").Uint(18446744073709551615u).EndObject().EndArray();
  EXPECT_EQ(w.str(), R"([{"k":18446744073709551615}])");
}

TEST(JsonString, EscapesSpecials) {
  EXPECT_EQ(Json("plain"), R"("plain")");
  EXPECT_EQ(Json("q\"b\\"), R"("q\"b\\")");
  EXPECT_EQ(Json("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(Json(std::string("\0\x01\x1f\x7f", 4)), R"("\u0000\u0001\u001f\u007f")");
  EXPECT_EQ(Json("/"), R"("/")");
}

TEST(JsonString, KeepsValidUtf8) {
  EXPECT_EQ(Json("caf\xc3\xa9"), "\"caf\xc3\xa9\"");            // é
  EXPECT_EQ(Json("\xe2\x82\xac"), "\"\xe2\x82\xac\"");          // €
  EXPECT_EQ(Json("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");  // emoji
}

TEST(JsonString, EscapesBytesThatAreNotUtf8) {
  EXPECT_EQ(Json("\xff"), R"("\u00ff")");
  EXPECT_EQ(Json("a\x80z"), R"("a\u0080z")");
  EXPECT_EQ(Json("\xc3"), R"("\u00c3")");                                // truncated sequence
  EXPECT_EQ(Json("\xc0\xaf"), R"("\u00c0\u00af")");                      // overlong '/'
  EXPECT_EQ(Json("\xed\xa0\x80"), R"("\u00ed\u00a0\u0080")");            // a surrogate
  EXPECT_EQ(Json("\xf4\x90\x80\x80"), R"("\u00f4\u0090\u0080\u0080")");  // > U+10FFFF
  // A bad byte does not swallow the valid text after it.
  EXPECT_EQ(Json("\xe2\x82"
                 "ab"),
            R"("\u00e2\u0082ab")");
}

TEST(Utf8SequenceLength, Boundaries) {
  EXPECT_EQ(Utf8SequenceLength(""), 0u);
  EXPECT_EQ(Utf8SequenceLength("a"), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xc2\x80"), 2u);
  EXPECT_EQ(Utf8SequenceLength("\xc1\xbf"), 0u);
  EXPECT_EQ(Utf8SequenceLength("\xe0\xa0\x80"), 3u);
  EXPECT_EQ(Utf8SequenceLength("\xe0\x9f\xbf"), 0u);
  EXPECT_EQ(Utf8SequenceLength("\xef\xbf\xbf"), 3u);
  EXPECT_EQ(Utf8SequenceLength("\xf4\x8f\xbf\xbf"), 4u);
  EXPECT_EQ(Utf8SequenceLength("\xf5\x80\x80\x80"), 0u);
}

}  // namespace
}  // namespace meridian::ctl
