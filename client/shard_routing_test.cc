// The SDK's routing in a sharded cluster, against FakeClusters: each keyed
// call reaches its shard's leader, NOT_LEADER hints are per shard,
// WRONG_SHARD refreshes the map, scans follow resume_key, transactions go
// where their routing key is. Each test would fail with a client that sent
// everything to one endpoint and followed hints.
#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "client/testing/fake_cluster.h"
#include "client/testing/fake_server.h"
#include "client/testing/fast_options.h"
#include "meridian/client.h"

namespace meridian::client {
namespace {

using testing::FakeCluster;
using testing::FakeServer;

using testing::FastOptions;

// Three nodes, three shards with different leaders:
//   shard 1 ["", "k")  on nodes 1, 2, led by 1
//   shard 2 ["k", "t") on nodes 2, 3, led by 3
//   shard 3 ["t", end) on nodes 1, 3, led by 1 ... then moved as tests need.
// The client knows only node 2, which leads nothing.
class ShardRoutingTest : public ::testing::Test {
 protected:
  ShardRoutingTest()
      : cluster_(3, {{.id = 1, .start_key = "", .replicas = {1, 2}, .leader = 1},
                     {.id = 2, .start_key = "k", .replicas = {2, 3}, .leader = 3},
                     {.id = 3, .start_key = "t", .replicas = {1, 3}, .leader = 1}}) {
    client_ = Client::Connect(FastOptions({cluster_.node(2).address()})).value();
  }

  FakeServer& node(uint64_t id) { return cluster_.node(id); }
  int Calls(const std::string& method) {
    return node(1).Calls(method) + node(2).Calls(method) + node(3).Calls(method);
  }

  FakeCluster cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(ShardRoutingTest, KeyedCallsGoStraightToTheirShardsLeader) {
  ASSERT_TRUE(client_->Put("apple", "1").ok());
  ASSERT_TRUE(client_->Put("melon", "2").ok());
  ASSERT_TRUE(client_->Put("zebra", "3").ok());
  EXPECT_EQ(node(1).Value("apple"), "1");
  EXPECT_EQ(node(3).Value("melon"), "2");
  EXPECT_EQ(node(1).Value("zebra"), "3");
  // No detours through the endpoint the client was given.
  EXPECT_EQ(node(2).Calls("KV/Put"), 0);
  EXPECT_EQ(Calls("KV/Put"), 3);
  // The header names the map and shard the call was routed by.
  EXPECT_EQ(node(3).LastHeader().shard_id(), 2u);
  EXPECT_EQ(node(3).LastHeader().shard_map_version(), 1u);

  Result<std::optional<GetResult>> got = client_->Get("melon");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, "2");
  EXPECT_EQ(client_->Delete("zebra").value_or(false), true);
  ASSERT_TRUE(client_->CsetAdd("melon", "e").ok());
  EXPECT_EQ(node(3).Calls("Cset/Add"), 1);
  EXPECT_EQ(Calls("Cset/Add"), 1);
  // The map was read once, from the endpoint.
  EXPECT_EQ(node(2).Calls("Admin/Shards"), 1);
  EXPECT_EQ(Calls("Admin/Shards"), 1);
}

TEST_F(ShardRoutingTest, NotLeaderHintsMoveOnlyTheirShard) {
  ASSERT_TRUE(client_->Put("melon", "1").ok());
  cluster_.MoveLeader(2, 2);
  ASSERT_TRUE(client_->Put("melon", "2").ok());  // node 3: NOT_LEADER, hint node 2
  EXPECT_EQ(node(3).Calls("KV/Put"), 2);
  EXPECT_EQ(node(2).Value("melon"), "2");
  // Shard 1 still goes to node 1, not to the leader just learned.
  ASSERT_TRUE(client_->Put("apple", "1").ok());
  EXPECT_EQ(node(1).Value("apple"), "1");
  EXPECT_EQ(node(2).Calls("KV/Put"), 1);
  // And shard 2 stays with its new leader.
  ASSERT_TRUE(client_->Put("melon", "3").ok());
  EXPECT_EQ(node(2).Calls("KV/Put"), 2);
  EXPECT_EQ(node(3).Calls("KV/Put"), 2);
}

TEST_F(ShardRoutingTest, WrongShardRefreshesTheMapAndRoutesAgain) {
  ASSERT_TRUE(client_->Put("melon", "1").ok());  // the client now holds map 1
  // Shard 2 splits at "p": the new shard 4 is on nodes 1 and 2, led by 2.
  cluster_.Reshard({{.id = 1, .start_key = "", .replicas = {1, 2}, .leader = 1},
                    {.id = 2, .start_key = "k", .replicas = {2, 3}, .leader = 3},
                    {.id = 4, .start_key = "p", .replicas = {1, 2}, .leader = 2},
                    {.id = 3, .start_key = "t", .replicas = {1, 3}, .leader = 1}});
  // Routed by map 1 to shard 2's leader, node 3, which no longer holds "pear".
  ASSERT_TRUE(client_->Put("pear", "1").ok());
  EXPECT_EQ(node(3).Calls("KV/Put"), 2);
  EXPECT_FALSE(node(3).Value("pear").has_value());
  EXPECT_EQ(node(2).Value("pear"), "1");
  EXPECT_EQ(node(2).LastHeader().shard_id(), 4u);
  EXPECT_EQ(node(2).LastHeader().shard_map_version(), 2u);
  // The map came from the node that refused.
  EXPECT_EQ(node(3).Calls("Admin/Shards"), 1);
  // Later calls use the new map at once.
  ASSERT_TRUE(client_->Put("plum", "1").ok());
  EXPECT_EQ(node(3).Calls("KV/Put"), 2);
  EXPECT_EQ(node(2).Value("plum"), "1");
}

TEST_F(ShardRoutingTest, WrongShardFromAStaleNodeGetsTheMapFromAnEndpoint) {
  ASSERT_TRUE(client_->Put("melon", "1").ok());
  // Shard 2 moves to nodes 1 and 2 (led by 1); node 3 has not caught up
  // with map 2, but has dropped the shard, as a node removed from a group.
  std::vector<FakeCluster::Shard> moved = {
      {.id = 1, .start_key = "", .replicas = {1, 2}, .leader = 1},
      {.id = 2, .start_key = "k", .replicas = {1, 2}, .leader = 1},
      {.id = 3, .start_key = "t", .replicas = {1, 3}, .leader = 1}};
  cluster_.Reshard(moved, {1, 2});
  node(3).InjectError("KV/Put", WrongShardError("", 1, "node 3 does not host shard 2"));
  ASSERT_TRUE(client_->Put("melon", "2").ok());
  EXPECT_EQ(node(1).Value("melon"), "2");
  EXPECT_EQ(node(1).LastHeader().shard_map_version(), 2u);
  EXPECT_EQ(node(3).Calls("Admin/Shards"), 1);  // asked first: still map 1
  EXPECT_EQ(node(2).Calls("Admin/Shards"), 2);  // then the endpoint: map 2
}

// A client that found no map (say the node was upgraded after the first
// call) learns one from the first WRONG_SHARD.
TEST_F(ShardRoutingTest, AnUnroutedClientLearnsTheMapFromWrongShard) {
  node(2).InjectBareError("Admin/Shards", grpc::StatusCode::UNIMPLEMENTED);
  // Unrouted to node 2, which does not host shard 3: WRONG_SHARD.
  ASSERT_TRUE(client_->Put("zebra", "1").ok());
  EXPECT_EQ(node(2).Calls("KV/Put"), 1);
  EXPECT_EQ(node(1).Value("zebra"), "1");
  EXPECT_EQ(node(1).LastHeader().shard_id(), 3u);
  // Routed from now on.
  ASSERT_TRUE(client_->Put("melon", "1").ok());
  EXPECT_EQ(node(2).Calls("KV/Put"), 1);
  EXPECT_EQ(node(3).LastHeader().shard_id(), 2u);
  EXPECT_EQ(node(3).Value("melon"), "1");
}

TEST_F(ShardRoutingTest, WrongShardIsBoundedByMaxRetries) {
  ClientOptions o = FastOptions({node(2).address()});
  o.max_retries = 2;
  auto c = Client::Connect(o).value();
  node(1).InjectError("KV/Put", WrongShardError("", 1, "confused"), 10);
  const Status s = c->Put("apple", "1").status();
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kWrongShard) << s;
  EXPECT_EQ(Calls("KV/Put"), 3);
}

TEST_F(ShardRoutingTest, AWriteWithALostReplyIsNotRetriedElsewhere) {
  node(3).InjectLostReply("KV/Put");
  EXPECT_EQ(GetErrorKind(client_->Put("melon", "1").status()), ErrorKind::kCommitUnknown);
  EXPECT_EQ(Calls("KV/Put"), 1);
}

TEST_F(ShardRoutingTest, ScanFollowsResumeKeysAcrossShards) {
  for (const char* k : {"a1", "a2", "a3", "m1", "m2", "u1", "u2", "u3"}) {
    ASSERT_TRUE(client_->Put(k, k).ok());
  }
  Result<ScanResult> all = client_->Scan({});
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> keys;
  for (const KeyValue& kv : all->kvs) keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a1", "a2", "a3", "m1", "m2", "u1", "u2", "u3"}));
  EXPECT_FALSE(all->more);
  // One request per shard, each at that shard's leader, naming its shard.
  EXPECT_EQ(node(1).Calls("KV/Scan"), 2);
  EXPECT_EQ(node(3).Calls("KV/Scan"), 1);
  EXPECT_EQ(node(2).Calls("KV/Scan"), 0);
  EXPECT_EQ(node(1).LastHeader().shard_id(), 3u);

  // The limit counts over all shards.
  Result<ScanResult> four = client_->Scan({.start = "a2", .limit = 4});
  ASSERT_TRUE(four.ok()) << four.status();
  ASSERT_EQ(four->kvs.size(), 4u);
  EXPECT_EQ(four->kvs[3].key, "m2");
  EXPECT_TRUE(four->more);

  // A limit used up exactly at a shard's end: more says whether keys are left.
  Result<ScanResult> three = client_->Scan({.limit = 3});
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->kvs.size(), 3u);
  EXPECT_TRUE(three->more);
  Result<ScanResult> to_end = client_->Scan({.start = "m", .end = "u2", .limit = 3});
  ASSERT_TRUE(to_end.ok());
  ASSERT_EQ(to_end->kvs.size(), 3u);
  EXPECT_EQ(to_end->kvs[2].key, "u1");
  EXPECT_FALSE(to_end->more);
}

TEST_F(ShardRoutingTest, PrefixScanCrossesAShardBoundary) {
  cluster_.Reshard({{.id = 1, .start_key = "", .replicas = {1, 2}, .leader = 1},
                    {.id = 2, .start_key = "p/m", .replicas = {2, 3}, .leader = 3}});
  for (const char* k : {"p/a", "p/l", "p/m", "p/z", "q"}) ASSERT_TRUE(client_->Put(k, k).ok());
  Result<ScanResult> r = client_->Scan({.prefix = "p/", .keys_only = true});
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> keys;
  for (const KeyValue& kv : r->kvs) keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"p/a", "p/l", "p/m", "p/z"}));
  EXPECT_EQ(r->kvs[3].value, "");
  EXPECT_EQ(node(3).Calls("KV/Scan"), 1);
}

TEST_F(ShardRoutingTest, BeginGoesToTheShardOfItsRoutingKey) {
  Result<std::unique_ptr<Txn>> txn = client_->Begin({.routing_key = "melon"});
  ASSERT_TRUE(txn.ok()) << txn.status();
  EXPECT_EQ((*txn)->id() >> 40, 2u);
  EXPECT_EQ(node(3).Calls("Txn/Begin"), 1);
  ASSERT_TRUE((*txn)->Put("mango", "1").ok());
  // Another shard's key is refused by the server, naming both shards.
  const Status outside = (*txn)->Put("apple", "1");
  EXPECT_EQ(GetErrorKind(outside), ErrorKind::kInvalidArgument) << outside;
  EXPECT_NE(outside.message().find("shard 1"), std::string::npos) << outside;
  ASSERT_TRUE((*txn)->Commit().ok());
  EXPECT_EQ(node(3).Value("mango"), "1");

  // Without a routing key: the first shard.
  Result<std::unique_ptr<Txn>> first = client_->Begin();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)->id() >> 40, 1u);
  EXPECT_EQ(node(1).Calls("Txn/Begin"), 1);
}

TEST_F(ShardRoutingTest, TxnStaysWithItsNodeAndNotLeaderEndsIt) {
  auto txn = client_->Begin({.routing_key = "melon"}).value();
  node(3).InjectError("Txn/Put", NotLeaderError(node(2).address(), "lost leadership"));
  EXPECT_EQ(GetErrorKind(txn->Put("mango", "1")), ErrorKind::kNotLeader);
  EXPECT_EQ(Calls("Txn/Put"), 1);  // not retried at the hint: the txn is not there
}

TEST_F(ShardRoutingTest, RunTxnRoutesByItsRoutingKey) {
  const Status s = client_->RunTxn([](Txn& txn) -> Status { return txn.Put("zebra", "1"); },
                                   {.routing_key = "zebra"});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(node(1).Value("zebra"), "1");
  EXPECT_EQ(node(1).Calls("Txn/Commit"), 1);
}

TEST_F(ShardRoutingTest, ExecuteRoutesByItsFirstKey) {
  v1::ExecuteRequest req;
  v1::Compare* c = req.add_compares();
  c->set_key("mango");
  c->set_target(v1::Compare::EXISTS);
  c->set_exists(false);
  req.add_success()->mutable_put()->set_key("melon");
  req.mutable_success(0)->mutable_put()->set_value("1");
  Result<ExecuteResult> r = client_->Execute(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(node(3).Value("melon"), "1");
  EXPECT_EQ(Calls("Txn/Execute"), 1);
}

TEST_F(ShardRoutingTest, AsyncCallsRouteAndFollowRedirectsPerShard) {
  const auto put = [&](const std::string& k, const std::string& v) {
    std::promise<Result<WriteResult>> p;
    client_->PutAsync(k, v, [&](Result<WriteResult> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  };
  const auto get = [&](const std::string& k) {
    std::promise<Result<std::optional<GetResult>>> p;
    client_->GetAsync(k, [&](Result<std::optional<GetResult>> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  };
  ASSERT_TRUE(put("apple", "1").ok());
  ASSERT_TRUE(put("melon", "1").ok());
  EXPECT_EQ(node(1).Value("apple"), "1");
  EXPECT_EQ(node(3).Value("melon"), "1");
  EXPECT_EQ(node(2).Calls("KV/Put"), 0);

  cluster_.MoveLeader(2, 2);
  ASSERT_TRUE(put("melon", "2").ok());
  EXPECT_EQ(node(2).Value("melon"), "2");
  Result<std::optional<GetResult>> got = get("apple");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_EQ(node(1).Calls("KV/Get"), 1);

  cluster_.Reshard({{.id = 1, .start_key = "", .replicas = {1, 2}, .leader = 1},
                    {.id = 2, .start_key = "k", .replicas = {2, 3}, .leader = 2},
                    {.id = 5, .start_key = "n", .replicas = {1, 3}, .leader = 3},
                    {.id = 3, .start_key = "t", .replicas = {1, 3}, .leader = 1}});
  ASSERT_TRUE(put("nut", "1").ok());  // node 2: WRONG_SHARD; map 2 says node 3
  EXPECT_EQ(node(3).Value("nut"), "1");
  EXPECT_EQ(node(3).LastHeader().shard_map_version(), 2u);
}

TEST(ShardRouting, ADevNodeIsOneShard) {
  FakeServer server;
  auto c = Client::Connect(FastOptions({server.address()})).value();
  ASSERT_TRUE(c->Put("k", "v").ok());
  EXPECT_EQ(server.LastHeader().shard_id(), 1u);
  EXPECT_EQ(server.LastHeader().shard_map_version(), 1u);
  Result<v1::ShardsResponse> shards = c->Shards();
  ASSERT_TRUE(shards.ok()) << shards.status();
  EXPECT_EQ(shards->source(), "static");
  EXPECT_EQ(shards->leaders(0).leader_address(), server.address());
}

TEST(ShardRouting, AServerWithoutShardsIsNotRouted) {
  FakeServer server;
  server.InjectBareError("Admin/Shards", grpc::StatusCode::UNIMPLEMENTED, 100);
  auto c = Client::Connect(FastOptions({server.address()})).value();
  ASSERT_TRUE(c->Put("k", "v").ok());
  ASSERT_TRUE(c->Get("k").ok());
  ASSERT_TRUE(c->Scan({}).ok());
  EXPECT_EQ(server.LastHeader().shard_id(), 0u);
  EXPECT_EQ(server.LastHeader().shard_map_version(), 0u);
  EXPECT_EQ(server.Calls("Admin/Shards"), 1);  // asked once, not before every call
  EXPECT_EQ(server.Value("k"), "v");
}

}  // namespace
}  // namespace meridian::client
