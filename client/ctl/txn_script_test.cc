#include "client/ctl/txn_script.h"

#include <gtest/gtest.h>

namespace meridian::ctl {
namespace {

std::vector<std::string> Words(std::string_view line) {
  Result<std::vector<std::string>> w = SplitWords(line);
  EXPECT_TRUE(w.ok()) << line << ": " << w.status();
  return w.value_or(std::vector<std::string>{});
}

std::string ErrorOf(const Status& s) { return std::string(s.message()); }

TEST(SplitWords, Quoting) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Words("  put  k   v "), (V{"put", "k", "v"}));
  EXPECT_EQ(Words(R"(put "a key" 'a value')"), (V{"put", "a key", "a value"}));
  EXPECT_EQ(Words(R"(put k "")"), (V{"put", "k", ""}));
  EXPECT_EQ(Words(R"(a"b c"d)"), (V{"ab cd"}));
  EXPECT_EQ(Words(R"("q\"uote" 'it''s' back\\slash)"), (V{"q\"uote", "its", "back\\slash"}));
  EXPECT_EQ(Words(R"('no \n escapes')"), (V{"no \\n escapes"}));
  EXPECT_EQ(Words(R"("\x00\xff\n\t" sp\ ace)"), (V{std::string("\0\xff\n\t", 4), "sp ace"}));
  EXPECT_TRUE(Words("").empty());
}

TEST(SplitWords, Errors) {
  EXPECT_EQ(ErrorOf(SplitWords(R"(put "open)").status()), "unterminated \" quote");
  EXPECT_EQ(ErrorOf(SplitWords("put 'open").status()), "unterminated ' quote");
  EXPECT_EQ(ErrorOf(SplitWords(R"(put \q)").status()), "unknown escape \\q");
  EXPECT_EQ(ErrorOf(SplitWords(R"(put \x4)").status()), "\\x needs two hex digits");
  EXPECT_EQ(ErrorOf(SplitWords("put k\\").status()), "backslash at end of line");
}

TEST(ParseCompare, Value) {
  v1::Compare c = ParseCompare(R"(value("k") = "v 1")").value();
  EXPECT_EQ(c.target(), v1::Compare::VALUE);
  EXPECT_EQ(c.result(), v1::Compare::EQUAL);
  EXPECT_EQ(c.key(), "k");
  EXPECT_EQ(c.value(), "v 1");
  c = ParseCompare(R"(  value( "a key" )!=bare)").value();
  EXPECT_EQ(c.result(), v1::Compare::NOT_EQUAL);
  EXPECT_EQ(c.key(), "a key");
  EXPECT_EQ(c.value(), "bare");
  c = ParseCompare(R"(VALUE(k) == "")").value();
  EXPECT_EQ(c.result(), v1::Compare::EQUAL);
  EXPECT_EQ(c.key(), "k");
  EXPECT_EQ(c.value(), "");
  EXPECT_EQ(ParseCompare(R"(value("k") < "m")")->result(), v1::Compare::LESS);
  EXPECT_EQ(ParseCompare(R"x(value("k)") > "m")x")->key(), "k)");
}

TEST(ParseCompare, VersionAndExists) {
  v1::Compare c = ParseCompare(R"(version("k") > 0)").value();
  EXPECT_EQ(c.target(), v1::Compare::VERSION);
  EXPECT_EQ(c.result(), v1::Compare::GREATER);
  EXPECT_EQ(c.version(), 0u);
  EXPECT_EQ(ParseCompare("version(k) = 7290012345678")->version(), 7290012345678u);
  c = ParseCompare(R"(exists("k") = true)").value();
  EXPECT_EQ(c.target(), v1::Compare::EXISTS);
  EXPECT_TRUE(c.exists());
  c = ParseCompare("exists(k) != FALSE").value();
  EXPECT_EQ(c.result(), v1::Compare::NOT_EQUAL);
  EXPECT_FALSE(c.exists());
}

TEST(ParseCompare, Errors) {
  const auto err = [](std::string_view line) { return ErrorOf(ParseCompare(line).status()); };
  EXPECT_EQ(err(R"(mod("k") > 0)"),
            "unknown compare target \"mod\" (want value, version or exists)");
  EXPECT_EQ(err(R"(value "k" = "v")"), "expected '(' after value");
  EXPECT_EQ(err(R"(value("k" = "v")"), "expected ')' after the key");
  EXPECT_EQ(err(R"(value() = "v")"), "value() needs a key");
  EXPECT_EQ(err(R"(value("k") ~ "v")"), "expected an operator (=, !=, > or <) after ')'");
  EXPECT_EQ(err(R"(version("k") >= 1)"), "operator >= is not supported (use =, !=, > or <)");
  EXPECT_EQ(err(R"(value("k") =)"), "missing the right-hand side of value()");
  EXPECT_EQ(err(R"(version("k") = abc)"),
            "version() compares with an unsigned integer, not \"abc\"");
  EXPECT_EQ(err(R"(version("k") = -1)"), "version() compares with an unsigned integer, not \"-1\"");
  EXPECT_EQ(err(R"(exists("k") > true)"), "exists() supports only = and !=");
  EXPECT_EQ(err(R"(exists("k") = yes)"), "exists() compares with true or false, not \"yes\"");
  EXPECT_EQ(err(R"(value("k") = "v" extra)"), "unexpected text after the compare: \"extra\"");
  EXPECT_EQ(err("= 1"), "expected a compare: value(\"k\"), version(\"k\") or exists(\"k\")");
}

TEST(ParseOp, Ops) {
  v1::Op op = ParseOp(R"(put "k 1" "v 1")").value();
  ASSERT_TRUE(op.has_put());
  EXPECT_EQ(op.put().key(), "k 1");
  EXPECT_EQ(op.put().value(), "v 1");
  EXPECT_EQ(ParseOp("get k")->get().key(), "k");
  EXPECT_EQ(ParseOp("DEL k")->delete_().key(), "k");
  EXPECT_EQ(ParseOp("delete k")->delete_().key(), "k");
  EXPECT_EQ(ParseOp("put k \"\"")->put().value(), "");
}

TEST(ParseOp, Errors) {
  const auto err = [](std::string_view line) { return ErrorOf(ParseOp(line).status()); };
  EXPECT_EQ(err("put k"), "put takes KEY VALUE, got 1 argument");
  EXPECT_EQ(err("get"), "get takes KEY, got 0 arguments");
  EXPECT_EQ(err("del a b"), "del takes KEY, got 2 arguments");
  EXPECT_EQ(err("scan a"), "unknown op \"scan\" (want get, put or del)");
}

TEST(ParseTxnScript, ThreeBlocks) {
  const TxnScript s = ParseTxnScript(
                          "# guard\n"
                          "value(\"user/1\") = \"alice\"\r\n"
                          "version(\"user/1\") > 0\n"
                          "\n"
                          "put user/1 bob\n"
                          "get user/1\n"
                          "\n"
                          "get user/1\n"
                          "\n"
                          "\n")
                          .value();
  ASSERT_EQ(s.compares.size(), 2u);
  EXPECT_EQ(s.compares[1].target(), v1::Compare::VERSION);
  ASSERT_EQ(s.success.size(), 2u);
  EXPECT_EQ(s.success[0].put().value(), "bob");
  ASSERT_EQ(s.failure.size(), 1u);
  EXPECT_TRUE(s.failure[0].has_get());
}

TEST(ParseTxnScript, EmptyBlocks) {
  // No compares: a leading blank line.
  TxnScript s = ParseTxnScript("\nput k v\n").value();
  EXPECT_TRUE(s.compares.empty());
  EXPECT_EQ(s.success.size(), 1u);
  EXPECT_TRUE(s.failure.empty());
  // Compares and failure ops only.
  s = ParseTxnScript("exists(k) = false\n\n\nput k v").value();
  EXPECT_EQ(s.compares.size(), 1u);
  EXPECT_TRUE(s.success.empty());
  EXPECT_EQ(s.failure.size(), 1u);
  s = ParseTxnScript("").value();
  EXPECT_TRUE(s.compares.empty() && s.success.empty() && s.failure.empty());
}

TEST(ParseTxnScript, ErrorsNameTheLine) {
  const auto err = [](std::string_view text) { return ErrorOf(ParseTxnScript(text).status()); };
  EXPECT_EQ(err("value(k) = v\nput k v\n"),
            "line 2: unknown compare target \"put\" (want value, version or exists)");
  EXPECT_EQ(err("\n# c\nput k\n"), "line 3: put takes KEY VALUE, got 1 argument");
  EXPECT_EQ(err("\n\nput \"k\n"), "line 3: unterminated \" quote");
  EXPECT_EQ(err("\nput k v\n\nget k\n\nget k\n"),
            "line 6: text after the failure block (a txn has three blocks: compares, success "
            "ops, failure ops)");
}

}  // namespace
}  // namespace meridian::ctl
