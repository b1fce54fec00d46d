#include "client/ctl/output.h"

#include <gtest/gtest.h>

namespace meridian::ctl {
namespace {

TEST(ExitCodeFor, MapsKinds) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), kExitOk);
  EXPECT_EQ(ExitCodeFor(InvalidArgumentError("x")), kExitError);
  EXPECT_EQ(ExitCodeFor(TxnNotFoundError("x")), kExitError);
  EXPECT_EQ(ExitCodeFor(UnavailableError("x")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(NotLeaderError("", "x")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("x")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(ConflictError("x")), kExitConflict);
  EXPECT_EQ(ExitCodeFor(CommitUnknownError("x")), kExitCommitUnknown);
}

TEST(ErrorLine, NamesTheKind) {
  EXPECT_EQ(ErrorLine(LimitExceededError("max_key_bytes", 4096,
                                         "key is 5000 bytes, over max_key_bytes (4096)")),
            "Error: INVALID_ARGUMENT: key is 5000 bytes, over max_key_bytes (4096)");
  EXPECT_EQ(ErrorLine(CommitUnknownError("lost")), "Error: COMMIT_UNKNOWN: lost");
  EXPECT_EQ(ErrorLine(OverloadedError("client_rate_limit", 100, 40, "client over its rate")),
            "Error: RESOURCE_EXHAUSTED: client over its rate (retry after 40 ms)");
  EXPECT_EQ(ErrorLine(absl::UnimplementedError("no Txn service")),
            "Error: UNIMPLEMENTED: no Txn service");
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(ParseDuration("500ms").value(), std::chrono::milliseconds(500));
  EXPECT_EQ(ParseDuration("5s").value(), std::chrono::milliseconds(5000));
  EXPECT_EQ(ParseDuration("1.5s").value(), std::chrono::milliseconds(1500));
  EXPECT_EQ(ParseDuration("2").value(), std::chrono::milliseconds(2000));
  EXPECT_EQ(ParseDuration("1m").value(), std::chrono::milliseconds(60000));
  for (const char* bad : {"", "s", "5x", "-1s", "0", "0.1ms", "1e400s", "5 s"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(ParseMemberId, OneTo65535) {
  EXPECT_EQ(ParseMemberId("1").value(), 1u);
  EXPECT_EQ(ParseMemberId("65535").value(), 65535u);
  for (const char* bad : {"", "0", "65536", "-1", "+2", " 2", "2x", "0x10", "99999999999"}) {
    EXPECT_EQ(GetErrorKind(ParseMemberId(bad).status()), ErrorKind::kInvalidArgument) << bad;
  }
}

TEST(CheckHostPort, HostsAndPorts) {
  for (const char* good : {"10.0.0.4:2379", "node-1.example.com:1", "localhost:65535",
                           "[::1]:2380", "[fe80::1%eth0]:2380", "my_host:80"}) {
    EXPECT_TRUE(CheckHostPort(good).ok()) << good;
  }
  for (const char* bad : {"", "10.0.0.4", "10.0.0.4:", ":2379", "h:0", "h:65536", "h:-1",
                          "::1:2380", "[]:1", "[::1:2380", "http://h:1", "a b:1", "h:1/x"}) {
    EXPECT_EQ(GetErrorKind(CheckHostPort(bad)), ErrorKind::kInvalidArgument) << bad;
  }
}

TEST(ParseOutputFormat, Names) {
  EXPECT_EQ(ParseOutputFormat("json").value(), OutputFormat::kJson);
  EXPECT_FALSE(ParseOutputFormat("yaml").ok());
}

TEST(Table, AlignsAndEscapes) {
  Table t({"KEY", "VALUE"});
  t.AddRow({"a", "1"});
  t.AddRow({"long key", "two\nlines"});
  t.AddRow({"caf\xc3\xa9", "\xff"});
  EXPECT_EQ(t.Render(),
            "+----------+------------+\n"
            "| KEY      | VALUE      |\n"
            "+----------+------------+\n"
            "| a        | 1          |\n"
            "| long key | two\\nlines |\n"
            "| caf\xc3\xa9     | \\xff       |\n"
            "+----------+------------+\n");
}

TEST(Table, EmptyHasAHeader) { EXPECT_EQ(Table({"K"}).Render(), "+---+\n| K |\n+---+\n"); }

TEST(HumanBytes, SiUnits) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(999), "999 B");
  EXPECT_EQ(HumanBytes(1234), "1.2 kB");
  EXPECT_EQ(HumanBytes(20'000'000), "20 MB");
}

}  // namespace
}  // namespace meridian::ctl
