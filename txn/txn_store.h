// TxnStore: single-site MVCC snapshot isolation over a storage::Engine.
//
// Every commit gets an HLC timestamp from the node's clock and is applied to
// the engine as one synced batch (fdatasync before the call returns), so an
// acknowledged commit survives a crash. Commits are serialized; the visible
// timestamp advances only after a commit is applied, and every snapshot is
// taken at the visible timestamp, so a snapshot never changes under a reader
// and sees every commit acknowledged before it was taken.
//
// Conflicts: first committer wins. A transaction that writes key k fails with
// CONFLICT at Commit if a version of k committed after its snapshot exists.
// Csets are counted, never conflict-checked: Add/Remove commute.
//
// Interactive transactions live in memory with a deadline (default 10 s);
// one that passes its deadline is dropped and later calls get TXN_NOT_FOUND.
//
// Thread-safe. Calls on one transaction id are serialized internally.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/hlc.h"
#include "common/status.h"
#include "storage/engine.h"
#include "txn/commit_log.h"
#include "txn/limits.h"
#include "txn/types.h"

namespace meridian::txn {

class TxnStore {
 public:
  struct Options {
    SiteId site_id = 1;
    Limits limits;
    uint64_t default_txn_timeout_ms = 10'000;  // ms; > 0
    uint64_t max_txn_timeout_ms = 600'000;     // ms; >= default
    uint64_t max_open_txns = 10'000;           // Begin beyond it: RESOURCE_EXHAUSTED
    // Versions older than this stay readable by explicit snapshots; older
    // ones may be garbage-collected. ms.
    uint64_t gc_retention_ms = 300'000;
  };

  // Recovers the next log index and the last commit timestamp from `engine`.
  // REQUIRES: engine, hlc and clock outlive the store.
  static Result<std::unique_ptr<TxnStore>> Open(storage::Engine* engine, Hlc* hlc, Clock* clock,
                                                const Options& options);
  ~TxnStore();

  const Options& options() const { return options_; }
  // The newest snapshot timestamp: every commit at or below it is applied.
  uint64_t VisibleHlc() const { return visible_hlc_.load(); }

  // Single-key operations, each its own transaction. `snapshot_hlc` = nullopt
  // reads at VisibleHlc(); an explicit one must be in
  // [oldest retained, VisibleHlc()].
  Result<ReadResult> Get(std::string_view key, std::optional<uint64_t> snapshot_hlc);
  Result<CommitInfo> Put(std::string_view key, std::string_view value);
  Result<DeleteInfo> Delete(std::string_view key);
  // Calls fn for each live key of `range` at one snapshot, in key order,
  // until fn returns false. Sets *more if it stopped at range.limit with keys
  // left, and *snapshot_used.
  Status Scan(const ScanRange& range, std::optional<uint64_t> snapshot_hlc,
              const std::function<bool(const KeyValue&)>& fn, bool* more,
              uint64_t* snapshot_used);

  // One-shot transaction: evaluates `compares` and runs `success` if all
  // hold, else `failure`; atomically, with no conflict possible.
  Result<ExecuteResult> Execute(const std::vector<Compare>& compares,
                                const std::vector<Op>& success, const std::vector<Op>& failure);

  // Interactive transactions. timeout_ms = 0 means the default.
  Result<BeginInfo> Begin(uint64_t timeout_ms);
  Result<ReadResult> TxnGet(uint64_t txn_id, std::string_view key);
  Status TxnPut(uint64_t txn_id, std::string_view key, std::string_view value);
  Status TxnDelete(uint64_t txn_id, std::string_view key);
  Result<ScanResult> TxnScan(uint64_t txn_id, const ScanRange& range);
  // CONFLICT (the transaction is gone) or the commit timestamp.
  Result<CommitInfo> Commit(uint64_t txn_id);
  Status Abort(uint64_t txn_id);

  // Counting sets.
  Result<CommitInfo> CsetAdd(std::string_view key, std::string_view element);
  Result<CommitInfo> CsetRemove(std::string_view key, std::string_view element);
  Result<std::vector<CsetEntry>> CsetRead(std::string_view key, uint64_t* snapshot_used);

  // Replicated mode: from now on commits go through `log` (which outlives
  // the store), and ApplyCommitted applies what the log commits.
  void SetCommitLog(CommitLog* log);
  // Applies one committed command (as produced by a leader's commit) at log
  // position `index`. Called in log order by the replication driver, on
  // every replica. Indexes at or below the engine's applied index are skipped.
  Status ApplyCommitted(uint64_t index, std::string_view command);

  // Replicated mode, for log compaction and snapshot catch-up:
  // Makes every applied commit durable; returns the durable applied index.
  Result<uint64_t> FlushApplied();
  // Calls fn with every stored version of the applied state, as of one
  // applied index (set in *index before the first call).
  Status ExportSnapshot(const std::function<Status(const storage::Record&)>& fn,
                        uint64_t* index);
  // Replaces the whole state, durably, with a snapshot taken at `index`
  // (> AppliedIndex()), as ExportSnapshot produced it on another replica.
  Status InstallSnapshot(const std::vector<storage::Record>& records, uint64_t index);

  // Records a committed membership change (an opaque encoding, see
  // consensus/membership.h) at log position `index`; AppliedMembership
  // returns the newest one with its index, if any was applied.
  Status ApplyMembership(uint64_t index, std::string_view encoded);
  Result<std::optional<std::pair<uint64_t, std::string>>> AppliedMembership();

  // Drops expired transactions; returns how many.
  size_t ReapExpired();
  // Garbage-collects versions below min(oldest open snapshot, now - retention).
  Status CollectGarbage();

  uint64_t OpenTxnCount();
  // Log index of the last applied batch.
  uint64_t AppliedIndex();

 private:
  struct OpenTxn;
  TxnStore(storage::Engine* engine, Hlc* hlc, Clock* clock, const Options& options);

  storage::Snapshot SnapshotAt(uint64_t hlc) const;
  Result<uint64_t> ResolveSnapshot(std::optional<uint64_t> snapshot_hlc) const;
  Result<std::optional<storage::ReadResult>> ReadKv(std::string_view key, uint64_t snapshot_hlc);
  Result<std::shared_ptr<OpenTxn>> FindTxn(uint64_t txn_id);
  void EraseTxn(uint64_t txn_id);
  Status ValidateScanRange(const ScanRange& range) const;
  // Locks commit_mu_ and waits until no pipelined commit is in flight, so the
  // engine reflects every commit ordered before this one.
  class ReadWriteLock;
  Result<CommitInfo> CsetDelta(std::string_view key, std::string_view element, int64_t delta);

  // RESOURCE_EXHAUSTED ("disk full") if writing `records` would eat into
  // the engine's free-disk reserve; checked before proposing (replicated).
  Status CheckSpaceToPropose(const std::vector<storage::Record>& records);
  // Applies `records` as one synced batch at a fresh commit timestamp,
  // filling in each record's version. Returns the commit timestamp.
  Result<uint64_t> CommitLocked(std::vector<storage::Record> records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);

  storage::Engine* const engine_;
  Hlc* const hlc_;
  Clock* const clock_;
  const Options options_;

  // Taken by every commit. Blind writes in replicated mode release it once
  // their command is queued (pipelining); anything that reads before it
  // writes first waits, holding it, until those are applied (pending_ == 0).
  absl::Mutex commit_mu_;
  int pending_ ABSL_GUARDED_BY(commit_mu_) = 0;
  uint64_t next_log_index_ ABSL_GUARDED_BY(commit_mu_) = 1;
  std::atomic<uint64_t> visible_hlc_{0};
  CommitLog* commit_log_ = nullptr;  // set once, before serving
  absl::Mutex apply_mu_;             // serializes engine writers (Apply, GC)
  std::atomic<uint64_t> gc_hlc_{0};  // explicit snapshots below this are refused

  absl::Mutex txns_mu_;
  uint64_t next_txn_id_ ABSL_GUARDED_BY(txns_mu_) = 1;
  std::map<uint64_t, std::shared_ptr<OpenTxn>> txns_ ABSL_GUARDED_BY(txns_mu_);
};

}  // namespace meridian::txn
