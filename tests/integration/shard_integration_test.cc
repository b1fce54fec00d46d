// Range shards on three real meridiand processes (--shards 4): the config
// group commits one shard map that every node serves; each key is served by
// its own shard's group (and refused, with a hint, elsewhere); a request
// routed by the wrong shard gets WRONG_SHARD; transactions span shards
// (two-phase commit: atomic, first-committer-wins, an abandoned prepare
// aborted by the next reader, a bank total that holds while a shard leader
// is killed); a scan stops at its shard's end with a resume key; killing one
// shard's leader fails over that shard only; a restarted cluster serves
// the committed map; garbage collection keeps what an open transaction
// reads, past --gc-retention; and a transaction's snapshot covers every
// node's clock.
//
// These tests speak raw gRPC (not the SDK) to see exactly which node answers
// what.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "common/hlc.h"
#include "meridian/v1/admin.grpc.pb.h"
#include "meridian/v1/kv.grpc.pb.h"
#include "meridian/v1/participant.grpc.pb.h"
#include "meridian/v1/txn.grpc.pb.h"
#include "proto/grpc_status.h"
#include "proto/shard_lookup.h"
#include "tests/integration/bank_workload.h"
#include "tests/integration/cluster_fixture.h"

namespace meridian::testing {
namespace {

constexpr int kShards = 4;  // split at "@", "\x80", "\xc0"
// One key in each shard, in shard order.
const std::string kKeyIn[kShards + 1] = {"", "!first", "apple", "\x90key", "\xd0key"};

class ShardTest : public ClusterTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--shards", std::to_string(kShards)};
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
    auto& c = channels_[address];
    if (!c) c = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    return c;
  }
  std::string Address(int i) const { return endpoints_[i]; }
  int IndexOf(const std::string& address) const {
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      if (endpoints_[i] == address) return static_cast<int>(i);
    }
    return -1;
  }

  Result<v1::ShardsResponse> Shards(int i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::ShardsResponse resp;
    grpc::Status s = v1::Admin::NewStub(Channel(Address(i)))->Shards(&ctx, {}, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    return resp;
  }

  // Waits until every running node serves the committed map and knows a
  // leader (a running node) for every shard; returns shard -> leader index.
  std::map<uint64_t, int> WaitForShardLeaders(std::chrono::seconds within) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      std::map<uint64_t, int> leaders;
      bool agreed = true;
      for (int i = 0; i < 3 && agreed; ++i) {
        if (!nodes_[i]->Running()) continue;
        auto r = Shards(i);
        if (!r.ok() || r->source() != "committed" || r->leaders_size() != kShards) {
          agreed = false;
          break;
        }
        for (const v1::ShardLeader& l : r->leaders()) {
          const int at = IndexOf(l.leader_address());
          if (at < 0 || !nodes_[at]->Running()) agreed = false;
          auto [it, inserted] = leaders.emplace(l.shard_id(), at);
          if (!inserted && it->second != at) agreed = false;
        }
      }
      if (agreed && leaders.size() == kShards) return leaders;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return {};
  }

  Status Put(int node, const std::string& key, const std::string& value, uint64_t routed_shard = 0,
             v1::PutResponse* out = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    if (routed_shard != 0) {
      req.mutable_header()->set_shard_id(routed_shard);
      req.mutable_header()->set_shard_map_version(1);
    }
    v1::PutResponse resp;
    Status s = FromGrpcStatus(v1::KV::NewStub(Channel(Address(node)))->Put(&ctx, req, &resp));
    if (out) *out = resp;
    return s;
  }

  Result<v1::GetResponse> Get(int node, const std::string& key) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetRequest req;
    req.set_key(key);
    v1::GetResponse resp;
    Status s = FromGrpcStatus(v1::KV::NewStub(Channel(Address(node)))->Get(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp;
  }

  // Any node that is not `leader`.
  static int Other(int leader) { return (leader + 1) % 3; }

  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

TEST_F(ShardTest, EveryNodeServesTheOneCommittedMap) {
  ASSERT_EQ(WaitForShardLeaders(std::chrono::seconds(20)).size(), size_t{kShards});
  std::string cluster_id;
  for (int i = 0; i < 3; ++i) {
    auto r = Shards(i);
    ASSERT_TRUE(r.ok()) << r.status();
    const v1::ClusterConfig& c = r->config();
    EXPECT_TRUE(ValidateClusterConfig(c).ok()) << ValidateClusterConfig(c);
    EXPECT_EQ(c.version(), 1u);
    ASSERT_EQ(c.shards_size(), kShards);
    EXPECT_EQ(c.shards(1).start_key(), "@");
    EXPECT_EQ(c.shards(3).end_key(), "");
    for (const v1::ShardInfo& s : c.shards()) {
      ASSERT_EQ(s.groups_size(), 1);
      EXPECT_EQ(s.groups(0).replicas_size(), 3);  // rf 3 of 3 nodes
      EXPECT_EQ(s.groups(0).group_id(), s.shard_id());
    }
    // Committed by the config group's leader: one cluster id for all, a
    // signing key whose secret is never sent.
    EXPECT_FALSE(c.cluster_id().empty());
    if (i == 0) cluster_id = c.cluster_id();
    EXPECT_EQ(c.cluster_id(), cluster_id);
    ASSERT_EQ(c.signing_keys_size(), 1);
    EXPECT_TRUE(c.signing_keys(0).secret().empty());
  }
}

TEST_F(ShardTest, EachKeyIsServedByItsShardLeaderAndRedirectedElsewhere) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    const std::string& key = kKeyIn[shard];
    const int leader = leaders[shard];
    v1::PutResponse put;
    ASSERT_TRUE(Put(leader, key, "v" + std::to_string(shard), 0, &put).ok()) << shard;
    EXPECT_EQ(put.header().shard_id(), shard);
    // Another replica of the same shard redirects to that shard's leader.
    Status refused = Put(Other(leader), key, "x");
    EXPECT_EQ(GetErrorKind(refused), ErrorKind::kNotLeader) << refused;
    EXPECT_EQ(GetErrorInfo(refused).leader_hint, Address(leader)) << refused;
    auto got = Get(leader, key);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value(), "v" + std::to_string(shard));
    EXPECT_EQ(got->header().shard_id(), shard);
  }
}

TEST_F(ShardTest, ARequestRoutedByTheWrongShardGetsWrongShardAndWritesNothing) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  // The client believes kKeyIn[2] is in shard 3 (a stale map).
  Status s = Put(leaders[2], kKeyIn[2], "stale", /*routed_shard=*/3);
  ASSERT_EQ(GetErrorKind(s), ErrorKind::kWrongShard) << s;
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetErrorInfo(s).shard_map_version, 1u);
  EXPECT_NE(s.message().find("shard 2"), std::string::npos) << s;
  auto got = Get(leaders[2], kKeyIn[2]);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->found());
  // Routed right, it is served.
  EXPECT_TRUE(Put(leaders[2], kKeyIn[2], "fresh", /*routed_shard=*/2).ok());
}

TEST_F(ShardTest, ATransactionAcrossShardsCommitsAtomicallyAtOneTimestamp) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  ASSERT_TRUE(Put(leaders[2], kKeyIn[2], "old").ok());
  auto stub = v1::Txn::NewStub(Channel(Address(0)));
  v1::BeginResponse b;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Begin(&ctx, {}, &b).ok());
  }
  EXPECT_TRUE(b.txn_id() >> 63) << "coordinated by the node that served Begin";
  auto call_put = [&](const std::string& key, const std::string& value) {
    grpc::ClientContext ctx;
    v1::TxnPutRequest req;
    req.set_txn_id(b.txn_id());
    req.set_key(key);
    req.set_value(value);
    v1::TxnPutResponse resp;
    return FromGrpcStatus(stub->Put(&ctx, req, &resp));
  };
  // Reads see the snapshot of every shard, wherever its leader is.
  {
    grpc::ClientContext ctx;
    v1::TxnGetRequest req;
    req.set_txn_id(b.txn_id());
    req.set_key(kKeyIn[2]);
    v1::TxnGetResponse resp;
    ASSERT_TRUE(stub->Get(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.value(), "old");
  }
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    ASSERT_TRUE(call_put(kKeyIn[shard], "t" + std::to_string(shard)).ok()) << shard;
  }
  v1::CommitResponse committed;
  {
    grpc::ClientContext ctx;
    v1::CommitRequest req;
    req.set_txn_id(b.txn_id());
    Status s = FromGrpcStatus(stub->Commit(&ctx, req, &committed));
    ASSERT_TRUE(s.ok()) << s;
  }
  const uint64_t ts = committed.header().commit_hlc();
  EXPECT_GT(ts, b.header().snapshot().entries(0).hlc());
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    auto got = Get(leaders[shard], kKeyIn[shard]);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value(), "t" + std::to_string(shard));
    EXPECT_EQ(got->version().hlc(), ts) << "every shard's write carries the one commit timestamp";
  }
}

TEST_F(ShardTest, AOneShotTransactionAcrossShardsComparesAndWritesAtomically) {
  ASSERT_EQ(WaitForShardLeaders(std::chrono::seconds(20)).size(), size_t{kShards});
  // "If kKeyIn[1] does not exist, create it and kKeyIn[4]; else read kKeyIn[4]."
  v1::ExecuteRequest req;
  auto* c = req.add_compares();
  c->set_target(v1::Compare::EXISTS);
  c->set_result(v1::Compare::EQUAL);
  c->set_key(kKeyIn[1]);
  c->set_exists(false);
  auto* p1 = req.add_success()->mutable_put();
  p1->set_key(kKeyIn[1]);
  p1->set_value("created");
  auto* p4 = req.add_success()->mutable_put();
  p4->set_key(kKeyIn[4]);
  p4->set_value("created too");
  req.add_failure()->mutable_get()->set_key(kKeyIn[4]);
  auto first = client_->Execute(req);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->succeeded);
  EXPECT_GT(first->commit_hlc, 0u);
  auto second = client_->Execute(req);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->succeeded);
  ASSERT_EQ(second->results.size(), 1u);
  EXPECT_EQ(second->results[0].get().value(), "created too");
  EXPECT_EQ(second->results[0].get().version().hlc(), first->commit_hlc)
      << "both shards' writes carry the one commit timestamp";
}

TEST_F(ShardTest, TheFirstOfTwoConflictingCrossShardTransactionsWinsAndTheOtherLeavesNothing) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  auto stub = v1::Txn::NewStub(Channel(Address(1)));
  auto begin = [&] {
    grpc::ClientContext ctx;
    v1::BeginResponse b;
    EXPECT_TRUE(stub->Begin(&ctx, {}, &b).ok());
    return b.txn_id();
  };
  auto put = [&](uint64_t id, const std::string& key, const std::string& value) {
    grpc::ClientContext ctx;
    v1::TxnPutRequest req;
    req.set_txn_id(id);
    req.set_key(key);
    req.set_value(value);
    v1::TxnPutResponse resp;
    return FromGrpcStatus(stub->Put(&ctx, req, &resp));
  };
  auto commit = [&](uint64_t id) {
    grpc::ClientContext ctx;
    v1::CommitRequest req;
    req.set_txn_id(id);
    v1::CommitResponse resp;
    return FromGrpcStatus(stub->Commit(&ctx, req, &resp));
  };
  const uint64_t t1 = begin(), t2 = begin();
  ASSERT_TRUE(put(t1, kKeyIn[1], "t1").ok());
  ASSERT_TRUE(put(t1, kKeyIn[3], "t1").ok());
  ASSERT_TRUE(put(t2, kKeyIn[3], "t2").ok());
  ASSERT_TRUE(put(t2, kKeyIn[4], "t2").ok());
  ASSERT_TRUE(commit(t1).ok());
  Status lost = commit(t2);
  EXPECT_EQ(GetErrorKind(lost), ErrorKind::kConflict) << lost;
  auto k3 = Get(leaders[3], kKeyIn[3]);
  ASSERT_TRUE(k3.ok()) << k3.status();
  EXPECT_EQ(k3->value(), "t1");
  auto k4 = Get(leaders[4], kKeyIn[4]);
  ASSERT_TRUE(k4.ok()) << k4.status();
  EXPECT_FALSE(k4->found()) << "the loser's write in another shard must not appear";
  // Its intents are released: the key takes writes again.
  for (int i = 0; i < 50 && !Put(leaders[4], kKeyIn[4], "free").ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(Put(leaders[4], kKeyIn[4], "free").ok());
}

TEST_F(ShardTest, AnAbandonedPrepareIsAbortedByTheNextReaderAfterItsDeadline) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  ASSERT_TRUE(Put(leaders[2], kKeyIn[2], "old").ok());
  // A coordinator that prepares at shard 2 and is never heard of again (as
  // if it died between the phases); its record would live in shard 1.
  auto participant = v1::Participant::NewStub(Channel(Address(leaders[2])));
  v1::PrepareRequest prep;
  prep.set_shard_id(2);
  prep.set_txn("orphan-transaction");
  prep.set_snapshot_hlc(0);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  prep.set_deadline_unix_ms(now_ms + 1500);
  prep.set_record_shard(1);
  auto* w = prep.add_writes();
  w->set_key(kKeyIn[2]);
  w->set_has_value(true);
  w->set_value("never");
  {
    grpc::ClientContext ctx;
    v1::PrepareResponse resp;
    Status s = FromGrpcStatus(participant->Prepare(&ctx, prep, &resp));
    // Snapshot 0 is older than the key's version: first-committer-wins.
    EXPECT_EQ(GetErrorKind(s), ErrorKind::kConflict) << s;
  }
  auto got = Get(leaders[2], kKeyIn[2]);
  ASSERT_TRUE(got.ok());
  prep.set_snapshot_hlc(got->header().snapshot().entries(0).hlc());
  {
    grpc::ClientContext ctx;
    v1::PrepareResponse resp;
    Status s = FromGrpcStatus(participant->Prepare(&ctx, prep, &resp));
    ASSERT_TRUE(s.ok()) << s;
  }
  // Writers are refused while it holds the key; a reader waits for the
  // deadline, then aborts it at its record and reads the old value.
  EXPECT_EQ(GetErrorKind(Put(leaders[2], kKeyIn[2], "x")), ErrorKind::kConflict);
  const auto start = std::chrono::steady_clock::now();
  auto read = Get(leaders[2], kKeyIn[2]);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->value(), "old");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_TRUE(Put(leaders[2], kKeyIn[2], "new").ok());
  // The record says aborted: a late commit attempt learns so.
  auto record = v1::Participant::NewStub(Channel(Address(leaders[1])));
  v1::DecideRequest decide;
  decide.set_shard_id(1);
  decide.set_txn("orphan-transaction");
  decide.mutable_proposal()->set_committed(true);
  decide.mutable_proposal()->set_commit_hlc(1);
  grpc::ClientContext ctx;
  v1::DecideResponse outcome;
  ASSERT_TRUE(record->Decide(&ctx, decide, &outcome).ok());
  EXPECT_FALSE(outcome.outcome().committed());
}

TEST_F(ShardTest, ACoordinatorKilledBetweenThePhasesIsAbortedEverywhereByReaders) {
  ASSERT_EQ(WaitForShardLeaders(std::chrono::seconds(20)).size(), size_t{kShards});
  // Member 1 coordinates, and dies after every shard prepared.
  ASSERT_EQ(nodes_[0]->Stop(), 0);
  nodes_[0]->SetEnv({"MERIDIAN_TESTING_CRASH_COORDINATOR_AFTER_PREPARE=1"});
  ASSERT_TRUE(nodes_[0]->Start().ok()) << nodes_[0]->Log();
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    ASSERT_TRUE(Put(leaders[shard], kKeyIn[shard], "before").ok());
  }
  auto stub = v1::Txn::NewStub(Channel(Address(0)));
  v1::BeginRequest begin;
  begin.set_timeout_ms(2000);  // the deadline after which readers may abort it
  v1::BeginResponse b;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Begin(&ctx, begin, &b).ok());
  }
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    grpc::ClientContext ctx;
    v1::TxnPutRequest req;
    req.set_txn_id(b.txn_id());
    req.set_key(kKeyIn[shard]);
    req.set_value("half");
    v1::TxnPutResponse resp;
    ASSERT_TRUE(stub->Put(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::CommitRequest req;
    req.set_txn_id(b.txn_id());
    v1::CommitResponse resp;
    EXPECT_FALSE(stub->Commit(&ctx, req, &resp).ok()) << "the coordinator was to die";
  }
  for (int i = 0; i < 100 && nodes_[0]->Running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(nodes_[0]->Running());
  nodes_[0]->SetEnv({});
  ASSERT_TRUE(nodes_[0]->Start().ok()) << nodes_[0]->Log();
  // Every shard holds an intent; readers wait out the deadline, abort the
  // transaction at its record, and no shard shows its write.
  leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    auto got = Get(leaders[shard], kKeyIn[shard]);
    ASSERT_TRUE(got.ok()) << shard << ": " << got.status();
    EXPECT_EQ(got->value(), "before") << "shard " << shard;
    EXPECT_TRUE(Put(leaders[shard], kKeyIn[shard], "after").ok()) << shard;
  }
}

TEST_F(ShardTest, TheBankTotalHoldsAcrossShardsWhileAShardLeaderIsKilled) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  // One account per shard.
  BankWorkload bank({kKeyIn + 1, kKeyIn + kShards + 1}, endpoints_);
  ASSERT_TRUE(bank.Seed(*client_).ok());
  bank.Start(3);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  // Kill the leader of a shard (not the node most clients' transactions are
  // coordinated by, which would only end them).
  const int victim = leaders[3];
  nodes_[victim]->Kill();
  std::this_thread::sleep_for(std::chrono::seconds(4));
  ASSERT_TRUE(nodes_[victim]->Start().ok());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  bank.Stop();
  EXPECT_GT(bank.Transfers(), 10);
  EXPECT_GT(bank.Reads(), 3);
  EXPECT_EQ(bank.BadReads(), 0) << "a snapshot saw a partial transfer";
  // And the final state adds up (read at one snapshot).
  ASSERT_EQ(WaitForShardLeaders(std::chrono::seconds(20)).size(), size_t{kShards});
  Result<int> sum = bank.Sum(*client_);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, bank.Total());
  std::printf("bank across %d shards: %d transfers, %d snapshot reads, leader of shard 3 killed\n",
              kShards, bank.Transfers(), bank.Reads());
}

TEST_F(ShardTest, AFollowerServesASnapshotReadOnceItsLeaderClosedTheTimestamp) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  v1::PutResponse put;
  ASSERT_TRUE(Put(leaders[2], kKeyIn[2], "v", 0, &put).ok());
  const uint64_t ts = put.header().commit_hlc();
  const int follower = Other(leaders[2]);
  auto read_at = [&](uint64_t snapshot) -> Result<v1::GetResponse> {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetRequest req;
    req.set_key(kKeyIn[2]);
    auto* e = req.mutable_snapshot()->add_entries();
    e->set_site_id(1);
    e->set_hlc(snapshot);
    v1::GetResponse resp;
    Status s = FromGrpcStatus(v1::KV::NewStub(Channel(Address(follower)))->Get(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp;
  };
  // With no write after it, the follower can serve a snapshot 300 ms after
  // the write only once the idle leader closed a timestamp that late (it
  // does when its newest is older than --close-interval, 250 ms): then
  // every commit at or below the snapshot is applied on the follower.
  const uint64_t later = ts + (uint64_t{300} << 16);
  Result<v1::GetResponse> got = UnavailableError("not yet");
  for (int i = 0; i < 60; ++i) {
    got = read_at(later);
    if (got.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), "v");
  EXPECT_EQ(got->header().node_id(), "node" + std::to_string(follower + 1));
  // A snapshot ahead of what it applied is the leader's to close.
  const uint64_t ahead = ts + (uint64_t{60'000} << 16);
  auto refused = read_at(ahead);
  EXPECT_EQ(GetErrorKind(refused.status()), ErrorKind::kNotLeader) << refused.status();
}

TEST_F(ShardTest, LeaderTransferMovesOneShardsLeadershipAndMeridianctlDoesIt) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  const int from = leaders[3], to = Other(leaders[3]);
  // Through the SDK, sent to any node: it follows NOT_LEADER to the leader.
  client::ClientOptions o;
  o.endpoints = {Address(to)};
  auto c = client::Client::Connect(o);
  ASSERT_TRUE(c.ok());
  auto moved = (*c)->LeaderTransfer(3, static_cast<uint32_t>(to + 1));
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->leader_id(), static_cast<uint64_t>(to + 1));
  EXPECT_EQ(moved->leader_address(), Address(to));
  auto after = WaitForShardLeaders(std::chrono::seconds(10));
  ASSERT_EQ(after.size(), size_t{kShards});
  EXPECT_EQ(after[3], to);
  EXPECT_TRUE(Put(to, kKeyIn[3], "served by the new leader").ok());
  // Back with meridianctl.
  const std::string ctl = std::string(MERIDIAN_BUILD_DIR) + "/client/meridianctl";
  const std::string cmd = absl::StrCat(ctl, " --endpoints ", Address(0), " leader transfer --shard 3 ",
                                       from + 1, " -w json 2>&1");
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("\"leader_id\":", from + 1))) << out;
  // A member that is not a voter is refused.
  auto bad = (*c)->LeaderTransfer(3, 9);
  EXPECT_EQ(GetErrorKind(bad.status()), ErrorKind::kInvalidArgument) << bad.status();
}

TEST_F(ShardTest, AScanStopsAtItsShardsEndWithAResumeKey) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  ASSERT_TRUE(Put(leaders[1], "!a", "1").ok());
  ASSERT_TRUE(Put(leaders[1], "!b", "2").ok());
  ASSERT_TRUE(Put(leaders[2], "apple", "3").ok());
  auto scan = [&](int node, const std::string& start, const std::string& prefix) {
    grpc::ClientContext ctx;
    v1::ScanRequest req;
    req.set_start(start);
    req.set_prefix(prefix);
    auto reader = v1::KV::NewStub(Channel(Address(node)))->Scan(&ctx, req);
    std::vector<std::string> keys;
    std::string resume;
    v1::ScanResponse chunk;
    while (reader->Read(&chunk)) {
      for (const auto& kv : chunk.kvs()) keys.push_back(kv.key());
      resume = chunk.resume_key();
    }
    EXPECT_TRUE(reader->Finish().ok());
    return std::make_pair(keys, resume);
  };
  auto [first, resume] = scan(leaders[1], "", "");
  EXPECT_EQ(first, (std::vector<std::string>{"!a", "!b"}));
  EXPECT_EQ(resume, "@");
  auto [second, resume2] = scan(leaders[2], resume, "");
  EXPECT_EQ(second, (std::vector<std::string>{"apple"}));
  EXPECT_EQ(resume2, "\x80");
  // A prefix inside one shard needs no resume key; continuing a prefix scan
  // at a key (prefix and start) is accepted.
  auto [prefixed, none] = scan(leaders[1], "", "!");
  EXPECT_EQ(prefixed.size(), 2u);
  EXPECT_EQ(none, "");
  auto [continued, none2] = scan(leaders[1], "!b", "!");
  EXPECT_EQ(continued, (std::vector<std::string>{"!b"}));
  EXPECT_EQ(none2, "");
}

TEST_F(ShardTest, KillingOneShardsLeaderFailsOverThatShardAndKeepsItsData) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    ASSERT_TRUE(Put(leaders[shard], kKeyIn[shard], "before").ok());
  }
  const int victim = leaders[2];
  nodes_[victim]->Kill();
  auto after = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(after.size(), size_t{kShards}) << "a shard found no new leader";
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    EXPECT_NE(after[shard], victim);
    auto got = Get(after[shard], kKeyIn[shard]);
    ASSERT_TRUE(got.ok()) << shard << ": " << got.status();
    EXPECT_EQ(got->value(), "before");
    EXPECT_TRUE(Put(after[shard], kKeyIn[shard], "after").ok()) << shard;
  }
}

TEST_F(ShardTest, ARestartedClusterServesTheCommittedMapAndItsData) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  auto before = Shards(0);
  ASSERT_TRUE(before.ok());
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    ASSERT_TRUE(Put(leaders[shard], kKeyIn[shard], "kept").ok());
  }
  for (auto& n : nodes_) ASSERT_EQ(n->Stop(), 0) << n->Log();
  for (auto& n : nodes_) ASSERT_TRUE(n->Start().ok()) << n->Log();
  auto again = WaitForShardLeaders(std::chrono::seconds(30));
  ASSERT_EQ(again.size(), size_t{kShards});
  auto after = Shards(1);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->config().cluster_id(), before->config().cluster_id());
  for (uint64_t shard = 1; shard <= kShards; ++shard) {
    auto got = Get(again[shard], kKeyIn[shard]);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value(), "kept");
  }
}

TEST_F(ShardTest, BackupIsRefusedWhileItWouldCoverOneShardOnly) {
  ASSERT_EQ(WaitForShardLeaders(std::chrono::seconds(20)).size(), size_t{kShards});
  const int leader = LeaderIndex();  // group 1's
  ASSERT_GE(leader, 0);
  grpc::ClientContext ctx;
  auto reader = v1::Admin::NewStub(Channel(Address(leader)))->Backup(&ctx, {});
  v1::BackupChunk chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  Status s = FromGrpcStatus(reader->Finish());
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("sharded"), std::string::npos) << s;
}

// Helpers of the tests below: a coordinated transaction through raw gRPC.
class CoordinatedTxn {
 public:
  CoordinatedTxn(std::shared_ptr<grpc::Channel> channel, uint64_t timeout_ms)
      : stub_(v1::Txn::NewStub(std::move(channel))) {
    grpc::ClientContext ctx;
    v1::BeginRequest req;
    req.set_timeout_ms(timeout_ms);
    begin_ = FromGrpcStatus(stub_->Begin(&ctx, req, &b_));
  }
  const Status& begun() const { return begin_; }
  uint64_t snapshot() const { return b_.header().snapshot().entries(0).hlc(); }
  Result<v1::TxnGetResponse> Get(const std::string& key) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::TxnGetRequest req;
    req.set_txn_id(b_.txn_id());
    req.set_key(key);
    v1::TxnGetResponse resp;
    Status s = FromGrpcStatus(stub_->Get(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp;
  }
  Status Abort() {
    grpc::ClientContext ctx;
    v1::AbortRequest req;
    req.set_txn_id(b_.txn_id());
    v1::AbortResponse resp;
    return FromGrpcStatus(stub_->Abort(&ctx, req, &resp));
  }

 private:
  std::unique_ptr<v1::Txn::Stub> stub_;
  v1::BeginResponse b_;
  Status begin_;
};

uint64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Garbage collection below the cluster low watermark (issue 6), with a
// retention far shorter than a transaction.
class ShardGcTest : public ShardTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--shards", std::to_string(kShards), "--gc-retention", "1s", "--gc-interval",
            "200ms"};
  }
};

// Before the cluster low watermark, each store collected below now -
// --gc-retention on its own, and this transaction's reads got
// INVALID_ARGUMENT ("older than the GC horizon") once it was 1 s old.
TEST_F(ShardGcTest, ATransactionAcrossShardsReadsItsSnapshotWhileGcPassesRetention) {
  auto leaders = WaitForShardLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  for (int shard : {2, 3}) ASSERT_TRUE(Put(leaders[shard], kKeyIn[shard], "v0").ok());
  CoordinatedTxn txn(Channel(Address(0)), 60'000);
  ASSERT_TRUE(txn.begun().ok()) << txn.begun();
  // Past the snapshot (up to --max-clock-offset ahead if a node was slow to
  // tell its clock), so the overwrites are all above it.
  while (WallMillis() <= HlcPhysicalMillis(txn.snapshot()) + 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Overwritten again and again for 4 s (4x the retention; GC every 200 ms).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  for (int i = 1; std::chrono::steady_clock::now() < until; ++i) {
    for (int shard : {2, 3}) {
      ASSERT_TRUE(Put(leaders[shard], kKeyIn[shard], "v" + std::to_string(i)).ok());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (int shard : {2, 3}) {
    auto got = txn.Get(kKeyIn[shard]);
    ASSERT_TRUE(got.ok()) << "shard " << shard << ": " << got.status();
    EXPECT_EQ(got->value(), "v0") << "shard " << shard;
  }
  // Once it is gone, GC passes its snapshot: an explicit read there is
  // refused (so GC did run meanwhile, and only the transaction held it).
  ASSERT_TRUE(txn.Abort().ok());
  Status refused;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(Put(leaders[2], kKeyIn[2], "after").ok());
    grpc::ClientContext ctx;
    v1::GetRequest req;
    req.set_key(kKeyIn[2]);
    auto* e = req.mutable_snapshot()->add_entries();
    e->set_site_id(1);
    e->set_hlc(txn.snapshot());
    v1::GetResponse resp;
    refused = FromGrpcStatus(
        v1::KV::NewStub(Channel(Address(leaders[2])))->Get(&ctx, req, &resp));
    if (!refused.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(GetErrorKind(refused), ErrorKind::kInvalidArgument) << refused;
}

// One replica per shard: a node learns another's clock only by asking it
// (no replica applies the other's commits).
class ShardClockTest : public ShardTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--shards", std::to_string(kShards), "--replication-factor", "1"};
  }
  // With one replica, only a shard's replica knows its leader (itself):
  // waits until every shard has one, by the committed map.
  std::map<uint64_t, int> WaitForSoleReplicas(std::chrono::seconds within) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      std::map<uint64_t, int> leaders;
      for (int i = 0; i < 3; ++i) {
        auto r = Shards(i);
        if (!r.ok() || r->source() != "committed") continue;
        for (const v1::ShardLeader& l : r->leaders()) {
          if (l.leader_address() == Address(i)) leaders[l.shard_id()] = i;
        }
      }
      if (leaders.size() == kShards) return leaders;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return {};
  }
  Result<v1::NodeClockResponse> NodeClock(int node) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::NodeClockResponse resp;
    Status s = FromGrpcStatus(
        v1::Participant::NewStub(Channel(Address(node)))->NodeClock(&ctx, {}, &resp));
    if (!s.ok()) return s;
    return resp;
  }
};

// A site snapshot read: a transaction sees every commit acknowledged before
// its Begin, even one stamped by a node whose clock runs ahead of the
// coordinator's. Before Begin asked every node's clock, the snapshot was
// the coordinator's own and this read missed the commit.
TEST_F(ShardClockTest, ATransactionSeesACommitStampedAheadOfItsCoordinatorsClock) {
  auto leaders = WaitForSoleReplicas(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  const int a = leaders[2];
  const int b = (a + 1) % 3;
  ASSERT_TRUE(Put(a, kKeyIn[2], "old").ok());
  // Push a's clock 400 ms ahead (within --max-clock-offset): a snapshot read
  // there closes that timestamp, and a's HLC adopts it.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetRequest req;
    req.set_key(kKeyIn[2]);
    auto* e = req.mutable_snapshot()->add_entries();
    e->set_site_id(1);
    e->set_hlc(MakeHlc(WallMillis() + 400, 0));
    v1::GetResponse resp;
    Status s = FromGrpcStatus(v1::KV::NewStub(Channel(Address(a)))->Get(&ctx, req, &resp));
    ASSERT_TRUE(s.ok()) << s;
  }
  v1::PutResponse put;
  ASSERT_TRUE(Put(a, kKeyIn[2], "new", 0, &put).ok());
  const uint64_t commit = put.header().commit_hlc();
  ASSERT_GT(HlcPhysicalMillis(commit), WallMillis() + 200) << "a's clock was not pushed ahead";
  // Every node's clock, then a transaction begun at b: its snapshot is at
  // or above all of them, so it reads the commit.
  std::vector<uint64_t> clocks;
  for (int i = 0; i < 3; ++i) {
    auto c = NodeClock(i);
    ASSERT_TRUE(c.ok()) << c.status();
    clocks.push_back(c->hlc());
    EXPECT_LE(c->low_watermark_hlc(), c->hlc());
  }
  EXPECT_GE(clocks[a], commit) << "a node's clock covers what it acknowledged";
  CoordinatedTxn txn(Channel(Address(b)), 10'000);
  ASSERT_TRUE(txn.begun().ok()) << txn.begun();
  for (int i = 0; i < 3; ++i) EXPECT_GE(txn.snapshot(), clocks[i]) << "node " << i + 1;
  auto got = txn.Get(kKeyIn[2]);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), "new");
  EXPECT_EQ(got->version().hlc(), commit);
}

// A node that does not answer counts as far ahead as a clock may be: the
// snapshot is the wall clock plus --max-clock-offset (500 ms), and the
// transaction still reads the shards that are up.
TEST_F(ShardClockTest, ABeginWithANodeDownTakesASnapshotAMaxOffsetAhead) {
  auto leaders = WaitForSoleReplicas(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), size_t{kShards});
  const int up_shard = 1;
  const int coordinator = leaders[up_shard];
  const int down = (coordinator + 1) % 3;  // it may hold no shard: it is in the config
  ASSERT_TRUE(Put(coordinator, kKeyIn[up_shard], "v").ok());
  ASSERT_EQ(nodes_[down]->Stop(), 0);
  const uint64_t before = WallMillis();
  CoordinatedTxn txn(Channel(Address(coordinator)), 10'000);
  ASSERT_TRUE(txn.begun().ok()) << txn.begun();
  EXPECT_GE(HlcPhysicalMillis(txn.snapshot()), before + 500);
  auto got = txn.Get(kKeyIn[up_shard]);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), "v");
}

}  // namespace
}  // namespace meridian::testing
