// Many consensus groups per node (--shards 8, plus the config group): three
// real meridiand processes each host nine groups over one WAL and one peer
// stream per node pair.
// Every group elects a leader and commits; the messages of all groups to
// one peer travel in shared batches (coalesced heartbeats); killing a node
// fails every group it led over, and the node catches all of them up when
// it returns.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "tests/integration/cluster_fixture.h"

namespace meridian::testing {
namespace {

constexpr int kShards = 8;
constexpr int kGroups = kShards + 1;  // and the config group
constexpr uint64_t kConfigGroup = 1ull << 32;

class MultiGroupTest : public ClusterTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--shards", std::to_string(kShards)};
  }

  Result<v1::StatusResponse> Status(int i) {
    auto c = nodes_[i]->Connect();
    if (c == nullptr) return UnavailableError("cannot connect");
    return c->NodeStatus();
  }

  // group -> its leader, if every running node reports each group with the
  // same leader (one of the running nodes) and has applied that leader's
  // first entry; else an empty map.
  std::map<uint64_t, uint64_t> AgreedLeaders() {
    std::map<uint64_t, uint64_t> leaders;
    for (int i = 0; i < 3; ++i) {
      if (!nodes_[i]->Running()) continue;
      auto s = Status(i);
      if (!s.ok() || s->groups_size() != kGroups) return {};
      for (const v1::GroupStatus& g : s->groups()) {
        const uint64_t leader = g.leader_id();
        if (leader == 0 || !nodes_[leader - 1]->Running() || g.applied_index() == 0) return {};
        auto [it, inserted] = leaders.emplace(g.group(), leader);
        if (!inserted && it->second != leader) return {};
      }
    }
    return leaders;
  }

  std::map<uint64_t, uint64_t> WaitForLeaders(std::chrono::seconds within) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      auto leaders = AgreedLeaders();
      if (leaders.size() == kGroups) return leaders;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return {};
  }
};

TEST_F(MultiGroupTest, EveryGroupElectsOneLeaderAndCommits) {
  auto leaders = WaitForLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), static_cast<size_t>(kGroups)) << nodes_[0]->Log();
  for (uint64_t g = 1; g <= kShards; ++g) EXPECT_TRUE(leaders.count(g)) << "group " << g;
  EXPECT_TRUE(leaders.count(kConfigGroup));
  // The groups serve clients (the SDK follows the redirects to k's shard).
  ASSERT_TRUE(client_->Put("k", "v").ok());
  auto got = client_->Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, "v");
}

TEST_F(MultiGroupTest, AllGroupsShareOneBatchPerPeerPerRound) {
  ASSERT_EQ(WaitForLeaders(std::chrono::seconds(20)).size(), static_cast<size_t>(kGroups));
  uint64_t batches0 = 0, messages0 = 0;
  for (int i = 0; i < 3; ++i) {
    auto s = Status(i);
    ASSERT_TRUE(s.ok());
    batches0 += s->peer_batches_sent();
    messages0 += s->peer_messages_sent();
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  uint64_t batches = 0, messages = 0;
  for (int i = 0; i < 3; ++i) {
    auto s = Status(i);
    ASSERT_TRUE(s.ok());
    batches += s->peer_batches_sent() - batches0;
    messages += s->peer_messages_sent() - messages0;
    batches0 = messages0 = 0;
  }
  // Idle, the traffic is heartbeats and their acks: eight groups' worth of
  // them. One batch per group and peer would make the ratio 1.
  ASSERT_GT(batches, 0u);
  const double per_batch = static_cast<double>(messages) / static_cast<double>(batches);
  std::printf("idle, 2 s, %d groups: %llu messages in %llu batches (%.1f per batch)\n", kGroups,
              static_cast<unsigned long long>(messages), static_cast<unsigned long long>(batches),
              per_batch);
  EXPECT_GE(per_batch, 2.0);
}

TEST_F(MultiGroupTest, KillingANodeFailsOverEveryGroupItLedAndItCatchesUpOnReturn) {
  auto leaders = WaitForLeaders(std::chrono::seconds(20));
  ASSERT_EQ(leaders.size(), static_cast<size_t>(kGroups));
  const uint64_t victim = leaders[1];  // the leader of group 1
  nodes_[victim - 1]->Kill();
  auto after = WaitForLeaders(std::chrono::seconds(20));
  ASSERT_EQ(after.size(), static_cast<size_t>(kGroups)) << "not every group failed over";
  for (const auto& [group, leader] : after) EXPECT_NE(leader, victim) << "group " << group;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client_->Put("after" + std::to_string(i), "x").ok());

  ASSERT_TRUE(nodes_[victim - 1]->Start().ok()) << nodes_[victim - 1]->Log();
  // Every group on the returning node reaches what the others committed.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool caught_up = false;
  while (!caught_up && std::chrono::steady_clock::now() < until) {
    std::map<uint64_t, uint64_t> highest;
    std::map<uint64_t, uint64_t> returned;
    for (int i = 0; i < 3; ++i) {
      auto s = Status(i);
      if (!s.ok()) continue;
      for (const v1::GroupStatus& g : s->groups()) {
        highest[g.group()] = std::max(highest[g.group()], g.commit_index());
        if (static_cast<uint64_t>(i + 1) == victim) returned[g.group()] = g.applied_index();
      }
    }
    caught_up = returned.size() == kGroups;
    for (const auto& [group, applied] : returned) caught_up &= applied >= highest[group];
    if (!caught_up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(caught_up) << nodes_[victim - 1]->Log();
}

}  // namespace
}  // namespace meridian::testing
