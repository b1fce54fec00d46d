// Causal sessions (issue 7) on three real meridiand processes: a SESSION
// read carrying a token is served by any replica once that replica covers
// the token (read-your-writes at every follower; monotonic reads across
// nodes; a paused follower waits and serves after it resumes, or answers
// CAUSAL_WAIT_TIMEOUT when it cannot catch up in time); tokens are signed
// (forged, unsigned and too-far-ahead ones are refused); keys rotate with
// old tokens still valid; a token outlives its leader; a Begin's snapshot
// covers the token; an idle shard's follower asks its leader to close the
// token's time rather than wait for the idle close.
//
// Raw gRPC stubs (not the SDK) so that each request goes to exactly the
// node named and carries exactly the token given.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "common/clock.h"
#include "common/hlc.h"
#include "meridian/v1/admin.grpc.pb.h"
#include "meridian/v1/kv.grpc.pb.h"
#include "meridian/v1/txn.grpc.pb.h"
#include "proto/grpc_status.h"
#include "server/session_keys.h"
#include "server/session_token.h"
#include "tests/integration/cluster_fixture.h"

namespace meridian::testing {
namespace {

using server::ObservedAt;

constexpr uint32_t kSite = 1;

std::chrono::system_clock::time_point In(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

class SessionTest : public ClusterTest {
 protected:
  std::shared_ptr<grpc::Channel> Channel(int node) {
    auto& c = channels_[endpoints_[node]];
    if (!c) c = grpc::CreateChannel(endpoints_[node], grpc::InsecureChannelCredentials());
    return c;
  }

  Result<v1::PutResponse> Put(int node, const std::string& key, const std::string& value,
                              const v1::SessionToken& token = {}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(std::chrono::seconds(5)));
    v1::PutRequest req;
    *req.mutable_header()->mutable_session_token() = token;
    req.set_key(key);
    req.set_value(value);
    v1::PutResponse resp;
    Status s = FromGrpcStatus(v1::KV::NewStub(Channel(node))->Put(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp;
  }

  Result<v1::GetResponse> Get(int node, const std::string& key, const v1::SessionToken& token,
                              v1::ReadConsistency consistency = v1::SESSION,
                              std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(deadline));
    v1::GetRequest req;
    *req.mutable_header()->mutable_session_token() = token;
    req.mutable_header()->set_read_consistency(consistency);
    req.set_key(key);
    v1::GetResponse resp;
    Status s = FromGrpcStatus(v1::KV::NewStub(Channel(node))->Get(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp;
  }

  // A SESSION scan of `prefix` at `node`: the first chunk (with the
  // header), or the error.
  Result<v1::ScanResponse> ScanPrefix(int node, const std::string& prefix,
                                      const v1::SessionToken& token) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(std::chrono::seconds(5)));
    v1::ScanRequest req;
    *req.mutable_header()->mutable_session_token() = token;
    req.mutable_header()->set_read_consistency(v1::SESSION);
    req.set_prefix(prefix);
    auto reader = v1::KV::NewStub(Channel(node))->Scan(&ctx, req);
    v1::ScanResponse first, chunk;
    bool got_first = false;
    while (reader->Read(&chunk)) {
      if (!got_first) first = chunk;
      got_first = true;
    }
    Status s = FromGrpcStatus(reader->Finish());
    if (!s.ok()) return s;
    return first;
  }

  Result<v1::RotateSigningKeyResponse> Rotate(int node) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(std::chrono::seconds(30)));
    v1::RotateSigningKeyResponse resp;
    Status s = FromGrpcStatus(v1::Admin::NewStub(Channel(node))->RotateSigningKey(&ctx, {}, &resp));
    if (!s.ok()) return s;
    return resp;
  }

  // The leader of group 1 once one is known and serves writes, and every
  // running node signs its tokens (a new cluster's nodes answer without one
  // until they learn the first key from the committed config).
  int WaitForLeader() {
    for (int t = 0; t < 200; ++t) {
      const int leader = LeaderIndex();
      if (leader >= 0 && Put(leader, "session/probe", "x").ok()) {
        for (int node = 0; node < 3; ++node) {
          if (nodes_[node]->Running() && !WaitForSigningKey(node, 1, /*or_newer=*/true)) return -1;
        }
        return leader;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  // Waits until `node` signs its answers with `key_id` (or a newer one).
  bool WaitForSigningKey(int node, uint32_t key_id, bool or_newer = false) {
    for (int t = 0; t < 100; ++t) {
      auto r = Get(node, "session/probe", {}, v1::SESSION);
      const uint32_t signs_with = r.ok() ? r->header().session_token().key_id() : 0;
      if (signs_with == key_id || (or_newer && signs_with > key_id)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  static int Follower(int leader, int nth) { return (leader + 1 + nth) % 3; }

  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

// Every token a node hands out is signed and covers what the reply reports.
void ExpectSignedCovering(const v1::ResponseHeader& h, uint64_t hlc) {
  const v1::SessionToken& t = h.session_token();
  EXPECT_GE(t.key_id(), 1u);
  EXPECT_EQ(t.signature().size(), 32u);
  EXPECT_GE(ObservedAt(t, kSite), hlc);
  EXPECT_GE(t.cluster_time(), hlc);
}

TEST_F(SessionTest, EveryFollowerReadsTheSessionsOwnWrites) {
  const int leader = WaitForLeader();
  ASSERT_GE(leader, 0);
  v1::SessionToken token;
  uint64_t slowest_us = 0;
  for (int i = 0; i < 30; ++i) {
    auto put = Put(leader, "ryw", std::to_string(i), token);
    ASSERT_TRUE(put.ok()) << put.status();
    ExpectSignedCovering(put->header(), put->header().commit_hlc());
    token = put->header().session_token();
    // Every other write is read back first by a scan (a session read too),
    // then by a Get at each follower.
    if (i % 2 == 1) {
      const int at = Follower(leader, i / 2 % 2);
      auto scanned = ScanPrefix(at, "ryw", token);
      ASSERT_TRUE(scanned.ok()) << "node " << at + 1 << ": " << scanned.status();
      ASSERT_EQ(scanned->kvs_size(), 1);
      EXPECT_EQ(scanned->kvs(0).value(), std::to_string(i))
          << "node " << at + 1 << " scanned a stale value";
      token = scanned->header().session_token();
    }
    for (int f = 0; f < 2; ++f) {
      const int at = Follower(leader, f);
      const uint64_t start = SystemClock()->NowMonotonicMicros();
      auto got = Get(at, "ryw", token);
      slowest_us = std::max(slowest_us, SystemClock()->NowMonotonicMicros() - start);
      ASSERT_TRUE(got.ok()) << "node " << at + 1 << ": " << got.status();
      EXPECT_EQ(got->value(), std::to_string(i)) << "node " << at + 1 << " served a stale read";
      ExpectSignedCovering(got->header(), put->header().commit_hlc());
      token = got->header().session_token();
    }
  }
  // The wait polls the follower's visible timestamp every millisecond at
  // most: catching up with a just-acknowledged write takes about one
  // replication round, not an idle-close period (250 ms).
  std::cout << "slowest follower read after a write: " << slowest_us / 1000 << " ms\n";
  // A coarse bound (the machine may be loaded); typically 20-30 ms.
  EXPECT_LT(slowest_us, 500'000u);
}

TEST_F(SessionTest, ReadsAcrossNodesNeverGoBackInTime) {
  const int leader = WaitForLeader();
  ASSERT_GE(leader, 0);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 1; !stop.load(); ++i) (void)Put(leader, "counter", std::to_string(i));
  });
  v1::SessionToken token;
  int last = 0;
  uint64_t last_observed = 0;
  for (int i = 0; i < 90; ++i) {
    auto got = Get(i % 3, "counter", token);
    ASSERT_TRUE(got.ok()) << got.status();
    int value = 0;
    if (got->found()) {
      ASSERT_TRUE(absl::SimpleAtoi(got->value(), &value)) << got->value();
    }
    EXPECT_GE(value, last) << "read " << i << " at node " << i % 3 + 1 << " went back";
    last = value;
    token = got->header().session_token();
    EXPECT_GE(ObservedAt(token, kSite), last_observed);
    last_observed = ObservedAt(token, kSite);
  }
  stop = true;
  writer.join();
  EXPECT_GT(last, 0);
}

TEST_F(SessionTest, APausedFollowerServesOnceItCatchesUpOrTimesOut) {
  const int leader = WaitForLeader();
  ASSERT_GE(leader, 0);
  const int lagger = Follower(leader, 0);
  const int other = Follower(leader, 1);
  ASSERT_TRUE(Put(leader, "k", "before").ok());

  // Writes go on without it; a session read sent to it waits for them.
  nodes_[lagger]->Pause();
  auto put = Put(leader, "k", "after");
  ASSERT_TRUE(put.ok()) << put.status();
  const v1::SessionToken after = put->header().session_token();
  auto pending = std::async(std::launch::async, [&] {
    return Get(lagger, "k", after, v1::SESSION, std::chrono::seconds(10));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  nodes_[lagger]->Resume();
  auto got = pending.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), "after");

  // Cut off from both peers, it cannot catch up: a short deadline ends in
  // CAUSAL_WAIT_TIMEOUT, never in a stale answer. (The leader may have sent
  // it the commit before it was paused, still in its socket buffer; then it
  // catches up and serves the new value, which is right too. So the cut is
  // tried a few times, and one of them must time out.)
  bool timed_out = false;
  for (int attempt = 0; attempt < 5 && !timed_out; ++attempt) {
    const std::string value = "third-" + std::to_string(attempt);
    nodes_[lagger]->Pause();
    put = Put(leader, "k", value);
    ASSERT_TRUE(put.ok()) << put.status();
    const v1::SessionToken third = put->header().session_token();
    nodes_[leader]->Pause();
    nodes_[other]->Pause();
    nodes_[lagger]->Resume();
    auto cut_off = Get(lagger, "k", third, v1::SESSION, std::chrono::milliseconds(800));
    nodes_[leader]->Resume();
    nodes_[other]->Resume();
    if (cut_off.ok()) {
      EXPECT_EQ(cut_off->value(), value) << "a stale answer";
    } else {
      timed_out = true;
      EXPECT_EQ(GetErrorKind(cut_off.status()), ErrorKind::kCausalWaitTimeout) << cut_off.status();
      EXPECT_TRUE(
          absl::StrContains(cut_off.status().message(), FormatHlc(ObservedAt(third, kSite))))
          << cut_off.status();
    }
    // With its peers back it catches up and serves.
    got = Get(lagger, "k", third, v1::SESSION, std::chrono::seconds(10));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value(), value);
  }
  EXPECT_TRUE(timed_out) << "the cut-off follower caught up every time";
}

TEST_F(SessionTest, ForgedUnsignedAndAlteredTokensAreRefused) {
  const int leader = WaitForLeader();
  ASSERT_GE(leader, 0);
  auto put = Put(leader, "k", "v");
  ASSERT_TRUE(put.ok()) << put.status();
  const v1::SessionToken good = put->header().session_token();
  for (int node = 0; node < 3; ++node) {
    ASSERT_TRUE(Get(node, "k", good).ok()) << node;

    v1::SessionToken forged = good;
    (*forged.mutable_signature())[5] ^= 0x20;
    Status s = Get(node, "k", forged).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "signature does not match")) << s;

    v1::SessionToken pushed = good;  // a client moving its own time on
    pushed.set_cluster_time(pushed.cluster_time() + 1);
    s = Put(node, "k2", "x", pushed).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;

    v1::SessionToken unsigned_token;
    server::MergeObserved(kSite, ObservedAt(good, kSite), unsigned_token.mutable_observed());
    s = Get(node, "k", unsigned_token).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "unsigned session token")) << s;

    v1::SessionToken unknown_key = good;
    unknown_key.set_key_id(good.key_id() + 40);
    s = Get(node, "k", unknown_key).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "does not know")) << s;
  }
}

TEST_F(SessionTest, RotatedKeysSignNewTokensAndOldOnesVerifyWhileKept) {
  const int leader = WaitForLeader();
  ASSERT_GE(leader, 0);
  auto put = Put(leader, "k", "v");
  ASSERT_TRUE(put.ok()) << put.status();
  const v1::SessionToken old_token = put->header().session_token();
  ASSERT_EQ(old_token.key_id(), 1u);

  // Any node takes it (a follower forwards it to the config group's leader).
  auto rotated = Rotate(Follower(leader, 0));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->key_id(), 2u);
  EXPECT_EQ(std::vector<uint32_t>(rotated->kept_key_ids().begin(), rotated->kept_key_ids().end()),
            (std::vector<uint32_t>{2, 1}));
  for (int node = 0; node < 3; ++node) {
    EXPECT_TRUE(WaitForSigningKey(node, 2)) << "node " << node + 1 << " never signed with key 2";
    auto got = Get(node, "k", old_token);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->header().session_token().key_id(), 2u);
  }
  for (uint32_t next = 3; next <= 4; ++next) {
    rotated = Rotate(next % 3);
    ASSERT_TRUE(rotated.ok()) << rotated.status();
    EXPECT_EQ(rotated->key_id(), next);
  }
  EXPECT_EQ(std::vector<uint32_t>(rotated->kept_key_ids().begin(), rotated->kept_key_ids().end()),
            (std::vector<uint32_t>{4, 3, 2}));
  for (int node = 0; node < 3; ++node) {
    ASSERT_TRUE(WaitForSigningKey(node, 4)) << node;
    Status s = Get(node, "k", old_token).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "signed with key 1")) << s;
  }
}

TEST_F(SessionTest, ATokenOutlivesItsLeader) {
  const int leader = WaitForLeader();
  ASSERT_GE(leader, 0);
  v1::SessionToken token;
  for (int i = 0; i < 5; ++i) {
    auto put = Put(leader, "failover/" + std::to_string(i), "v" + std::to_string(i), token);
    ASSERT_TRUE(put.ok()) << put.status();
    token = put->header().session_token();
  }
  nodes_[leader]->Kill();
  for (int f = 0; f < 2; ++f) {
    const int at = Follower(leader, f);
    auto got = Get(at, "failover/4", token, v1::SESSION, std::chrono::seconds(10));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value(), "v4");
  }
  const int next = WaitForLeader();
  ASSERT_GE(next, 0);
  ASSERT_NE(next, leader);
  auto got = Get(next, "failover/0", token, v1::LINEARIZABLE);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), "v0");
  // The new leader's writes come after everything the session saw.
  auto put = Put(next, "failover/after", "x", token);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_GT(put->header().commit_hlc(), ObservedAt(token, kSite));
}

// Two shards: a token from a write to shard 1 names a time shard 2 (idle)
// has not closed yet. Shard 2's followers serve a session read once its
// leader closes past that time: asked by the follower after 2 ms of
// waiting, or at its idle close (--close-interval), whichever comes first;
// its leader closes it at once.
class ShardedSessionTest : public SessionTest {
 protected:
  std::vector<std::string> ExtraArgs() const override { return {"--shards", "2"}; }

  // shard id -> leader index, once every node agrees.
  std::map<uint64_t, int> ShardLeaders() {
    for (int t = 0; t < 200; ++t) {
      std::map<uint64_t, int> leaders;
      for (int node = 0; node < 3; ++node) {
        grpc::ClientContext ctx;
        ctx.set_deadline(In(std::chrono::seconds(2)));
        v1::ShardsResponse resp;
        if (!v1::Admin::NewStub(Channel(node))->Shards(&ctx, {}, &resp).ok()) break;
        if (resp.source() != "committed") break;
        for (const v1::ShardLeader& l : resp.leaders()) {
          for (int i = 0; i < 3; ++i) {
            if (endpoints_[i] == l.leader_address()) leaders[l.shard_id()] = i;
          }
        }
      }
      if (leaders.size() == 2 && WaitForSigningKey(0, 1, true) && WaitForSigningKey(1, 1, true) &&
          WaitForSigningKey(2, 1, true)) {
        return leaders;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return {};
  }

  // Shard 2 idle: 5 times, a session writes shard 1, then reads shard 2 at
  // every node with that token (SESSION, within `deadline`); each read must
  // cover the token. Returns the slowest read at a follower of shard 2, in
  // microseconds.
  uint64_t SlowestIdleShardFollowerRead(std::chrono::milliseconds deadline) {
    std::map<uint64_t, int> leaders = ShardLeaders();
    EXPECT_EQ(leaders.size(), 2u);
    const std::string in_shard1 = "a", in_shard2 = "\x90";
    EXPECT_TRUE(Put(leaders[2], in_shard2, "old").ok());
    uint64_t slowest_us = 0;
    for (int i = 0; i < 5; ++i) {
      auto put = Put(leaders[1], in_shard1, std::to_string(i));
      EXPECT_TRUE(put.ok()) << put.status();
      if (!put.ok()) return slowest_us;
      const v1::SessionToken token = put->header().session_token();
      for (int node = 0; node < 3; ++node) {
        const uint64_t start = SystemClock()->NowMonotonicMicros();
        auto got = Get(node, in_shard2, token, v1::SESSION, deadline);
        const uint64_t took_us = SystemClock()->NowMonotonicMicros() - start;
        EXPECT_TRUE(got.ok()) << "node " << node + 1 << ", read " << i << ": " << got.status();
        if (!got.ok()) continue;
        EXPECT_EQ(got->value(), "old");
        EXPECT_EQ(got->header().snapshot().entries_size(), 1);
        if (got->header().snapshot().entries_size() == 1) {
          EXPECT_GE(got->header().snapshot().entries(0).hlc(), ObservedAt(token, kSite))
              << "node " << node + 1 << " read shard 2 below the session's token";
        }
        // The leader closes at once, unasked.
        if (node != leaders[2]) slowest_us = std::max(slowest_us, took_us);
      }
    }
    return slowest_us;
  }
};

TEST_F(ShardedSessionTest, AnIdleShardsFollowerServesOnceItsLeaderClosesPastTheToken) {
  const uint64_t slowest_us = SlowestIdleShardFollowerRead(std::chrono::seconds(5));
  // Bounded by the follower's close request (a few ms), else by the close
  // interval (250 ms) plus the maintenance period that runs the close
  // (250 ms) plus a round; LongCloseIntervalSessionTest isolates the
  // request.
  std::cout << "slowest follower read of an idle shard: " << slowest_us / 1000 << " ms\n";
  EXPECT_LT(slowest_us, 1'500'000u);
}

// The same with --close-interval 5s: shard 2's leader would close it only
// every 5 s, so a follower serves well before that only because it asks
// the leader to close the session's timestamp (Participant.CloseThrough)
// after a couple of milliseconds of waiting. Without that request each
// read below times out.
class LongCloseIntervalSessionTest : public ShardedSessionTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--shards", "2", "--close-interval", "5s"};
  }
};

TEST_F(LongCloseIntervalSessionTest, AnIdleShardsFollowerAsksItsLeaderToCloseRatherThanWait) {
  const uint64_t slowest_us = SlowestIdleShardFollowerRead(std::chrono::seconds(2));
  // A round trip to the leader and one replicated empty commit; the bound
  // leaves room for a loaded 2-core machine and is still a twentieth of
  // the close interval.
  std::cout << "slowest follower read of an idle shard (--close-interval 5s): "
            << slowest_us / 1000.0 << " ms\n";
  EXPECT_LT(slowest_us, 250'000u);
}

// Monotonic writes and writes-follow-reads across shards, with the clocks
// apart: shard 2's leader runs 400 ms ahead (libfaketime; under
// --max-clock-offset, so nobody fences). A write there is stamped ~400 ms
// ahead of shard 1's leader's clock; a later write of the same session, or
// of one that read it, at shard 1 must still be stamped after it (the
// verified token advances shard 1's clock), and whoever sees the later write
// must see the earlier one, at any replica.
TEST_F(ShardedSessionTest, WritesFollowTheSessionsWritesAndReadsAcrossShardsWithClocksApart) {
  constexpr int kAhead = 2;  // node 3
  ASSERT_EQ(nodes_[kAhead]->Stop(), 0);
  nodes_[kAhead]->SetEnv({"LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                          "FAKETIME=+0.400", "DONT_FAKE_MONOTONIC=1"});
  ASSERT_TRUE(nodes_[kAhead]->Start().ok()) << nodes_[kAhead]->Log();
  std::map<uint64_t, int> leaders = ShardLeaders();
  ASSERT_EQ(leaders.size(), 2u);
  auto lead = [&](uint64_t shard, int node) {
    for (int t = 0; t < 100 && leaders[shard] != node; ++t) {
      grpc::ClientContext ctx;
      ctx.set_deadline(In(std::chrono::seconds(10)));
      v1::LeaderTransferRequest req;
      req.set_shard_id(shard);
      req.set_to_member_id(static_cast<uint32_t>(node + 1));
      v1::LeaderTransferResponse resp;
      (void)v1::Admin::NewStub(Channel(leaders[shard]))->LeaderTransfer(&ctx, req, &resp);
      leaders = ShardLeaders();
    }
    ASSERT_EQ(leaders[shard], node) << "shard " << shard;
  };
  lead(2, kAhead);
  lead(1, 0);
  const std::string in_shard1 = "a", in_shard2 = "\x90";

  // Monotonic writes: one session, shard 2 then shard 1.
  auto first = Put(leaders[2], in_shard2, "first");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Put(leaders[1], in_shard1, "second", first->header().session_token());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(second->header().commit_hlc(), first->header().commit_hlc())
      << "the session's later write is stamped before its earlier one";

  // Writes-follow-reads: a second session reads the first write (at a
  // follower of shard 2), then writes shard 1.
  auto read = Get(1, in_shard2, first->header().session_token());
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->value(), "first");
  auto after_read = Put(leaders[1], in_shard1, "after the read", read->header().session_token());
  ASSERT_TRUE(after_read.ok()) << after_read.status();
  EXPECT_GT(after_read->header().commit_hlc(), first->header().commit_hlc())
      << "a write that followed a read is stamped before what it read";
  // Whoever sees that write sees what it followed, at every replica.
  for (int node = 0; node < 3; ++node) {
    auto seen = Get(node, in_shard1, after_read->header().session_token());
    ASSERT_TRUE(seen.ok()) << "node " << node + 1 << ": " << seen.status();
    EXPECT_EQ(seen->value(), "after the read");
    auto earlier = Get(node, in_shard2, seen->header().session_token());
    ASSERT_TRUE(earlier.ok()) << "node " << node + 1 << ": " << earlier.status();
    EXPECT_EQ(earlier->value(), "first") << "node " << node + 1;
  }
}

// A single node (--dev): its key lives in its data dir, so its tokens
// survive a restart; a token ahead of the node's state makes a session read
// and a Begin snapshot at or above it; a signed token a little too far
// ahead is waited out; and a signed token much too far ahead of
// its clock is refused. The test signs tokens itself with the node's key
// file, as only a node with a clock ahead could.
TEST(SingleNodeSessionTest, TokensSurviveARestartCoverReadsAndBeginsAndMayNotRunAhead) {
  TestDaemon node;
  ASSERT_TRUE(node.Start().ok()) << node.Log();
  auto channel = grpc::CreateChannel(node.endpoint(), grpc::InsecureChannelCredentials());
  auto get = [&](const v1::SessionToken& token) -> Result<v1::GetResponse> {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(std::chrono::seconds(5)));
    v1::GetRequest req;
    *req.mutable_header()->mutable_session_token() = token;
    req.mutable_header()->set_read_consistency(v1::SESSION);
    req.set_key("k");
    v1::GetResponse resp;
    Status s = FromGrpcStatus(v1::KV::NewStub(channel)->Get(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp;
  };
  auto first = get({});
  ASSERT_TRUE(first.ok()) << first.status();
  const v1::SessionToken token = first->header().session_token();
  ASSERT_EQ(token.key_id(), 1u);

  ASSERT_EQ(node.Stop(), 0) << node.Log();
  ASSERT_TRUE(node.Start().ok()) << node.Log();
  channel = grpc::CreateChannel(node.endpoint(), grpc::InsecureChannelCredentials());
  auto again = get(token);
  ASSERT_TRUE(again.ok()) << again.status();

  std::ifstream in(node.data_dir() + "/" + server::kLocalSigningKeyFile, std::ios::binary);
  v1::SigningKey key;
  key.set_key_id(1);
  key.mutable_secret()->assign(std::istreambuf_iterator<char>(in), {});
  ASSERT_EQ(key.secret().size(), server::kSigningKeyBytes);
  const uint64_t now_ms = SystemClock()->NowUnixMillis();

  v1::SessionToken near = token;  // within --max-clock-offset (500 ms)
  near.set_cluster_time(MakeHlc(now_ms + 200, 0));
  server::SignToken(key, &near);
  auto accepted = get(near);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_GT(accepted->header().session_token().cluster_time(), near.cluster_time());

  // A token ahead of everything the node stamped (a session that came from
  // a node whose clock runs ahead): a session read and a Begin both take a
  // snapshot at or above it.
  auto begin = [&](const v1::SessionToken& t) -> Result<v1::BeginResponse> {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(std::chrono::seconds(5)));
    v1::BeginRequest req;
    *req.mutable_header()->mutable_session_token() = t;
    v1::BeginResponse resp;
    Status s = FromGrpcStatus(v1::Txn::NewStub(channel)->Begin(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp;
  };
  auto later_token = [&] {
    v1::SessionToken later;
    server::MergeObserved(kSite, MakeHlc(SystemClock()->NowUnixMillis() + 300, 0),
                          later.mutable_observed());
    server::SignToken(key, &later);
    return later;
  };
  const v1::SessionToken read_after = later_token();
  auto read = get(read_after);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->header().snapshot().entries_size(), 1);
  EXPECT_GE(read->header().snapshot().entries(0).hlc(), ObservedAt(read_after, kSite));
  const v1::SessionToken begin_after = later_token();
  auto begun = begin(begin_after);
  ASSERT_TRUE(begun.ok()) << begun.status();
  ASSERT_EQ(begun->header().snapshot().entries_size(), 1);
  EXPECT_GE(begun->header().snapshot().entries(0).hlc(), ObservedAt(begin_after, kSite));

  // Signed, 1.5 s ahead of the node's clock: 1 s past --max-clock-offset,
  // which the node waits out before it serves (a node stamped that time
  // while its clock ran ahead).
  v1::SessionToken past_bound = token;
  past_bound.set_cluster_time(MakeHlc(SystemClock()->NowUnixMillis() + 1'500, 0));
  server::SignToken(key, &past_bound);
  const auto start = std::chrono::steady_clock::now();
  auto waited = get(past_bound);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_GE(took, std::chrono::milliseconds(800));
  EXPECT_GE(waited->header().session_token().cluster_time(), past_bound.cluster_time());

  // A minute ahead is beyond any wait: refused at once.
  v1::SessionToken ahead = token;
  ahead.set_cluster_time(MakeHlc(now_ms + 60'000, 0));
  server::SignToken(key, &ahead);
  Status s = get(ahead).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "too far ahead")) << s;
  EXPECT_EQ(node.Stop(), 0) << node.Log();
}

}  // namespace
}  // namespace meridian::testing
