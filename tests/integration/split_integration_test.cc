// Online range splits on three real meridiand processes (--shards 2):
// a split by hand (SDK and meridianctl) moves the upper keys, their history
// included, to a new shard on the same replicas; the old shard refuses them
// with WRONG_SHARD; the bank total holds while a shard splits under
// transfers across shards; a restarted cluster keeps its split shards; a
// shard that grows past --split-size splits by itself; bad split keys are
// refused and change nothing.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "meridian/v1/admin.grpc.pb.h"
#include "meridian/v1/kv.grpc.pb.h"
#include "proto/grpc_status.h"
#include "proto/shard_lookup.h"
#include "tests/integration/bank_workload.h"
#include "tests/integration/cluster_fixture.h"

namespace meridian::testing {
namespace {

std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "k%03d", i);
  return buf;
}

class SplitTest : public ClusterTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--shards", "2", "--split-size", "0"};
  }

  Result<v1::ShardsResponse> Shards(int i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::ShardsResponse resp;
    auto channel = grpc::CreateChannel(endpoints_[i], grpc::InsecureChannelCredentials());
    grpc::Status s = v1::Admin::NewStub(channel)->Shards(&ctx, {}, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    return resp;
  }

  // Waits until every node serves a committed map with `shards` shards and
  // knows a leader for each; false if that does not happen in time.
  bool WaitForShards(int shards, std::chrono::seconds within) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      bool all = true;
      for (int i = 0; i < 3 && all; ++i) {
        auto r = Shards(i);
        all = r.ok() && r->source() == "committed" && r->config().shards_size() == shards &&
              r->leaders_size() == shards && r->config().pending_splits_size() == 0;
        if (!all) break;
        for (const v1::ShardLeader& l : r->leaders()) all = all && l.leader_id() != 0;
      }
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  void PutAll(int n, const std::string& value) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(client_->Put(Key(i), value).ok()) << Key(i);
  }

  void ExpectAll(int n, const std::string& value) {
    for (int i = 0; i < n; ++i) {
      auto got = client_->Get(Key(i));
      ASSERT_TRUE(got.ok()) << Key(i) << ": " << got.status();
      ASSERT_TRUE(got->has_value()) << Key(i);
      EXPECT_EQ((**got).value, value) << Key(i);
    }
  }
};

TEST_F(SplitTest, AManualSplitMovesTheUpperKeysWithTheirHistoryToANewShard) {
  ASSERT_TRUE(WaitForShards(2, std::chrono::seconds(20)));
  PutAll(50, "old");
  // A transaction open across the split reads its snapshot from the new
  // shard afterwards: the history moved too.
  auto before = client_->Begin();
  ASSERT_TRUE(before.ok()) << before.status();
  auto seen = (*before)->Get(Key(40));
  ASSERT_TRUE(seen.ok()) << seen.status();
  PutAll(50, "new");

  auto split = client_->SplitShard(Key(25));
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->shard_id(), 1u);
  EXPECT_EQ(split->child_shard_id(), 3u);
  ASSERT_TRUE(WaitForShards(3, std::chrono::seconds(20)));
  auto map = Shards(2);
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->config().version(), split->map_version());
  const v1::ShardInfo* parent = FindShardById(map->config(), 1);
  const v1::ShardInfo* child = FindShardById(map->config(), 3);
  ASSERT_NE(parent, nullptr);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(parent->end_key(), Key(25));
  EXPECT_EQ(child->start_key(), Key(25));
  EXPECT_EQ(child->parent_shard_id(), 1u);
  EXPECT_EQ(child->groups(0).replicas_size(), parent->groups(0).replicas_size());
  EXPECT_EQ(FindShard(map->config(), Key(40))->shard_id(), 3u);

  ExpectAll(50, "new");
  auto old = (*before)->Get(Key(40));
  ASSERT_TRUE(old.ok()) << old.status();
  ASSERT_TRUE(old->has_value());
  EXPECT_EQ((**old).value, "old");
  EXPECT_TRUE((*before)->Abort().ok());

  // Both halves take writes; the old shard refuses the moved keys.
  EXPECT_TRUE(client_->Put(Key(10), "left").ok());
  EXPECT_TRUE(client_->Put(Key(40), "right").ok());
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::PutRequest req;
    req.set_key(Key(41));
    req.set_value("misrouted");
    req.mutable_header()->set_shard_id(1);
    v1::PutResponse resp;
    auto channel = grpc::CreateChannel(endpoints_[i], grpc::InsecureChannelCredentials());
    Status s = FromGrpcStatus(v1::KV::NewStub(channel)->Put(&ctx, req, &resp));
    EXPECT_EQ(GetErrorKind(s), ErrorKind::kWrongShard) << "node " << i << ": " << s;
  }
  auto k41 = client_->Get(Key(41));
  ASSERT_TRUE(k41.ok());
  EXPECT_EQ((**k41).value, "new");

  // meridianctl splits the new shard again, from any node.
  ProcessResult out = nodes_[1]->Ctl({"shard", "split", Key(45), "-w", "json"});
  ASSERT_EQ(out.exit_code, 0) << out.out << out.err;
  EXPECT_TRUE(absl::StrContains(out.out, "\"shard_id\":3")) << out.out;
  EXPECT_TRUE(absl::StrContains(out.out, "\"child_shard_id\":4")) << out.out;
  ASSERT_TRUE(WaitForShards(4, std::chrono::seconds(20)));
  out = nodes_[0]->Ctl({"shard", "list"});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_TRUE(absl::StrContains(out.out, "k045")) << out.out;
  auto k46 = client_->Get(Key(46));
  ASSERT_TRUE(k46.ok()) << k46.status();
  EXPECT_EQ((**k46).value, "new");
}

TEST_F(SplitTest, ABadSplitKeyIsRefusedAndChangesNothing) {
  ASSERT_TRUE(WaitForShards(2, std::chrono::seconds(20)));
  auto map = Shards(0);
  ASSERT_TRUE(map.ok());
  const uint64_t version = map->config().version();
  // The start of shard 2.
  auto taken = client_->SplitShard(map->config().shards(1).start_key());
  EXPECT_EQ(GetErrorKind(taken.status()), ErrorKind::kInvalidArgument) << taken.status();
  auto empty = client_->SplitShard("");
  EXPECT_EQ(GetErrorKind(empty.status()), ErrorKind::kInvalidArgument) << empty.status();
  ProcessResult out = nodes_[2]->Ctl({"shard", "split", map->config().shards(1).start_key()});
  EXPECT_NE(out.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(out.err, "already starts shard")) << out.err;
  auto after = Shards(1);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->config().version(), version);
  EXPECT_EQ(after->config().shards_size(), 2);
}

TEST_F(SplitTest, TheBankTotalHoldsWhileAShardSplitsUnderTransfers) {
  ASSERT_TRUE(WaitForShards(2, std::chrono::seconds(20)));
  // Eight accounts in shard 1 and one in shard 2.
  std::vector<std::string> accounts;
  for (int i = 0; i < 8; ++i) accounts.push_back(absl::StrCat("acct/", i));
  accounts.push_back("\xf0" "acct");
  BankWorkload bank(accounts, endpoints_);
  ASSERT_TRUE(bank.Seed(*client_).ok());
  bank.Start(3);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  // An intent of a transfer in flight may refuse the split a few times.
  Result<v1::SplitShardResponse> split = absl::UnavailableError("not tried");
  for (int attempt = 0; attempt < 20 && !split.ok(); ++attempt) {
    split = client_->SplitShard("acct/4");
    if (!split.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(split.ok()) << split.status();
  bank.Mark();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  bank.Stop();
  EXPECT_GT(bank.Transfers(), 10);
  EXPECT_GT(bank.TransfersSinceMark(), 3) << "no transfer committed after the split";
  EXPECT_GT(bank.Reads(), 3);
  EXPECT_EQ(bank.BadReads(), 0) << "a snapshot saw a partial transfer";
  Result<int> sum = bank.Sum(*client_);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, bank.Total());
  std::printf("bank while shard 1 split: %d transfers (%d after the split), %d snapshot reads\n",
              bank.Transfers(), bank.TransfersSinceMark(), bank.Reads());
}

TEST_F(SplitTest, ARestartedClusterKeepsItsSplitShardsAndTheirData) {
  ASSERT_TRUE(WaitForShards(2, std::chrono::seconds(20)));
  PutAll(30, "kept");
  ASSERT_TRUE(client_->SplitShard(Key(15)).ok());
  ASSERT_TRUE(WaitForShards(3, std::chrono::seconds(20)));
  for (auto& n : nodes_) ASSERT_EQ(n->Stop(), 0) << n->Log();
  for (auto& n : nodes_) ASSERT_TRUE(n->Start().ok()) << n->Log();
  ASSERT_TRUE(WaitForShards(3, std::chrono::seconds(30)));
  ExpectAll(30, "kept");
  EXPECT_TRUE(client_->Put(Key(20), "after restart").ok());
  auto got = client_->Get(Key(20));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((**got).value, "after restart");
}

class AutoSplitTest : public SplitTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--shards", "2", "--split-size", "64KiB", "--split-check-interval", "1s"};
  }
};

TEST_F(AutoSplitTest, AShardThatGrowsPastTheSplitSizeSplitsByItself) {
  ASSERT_TRUE(WaitForShards(2, std::chrono::seconds(20)));
  const std::string value(1024, 'v');
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(client_->Put(Key(i), value).ok());
  // 100 KiB in shard 1: it splits (and its halves stay under 64 KiB).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int shards = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto r = Shards(0);
    if (r.ok()) shards = r->config().shards_size();
    if (shards >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(shards, 3);
  ASSERT_TRUE(WaitForShards(3, std::chrono::seconds(20)));
  auto map = Shards(1);
  ASSERT_TRUE(map.ok());
  const v1::ShardInfo* child = FindShardById(map->config(), 3);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->parent_shard_id(), 1u);
  EXPECT_GT(child->start_key(), Key(30));
  EXPECT_LT(child->start_key(), Key(70));
  ExpectAll(100, value);
}

}  // namespace
}  // namespace meridian::testing
