// The meridianctl binary end to end (flag parsing, environment, stdin, exit
// codes) against an in-process fake server.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "client/testing/fake_server.h"

#ifndef MERIDIANCTL_PATH
#error "MERIDIANCTL_PATH must name the meridianctl binary"
#endif

namespace meridian::ctl {
namespace {

using client::testing::FakeServer;

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/meridianctl_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)std::system(("rm -rf " + ShellQuote(dir_)).c_str()); }

  // Runs meridianctl with `args`, `in` on stdin and `env` (NAME=value ...)
  // prepended, from a shell so the test reads like a script would.
  Outcome Ctl(const std::vector<std::string>& args, const std::string& in = "",
              const std::string& env = "") {
    std::ofstream(dir_ + "/in", std::ios::binary) << in;
    std::string cmd = "env -u MERIDIAN_ENDPOINTS -u MERIDIAN_SESSION_TOKEN " + env + " " +
                      ShellQuote(MERIDIANCTL_PATH);
    for (const auto& a : args) cmd += " " + ShellQuote(a);
    cmd += " <" + dir_ + "/in >" + dir_ + "/out 2>" + dir_ + "/err";
    const int status = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(status)) << cmd;
    return {WEXITSTATUS(status), Slurp(dir_ + "/out"), Slurp(dir_ + "/err")};
  }
  // Same, pointed at the fake server.
  Outcome At(std::vector<std::string> args, const std::string& in = "") {
    args.insert(args.begin(), "--endpoints=" + server_.address());
    return Ctl(args, in);
  }

  FakeServer server_;
  std::string dir_;
};

TEST_F(CliTest, PutGetDel) {
  Outcome r = At({"put", "k", "v"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "OK\n");
  r = At({"get", "k"});
  EXPECT_EQ(r.out, "v\n");
  // Global flags after the command.
  r = At({"get", "k", "-w", "json", "--timeout", "2s"});
  EXPECT_EQ(r.out,
            "{\"key\":\"k\",\"found\":true,\"value\":\"v\","
            "\"version\":{\"hlc\":1001,\"site_id\":1}}\n");
  r = At({"del", "k"});
  EXPECT_EQ(r.out, "1\n");
  r = At({"get", "k", "--require-exists"});
  EXPECT_EQ(r.code, 6);
  EXPECT_EQ(r.err, "Error: NOT_FOUND: key \"k\" does not exist\n");
}

TEST_F(CliTest, EndpointsFromTheEnvironment) {
  Outcome r = Ctl({"put", "k", "v"}, "", "MERIDIAN_ENDPOINTS=" + server_.address());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.Value("k"), "v");
  // The flag wins over the environment.
  r = Ctl({"--endpoints", server_.address(), "get", "k"}, "", "MERIDIAN_ENDPOINTS=127.0.0.1:1");
  EXPECT_EQ(r.out, "v\n");
}

TEST_F(CliTest, ValueFromStdinAndDashKeys) {
  Outcome r = At({"put", "k", "-"}, std::string("line 1\nline 2\0", 14));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.Value("k"), std::string("line 1\nline 2\0", 14));
  r = At({"put", "--", "-dash", "v"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.Value("-dash"), "v");
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Ctl({}).code, 2);
  EXPECT_EQ(Ctl({"get"}).code, 2);
  EXPECT_EQ(Ctl({"frobnicate"}).code, 2);
  EXPECT_EQ(Ctl({"--bogus", "get", "k"}).code, 2);
  EXPECT_EQ(Ctl({"-w", "yaml", "get", "k"}).code, 2);
  EXPECT_EQ(Ctl({"--timeout", "soon", "get", "k"}).code, 2);
  EXPECT_EQ(Ctl({"scan", "--prefix", "a", "--from", "b"}).code, 2);
  EXPECT_EQ(Ctl({"cset"}).code, 2);
  EXPECT_EQ(Ctl({"--endpoints", ",", "get", "k"}).code, 2);
  const Outcome help = Ctl({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Subcommands:"), std::string::npos);
}

TEST_F(CliTest, UnreachableExitsThree) {
  const Outcome r = Ctl({"--endpoints", "127.0.0.1:1", "--timeout", "200ms", "get", "k"});
  EXPECT_EQ(r.code, 3);
  EXPECT_TRUE(r.err.starts_with("Error: UNAVAILABLE: ")) << r.err;
}

TEST_F(CliTest, ScanAndTxn) {
  At({"put", "a/1", "x"});
  At({"put", "a/2", "y"});
  Outcome r = At({"scan", "--prefix", "a/", "--keys-only"});
  EXPECT_EQ(r.out, "a/1\na/2\n");
  r = At({"scan", "--from", "a/2", "--to", "b", "--limit", "5"});
  EXPECT_EQ(r.out, "a/2\ny\n");
  r = At({"txn"}, "value(\"a/1\") = \"x\"\n\nput a/1 z\n\n");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "SUCCESS\n\nOK\n");
  r = At({"txn", "-i"}, "get a/1\nput a/3 w\ncommit\n");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "z\nOK\nCOMMITTED\n");
  EXPECT_EQ(server_.Value("a/3"), "w");
}

TEST_F(CliTest, CsetAndCluster) {
  EXPECT_EQ(At({"cset", "add", "s", "e"}).out, "OK\n");
  EXPECT_EQ(At({"cset", "rm", "s", "f"}).out, "OK\n");
  EXPECT_EQ(At({"cset", "read", "s"}).out, "e\t1\nf\t-1\n");
  Outcome r = At({"member", "list", "-w", "table"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("| 1         | fake-1  | local |"), std::string::npos) << r.out;
  r = At({"endpoint", "status", "-w", "json"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("\"engine\":\"memory\""), std::string::npos) << r.out;
  r = At({"endpoint", "health"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(r.out.starts_with(server_.address() + " is healthy: took = ")) << r.out;
  // The fake is not in replicated mode: it hosts no groups.
  r = At({"group", "list"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, server_.address() + ": runs no consensus groups (not in replicated mode)\n");
  r = At({"group", "list", "-w", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.ends_with("\"groups\":[]}]\n")) << r.out;
  EXPECT_EQ(At({"group"}).code, 2);
  EXPECT_EQ(At({"group", "frobnicate"}).code, 2);
  // A lone fake is a --dev node: one shard, the whole keyspace, here.
  r = At({"shard", "list"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1, -inf, +inf, 1, 1, 1, 1@" + server_.address() +
                       ", 1\nshard map version 1, source static\n");
  EXPECT_EQ(At({"shard"}).code, 2);
}

TEST_F(CliTest, MemberAddPromoteRemove) {
  Outcome r = At({"member", "add", "2", "127.0.0.1:2390", "-w", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("{\"config_index\":1,\"members\":[")) << r.out;
  EXPECT_NE(r.out.find("{\"member_id\":2,\"node_id\":\"fake-2\",\"site_name\":\"local\","
                       "\"site_id\":1,\"client_url\":\"127.0.0.1:2390\",\"role\":\"learner\","
                       "\"is_leader\":false,\"is_learner\":true}"),
            std::string::npos)
      << r.out;
  r = At({"member", "promote", "2"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\n2, fake-2, local, 1, 127.0.0.1:2390, voter, false\n"), std::string::npos)
      << r.out;
  r = At({"member", "add", "--voter", "3", "127.0.0.1:2391"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\n3, fake-3, local, 1, 127.0.0.1:2391, voter, false\n"), std::string::npos)
      << r.out;
  r = At({"member", "rm", "3"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("fake-3"), std::string::npos) << r.out;
  r = At({"member", "remove", "2", "-w", "table"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("| MEMBER ID | NODE ID | SITE  | SITE ID | CLIENT URL "), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("fake-2"), std::string::npos) << r.out;
}

TEST_F(CliTest, MemberUsageAndServerErrors) {
  Outcome r = At({"member", "add", "0", "127.0.0.1:2390"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "Error: INVALID_ARGUMENT: member ID must be a number in 1..65535, got \"0\"\n");
  r = At({"member", "add", "2", "localhost"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "Error: INVALID_ARGUMENT: ADDRESS must be host:port (e.g. 10.0.0.4:2379), got "
            "\"localhost\"\n");
  EXPECT_EQ(At({"member", "add", "2"}).code, 2);
  EXPECT_EQ(At({"member", "promote"}).code, 2);
  EXPECT_EQ(At({"member", "remove", "1", "2"}).code, 2);
  EXPECT_EQ(At({"member", "frobnicate"}).code, 2);
  EXPECT_EQ(server_.Calls("Admin/MemberAdd"), 0);
  r = At({"member", "remove", "9"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: INVALID_ARGUMENT: member 9 is not in the group\n");
  server_.InjectError("Admin/MemberPromote", UnavailableError("no quorum"), 100);
  r = At({"--timeout", "200ms", "member", "promote", "2"});
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "Error: UNAVAILABLE: no quorum\n");
}

TEST_F(CliTest, SessionTokenChainsInvocationsThroughAFile) {
  const std::string file = dir_ + "/token";
  Outcome r = At({"put", "k", "v", "--session-token-out", file});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string token = Slurp(file);
  EXPECT_TRUE(token.starts_with("mst1.") && token.ends_with("\n")) << token;
  const uint64_t put_sent = server_.LastTokenSeen();
  r = At({"get", "k", "--session-token", "@" + file, "--session-token-out", file});
  EXPECT_EQ(r.out, "v\n");
  EXPECT_EQ(server_.LastTokenSeen(), put_sent + 1) << "the put's token went with the get";
  EXPECT_NE(Slurp(file), token) << "the get's newer token replaced it";
  // The token as a value, from the environment, and printed on stderr.
  r = Ctl({"--endpoints", server_.address(), "get", "k", "--print-session-token"}, "",
          "MERIDIAN_SESSION_TOKEN=" + token.substr(0, token.size() - 1));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.LastTokenSeen(), put_sent + 1);
  EXPECT_TRUE(r.err.starts_with("session-token: mst1.")) << r.err;
}

TEST_F(CliTest, SessionTokenErrorsAreUsageErrors) {
  Outcome r = At({"--session-token", "bogus", "get", "k"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(
      r.err.starts_with("Error: INVALID_ARGUMENT: session token: expected text starting "
                        "with \"mst1.\""))
      << r.err;
  EXPECT_TRUE(r.err.ends_with(" (--session-token)\n")) << r.err;
  r = At({"--session-token", "@" + dir_ + "/missing", "get", "k"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/missing: cannot read it"), std::string::npos) << r.err;
  EXPECT_EQ(At({"get", "k", "--consistency", "eventual"}).code, 2);
  EXPECT_EQ(server_.Calls("KV/Get"), 0);
}

TEST_F(CliTest, ConsistencyAndKeysRotate) {
  ASSERT_EQ(At({"put", "k", "v"}).code, 0);
  Outcome r = At({"get", "k", "--consistency", "session"});
  EXPECT_EQ(r.out, "v\n");
  EXPECT_EQ(server_.LastHeader().read_consistency(), v1::SESSION);
  r = At({"scan", "--prefix", "k", "--consistency=linearizable"});
  EXPECT_EQ(r.out, "k\nv\n");
  EXPECT_EQ(server_.LastHeader().read_consistency(), v1::READ_CONSISTENCY_UNSPECIFIED);
  r = At({"keys", "rotate", "-w", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"key_id\":1,\"kept_key_ids\":[1],\"config_version\":1}\n");
  EXPECT_EQ(At({"keys"}).code, 2);
}

}  // namespace
}  // namespace meridian::ctl
