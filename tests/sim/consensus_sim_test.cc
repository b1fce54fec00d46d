// MultiPaxos in deterministic simulation: the invariants of sim_cluster.h
// hold after every event, under message loss, duplication, reordering,
// partitions, targeted accept loss, leader churn and crashes (also in the
// middle of handling a Ready); and the group makes progress once faults stop.
//
//   consensus_sim_test                 the sweep over MERIDIAN_SIM_SEEDS seeds (500)
//   consensus_sim_test --seed 1234     one seed, with the full event trace
//                                      on failure (or MERIDIAN_SIM_SEED=1234)
//
// A failing seed prints the command that replays it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/sim/sim_cluster.h"

namespace meridian::sim {

// Set by main from --seed or MERIDIAN_SIM_SEED: replay that one seed.
std::optional<uint64_t> replay_seed;
std::string program = "consensus_sim_test";

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

using consensus::NodeId;

// Who is not `id`, picked at random among 1..nodes.
NodeId Other(Random& r, int nodes, NodeId id) {
  NodeId o = static_cast<NodeId>(1 + r.Uniform(nodes - 1));
  return o >= id ? o + 1 : o;
}

// A random nonempty subset of the nodes other than `id`, smaller than a
// majority of the whole group (so the rest can still make progress).
std::set<NodeId> Minority(Random& r, int nodes, NodeId id) {
  std::set<NodeId> out;
  const size_t size = 1 + r.Uniform(static_cast<uint64_t>(nodes / 2));
  while (out.size() < size) out.insert(Other(r, nodes, id));
  return out;
}

// One membership change at the leader, one voter at a time: promote a
// learner, remove a voter (the leader too) or a learner, or add a node
// outside the group (a spare that joins, or one removed earlier) as a
// learner. Voters stay within 3..nodes+1.
void ChangeMembership(SimCluster& c, Random& faults, NodeId leader, int nodes) {
  const consensus::Membership m = c.Config(leader);
  std::vector<NodeId> voters, learners, outside;
  for (NodeId id : c.ids()) {
    (m.IsVoter(id) ? voters : m.Contains(id) ? learners : outside).push_back(id);
  }
  auto pick = [&](const std::vector<NodeId>& v) { return v[faults.Uniform(v.size())]; };
  switch (faults.Uniform(3)) {
    case 0:
      if (!learners.empty() && voters.size() < static_cast<size_t>(nodes) + 1) {
        (void)c.Promote(pick(learners));
        return;
      }
      [[fallthrough]];
    case 1:
      if (voters.size() > 3) {
        (void)c.Remove(pick(voters));
        return;
      }
      if (learners.size() > 1) {
        (void)c.Remove(pick(learners));
        return;
      }
      [[fallthrough]];
    default:
      if (!outside.empty()) (void)c.AddLearner(pick(outside));
  }
}

// One seed of the random sweep. Faults aim at the leader: crashes (also in
// the middle of a batch and of a Ready, and right after sending a promise),
// isolation with partial delivery of its last accepts, accepts to some
// followers lost or held back and delivered late, a link to one follower
// cut both ways, followers bounced (crash and restart at once), transfers;
// proposals and read-index reads go to every node that thinks it leads,
// stale ones included, so logs diverge. Nodes compact their logs at random
// points (lagging peers get snapshots, which may be lost), and membership
// changes add, promote and remove nodes (two spares can join). OK, or what
// broke with the trace.
Status RunSeed(uint64_t seed, bool full_trace, SimCluster::Stats* stats) {
  const int nodes = seed % 2 ? 3 : 5;
  SimOptions o{.nodes = nodes,
               .seed = seed,
               .max_delay_ticks = 4,
               .drop_per_mille = 50,
               .dup_per_mille = 30,
               .crash_mid_ready_per_mille = 4,
               .full_trace = full_trace,
               .spares = 2,
               .compact_min = 5,
               .compact_max = 60,
               .crash_on_promise_per_mille = 20};
  SimCluster c(o);
  const int all = nodes + o.spares;
  Random faults(seed * 7919);
  int proposed = 0;
  auto propose_burst = [&](NodeId at) {
    std::vector<std::string> batch;
    for (uint64_t k = 1 + faults.Uniform(4); k > 0; --k) {
      batch.push_back(absl::StrCat("s", seed, "-", proposed++));
    }
    (void)c.ProposeAt(at, batch);  // a stale leader may refuse part of it
  };
  const MessageFilter accepts{.types = {consensus::MessageType::kAccept}};
  for (int step = 0; step < 300; ++step) {
    for (NodeId leader : c.Leaders()) {
      propose_burst(leader);
      if (faults.OneIn(2)) (void)c.Read(leader);
    }
    const std::optional<NodeId> leader = c.Leader();
    const NodeId any = static_cast<NodeId>(1 + faults.Uniform(all));
    switch (faults.Uniform(56)) {
      case 0:
        c.Crash(any);
        break;
      case 1:
        c.Partition({any});
        break;
      case 2:
      case 3:
        c.Heal();
        break;
      case 4:
        // The leader dies in the middle of a batch: some accepts are out.
        if (leader) {
          propose_burst(*leader);
          MERIDIAN_RETURN_IF_ERROR(c.Run(1));
          c.Crash(*leader);
        }
        break;
      case 5:
        // The leader (with a minority) is cut off right after a batch
        // reached only some followers; it keeps taking proposals until
        // check-quorum demotes it.
        if (leader) {
          MessageFilter f = accepts;
          f.from = {*leader};
          f.to = Minority(faults, all, *leader);
          c.Drop(f);
          propose_burst(*leader);
          std::set<NodeId> side = {*leader};
          if (nodes == 5 && faults.OneIn(2)) side.insert(Other(faults, all, *leader));
          MERIDIAN_RETURN_IF_ERROR(c.Run(1 + static_cast<int>(faults.Uniform(2))));
          c.Partition(side);
        }
        break;
      case 6:
        // Accepts from the leader to some followers are lost for a while.
        if (leader) {
          MessageFilter f = accepts;
          f.from = {*leader};
          f.to = Minority(faults, all, *leader);
          c.Drop(f);
        }
        break;
      case 7:
        // ... or held back, to be delivered (late, maybe to a new leader's
        // followers) or lost later.
        if (leader) {
          MessageFilter f = accepts;
          f.from = {*leader};
          f.to = Minority(faults, all, *leader);
          c.Hold(f);
        }
        break;
      case 8:
        c.ClearRules();
        if (faults.OneIn(2)) {
          c.Release({});
        } else {
          c.Discard({});
        }
        break;
      case 9:
        // A transfer, while one other node crashes before persisting the
        // promise it makes next, and comes back at once.
        if (leader) {
          const NodeId to = Other(faults, all, *leader);
          c.CrashBeforePersistingPromise(Other(faults, all, to), /*restart=*/true);
          if (c.Transfer(*leader, to).ok() && faults.OneIn(2)) {
            // The old leader is cut off once its TimeoutNow is out: it
            // stays a stale leader (taking proposals and reads) while the
            // target wins and commits, until check-quorum demotes it.
            MERIDIAN_RETURN_IF_ERROR(c.Run(1 + static_cast<int>(faults.Uniform(4))));
            c.Partition({*leader});
          }
        }
        break;
      case 10:
        if (leader) c.Crash(*leader);
        break;
      case 11:
      case 12:
      case 13:
        if (leader) ChangeMembership(c, faults, *leader, nodes);
        break;
      case 14:
        // The link between the leader and one other node fails both ways
        // (until the rules are cleared): a node that hears both may vouch
        // for two leaders in turn.
        if (leader) {
          const NodeId other = Other(faults, all, *leader);
          c.Drop({.from = {*leader}, .to = {other}});
          c.Drop({.from = {other}, .to = {*leader}});
        }
        break;
      case 15:
      case 16:
        // A follower bounces: it crashes and restarts at once, counting its
        // ticks from 0 again.
        if (c.Alive(any) && (!leader || any != *leader)) {
          c.Crash(any);
          c.Restart(any);
        }
        break;
      default:
        break;
    }
    for (NodeId id = 1; id <= static_cast<NodeId>(all); ++id) {
      if (!c.Alive(id) && faults.OneIn(8)) c.Restart(id);
    }
    MERIDIAN_RETURN_IF_ERROR(c.Run(3));
  }
  // Faults stop: everyone restarts, the network heals, the group converges.
  c.StopFaults();
  c.ClearRules();
  c.Release({});
  for (NodeId id = 1; id <= static_cast<NodeId>(all); ++id) c.Restart(id);
  c.Heal();
  MERIDIAN_RETURN_IF_ERROR(c.Run(400));
  const std::string final_cmd = absl::StrCat("final-", seed);
  bool proposed_after = false;
  for (int i = 0; i < 100 && !proposed_after; ++i) {
    proposed_after = c.Propose(final_cmd);
    MERIDIAN_RETURN_IF_ERROR(c.Run(5));
  }
  auto fail = [&](std::string what) { return absl::InternalError(what + "\n" + c.Trace()); };
  if (!proposed_after) return fail("no leader after faults stopped");
  MERIDIAN_RETURN_IF_ERROR(c.Run(400));
  if (!c.Leader()) return fail("leadership lost after faults stopped");
  const auto& reference = c.Applied(*c.Leader());
  if (reference.empty() || reference.back() != final_cmd) {
    return fail(absl::StrCat("the leader did not apply ", final_cmd, " last"));
  }
  // Every member, voter or learner, has the same state machine.
  const consensus::Membership members = c.Config(*c.Leader());
  for (NodeId id = 1; id <= static_cast<NodeId>(all); ++id) {
    if (members.Contains(id) && c.Applied(id) != reference) {
      return fail(absl::StrCat("node ", id, " diverged"));
    }
  }
  if (stats) {
    const SimCluster::Stats& s = c.stats();
    stats->compactions += s.compactions;
    stats->snapshots_sent += s.snapshots_sent;
    stats->snapshots_installed += s.snapshots_installed;
    stats->snapshots_lost += s.snapshots_lost;
    stats->configs_committed += s.configs_committed;
    stats->reads_ok += s.reads_ok;
    stats->reads_failed += s.reads_failed;
    stats->reads_served += s.reads_served;
    stats->leases_checked += s.leases_checked;
    stats->promise_crashes += s.promise_crashes;
  }
  return absl::OkStatus();
}

// Random faults over many seeds (or the one from --seed): the invariants are
// checked after every event; at the end, faults stop and every node
// converges.
TEST(ConsensusSimTest, RandomFaultsKeepInvariantsAndConverge) {
  const uint64_t first = replay_seed ? *replay_seed : 1;
  const uint64_t last = replay_seed ? *replay_seed : static_cast<uint64_t>(Seeds(500));
  SimCluster::Stats stats;
  for (uint64_t seed = first; seed <= last; ++seed) {
    Status s = RunSeed(seed, /*full_trace=*/replay_seed.has_value(), &stats);
    if (!s.ok()) {
      FAIL() << "seed " << seed << ": " << s.message() << "\nreplay it with: " << program
             << " --seed " << seed;
    }
  }
  std::printf(
      "coverage: %llu compactions, %llu snapshots sent (%llu lost, %llu installed), %llu configs "
      "applied, %llu reads ok (%llu served at once) and %llu failed, %llu lease checks, %llu "
      "crashes right after a promise\n",
      static_cast<unsigned long long>(stats.compactions),
      static_cast<unsigned long long>(stats.snapshots_sent),
      static_cast<unsigned long long>(stats.snapshots_lost),
      static_cast<unsigned long long>(stats.snapshots_installed),
      static_cast<unsigned long long>(stats.configs_committed),
      static_cast<unsigned long long>(stats.reads_ok),
      static_cast<unsigned long long>(stats.reads_served),
      static_cast<unsigned long long>(stats.reads_failed),
      static_cast<unsigned long long>(stats.leases_checked),
      static_cast<unsigned long long>(stats.promise_crashes));
  // Probes a sweep must reach, or it tests less than it claims.
  if (!replay_seed && last >= 100) {
    EXPECT_GT(stats.snapshots_installed, 0u);
    EXPECT_GT(stats.configs_committed, 0u);
    EXPECT_GT(stats.reads_ok, 0u);
    EXPECT_GT(stats.leases_checked, 0u);
    EXPECT_GT(stats.promise_crashes, 0u);
  }
}

}  // namespace
}  // namespace meridian::sim

// gtest's own flags pass through; ours is --seed N (or --seed=N), which wins
// over MERIDIAN_SIM_SEED.
int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  using meridian::sim::replay_seed;
  meridian::sim::program = argv[0];
  if (const char* env = std::getenv("MERIDIAN_SIM_SEED"); env && *env) {
    replay_seed = std::strtoull(env, nullptr, 10);
  }
  for (int i = 1; i < argc; ++i) {
    const char* value = nullptr;
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      value = argv[++i];
    } else if (std::strncmp(argv[i], "--seed=", 7) == 0) {
      value = argv[i] + 7;
    } else {
      std::fprintf(stderr, "unknown argument %s (usage: %s [--seed N] [gtest flags])\n", argv[i],
                   argv[0]);
      return 2;
    }
    char* end = nullptr;
    replay_seed = std::strtoull(value, &end, 10);
    if (*value == '\0' || *end != '\0') {
      std::fprintf(stderr, "--seed wants a number, got '%s'\n", value);
      return 2;
    }
  }
  if (replay_seed) {
    // Only the sweep, for that one seed.
    testing::GTEST_FLAG(filter) = "ConsensusSimTest.RandomFaultsKeepInvariantsAndConverge";
    std::printf("replaying seed %llu\n", static_cast<unsigned long long>(*replay_seed));
  }
  return RUN_ALL_TESTS();
}
