// A replicated 3-node group of real meridiand processes on loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/integration/cluster_fixture.h"

namespace meridian::testing {
namespace {

TEST_F(ClusterTest, ReplicatesToEveryNodeAndFollowersRedirect) {
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(client_->Put("k" + std::to_string(i), "v" + std::to_string(i)).ok());
  }
  const int leader = LeaderIndex();
  ASSERT_GE(leader, 0);
  const uint64_t applied = Applied(leader);
  EXPECT_GE(applied, 30u);
  for (int i = 0; i < 3; ++i) WaitForApplied(i, applied);

  // A client that knows only a follower is sent to the leader.
  const int follower = (leader + 1) % 3;
  auto only_follower = nodes_[follower]->Connect();
  auto v = only_follower->Get("k7");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ((*v)->value, "v7");

  auto members = client_->Members();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->members_size(), 3);
  int leaders = 0;
  for (const auto& m : members->members()) leaders += m.is_leader();
  EXPECT_EQ(leaders, 1);
}

TEST_F(ClusterTest, LeaderKillDashNineLosesNoAcknowledgedWriteAndCatchesUpOnRestart) {
  std::map<std::string, std::string> acked;
  for (int i = 0; i < 20; ++i) {
    std::string k = "before/" + std::to_string(i);
    ASSERT_TRUE(client_->Put(k, "x").ok());
    acked[k] = "x";
  }
  const int leader = LeaderIndex();
  ASSERT_GE(leader, 0);
  nodes_[leader]->Kill();

  // The survivors elect a leader; the SDK finds it.
  for (int i = 0; i < 20; ++i) {
    std::string k = "after/" + std::to_string(i);
    auto r = client_->Put(k, "y");
    if (r.ok()) acked[k] = "y";
  }
  EXPECT_GE(acked.size(), 30u) << "writes did not resume after the leader died";
  const int new_leader = LeaderIndex();
  ASSERT_GE(new_leader, 0);
  EXPECT_NE(new_leader, leader);
  for (const auto& [k, v] : acked) {
    auto got = client_->Get(k);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value()) << "acknowledged " << k << " lost";
  }

  // The old leader comes back as a follower and catches up.
  ASSERT_TRUE(nodes_[leader]->Start().ok()) << nodes_[leader]->Log();
  WaitForApplied(leader, Applied(new_leader));
}

TEST_F(ClusterTest, KillDashNineOfAllThreeMidLoadLosesNoAcknowledgedWrite) {
  std::mutex mu;
  std::map<std::string, std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> acks{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      client::ClientOptions o;
      o.endpoints = endpoints_;
      o.max_retries = 2;
      o.rpc_timeout = std::chrono::milliseconds(2000);
      auto c = client::Client::Connect(o);
      ASSERT_TRUE(c.ok());
      for (int i = 0; !stop; ++i) {
        std::string key = absl::StrCat("w", w, "/", i % 40);
        std::string value = std::to_string(i);
        if ((*c)->Put(key, value).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acked[key] = value;
          ++acks;
        }
      }
    });
  }
  while (acks < 200) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (auto& n : nodes_) n->Kill();
  stop = true;
  for (auto& t : writers) t.join();

  for (auto& n : nodes_) ASSERT_TRUE(n->Start().ok()) << n->Log();
  for (const auto& [key, value] : acked) {
    auto got = client_->Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value()) << "acknowledged " << key << " lost";
    // A later unacknowledged write may have landed too, never an older one.
    EXPECT_GE(std::stoi((*got)->value), std::stoi(value)) << key;
  }
}

// A leader frozen past its lease is replaced; when it wakes up it still
// believes it leads. Its first read must not return the old value: the lease
// has run out in real time, so it has to confirm leadership (read-index),
// fails, and the read goes to the new leader.
TEST_F(ClusterTest, AnOldLeaderWakingFromAPauseNeverServesAStaleRead) {
  for (int round = 0; round < 3; ++round) {
    const std::string old_value = absl::StrCat("old", round);
    const std::string new_value = absl::StrCat("new", round);
    ASSERT_TRUE(client_->Put("reg", old_value).ok());
    const int old_leader = LeaderIndex();
    ASSERT_GE(old_leader, 0);
    auto via_old = nodes_[old_leader]->Connect();
    auto warm = via_old->Get("reg");
    ASSERT_TRUE(warm.ok() && warm->has_value()) << warm.status();
    ASSERT_EQ((*warm)->value, old_value);

    nodes_[old_leader]->Pause();
    client::ClientOptions o;
    for (int i = 0; i < 3; ++i) {
      if (i != old_leader) o.endpoints.push_back(endpoints_[i]);
    }
    o.max_retries = 60;
    o.max_backoff = std::chrono::milliseconds(100);
    auto others = std::move(*client::Client::Connect(o));
    auto put = others->Put("reg", new_value);
    nodes_[old_leader]->Resume();
    ASSERT_TRUE(put.ok()) << put.status();

    auto got = via_old->Get("reg");
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->value, new_value) << "round " << round << ": a stale read";
  }
}

TEST_F(ClusterTest, TransactionsConflictAcrossTheGroup) {
  ASSERT_TRUE(client_->Put("acct", "0").ok());
  auto t1 = client_->Begin();
  auto t2 = client_->Begin();
  ASSERT_TRUE(t1.ok() && t2.ok());
  ASSERT_TRUE((*t1)->Put("acct", "1").ok());
  ASSERT_TRUE((*t2)->Put("acct", "2").ok());
  ASSERT_TRUE((*t1)->Commit().ok());
  EXPECT_EQ(GetErrorKind((*t2)->Commit().status()), ErrorKind::kConflict);
}

// Small compaction thresholds, so a short test goes past them.
class CompactingClusterTest : public ClusterTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--compact-every", "100", "--max-log-lag", "150"};
  }
};

TEST_F(CompactingClusterTest, AMemberBehindTheCompactedLogCatchesUpFromASnapshot) {
  ASSERT_TRUE(client_->Put("seed", "0").ok());
  const int leader = LeaderIndex();
  ASSERT_GE(leader, 0);
  const int lagger = (leader + 1) % 3;
  const int other = (leader + 2) % 3;
  nodes_[lagger]->Kill();

  std::map<std::string, std::string> acked;
  for (int i = 0; i < 600; ++i) {
    std::string key = absl::StrCat("k", i % 250);
    std::string value = absl::StrCat("v", i);
    ASSERT_TRUE(client_->Put(key, value).ok()) << i;
    acked[key] = value;
  }
  ASSERT_TRUE(client_->Delete("k7").ok());
  acked.erase("k7");

  ASSERT_TRUE(nodes_[lagger]->Start().ok()) << nodes_[lagger]->Log();
  WaitForApplied(lagger, Applied(leader));
  EXPECT_NE(nodes_[lagger]->Log().find("installed a snapshot"), std::string::npos)
      << "the member caught up without a snapshot; the test did not test it";
  EXPECT_NE(nodes_[leader]->Log().find("sent a snapshot"), std::string::npos);

  // The caught-up member now carries the group: with the other follower
  // dead, every write needs it, then it and the other one must hold all.
  nodes_[other]->Kill();
  for (int i = 0; i < 50; ++i) {
    std::string key = absl::StrCat("after", i);
    ASSERT_TRUE(client_->Put(key, "x").ok()) << i;
    acked[key] = "x";
  }
  nodes_[leader]->Kill();
  ASSERT_TRUE(nodes_[other]->Start().ok()) << nodes_[other]->Log();
  for (const auto& [key, value] : acked) {
    auto got = client_->Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value()) << "acknowledged " << key << " lost";
    EXPECT_EQ((*got)->value, value) << key;
  }
  auto gone = client_->Get("k7");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value()) << "a deletion was lost in the snapshot";
}

}  // namespace
}  // namespace meridian::testing
