// TxnSim: transactions across shards in deterministic simulation (issue 6).
//
// Runs the real transaction code of several shards in one process, from one
// seed:
//   - K shards, each a real txn::TxnStore over a real RocksEngine (in a
//     directory under /dev/shm, else the temp dir; removed at the end),
//     unreplicated (consensus has its own simulator), each with its own
//     clock and Hlc, as each shard's leader would have: every node's clock
//     is the virtual clock off by a fixed skew of up to +-40 ms;
//   - the real server::TxnCoordinator, reaching the shards through a
//     simulated ShardAccess that injects the faults below;
//   - clients, run from one thread: several transactions are open at once
//     and the simulator advances a randomly chosen one by one operation
//     (Begin, Get, Scan, Put, Commit) per step.
//
// Faults (TxnSimOptions::faults):
//   kCrashes     participant restarts (a shard's TxnStore and engine are
//                closed and reopened from the engine's files: intents and
//                records are recovered from disk, as a restart does; also
//                right after a call took effect and before its reply), and
//                coordinator crashes: at a prepare (the rest of the commit
//                never happens), before the decision, or after it (before
//                the resolutions). A crashed coordinator's transactions are
//                left to readers: TxnStore's deadline path asks the record
//                shard to decide (TxnStore::SetOutcomeLookup + Decide). And
//                "late decisions": the coordinator's commit decision is held
//                back past the transaction's deadline while a reader of one
//                of its keys aborts it at its record (the first decision
//                must win).
//   kPartitions  calls lost before they reach the shard (UNAVAILABLE),
//                calls applied whose reply is lost (UNAVAILABLE, or
//                COMMIT_UNKNOWN for CommitWrites, as ShardCaller reports),
//                and shards unreachable for a while (also from readers that
//                recover a transaction through its record shard).
//   kAll         both.
//
// Determinism. Nothing runs on another thread: the coordinator has no
// resolver threads (Options::resolver_threads = 0; its prepares run one
// shard after another and the simulator calls RunResolutions at random
// points), and time is a virtual clock (SimClock) that moves only when the
// simulator advances it. A read that finds an intent at or below its
// snapshot blocks in TxnStore's real wait loop; that loop waits through
// Clock::SleepMicros, which here advances the virtual clock and, at random,
// lets the coordinator run one queued resolution (what its resolver threads
// would do meanwhile). So a read either sees the resolution, or waits in
// virtual time until the intent's deadline and recovers the transaction at
// its record shard, or gives up (UNAVAILABLE) after TxnStore's limit. It
// never hangs, and the same seed replays the same run.
//
// Workloads, each with a checker that fails the run:
//   kBank        accounts in every shard; transfers read two accounts and
//                write both (a quarter of them commit through the
//                coordinator's one-shot Execute instead: compare both
//                balances with what was read, then write); readers read
//                every account at one snapshot
//                (one Scan across shards, or a Get each). Every complete
//                read sums to the total and no balance is negative; so
//                does the final state.
//   kListAppend  Elle-style lists: transactions append unique values to
//                keys in several shards (read the list, write it extended)
//                and read lists. Each key's reads are prefixes of one
//                order; nothing appended by an aborted transaction is ever
//                read; a read at snapshot s holds exactly the committed
//                appends with commit timestamp <= s (in commit order), plus
//                possibly some of outcome unknown: no lost append and no
//                read of the future; no read of a transaction sees part of
//                another (if it read two keys the other appended to, it
//                sees both appends or neither: no fractured cut).
//   kLongFork    counters in every shard; writers increment one or two,
//                readers read them all at one snapshot. The complete reads
//                are totally ordered (componentwise), so no two readers saw
//                two writes in opposite orders (no long fork); no two
//                committed writers wrote the same value of a counter (no
//                lost update); a read at snapshot s sees every committed
//                increment at or below s and none above.
// After the steps, faults stop, every partition heals, the clock jumps past
// every deadline, and one final read of all keys must succeed (recovering
// whatever a crashed coordinator left), leave no intent behind, and pass
// the workload's end-state check.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace meridian::sim {

enum class TxnWorkload { kBank, kListAppend, kLongFork };
enum class TxnFaults { kNone, kCrashes, kPartitions, kAll };

const char* TxnWorkloadName(TxnWorkload w);
const char* TxnFaultsName(TxnFaults f);

struct TxnSimOptions {
  TxnWorkload workload = TxnWorkload::kBank;
  TxnFaults faults = TxnFaults::kNone;
  uint64_t seed = 1;
  int shards = 3;        // 2..20
  int clients = 4;       // transactions open at once
  int steps = 300;       // client steps before the final check
  bool verbose = false;  // keep every event in the trace (else the last 60)
};

// What a run did (coverage: a sweep asserts the faults really happened).
struct TxnSimStats {
  uint64_t committed = 0;
  uint64_t committed_two_phase = 0;
  uint64_t one_shot_commits = 0;  // bank transfers committed through Execute
  uint64_t aborted = 0;
  uint64_t unknown = 0;        // COMMIT_UNKNOWN, or the coordinator crashed in Commit
  uint64_t reads_checked = 0;  // complete reads the checker looked at
  uint64_t participant_restarts = 0;
  uint64_t coordinator_crashes = 0;
  uint64_t late_decisions = 0;  // decisions held back past the deadline
  uint64_t lost_requests = 0;
  uint64_t lost_replies = 0;
  uint64_t partitions = 0;
  uint64_t blocked_waits = 0;    // virtual sleeps of readers waiting on intents
  uint64_t outcome_lookups = 0;  // readers deciding a transaction at its record
  uint64_t lookup_aborts = 0;    // ... that found it undecided and aborted it

  void Add(const TxnSimStats& o);
  std::string ToString() const;
};

class TxnSim {
 public:
  explicit TxnSim(const TxnSimOptions& options);
  ~TxnSim();
  TxnSim(const TxnSim&) = delete;
  TxnSim& operator=(const TxnSim&) = delete;

  // Runs the steps and the final check. OK, or what broke (the trace says
  // how it got there). Call once.
  Status Run();
  const TxnSimStats& stats() const;
  // The last events (every event with options.verbose), one per line.
  std::string Trace() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meridian::sim
