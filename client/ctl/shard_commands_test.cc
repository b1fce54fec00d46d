// meridianctl against a sharded FakeCluster: `shard list` in each format,
// and transactions routed by their first key.
#include <gtest/gtest.h>

#include <sstream>

#include "client/ctl/commands.h"
#include "client/ctl/commands_testing.h"
#include "client/testing/fake_cluster.h"

namespace meridian::ctl {
namespace {

using client::testing::FakeCluster;

// Two shards: ["", "k") on nodes 1 and 2, led by 1; ["k", end) on nodes 2
// and 3, led by 3. meridianctl is pointed at node 2, which leads neither.
class ShardCommandsTest : public ::testing::Test {
 protected:
  ShardCommandsTest()
      : cluster_(3, {{.id = 1, .start_key = "", .replicas = {1, 2}, .leader = 1},
                     {.id = 2, .start_key = "k", .replicas = {2, 3}, .leader = 3}}) {}

  Outcome Do(const std::function<int(Commands&)>& fn, OutputFormat format = OutputFormat::kSimple,
             const std::string& in = "") {
    return RunCommands({cluster_.node(2).address()}, format, fn, in);
  }
  std::string Address(uint64_t node) { return cluster_.node(node).address(); }

  FakeCluster cluster_;
};

TEST_F(ShardCommandsTest, ShardListSimple) {
  Outcome r = Do([](Commands& c) { return c.ShardList(); });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "1, -inf, k, 1, 101, 1 2, 1@" + Address(1) + ", 1\n" +
                       "2, k, +inf, 1, 102, 2 3, 3@" + Address(3) + ", 1\n" +
                       "shard map version 1, source committed\n");
}

TEST_F(ShardCommandsTest, ShardListTable) {
  cluster_.MoveLeader(2, 2);
  Outcome r = Do([](Commands& c) { return c.ShardList(); }, OutputFormat::kTable);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("| SHARD | START | END  | SITE | GROUP | REPLICAS | LEADER"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("| 2     | k     | +inf | 1    | 102   | 2 3      | 2@" + Address(2)),
            std::string::npos)
      << r.out;
  EXPECT_TRUE(r.out.ends_with("+\nshard map version 1, source committed\n")) << r.out;
}

TEST_F(ShardCommandsTest, ShardListJson) {
  Outcome r = Do([](Commands& c) { return c.ShardList(); }, OutputFormat::kJson);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "{\"version\":1,\"source\":\"committed\",\"cluster_id\":\"fake\",\"shards\":["
            "{\"shard_id\":1,\"start_key\":\"\",\"end_key\":\"k\",\"preferred_site\":1,"
            "\"groups\":[{\"site_id\":1,\"group_id\":101,\"replicas\":[1,2],\"leader_id\":1,"
            "\"leader_address\":\"" +
                Address(1) +
                "\"}]},"
                "{\"shard_id\":2,\"start_key\":\"k\",\"end_key\":\"\",\"preferred_site\":1,"
                "\"groups\":[{\"site_id\":1,\"group_id\":102,\"replicas\":[2,3],\"leader_id\":3,"
                "\"leader_address\":\"" +
                Address(3) + "\"}]}]}\n");
}

TEST_F(ShardCommandsTest, ShardListOfAServerWithoutShardsFails) {
  cluster_.node(2).InjectBareError("Admin/Shards", grpc::StatusCode::UNIMPLEMENTED);
  Outcome r = Do([](Commands& c) { return c.ShardList(); });
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(r.err.starts_with("Error: UNIMPLEMENTED")) << r.err;
}

TEST_F(ShardCommandsTest, InteractiveTxnBeginsAtTheShardOfItsFirstKey) {
  Outcome r = Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kSimple,
                 "help\nget melon\nput mango 1\ncommit\n");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "OK\nCOMMITTED\n");
  EXPECT_EQ(cluster_.node(3).Calls("Txn/Begin"), 1);
  EXPECT_EQ(cluster_.node(1).Calls("Txn/Begin") + cluster_.node(2).Calls("Txn/Begin"), 0);
  EXPECT_EQ(cluster_.node(3).Value("mango"), "1");
}

TEST_F(ShardCommandsTest, InteractiveTxnWithoutKeysBeginsNothing) {
  Outcome r = Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kSimple, "commit\n");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "COMMITTED\n");
  r = Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kSimple, "");
  EXPECT_EQ(r.out, "ABORTED\n");
  for (uint64_t n = 1; n <= 3; ++n) EXPECT_EQ(cluster_.node(n).Calls("Txn/Begin"), 0);
}

TEST_F(ShardCommandsTest, TxnScriptGoesToTheShardOfItsFirstKey) {
  Outcome r = Do([](Commands& c) { return c.Txn(); }, OutputFormat::kSimple,
                 "exists(\"melon\") = false\n\nput melon 1\n\n");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "SUCCESS\n\nOK\n");
  EXPECT_EQ(cluster_.node(3).Calls("Txn/Execute"), 1);
  EXPECT_EQ(cluster_.node(3).Value("melon"), "1");
  // Keys of two shards: the server refuses it.
  r = Do([](Commands& c) { return c.Txn(); }, OutputFormat::kSimple,
         "\nput melon 2\nput apple 2\n\n");
  EXPECT_EQ(r.code, ExitCodeFor(InvalidArgumentError("x")));
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  EXPECT_EQ(cluster_.node(3).Value("melon"), "1");
}

}  // namespace
}  // namespace meridian::ctl
