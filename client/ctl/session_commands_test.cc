// meridianctl's session token and `keys rotate` against an in-process fake
// server (commands.h).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>

#include "client/ctl/commands.h"
#include "client/ctl/commands_testing.h"
#include "client/ctl/session_token_file.h"
#include "client/testing/fake_server.h"

namespace meridian::ctl {
namespace {

using client::testing::FakeServer;

class SessionCommandsTest : public ::testing::Test {
 protected:
  // Runs `fn` on a fresh Commands (one meridianctl invocation) that first
  // imports `token` if it is not empty; returns what it printed and, in
  // *token_after, the session's token after it.
  Outcome Do(const std::function<int(Commands&)>& fn, OutputFormat format = OutputFormat::kSimple,
             const std::string& token = "", std::string* token_after = nullptr) {
    return RunCommands({server_.address()}, format, [&](Commands& c) {
      if (!token.empty()) {
        const Status s = c.ImportSessionToken(token);
        EXPECT_TRUE(s.ok()) << s;
      }
      const int code = fn(c);
      if (token_after != nullptr) *token_after = c.ExportSessionToken();
      return code;
    });
  }

  FakeServer server_;
};

TEST_F(SessionCommandsTest, KeysRotateInEachFormat) {
  Outcome r = Do([](Commands& c) { return c.KeysRotate(); });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "signing key 1 is in use; tokens signed with keys 1 verify (config version 1)\n");
  r = Do([](Commands& c) { return c.KeysRotate(); }, OutputFormat::kJson);
  EXPECT_EQ(r.out, "{\"key_id\":2,\"kept_key_ids\":[2,1],\"config_version\":2}\n");
  r = Do([](Commands& c) { return c.KeysRotate(); }, OutputFormat::kTable);
  EXPECT_NE(r.out.find("| KEY ID | KEPT KEY IDS | CONFIG VERSION |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| 3      | 3 2 1        | 3              |"), std::string::npos) << r.out;
}

TEST_F(SessionCommandsTest, KeysRotateRefusedExitsOne) {
  server_.InjectError("Admin/RotateSigningKey", InvalidArgumentError("no config group"));
  const Outcome r = Do([](Commands& c) { return c.KeysRotate(); });
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "Error: INVALID_ARGUMENT: no config group\n");
  EXPECT_EQ(r.out, "");
}

TEST_F(SessionCommandsTest, KeysRotateOnAServerWithoutSigningSaysSo) {
  server_.InjectBareError("Admin/RotateSigningKey", grpc::StatusCode::UNIMPLEMENTED);
  const Outcome r = Do([](Commands& c) { return c.KeysRotate(); });
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err,
            "Error: UNIMPLEMENTED: the server has no Admin.RotateSigningKey: it predates signed "
            "session tokens\n");
}

TEST_F(SessionCommandsTest, TheTokenCarriesCausalityFromOneInvocationToTheNext) {
  std::string token;
  Outcome r = Do([](Commands& c) { return c.Put("k", "v"); }, OutputFormat::kSimple, "", &token);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(token.starts_with("mst1.") && token.size() > 5) << token;
  const uint64_t after_put = server_.LastTokenSeen();  // 0: a fresh session
  r = Do([](Commands& c) { return c.Get("k", false); }, OutputFormat::kSimple, token);
  EXPECT_EQ(r.out, "v\n");
  EXPECT_EQ(server_.LastTokenSeen(), after_put + 1) << "the put's reply token was sent back";
}

TEST_F(SessionCommandsTest, AMalformedTokenIsRefused) {
  std::istringstream is;
  std::ostringstream os, es;
  Commands c(GlobalOptions{.endpoints = {server_.address()}}, Io{.in = is, .out = os, .err = es});
  const Status s = c.ImportSessionToken("not-a-token");
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kInvalidArgument);
  EXPECT_NE(s.message().find("mst1."), std::string_view::npos) << s;
}

TEST_F(SessionCommandsTest, ConsistencyReachesTheServer) {
  ASSERT_EQ(Do([](Commands& c) { return c.Put("k", "v"); }).code, kExitOk);
  const client::ReadOptions session{.consistency = client::ReadConsistency::kSession};
  Outcome r = Do([&](Commands& c) { return c.Get("k", false, session); });
  EXPECT_EQ(r.out, "v\n");
  EXPECT_EQ(server_.LastHeader().read_consistency(), v1::SESSION);
  r = Do([&](Commands& c) { return c.Scan({.prefix = "k"}, session); });
  EXPECT_EQ(r.out, "k\nv\n");
  EXPECT_EQ(server_.LastHeader().read_consistency(), v1::SESSION);
  r = Do([](Commands& c) { return c.Get("k", false); });
  EXPECT_EQ(server_.LastHeader().read_consistency(), v1::READ_CONSISTENCY_UNSPECIFIED);
}

class TokenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/session_token_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::remove((dir_ + "/t").c_str());
    std::remove(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(TokenFileTest, WrittenFileIsReadBackByAtFile) {
  const std::string path = dir_ + "/t";
  ASSERT_TRUE(WriteSessionTokenFile(path, "mst1.AAAA").ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadSessionTokenFlag("@" + path).value_or("?"), "mst1.AAAA");
  ASSERT_TRUE(WriteSessionTokenFile(path, "mst1.BBBB").ok());  // replaces it
  EXPECT_EQ(ReadSessionTokenFlag("@" + path).value_or("?"), "mst1.BBBB");
  EXPECT_EQ(ReadSessionTokenFlag(" mst1.CC\n").value_or("?"), "mst1.CC");
  std::ofstream(path) << "\n";
  EXPECT_EQ(ReadSessionTokenFlag("@" + path).value_or("?"), "") << "an empty file: no token yet";
}

TEST_F(TokenFileTest, UnreadableOrUnwritableFilesAreNamed) {
  Result<std::string> r = ReadSessionTokenFlag("@" + dir_ + "/missing");
  EXPECT_EQ(GetErrorKind(r.status()), ErrorKind::kInvalidArgument);
  EXPECT_NE(r.status().message().find(dir_ + "/missing: cannot read it"), std::string_view::npos)
      << r.status();
  EXPECT_EQ(GetErrorKind(ReadSessionTokenFlag("@").status()), ErrorKind::kInvalidArgument);
  const Status w = WriteSessionTokenFile(dir_ + "/no/such/dir/t", "mst1.");
  EXPECT_FALSE(w.ok());
  EXPECT_NE(w.message().find("no/such/dir/t"), std::string_view::npos) << w;
}

}  // namespace
}  // namespace meridian::ctl
