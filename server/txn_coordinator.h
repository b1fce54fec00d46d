// TxnCoordinator: interactive transactions that may span shards, kept on
// the node that served their Begin (docs/consistency.md, "Transactions
// across shards").
//
// A transaction reads at one snapshot timestamp taken at Begin: at or above
// this node's clock and, through Options::cluster_clock, every other
// node's, so it covers every commit acknowledged anywhere before Begin. A
// shard serves a read at it once the timestamp is closed
// there (TxnStore::CloseThrough: nothing will ever commit at or below it)
// and no intent at or below it is pending, so the transaction sees one cut
// of every shard: no fractured reads. Writes are buffered here until
// Commit, which takes one of three paths:
//   - no writes: nothing to do;
//   - writes in one shard: one round at its leader (CommitWrites,
//     first-committer-wins against the snapshot);
//   - several shards: two-phase commit. Each shard's leader checks its
//     writes and leaves intents (Prepare); the commit timestamp is the
//     highest prepare timestamp; the record in the shard of the first
//     written key decides (Decide: the first decision wins, so a reader that
//     found the transaction abandoned past its deadline and aborted it wins
//     over a late commit); the client is answered; a background thread
//     resolves the intents (Resolve).
//
// Thread-safe. Calls on one transaction are serialized.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/hlc.h"
#include "common/status.h"
#include "server/shard_access.h"
#include "server/shard_directory.h"
#include "txn/limits.h"
#include "txn/types.h"

namespace meridian::server {

class TxnCoordinator {
 public:
  struct Options {
    uint64_t node_id = 0;  // names this node in transaction ids
    uint32_t site_id = 1;
    uint64_t default_timeout_ms = 10'000;
    uint64_t max_timeout_ms = 600'000;
    uint64_t max_open_txns = 10'000;
    txn::Limits limits;
    // Testing only (MERIDIAN_TESTING_CRASH_COORDINATOR_AFTER_PREPARE): the
    // process exits between the two phases of a commit across shards, as a
    // coordinator that dies there would.
    bool crash_after_prepare = false;
    // Threads that resolve intents after a decision. 0 (deterministic
    // simulation): none, and nothing runs on another thread: resolutions
    // wait in a queue until RunResolutions, and the prepares of a commit run
    // one shard after another in the calling thread.
    int resolver_threads = 8;
    // The clock a Begin's snapshot is taken at: at least every node's
    // (ClusterClock::Now). Unset: this node's HLC alone.
    std::function<uint64_t()> cluster_clock;
  };

  // REQUIRES: the pointers outlive the coordinator.
  TxnCoordinator(ShardAccess* shards, const ShardDirectory* map, Hlc* hlc, Clock* clock,
                 const Options& options);
  // Stops the resolver; intents it did not resolve yet are resolved by
  // readers once their deadline passes.
  ~TxnCoordinator();

  // Wire ids of coordinated transactions have the top bit set; the node id
  // sits below it, the local id in the low 40 bits.
  static bool IsCoordinated(uint64_t wire_id) { return (wire_id >> 63) != 0; }

  // The snapshot is at least `min_snapshot_hlc` (a session's token).
  Result<txn::BeginInfo> Begin(uint64_t timeout_ms, uint64_t min_snapshot_hlc = 0);
  Result<txn::ReadResult> Get(uint64_t txn_id, std::string_view key);
  Status Put(uint64_t txn_id, std::string_view key, std::string_view value);
  Status Delete(uint64_t txn_id, std::string_view key);
  Result<txn::ScanResult> Scan(uint64_t txn_id, const txn::ScanRange& range);
  // The commit timestamp (0: read-only); *two_phase says which path it took.
  Result<txn::CommitInfo> Commit(uint64_t txn_id, bool* two_phase);
  Status Abort(uint64_t txn_id);
  // A one-shot transaction whose keys span shards: the compares and the
  // branch's reads at one snapshot, its writes committed as Commit does
  // (so, unlike one shard's Execute, it may end in CONFLICT: retry).
  Result<txn::ExecuteResult> Execute(const std::vector<txn::Compare>& compares,
                                     const std::vector<txn::Op>& success,
                                     const std::vector<txn::Op>& failure, bool* two_phase);
  // Drops transactions past their deadline; returns how many.
  size_t ReapExpired();
  // Resolutions queued or in flight (tests and shutdown).
  size_t PendingResolutions();
  // With resolver_threads = 0: tries the first `max` queued resolutions
  // once each, in the calling thread; one that fails goes back to the end
  // of the queue (up to as many attempts as a resolver thread makes).
  // Returns how many ran.
  size_t RunResolutions(size_t max = SIZE_MAX);
  // The oldest snapshot an open transaction here may still read at, or this
  // node's clock if none is open: every later Begin's snapshot is above it.
  uint64_t LowWatermark();

 private:
  struct OpenTxn;
  struct Resolution {
    uint64_t shard;
    std::string txn;
    txn::TxnOutcome outcome;
    std::vector<std::string> keys;
    int attempts = 0;  // RunResolutions only
  };

  Result<std::shared_ptr<OpenTxn>> Find(uint64_t txn_id);
  // TXN_NOT_FOUND if `t` finished; with `count_op`, counts one operation
  // against max_txn_ops. REQUIRES: t.mu held.
  Status Usable(OpenTxn& t, bool count_op);
  // Ends `t` (Commit, Abort): TXN_NOT_FOUND if it is not usable, else it
  // is marked finished and forgotten. REQUIRES: t.mu held.
  Status Finish(OpenTxn& t, uint64_t txn_id);
  // Two-phase commit of `by_shard` (two or more shards).
  Result<txn::CommitInfo> CommitAcrossShards(OpenTxn& t,
                                             const std::map<uint64_t, txn::TxnWrites>& by_shard);
  void ResolveLater(Resolution r);
  void ResolverLoop();

  ShardAccess* const shards_;
  const ShardDirectory* const map_;
  Hlc* const hlc_;
  Clock* const clock_;
  const Options options_;

  std::mutex mu_;
  uint64_t next_id_;
  std::map<uint64_t, std::shared_ptr<OpenTxn>> txns_;

  std::mutex resolve_mu_;
  std::condition_variable resolve_cv_;
  std::deque<Resolution> resolutions_;
  size_t resolving_ = 0;
  bool stop_ = false;
  // Resolutions run in parallel (each is a round through a shard's log):
  // one thread would queue them behind each other while readers wait on
  // the intents.
  std::vector<std::thread> resolvers_;
};

}  // namespace meridian::server
