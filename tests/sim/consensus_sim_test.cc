// MultiPaxos in deterministic simulation: the invariants of sim_cluster.h
// hold after every event, under message loss, duplication, reordering,
// partitions and crashes; and the group makes progress once faults stop.
// A failure prints the seed and the last events; MERIDIAN_SIM_SEEDS=N runs
// more seeds.
#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "tests/sim/sim_cluster.h"

namespace meridian::sim {
namespace {

int Seeds(int fallback) {
  const char* env = std::getenv("MERIDIAN_SIM_SEEDS");
  return env ? std::atoi(env) : fallback;
}

// Runs until a leader exists and `n` more commands are applied everywhere.
void ExpectProgress(SimCluster& c, int n, const std::string& tag) {
  int proposed = 0;
  for (int round = 0; round < 400 && proposed < n; ++round) {
    if (c.Propose(absl::StrCat(tag, "-", proposed))) ++proposed;
    ASSERT_TRUE(c.Run(5).ok());
  }
  ASSERT_EQ(proposed, n) << "no leader took proposals\n" << c.Trace();
  ASSERT_TRUE(c.Run(200).ok());
}

TEST(ConsensusSimTest, ElectsOneLeaderAndReplicates) {
  SimCluster c({.nodes = 3, .seed = 7});
  ASSERT_TRUE(c.Run(100).ok());
  ASSERT_TRUE(c.Leader().has_value()) << c.Trace();
  ExpectProgress(c, 20, "cmd");
  for (consensus::NodeId id : {1u, 2u, 3u}) {
    EXPECT_EQ(c.Applied(id).size(), 20u) << "node " << id;
    EXPECT_EQ(c.Applied(id), c.Applied(1));
  }
}

TEST(ConsensusSimTest, LeaderCrashElectsAnotherAndKeepsCommittedValues) {
  SimCluster c({.nodes = 3, .seed = 11});
  ASSERT_TRUE(c.Run(100).ok());
  ExpectProgress(c, 10, "before");
  auto old = *c.Leader();
  c.Crash(old);
  ASSERT_TRUE(c.Run(200).ok());
  ASSERT_TRUE(c.Leader().has_value());
  EXPECT_NE(*c.Leader(), old);
  ExpectProgress(c, 10, "after");
  c.Restart(old);
  ASSERT_TRUE(c.Run(300).ok());
  EXPECT_EQ(c.Applied(old), c.Applied(*c.Leader())) << c.Trace();
  EXPECT_EQ(c.Applied(old).size(), 20u);
}

TEST(ConsensusSimTest, MinorityPartitionCannotDeposeTheLeader) {
  SimCluster c({.nodes = 3, .seed = 5});
  ASSERT_TRUE(c.Run(100).ok());
  auto leader = *c.Leader();
  consensus::NodeId loner = leader == 1 ? 2 : 1;
  c.Partition({loner});
  ASSERT_TRUE(c.Run(300).ok());
  c.Heal();
  ASSERT_TRUE(c.Run(20).ok());
  // The isolated node's failed elections did not unseat the healthy leader.
  ASSERT_TRUE(c.Leader().has_value());
  EXPECT_EQ(*c.Leader(), leader) << c.Trace();
  ExpectProgress(c, 5, "healed");
  EXPECT_EQ(c.Applied(loner), c.Applied(leader));
}

TEST(ConsensusSimTest, PartitionedLeaderStepsDownAndMajorityContinues) {
  SimCluster c({.nodes = 5, .seed = 3});
  ASSERT_TRUE(c.Run(100).ok());
  auto leader = *c.Leader();
  c.Partition({leader});
  ASSERT_TRUE(c.Run(200).ok());
  auto now = c.Leader();
  ASSERT_TRUE(now.has_value());
  EXPECT_NE(*now, leader);
  ExpectProgress(c, 5, "majority");
  c.Heal();
  ASSERT_TRUE(c.Run(300).ok());
  EXPECT_EQ(c.Applied(leader), c.Applied(*c.Leader())) << c.Trace();
}

// Random faults over many seeds: the invariants are checked after every
// event; at the end, faults stop and every node converges.
TEST(ConsensusSimTest, RandomFaultsKeepInvariantsAndConverge) {
  const int seeds = Seeds(500);  // the CI sweep; MERIDIAN_SIM_SEEDS overrides
  for (int seed = 1; seed <= seeds; ++seed) {
    SimOptions o{.nodes = seed % 2 ? 3 : 5,
                 .seed = static_cast<uint64_t>(seed),
                 .max_delay_ticks = 4,
                 .drop_per_mille = 50,
                 .dup_per_mille = 30,
                 .crash_mid_ready_per_mille = 2};
    SimCluster c(o);
    Random faults(seed * 7919);
    int proposed = 0;
    for (int step = 0; step < 300; ++step) {
      if (c.Propose(absl::StrCat("s", seed, "-", proposed))) ++proposed;
      switch (faults.Uniform(40)) {
        case 0: c.Crash(1 + faults.Uniform(o.nodes)); break;
        case 1: c.Partition({static_cast<consensus::NodeId>(1 + faults.Uniform(o.nodes))}); break;
        case 2: c.Heal(); break;
        default: break;
      }
      for (int id = 1; id <= o.nodes; ++id) {
        if (!c.Alive(id) && faults.OneIn(10)) c.Restart(id);
      }
      Status s = c.Run(3);
      ASSERT_TRUE(s.ok()) << s;
    }
    // Faults stop: everyone restarts, the network heals, the group converges.
    c.StopFaults();
    for (int id = 1; id <= o.nodes; ++id) c.Restart(id);
    c.Heal();
    ASSERT_TRUE(c.Run(400).ok());
    bool proposed_after = false;
    for (int i = 0; i < 100 && !proposed_after; ++i) {
      proposed_after = c.Propose(absl::StrCat("final-", seed));
      ASSERT_TRUE(c.Run(5).ok());
    }
    ASSERT_TRUE(proposed_after) << "no leader after faults stopped\n" << c.Trace();
    ASSERT_TRUE(c.Run(400).ok());
    ASSERT_TRUE(c.Leader().has_value()) << "seed " << seed << ": leadership lost\n" << c.Trace();
    const auto& reference = c.Applied(*c.Leader());
    EXPECT_EQ(reference.back(), absl::StrCat("final-", seed)) << c.Trace();
    for (int id = 1; id <= o.nodes; ++id) {
      EXPECT_EQ(c.Applied(id), reference) << "node " << id << " diverged\n" << c.Trace();
    }
  }
}

}  // namespace
}  // namespace meridian::sim
