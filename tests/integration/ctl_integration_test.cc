// meridianctl against a real meridiand: what a script sees (stdout, stderr,
// exit codes).
#include <gtest/gtest.h>

#include "tests/integration/daemon.h"

namespace meridian::testing {
namespace {

class CtlIntegrationTest : public SharedDaemonTest<CtlIntegrationTest> {};

TEST_F(CtlIntegrationTest, PutGetDelScan) {
  auto put = daemon_->Ctl({"put", "fruit/apple", "red"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(put.out, "OK\n");
  ASSERT_EQ(daemon_->Ctl({"put", "fruit/banana", "yellow"}).exit_code, 0);
  auto piped = daemon_->Ctl({"put", "fruit/cherry", "-"}, "dark\nred");
  ASSERT_EQ(piped.exit_code, 0) << piped.err;

  auto get = daemon_->Ctl({"get", "fruit/apple"});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_EQ(get.out, "red\n");
  EXPECT_EQ(daemon_->Ctl({"get", "fruit/cherry"}).out, "dark\nred\n");

  auto scan = daemon_->Ctl({"scan", "--prefix", "fruit/", "--keys-only"});
  ASSERT_EQ(scan.exit_code, 0) << scan.err;
  EXPECT_EQ(scan.out, "fruit/apple\nfruit/banana\nfruit/cherry\n");

  auto del = daemon_->Ctl({"del", "fruit/banana"});
  EXPECT_EQ(del.exit_code, 0);
  auto missing = daemon_->Ctl({"get", "fruit/banana"});
  EXPECT_EQ(missing.exit_code, 0);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(daemon_->Ctl({"get", "fruit/banana", "--require-exists"}).exit_code, 6);

  auto json = daemon_->Ctl({"-w", "json", "get", "fruit/apple"});
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_NE(json.out.find(R"("value":"red")"), std::string::npos) << json.out;
}

TEST_F(CtlIntegrationTest, OneShotTxnFromStdin) {
  ASSERT_EQ(daemon_->Ctl({"put", "door", "closed"}).exit_code, 0);
  const std::string script = "value(\"door\") = \"closed\"\n\nput door open\n\nget door\n";
  auto first = daemon_->Ctl({"txn"}, script);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out.substr(0, 8), "SUCCESS\n");
  auto second = daemon_->Ctl({"txn"}, script);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out.substr(0, 8), "FAILURE\n");
  EXPECT_NE(second.out.find("open"), std::string::npos) << second.out;
}

TEST_F(CtlIntegrationTest, InteractiveTxn) {
  ASSERT_EQ(daemon_->Ctl({"put", "acct", "10"}).exit_code, 0);
  auto r = daemon_->Ctl({"txn", "-i"}, "get acct\nput acct 20\nget acct\ncommit\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("COMMITTED"), std::string::npos) << r.out;
  EXPECT_EQ(daemon_->Ctl({"get", "acct"}).out, "20\n");
}

TEST_F(CtlIntegrationTest, Csets) {
  ASSERT_EQ(daemon_->Ctl({"cset", "add", "tags", "blue"}).exit_code, 0);
  ASSERT_EQ(daemon_->Ctl({"cset", "add", "tags", "blue"}).exit_code, 0);
  ASSERT_EQ(daemon_->Ctl({"cset", "add", "tags", "green"}).exit_code, 0);
  ASSERT_EQ(daemon_->Ctl({"cset", "rm", "tags", "green"}).exit_code, 0);
  auto read = daemon_->Ctl({"cset", "read", "tags"});
  ASSERT_EQ(read.exit_code, 0);
  EXPECT_EQ(read.out, "blue\t2\n");
}

TEST_F(CtlIntegrationTest, ErrorsAndExitCodes) {
  auto big = daemon_->Ctl({"put", std::string(5000, 'k'), "v"});
  EXPECT_EQ(big.exit_code, 1);
  EXPECT_NE(big.err.find("Error: INVALID_ARGUMENT: key is 5000 bytes, over max_key_bytes (4096)"),
            std::string::npos)
      << big.err;
  auto usage = daemon_->Ctl({"frobnicate"});
  EXPECT_EQ(usage.exit_code, 2);

  auto health = daemon_->Ctl({"endpoint", "health"});
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_NE(health.out.find("is healthy"), std::string::npos) << health.out;
  auto status = daemon_->Ctl({"-w", "table", "endpoint", "status"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find("pagestore"), std::string::npos) << status.out;

  // Nobody listens on this port.
  auto dead = RunProcess({BinaryPath("client/meridianctl"), "--endpoints", "127.0.0.1:1",
                          "--timeout", "1s", "get", "k"});
  EXPECT_EQ(dead.exit_code, 3) << dead.err;
}

}  // namespace
}  // namespace meridian::testing
