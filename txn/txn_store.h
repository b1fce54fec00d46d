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
// Backup and restore (txn_store_backup.cc; docs/formats/backup.md): an
// export reads one snapshot; a restore is replicated as commands of its own
// (begin, one per chunk, finish). From begin to finish a restore marker is
// in the store, and every client read and write is refused with
// FAILED_PRECONDITION, so nobody sees half a restore.
//
// Thread-safe. Calls on one transaction id are serialized internally.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
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

  // Makes `ts` a stable snapshot here (a closed timestamp): returns once
  // every commit this group will ever stamp at or below `ts` is applied. At
  // once if VisibleHlc() reached it; otherwise (on the leader, or a single
  // node) after one empty commit stamped above `ts`, which every replica
  // applies like any commit, so every later commit in the log is stamped
  // higher, under this leader or the next. Many callers share one such
  // commit. INVALID_ARGUMENT if `ts` is further ahead of this node's clock
  // than the max clock offset; NOT_LEADER on a follower.
  Status CloseThrough(uint64_t ts);

  // Single-key operations, each its own transaction. `snapshot_hlc` = nullopt
  // reads at VisibleHlc(); an explicit one must not be older than the GC
  // horizon, and one above VisibleHlc() is closed first (CloseThrough).
  Result<ReadResult> Get(std::string_view key, std::optional<uint64_t> snapshot_hlc);
  Result<CommitInfo> Put(std::string_view key, std::string_view value);
  Result<DeleteInfo> Delete(std::string_view key);
  // Calls fn for each live key of `range` at one snapshot, in key order,
  // until fn returns false. Sets *more if it stopped at range.limit with keys
  // left, and *snapshot_used.
  Status Scan(const ScanRange& range, std::optional<uint64_t> snapshot_hlc,
              const std::function<bool(const KeyValue&)>& fn, bool* more,
              uint64_t* snapshot_used);
  // Scan, collected (at most range.limit keys when set).
  Result<std::vector<KeyValue>> ScanCollect(const ScanRange& range,
                                            std::optional<uint64_t> snapshot_hlc, bool* more);

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
  // every replica. Indexes at or below the engine's applied index are skipped
  // (0 is returned). Returns the commit timestamp the versions were written
  // at: the command's own, raised above every earlier commit's if a leader
  // stamped it behind them (each replica raises it the same way).
  Result<uint64_t> ApplyCommitted(uint64_t index, std::string_view command);

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

  // Backup: calls `start` once the snapshot is fixed (at VisibleHlc(), so it
  // covers every acknowledged commit), then `fn` for the newest version of
  // every live KV key and cset element at or below it, csets first, each in
  // key order. Tombstones and the store's own metadata (membership, last
  // commit) are not exported. Garbage collection keeps what the export
  // needs until it returns. Stops at, and returns, the first error of a
  // callback. FAILED_PRECONDITION during a restore.
  Status ExportBackup(const std::function<Status(const BackupSnapshot&)>& start,
                      const std::function<Status(const BackupRecord&)>& fn);

  // Restore into an empty group, one backup at most, replicated like
  // commits (through the CommitLog in replicated mode). Each call is
  // idempotent, so a caller may repeat it after any failure. All return
  // where the restore stands afterwards.
  //
  // Begin: writes the restore marker. FAILED_PRECONDITION, with nothing
  // written, if the group ever committed a client write, holds a finished
  // restore, is restoring another backup, or is of another site; if it is
  // restoring this backup, it returns how far it got (resume from there).
  Result<RestoreProgress> RestoreBegin(const RestoreIdentity& backup);
  // A restore chunk, one replicated command, holds at most this many bytes
  // of keys, values and cset elements, unless it is a single record. Not
  // 1 MiB: until a follower acknowledges an entry the leader resends it on
  // every heartbeat tick, and 1 MiB entries cost elections on a loaded
  // machine (docs/formats/backup.md, "Block size").
  static constexpr uint64_t kMaxRestoreChunkBytes = 128 << 10;
  // Applies chunk `block` of `backup`, keeping each record's version.
  // A chunk already applied is skipped; one beyond the next expected is
  // FAILED_PRECONDITION. INVALID_ARGUMENT for a malformed record (bad kind,
  // over a limit, a version of another site or after the snapshot).
  Result<RestoreProgress> RestoreChunk(const RestoreIdentity& backup, uint64_t block,
                                       const std::vector<BackupRecord>& records);
  // Removes the marker once every chunk is applied and the record count
  // matches; from then on the store serves clients, at timestamps after
  // the backup's. FAILED_PRECONDITION if the restore is incomplete.
  Result<RestoreProgress> RestoreFinish(const RestoreIdentity& backup);
  // The snapshot timestamp of the backup being restored, or 0 if none is.
  uint64_t RestoringSnapshot() const { return restoring_hlc_.load(); }

  // Two-phase commit, participant side (txn_store_2pc.cc; the coordinator
  // lives in server/). Each is proposed by the group's leader and applied
  // by every replica; each is idempotent, so callers may repeat them.
  //
  // Commits `writes` in one round if none of their keys has a version
  // committed after `snapshot_hlc` or another transaction's intent
  // (CONFLICT otherwise): a transaction whose writes are all in this shard.
  Result<CommitInfo> CommitWrites(uint64_t snapshot_hlc, const TxnWrites& writes);
  // Checks the writes as CommitWrites does, then leaves an intent on each
  // key and returns the prepare timestamp (above the snapshot). A repeat
  // for a transaction already prepared here returns its timestamp again.
  Result<uint64_t> Prepare(const PrepareArgs& args);
  // Decides the outcome of transaction `txn`, whose record lives here:
  // the first decision wins, and the decided outcome is returned (so a
  // commit that comes after a reader aborted the transaction learns so).
  Result<TxnOutcome> Decide(std::string_view txn, const TxnOutcome& proposal);
  // The decided outcome of `txn`, or nullopt if undecided.
  Result<std::optional<TxnOutcome>> ReadOutcome(std::string_view txn);
  // Applies `outcome` to the intents of `txn` on `keys` (others are
  // skipped): a commit writes the values at outcome.commit_hlc.
  Status Resolve(std::string_view txn, const TxnOutcome& outcome,
                 const std::vector<std::string>& keys);
  // The intent on `key`, if any.
  std::optional<TxnIntent> IntentOn(std::string_view key);
  // How a read blocked by an intent whose deadline passed learns the
  // outcome: the server asks the record's shard to decide it (aborting an
  // undecided transaction). Unset: such reads wait until they give up.
  using OutcomeLookup = std::function<Result<TxnOutcome>(const TxnIntent&)>;
  void SetOutcomeLookup(OutcomeLookup lookup);

  // Online splits (txn_store_split.cc; docs/operations.md, "Splits").
  //
  // On the group's leader: moves the keys from spec.split_key to the end of
  // this store's range into a new group. It is one command through the
  // log, which every replica applies at the same index: it hands every
  // version of the moved keys to the split handler (which seeds the child
  // group's store with them, durably), tombstones them here and lowers the
  // range end. From then on a key at or past the end gets WRONG_SHARD here.
  // A repeat for a child already recorded returns OK. FAILED_PRECONDITION
  // (retry later) while an intent is pending in the moved range;
  // INVALID_ARGUMENT if split_key is not below the range end.
  Status Split(const SplitSpec& spec);
  // Seeds a child group's store with `records` (every version of the moved
  // keys, and the clock and range records the child needs) before this
  // store forgets them. Runs on the applying thread, inside the apply.
  using SplitHandler =
      std::function<Status(const SplitChild&, const std::vector<storage::Record>&)>;
  void SetSplitHandler(SplitHandler handler);
  // The splits this store carried out, by child group id.
  Result<std::vector<SplitChild>> SplitChildren();
  // The live KV data this store serves (at the visible timestamp), and its
  // middle key. A full scan: for the split check, not for hot paths.
  Result<RangeSize> MeasureRange();
  // The engine's on-disk footprint (cheap; an upper bound of the live data
  // but for compression).
  uint64_t FootprintBytes() { return engine_->Stats().approximate_size_bytes; }
  // The exclusive end of the keys this store serves, or nullopt if it was
  // never split (it serves whatever the shard map routes to it).
  std::optional<std::string> RangeEnd() const;

  // Drops expired transactions; returns how many.
  size_t ReapExpired();
  // No transaction elsewhere in the cluster holds versions (a store alone).
  static constexpr uint64_t kNoClusterReaders = UINT64_MAX;
  // The GC horizon: versions below it that a newer version at or below it
  // hides may be dropped, and explicit snapshots below it are refused. It
  // is the oldest of
  //   - now - retention: explicit (time-travel) snapshots stay readable
  //     that long;
  //   - the cluster low watermark: the oldest snapshot any transaction open
  //     on any node may read at (server/cluster_clock.h), however old;
  //   - this store's own oldest reader (OldestOpenSnapshot) and its visible
  //     timestamp (latest reads).
  // Never below `previous` (the horizon only moves up).
  static uint64_t GcHorizon(uint64_t now_ms, uint64_t retention_ms,
                            uint64_t cluster_low_watermark, uint64_t oldest_open,
                            uint64_t visible, uint64_t previous);
  // Garbage-collects versions below GcHorizon(...).
  Status CollectGarbage(uint64_t cluster_low_watermark = kNoClusterReaders);
  // The oldest snapshot this store's open transactions and exports read at;
  // UINT64_MAX if none.
  uint64_t OldestOpenSnapshot();
  // The GC horizon in force: explicit snapshots below it are refused.
  uint64_t GcHlc() const { return gc_hlc_.load(); }

  uint64_t OpenTxnCount();
  // Log index of the last applied batch.
  uint64_t AppliedIndex();

 private:
  struct OpenTxn;
  // A commit command starts with the varint of its timestamp, never 0;
  // restore commands start with this byte (a varint 0), so both share the
  // log and old commands decode as before.
  static constexpr char kRestoreCommandTag = '\0';
  TxnStore(storage::Engine* engine, Hlc* hlc, Clock* clock, const Options& options);

  storage::Snapshot SnapshotAt(uint64_t hlc) const;
  Result<uint64_t> ResolveSnapshot(std::optional<uint64_t> snapshot_hlc);
  Result<std::optional<storage::ReadResult>> ReadKv(std::string_view key, uint64_t snapshot_hlc);
  Result<std::shared_ptr<OpenTxn>> FindTxn(uint64_t txn_id);
  void EraseTxn(uint64_t txn_id);
  Status ValidateScanRange(const ScanRange& range) const;
  // Locks commit_mu_ and waits until no pipelined commit is in flight, so the
  // engine reflects every commit ordered before this one; then takes the
  // log's leader epoch, which the commit it guards is proposed in (so its
  // checks hold, see CommitLog::LeaderEpoch).
  class ABSL_SCOPED_LOCKABLE ReadWriteLock {
   public:
    explicit ReadWriteLock(TxnStore* s) ABSL_EXCLUSIVE_LOCK_FUNCTION(s->commit_mu_) : s_(s) {
      s_->commit_mu_.Lock();
      s_->commit_mu_.Await(absl::Condition(
          +[](int* pending) { return *pending == 0; }, &s_->pending_));
      s_->checked_epoch_ = s_->commit_log_ == nullptr ? 0 : s_->commit_log_->LeaderEpoch();
    }
    ~ReadWriteLock() ABSL_UNLOCK_FUNCTION() {
      s_->checked_epoch_ = 0;
      s_->commit_mu_.Unlock();
    }

   private:
    TxnStore* s_;
  };
  Result<CommitInfo> CsetDelta(std::string_view key, std::string_view element, int64_t delta);
  // FAILED_PRECONDITION while a restore is in progress.
  Status CheckNotRestoring() const;

  // Two-phase commit (txn_store_2pc.cc).
  // CONFLICT if a key of `writes` has a version after `snapshot_hlc`, or an
  // intent of a transaction other than `txn` ("" = any intent conflicts).
  Status CheckWriteConflicts(const TxnWrites& writes, uint64_t snapshot_hlc,
                             std::string_view txn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // CONFLICT if a key in `keys` has an intent (for writes and reads done
  // under commit_mu_, which must not wait for a resolution).
  Status CheckNoIntents(const std::vector<std::string_view>& keys);
  // Returns once no intent at or below `snapshot_hlc` is left on `key` (or
  // on a key in [start, end) for a scan): waits for the resolution, and
  // after the intent's deadline asks outcome_lookup_ and resolves it.
  // UNAVAILABLE if that takes longer than kMaxIntentWaitMs. Returns whether
  // it waited.
  Result<bool> WaitForIntents(std::string_view start, std::string_view end, bool single_key,
                              uint64_t snapshot_hlc);
  // The snapshot a read of [start, end) (or of key `start`) takes: the
  // explicit one, or the latest one with no intent pending at or below it
  // (an intent's transaction may commit above the visible timestamp it
  // found; a latest read must see it once it did, so it reads at the
  // visible timestamp after the resolution).
  Result<uint64_t> ReadSnapshot(std::optional<uint64_t> snapshot_hlc, std::string_view start,
                                std::string_view end, bool single_key);
  // Applies a two-phase commit command at `index`; returns the prepare
  // timestamp for a prepare, else 0.
  Result<uint64_t> ApplyTwoPhaseCommand(uint64_t index, std::string_view command, bool sync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);
  // Proposes a two-phase commit command (or applies it, unreplicated);
  // returns what ApplyTwoPhaseCommand returned.
  Result<uint64_t> ProposeTwoPhaseLocked(std::string command)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // A prepare, resolve or decide command (as opposed to a restore one).
  static bool IsTwoPhaseCommand(std::string_view command);
  // Rebuilds intents_ from the engine (open, snapshot install).
  Status LoadIntents();
  static constexpr uint64_t kMaxIntentWaitMs = 15'000;

  // Splits (txn_store_split.cc). WRONG_SHARD if `key` (or, for a range,
  // any key of [start, end); end "" = unbounded) is at or past the range end.
  Status CheckOwns(std::string_view key) const;
  Status CheckOwnsRange(std::string_view start, std::string_view end, bool single_key) const;
  // The same for the user key of an engine record ('k' and 'c' keys).
  Status CheckOwnsRecord(std::string_view engine_key) const;
  Status LoadRangeEnd();
  static bool IsSplitCommand(std::string_view command);
  Result<uint64_t> ApplySplitCommand(uint64_t index, std::string_view command, bool sync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);
  Result<std::optional<SplitChild>> ReadSplitChild(uint64_t child_group);

  // Restore (txn_store_backup.cc). Commands of the restore share the log
  // with commits; ApplyCommitted hands them here.
  struct RestoreState;
  Result<RestoreState> ReadRestoreState();
  // Why `backup` may not begin (or resume) in a group in state `st`; OK if
  // it may. The proposer and every replica's apply use the same rule.
  static Status BeginRefusal(const RestoreState& st, const RestoreIdentity& backup);
  // Replicates `command` (or, unreplicated, applies it durably at the next
  // local index) and returns once it is applied here.
  Status ProposeLocked(std::string command) ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  Status ApplyRestoreCommand(uint64_t index, std::string_view command, bool sync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);
  // Sets restoring_hlc_ from the marker the engine holds.
  Status LoadRestoreMarker();
  // RESOURCE_EXHAUSTED ("disk full") if writing `records` would eat into
  // the engine's free-disk reserve; checked before proposing (replicated).
  Status CheckSpaceToPropose(const std::vector<storage::Record>& records);
  // Applies `records` as one synced batch at a fresh commit timestamp,
  // filling in each record's version. Returns the commit timestamp.
  Result<uint64_t> CommitLocked(std::vector<storage::Record> records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // Replicates a command checked under the ReadWriteLock held now, in the
  // leader epoch that lock took: NotLeader, with nothing written, if this
  // node was not a caught-up leader then or has lost leadership since.
  Status ProposeCheckedLocked(std::string command, uint64_t* applied_hlc)
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
  // The log's leader epoch taken by the ReadWriteLock held now (0: none).
  uint64_t checked_epoch_ ABSL_GUARDED_BY(commit_mu_) = 0;
  uint64_t next_log_index_ ABSL_GUARDED_BY(commit_mu_) = 1;
  std::atomic<uint64_t> visible_hlc_{0};
  CommitLog* commit_log_ = nullptr;  // set once, before serving
  absl::Mutex apply_mu_;             // serializes engine writers (Apply, GC)
  absl::Mutex close_mu_;             // one replicated CloseThrough at a time
  std::atomic<uint64_t> gc_hlc_{0};  // explicit snapshots below this are refused

  absl::Mutex txns_mu_;
  uint64_t next_txn_id_ ABSL_GUARDED_BY(txns_mu_) = 1;
  std::map<uint64_t, std::shared_ptr<OpenTxn>> txns_ ABSL_GUARDED_BY(txns_mu_);
  // Snapshots that exports read; garbage collection keeps them readable.
  std::multiset<uint64_t> held_snapshots_ ABSL_GUARDED_BY(txns_mu_);
  // The snapshot timestamp of the backup being restored; 0: none.
  std::atomic<uint64_t> restoring_hlc_{0};

  // Intents by user key, as applied (mirrors the engine's intent records).
  absl::Mutex intents_mu_;
  std::map<std::string, TxnIntent, std::less<>> intents_ ABSL_GUARDED_BY(intents_mu_);
  OutcomeLookup outcome_lookup_;  // set once, before serving
  mutable absl::Mutex range_mu_;
  std::optional<std::string> range_end_ ABSL_GUARDED_BY(range_mu_);
  SplitHandler split_handler_;  // set once, before serving
};

}  // namespace meridian::txn
