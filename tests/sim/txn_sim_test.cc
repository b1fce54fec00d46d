// Transactions across shards in deterministic simulation (txn_sim.h): each
// workload (bank, list-append, long fork) under each fault mix (none,
// crashes, partitions, all), over a sweep of seeds.
//
//   txn_sim_test                       every cell, 25 seeds each (~30 s)
//   txn_sim_test --seeds 200           200 seeds per cell (or MERIDIAN_TXN_SIM_SEEDS)
//   txn_sim_test --seed 1234 --gtest_filter='*Bank_Crashes*'
//                                      one seed of one cell, every event
//                                      traced on failure
//   txn_sim_test --steps 2000          longer runs per seed (default 300)
//
// A failing seed prints what broke, the last events, and the command that
// replays it.
#include "tests/sim/txn_sim.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

namespace meridian::sim {

std::optional<uint64_t> replay_seed;
int seeds = 25;
int steps = 300;
std::string program = "txn_sim_test";

namespace {

struct Cell {
  TxnWorkload workload;
  TxnFaults faults;
};

std::string CellName(const Cell& c) {
  std::string w = c.workload == TxnWorkload::kBank         ? "Bank"
                  : c.workload == TxnWorkload::kListAppend ? "ListAppend"
                                                           : "LongFork";
  std::string f = c.faults == TxnFaults::kNone         ? "NoFaults"
                  : c.faults == TxnFaults::kCrashes    ? "Crashes"
                  : c.faults == TxnFaults::kPartitions ? "Partitions"
                                                       : "All";
  return w + "_" + f;
}

class TxnSimTest : public ::testing::TestWithParam<Cell> {};

TEST_P(TxnSimTest, InvariantsHold) {
  const Cell cell = GetParam();
  const uint64_t first = replay_seed.value_or(1);
  const uint64_t last = replay_seed ? *replay_seed : static_cast<uint64_t>(seeds);
  TxnSimStats total;
  for (uint64_t seed = first; seed <= last; ++seed) {
    TxnSimOptions o;
    o.workload = cell.workload;
    o.faults = cell.faults;
    o.seed = seed;
    o.shards = 3 + static_cast<int>(seed % 2);  // 3 or 4
    o.steps = steps;
    o.verbose = replay_seed.has_value();
    TxnSim sim(o);
    Status s = sim.Run();
    total.Add(sim.stats());
    if (!s.ok()) {
      ADD_FAILURE() << TxnWorkloadName(cell.workload) << " under " << TxnFaultsName(cell.faults)
                    << " faults, seed " << seed << ": " << s.message() << "\n"
                    << "stats: " << sim.stats().ToString() << "\n"
                    << (replay_seed ? "trace:\n" : "last events:\n") << sim.Trace() << "\n"
                    << "replay it with: " << program << " --seed " << seed << " --steps " << steps
                    << " --gtest_filter='*" << CellName(cell) << "*'";
      return;
    }
  }
  std::printf("%s: %llu seeds: %s\n", CellName(cell).c_str(),
              static_cast<unsigned long long>(last - first + 1), total.ToString().c_str());
  // Probes: a sweep that never met its faults tests less than it claims.
  if (replay_seed || last - first + 1 < 4) return;
  EXPECT_GT(total.committed, 0u);
  EXPECT_GT(total.committed_two_phase, 0u);
  EXPECT_GT(total.reads_checked, 0u);
  if (cell.faults == TxnFaults::kCrashes || cell.faults == TxnFaults::kAll) {
    EXPECT_GT(total.participant_restarts, 0u);
    EXPECT_GT(total.coordinator_crashes, 0u);
    EXPECT_GT(total.late_decisions, 0u);
    EXPECT_GT(total.lookup_aborts, 0u);
  }
  if (cell.faults == TxnFaults::kPartitions || cell.faults == TxnFaults::kAll) {
    EXPECT_GT(total.lost_requests, 0u);
    EXPECT_GT(total.lost_replies, 0u);
    EXPECT_GT(total.partitions, 0u);
  }
}

// A seed replays: the same run, event for event.
TEST(TxnSimReplayTest, TheSameSeedGivesTheSameTrace) {
  for (TxnWorkload w : {TxnWorkload::kBank, TxnWorkload::kListAppend}) {
    TxnSimOptions o;
    o.workload = w;
    o.faults = TxnFaults::kAll;
    o.seed = replay_seed.value_or(3);
    o.steps = 200;
    o.verbose = true;
    TxnSim a(o), b(o);
    ASSERT_TRUE(a.Run().ok()) << a.Trace();
    ASSERT_TRUE(b.Run().ok()) << b.Trace();
    EXPECT_GT(a.stats().coordinator_crashes + a.stats().participant_restarts, 0u);
    ASSERT_EQ(a.Trace(), b.Trace());
  }
}

std::vector<Cell> AllCells() {
  std::vector<Cell> out;
  for (TxnWorkload w : {TxnWorkload::kBank, TxnWorkload::kListAppend, TxnWorkload::kLongFork}) {
    for (TxnFaults f :
         {TxnFaults::kNone, TxnFaults::kCrashes, TxnFaults::kPartitions, TxnFaults::kAll}) {
      out.push_back({w, f});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Cells, TxnSimTest, ::testing::ValuesIn(AllCells()),
                         [](const ::testing::TestParamInfo<Cell>& info) {
                           return CellName(info.param);
                         });

}  // namespace
}  // namespace meridian::sim

namespace {

bool ParseNumber(const char* flag, const char* value, uint64_t* out) {
  char* end = nullptr;
  *out = std::strtoull(value, &end, 10);
  if (*value == '\0' || *end != '\0') {
    std::fprintf(stderr, "%s wants a number, got '%s'\n", flag, value);
    return false;
  }
  return true;
}

}  // namespace

// gtest's own flags pass through; ours are --seed N, --seeds N and
// --steps N (also as --flag=N). MERIDIAN_TXN_SIM_SEED / _SEEDS work too.
int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  using namespace meridian::sim;
  program = argv[0];
  if (const char* env = std::getenv("MERIDIAN_TXN_SIM_SEED"); env && *env) {
    replay_seed = std::strtoull(env, nullptr, 10);
  }
  if (const char* env = std::getenv("MERIDIAN_TXN_SIM_SEEDS"); env && *env) {
    seeds = std::atoi(env);
  }
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    const char* value = nullptr;
    if (const size_t eq = flag.find('='); eq != std::string::npos) {
      value = argv[i] + eq + 1;
      flag = flag.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    uint64_t n = 0;
    if (value == nullptr || (flag != "--seed" && flag != "--seeds" && flag != "--steps")) {
      std::fprintf(stderr,
                   "unknown argument %s (usage: %s [--seed N | --seeds N] [--steps N] "
                   "[gtest flags])\n",
                   argv[i], argv[0]);
      return 2;
    }
    if (!ParseNumber(flag.c_str(), value, &n)) return 2;
    if (flag == "--seed") replay_seed = n;
    if (flag == "--seeds") seeds = static_cast<int>(n);
    if (flag == "--steps") steps = static_cast<int>(n);
  }
  if (replay_seed)
    std::printf("replaying seed %llu\n", static_cast<unsigned long long>(*replay_seed));
  return RUN_ALL_TESTS();
}
