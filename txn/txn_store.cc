#include "txn/txn_store.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "txn/compare.h"
#include "txn/keyspace.h"

namespace meridian::txn {

// An interactive transaction's private state. Its writes are buffered here
// until Commit; a nullopt value is a buffered delete.
struct TxnStore::OpenTxn {
  absl::Mutex mu;
  const uint64_t id;
  const uint64_t snapshot_hlc;
  const uint64_t deadline_mono_us;
  const uint64_t timeout_ms;
  uint64_t ops ABSL_GUARDED_BY(mu) = 0;
  bool finished ABSL_GUARDED_BY(mu) = false;
  std::map<std::string, std::optional<std::string>> writes ABSL_GUARDED_BY(mu);

  OpenTxn(uint64_t id, uint64_t snapshot, uint64_t deadline, uint64_t timeout)
      : id(id), snapshot_hlc(snapshot), deadline_mono_us(deadline), timeout_ms(timeout) {}
};

namespace {

Status TxnGone(uint64_t id) {
  return TxnNotFoundError(absl::StrCat(
      "unknown transaction ", id, " (never begun, already committed or aborted, or expired)"));
}

ReadResult ToReadResult(const std::optional<storage::ReadResult>& r, uint64_t snapshot) {
  ReadResult out;
  out.snapshot_hlc = snapshot;
  if (r && r->value) {
    out.found = true;
    out.value = *r->value;
    out.version = r->version;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<TxnStore>> TxnStore::Open(storage::Engine* engine, Hlc* hlc, Clock* clock,
                                                 const Options& options) {
  if (options.default_txn_timeout_ms == 0 ||
      options.max_txn_timeout_ms < options.default_txn_timeout_ms) {
    return InvalidArgumentError("txn timeouts: need 0 < default <= max");
  }
  std::unique_ptr<TxnStore> store(new TxnStore(engine, hlc, clock, options));
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<storage::Version> last,
                            engine->LatestVersion(keyspace::LastCommitKey()));
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<storage::Version> closed,
                            engine->LatestVersion(keyspace::LastCloseKey()));
  if (closed && (!last || closed->hlc > last->hlc)) last = closed;
  if (last) {
    // The wall clock may be behind the last commit (a restart after a clock
    // step back); never hand out a timestamp at or below it.
    if (!hlc->Observe(last->hlc).ok()) {
      return UnavailableError(absl::StrCat(
          "the last commit timestamp ", FormatHlc(last->hlc),
          " is ahead of this node's clock by more than the max clock offset; fix the clock"));
    }
    store->visible_hlc_ = last->hlc;
  }
  MERIDIAN_RETURN_IF_ERROR(store->LoadRestoreMarker());
  MERIDIAN_RETURN_IF_ERROR(store->LoadIntents());
  MERIDIAN_RETURN_IF_ERROR(store->LoadRangeEnd());
  absl::MutexLock lock(&store->commit_mu_);
  store->next_log_index_ = engine->Stats().applied_index + 1;
  return store;
}

TxnStore::TxnStore(storage::Engine* engine, Hlc* hlc, Clock* clock, const Options& options)
    : engine_(engine), hlc_(hlc), clock_(clock), options_(options) {
  absl::MutexLock lock(&txns_mu_);
  // Ids differ across restarts (the start moves 1000 per ms, wrapping after
  // ~6 days), so a client holding an id from before a restart gets
  // TXN_NOT_FOUND instead of someone else's transaction. They stay below
  // 2^kTxnIdBits: the server puts the shard above them.
  constexpr uint64_t kHalf = uint64_t{1} << (kTxnIdBits - 1);
  next_txn_id_ = 1 + (clock_->NowUnixMillis() * 1000) % kHalf;
}

TxnStore::~TxnStore() = default;

storage::Snapshot TxnStore::SnapshotAt(uint64_t hlc) const {
  return storage::Snapshot::AtSite(options_.site_id, hlc);
}

namespace {
std::string EncodeCommand(uint64_t ts, const std::vector<storage::Record>& records);
}  // namespace

Status TxnStore::CloseThrough(uint64_t ts) {
  if (visible_hlc_.load() >= ts) return absl::OkStatus();
  // The next stamp of this node's clock is above `ts` (or `ts` is too far
  // ahead to be trusted).
  if (Status s = hlc_->Observe(ts); !s.ok()) {
    return InvalidArgumentError(absl::StrCat("snapshot ", FormatHlc(ts),
                                             " cannot be read here: ", s.message()));
  }
  if (commit_log_ == nullptr) {
    ReadWriteLock lock(this);
    if (visible_hlc_.load() >= ts) return absl::OkStatus();  // another caller closed it
    MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
    return CommitLocked({}).status();
  }
  // Replicated: without the commit lock, so commits go on meanwhile. One
  // close at a time (callers share it). A commit stamped at or below `ts`
  // before the Observe above but ordered after the close in the log is
  // raised above it when applied (ApplyCommitted), so none lands at or
  // below `ts` after this returns.
  absl::MutexLock lock(&close_mu_);
  if (visible_hlc_.load() >= ts) return absl::OkStatus();
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  uint64_t applied = 0;
  return commit_log_->Commit(EncodeCommand(hlc_->Now(), {}), {}, &applied);
}

Result<uint64_t> TxnStore::ResolveSnapshot(std::optional<uint64_t> snapshot_hlc) {
  if (!snapshot_hlc) return visible_hlc_.load();
  MERIDIAN_RETURN_IF_ERROR(CloseThrough(*snapshot_hlc));
  if (*snapshot_hlc < gc_hlc_.load()) {
    return InvalidArgumentError(absl::StrCat("snapshot ", FormatHlc(*snapshot_hlc),
                                             " is older than the GC horizon ",
                                             FormatHlc(gc_hlc_.load())));
  }
  return *snapshot_hlc;
}

Result<std::optional<storage::ReadResult>> TxnStore::ReadKv(std::string_view key,
                                                            uint64_t snapshot_hlc) {
  MERIDIAN_RETURN_IF_ERROR(CheckOwns(key));
  return engine_->Get(keyspace::KvKey(key), SnapshotAt(snapshot_hlc));
}

namespace {

// A replicated command: the commit timestamp, then the records.
std::string EncodeCommand(uint64_t ts, const std::vector<storage::Record>& records) {
  std::string out;
  PutVarint64(&out, ts);
  PutVarint64(&out, records.size());
  for (const storage::Record& r : records) {
    PutLengthPrefixed(&out, r.key);
    out.push_back(r.value ? 1 : 0);
    if (r.value) PutLengthPrefixed(&out, *r.value);
  }
  return out;
}

// A commit needs a leader epoch (CommitLog::LeaderEpoch) and there is none.
Status NotACaughtUpLeader() {
  return NotLeaderError("", "this node is not the leader, or has not yet applied every commit "
                            "chosen before it was elected; retry");
}

bool DecodeCommand(std::string_view in, uint64_t* ts, std::vector<storage::Record>* records) {
  uint64_t n = 0;
  if (!GetVarint64(&in, ts) || !GetVarint64(&in, &n) || n > in.size()) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view key, value;
    if (!GetLengthPrefixed(&in, &key) || in.empty()) return false;
    const char has_value = in.front();
    in.remove_prefix(1);
    storage::Record r{std::string(key), {}, std::nullopt};
    if (has_value) {
      if (!GetLengthPrefixed(&in, &value)) return false;
      r.value = std::string(value);
    }
    records->push_back(std::move(r));
  }
  return in.empty();
}

}  // namespace

void TxnStore::SetCommitLog(CommitLog* log) { commit_log_ = log; }

Result<uint64_t> TxnStore::ApplyCommitted(uint64_t index, std::string_view command) {
  if (IsSplitCommand(command)) {
    absl::MutexLock lock(&apply_mu_);
    if (index <= engine_->Stats().applied_index) return uint64_t{0};  // replayed
    return ApplySplitCommand(index, command, /*sync=*/false);
  }
  if (IsTwoPhaseCommand(command)) {
    absl::MutexLock lock(&apply_mu_);
    if (index <= engine_->Stats().applied_index) return uint64_t{0};  // replayed
    return ApplyTwoPhaseCommand(index, command, /*sync=*/false);
  }
  if (!command.empty() && command.front() == kRestoreCommandTag) {
    absl::MutexLock lock(&apply_mu_);
    if (index <= engine_->Stats().applied_index) return uint64_t{0};  // replayed
    MERIDIAN_RETURN_IF_ERROR(ApplyRestoreCommand(index, command, /*sync=*/false));
    return uint64_t{0};
  }
  uint64_t ts = 0;
  std::vector<storage::Record> records;
  if (!DecodeCommand(command, &ts, &records)) {
    return CorruptionError(absl::StrCat("malformed replicated command at index ", index));
  }
  absl::MutexLock lock(&apply_mu_);
  if (index <= engine_->Stats().applied_index) return uint64_t{0};  // replayed
  // Commit timestamps must increase in log order, or a version could appear
  // below a snapshot already taken (a non-repeatable read, and a write that
  // escapes the first-committer-wins check). A leader can stamp a commit
  // behind one it applied from an earlier leader whose clock ran ahead: its
  // HLC refuses to observe a timestamp beyond --max-clock-offset (below), so
  // it does not catch up. Raise such a stamp past the last applied commit. visible_hlc_ is a function of the applied log prefix, so every
  // replica raises it alike, and the proposer learns the result.
  const uint64_t applied = std::max(ts, visible_hlc_.load() + 1);
  const storage::Version version{applied, options_.site_id};
  for (storage::Record& r : records) r.version = version;
  records.push_back({records.empty() ? keyspace::LastCloseKey() : keyspace::LastCommitKey(),
                     version, std::string()});
  // The WAL made the entry durable; the engine may lag after a crash, and
  // replay from its applied index catches it up.
  MERIDIAN_RETURN_IF_ERROR(
      engine_->Apply({index, std::move(records), /*chosen=*/true}, /*sync=*/false));
  (void)hlc_->Observe(applied);
  visible_hlc_.store(applied);
  return applied;
}

Status TxnStore::ApplyMembership(uint64_t index, std::string_view encoded) {
  absl::MutexLock lock(&apply_mu_);
  if (index <= engine_->Stats().applied_index) return absl::OkStatus();  // replayed
  std::string value;
  PutFixed64(&value, index);
  value.append(encoded);
  // Versioned by log index: later changes have higher ones on every replica.
  storage::Record r{keyspace::MembershipKey(), {index, options_.site_id}, std::move(value)};
  return engine_->Apply({index, {std::move(r)}, /*chosen=*/true}, /*sync=*/false);
}

Result<std::optional<std::pair<uint64_t, std::string>>> TxnStore::AppliedMembership() {
  using Out = std::optional<std::pair<uint64_t, std::string>>;
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<storage::ReadResult> r,
                            engine_->Get(keyspace::MembershipKey(), storage::Snapshot::Latest()));
  if (!r || !r->value) return Out();
  std::string_view in = *r->value;
  uint64_t index = 0;
  if (!GetFixed64(&in, &index)) return CorruptionError("malformed stored membership");
  return Out(std::make_pair(index, std::string(in)));
}

Result<uint64_t> TxnStore::FlushApplied() {
  MERIDIAN_RETURN_IF_ERROR(engine_->Flush());
  return engine_->Stats().durable_index;
}

Status TxnStore::ExportSnapshot(const std::function<Status(const storage::Record&)>& fn,
                                uint64_t* index) {
  return engine_->Export(fn, index);
}

Status TxnStore::InstallSnapshot(const std::vector<storage::Record>& records, uint64_t index) {
  absl::MutexLock lock(&apply_mu_);
  if (index <= engine_->Stats().applied_index) {
    return InvalidArgumentError(absl::StrCat("snapshot at index ", index,
                                             " is not ahead of the applied index"));
  }
  uint64_t newest = 0;
  for (const storage::Record& r : records) {
    if (r.version.site == options_.site_id) newest = std::max(newest, r.version.hlc);
  }
  MERIDIAN_RETURN_IF_ERROR(engine_->Ingest(records, index));
  // The snapshot may be taken in the middle of a restore, or after one.
  MERIDIAN_RETURN_IF_ERROR(LoadRestoreMarker());
  MERIDIAN_RETURN_IF_ERROR(LoadIntents());
  MERIDIAN_RETURN_IF_ERROR(LoadRangeEnd());
  (void)hlc_->Observe(newest);
  uint64_t visible = visible_hlc_.load();
  while (visible < newest && !visible_hlc_.compare_exchange_weak(visible, newest)) {
  }
  return absl::OkStatus();
}

Status TxnStore::CheckSpaceToPropose(const std::vector<storage::Record>& records) {
  // Replicas apply chosen entries even inside the disk reserve (a refusal
  // there could only stop them), so the reserve is enforced before a write
  // is proposed.
  Status space = engine_->CheckSpace(storage::ApproximateBytes(records));
  if (space.ok()) return space;
  if (space.code() == absl::StatusCode::kResourceExhausted) {
    return ResourceExhaustedError(space.message());
  }
  return UnavailableError(absl::StrCat("storage failed; writes are refused: ", space.message()));
}

Status TxnStore::ProposeCheckedLocked(std::string command, uint64_t* applied_hlc) {
  if (checked_epoch_ == 0) {
    return NotACaughtUpLeader();
  }
  return commit_log_->Commit(std::move(command), {}, applied_hlc, checked_epoch_);
}

Result<uint64_t> TxnStore::CommitLocked(std::vector<storage::Record> records) {
  // Checked under commit_mu_, which RestoreBegin holds until its marker is
  // applied: a commit is either ordered before the restore (which is then
  // refused) or refused itself. The same holds for a split and its range.
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  for (const storage::Record& r : records) MERIDIAN_RETURN_IF_ERROR(CheckOwnsRecord(r.key));
  // One commit is one log record; refused whole before anything is proposed
  // or applied (a record larger than a log segment would stop the log).
  if (const uint64_t bytes = storage::ApproximateBytes(records);
      bytes > options_.limits.max_txn_bytes) {
    return LimitExceededError(
        "max_txn_bytes", options_.limits.max_txn_bytes,
        absl::StrCat("transaction writes ", bytes, " bytes, over max_txn_bytes (",
                     options_.limits.max_txn_bytes, "); split it into smaller transactions"));
  }
  const uint64_t ts = hlc_->Now();
  if (commit_log_ != nullptr) {
    MERIDIAN_RETURN_IF_ERROR(CheckSpaceToPropose(records));
    uint64_t applied = ts;
    MERIDIAN_RETURN_IF_ERROR(ProposeCheckedLocked(EncodeCommand(ts, records), &applied));
    return applied;
  }
  const storage::Version version{ts, options_.site_id};
  for (storage::Record& r : records) r.version = version;
  records.push_back({records.empty() ? keyspace::LastCloseKey() : keyspace::LastCommitKey(),
                     version, std::string()});
  storage::WriteBatch batch{next_log_index_, std::move(records)};
  Status s;
  {
    absl::MutexLock apply_lock(&apply_mu_);
    s = engine_->Apply(batch, /*sync=*/true);
  }
  if (!s.ok()) {
    // Nothing was applied; the engine itself is fail-stop after an I/O error,
    // so every later commit fails the same way. A full disk keeps its kind
    // (RESOURCE_EXHAUSTED), and writes resume once space is freed.
    if (s.code() == absl::StatusCode::kResourceExhausted) return ResourceExhaustedError(s.message());
    // A commit the engine cannot take (larger than its log) is refused
    // whole; the engine has not failed.
    if (s.code() == absl::StatusCode::kInvalidArgument) return s;
    return UnavailableError(absl::StrCat("storage failed; writes are refused: ", s.message()));
  }
  ++next_log_index_;
  visible_hlc_.store(ts);
  return ts;
}

Status TxnStore::CheckNotRestoring() const {
  const uint64_t restoring = restoring_hlc_.load();
  if (restoring == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "restore in progress: this group is being restored from a backup taken at ",
      FormatHlc(restoring),
      "; it serves no reads or writes until the restore finishes (run the same "
      "`meridianctl snapshot restore` again to resume an interrupted one)"));
}

Result<ReadResult> TxnStore::Get(std::string_view key, std::optional<uint64_t> snapshot_hlc) {
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t snap,
                            ReadSnapshot(snapshot_hlc, key, key, /*single_key=*/true));
  MERIDIAN_ASSIGN_OR_RETURN(auto r, ReadKv(key, snap));
  return ToReadResult(r, snap);
}

Result<CommitInfo> TxnStore::Put(std::string_view key, std::string_view value) {
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
  MERIDIAN_RETURN_IF_ERROR(ValidateValue(options_.limits, value));
  std::vector<storage::Record> records = {{keyspace::KvKey(key), {}, std::string(value)}};
  if (commit_log_ == nullptr) {
    absl::MutexLock lock(&commit_mu_);
    MERIDIAN_RETURN_IF_ERROR(CheckNoIntents({key}));
    MERIDIAN_ASSIGN_OR_RETURN(uint64_t ts, CommitLocked(std::move(records)));
    return CommitInfo{ts};
  }
  MERIDIAN_RETURN_IF_ERROR(CheckSpaceToPropose(records));
  // A blind write reads nothing, so it need not wait for earlier commits to
  // apply: it takes its timestamp and its place in the log under the lock,
  // then lets the next commit in while it replicates.
  commit_mu_.Lock();
  // The intent check below holds for a write proposed in this epoch.
  const uint64_t epoch = commit_log_->LeaderEpoch();
  if (epoch == 0) {
    commit_mu_.Unlock();
    return NotACaughtUpLeader();
  }
  if (Status refused = CheckNotRestoring(); !refused.ok()) {
    commit_mu_.Unlock();
    return refused;
  }
  // A prepare holds commit_mu_ until its intents are applied, so one that
  // came first is seen here.
  if (Status refused = CheckNoIntents({key}); !refused.ok()) {
    commit_mu_.Unlock();
    return refused;
  }
  if (Status refused = CheckOwns(key); !refused.ok()) {
    commit_mu_.Unlock();
    return refused;
  }
  const uint64_t ts = hlc_->Now();
  bool queued = false;
  uint64_t applied = ts;
  Status s = commit_log_->Commit(
      EncodeCommand(ts, records),
      [&] {
        ++pending_;
        queued = true;
        commit_mu_.Unlock();
      },
      &applied, epoch);
  if (queued) {
    commit_mu_.Lock();
    --pending_;
  }
  commit_mu_.Unlock();
  MERIDIAN_RETURN_IF_ERROR(s);
  return CommitInfo{applied};
}

Result<DeleteInfo> TxnStore::Delete(std::string_view key) {
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
  ReadWriteLock lock(this);
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  MERIDIAN_RETURN_IF_ERROR(CheckNoIntents({key}));
  MERIDIAN_ASSIGN_OR_RETURN(auto current, ReadKv(key, visible_hlc_.load()));
  DeleteInfo info;
  info.existed = current && current->value;
  if (!info.existed) return info;  // nothing to delete: no write, no timestamp
  MERIDIAN_ASSIGN_OR_RETURN(info.commit_hlc,
                            CommitLocked({{keyspace::KvKey(key), {}, std::nullopt}}));
  return info;
}

Status TxnStore::ValidateScanRange(const ScanRange& range) const {
  if (!range.prefix.empty() && (!range.start.empty() || !range.end.empty())) {
    return InvalidArgumentError("scan: give either a prefix or a start/end range, not both");
  }
  return ValidateRange(range.start, range.end);
}

Status TxnStore::Scan(const ScanRange& range, std::optional<uint64_t> snapshot_hlc,
                      const std::function<bool(const KeyValue&)>& fn, bool* more,
                      uint64_t* snapshot_used) {
  MERIDIAN_RETURN_IF_ERROR(ValidateScanRange(range));
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  const std::string succ = range.prefix.empty() ? "" : PrefixSuccessor(range.prefix);
  const std::string_view first = range.prefix.empty() ? range.start : range.prefix;
  MERIDIAN_ASSIGN_OR_RETURN(
      uint64_t snap, ReadSnapshot(snapshot_hlc, first, range.prefix.empty() ? range.end : succ,
                                  /*single_key=*/false));
  *snapshot_used = snap;
  storage::ScanOptions opts;
  if (!range.prefix.empty()) {
    keyspace::KvRange(range.prefix, succ, &opts.start, &opts.end);
  } else {
    keyspace::KvRange(range.start, range.end, &opts.start, &opts.end);
  }
  opts.limit = range.limit;
  opts.keys_only = range.keys_only;
  return engine_->Scan(
      opts, SnapshotAt(snap),
      [&](const storage::KeyValue& kv) {
        return fn(KeyValue{std::string(keyspace::UserKeyOf(kv.key)), kv.value, kv.version});
      },
      more);
}

Result<std::vector<KeyValue>> TxnStore::ScanCollect(const ScanRange& range,
                                                   std::optional<uint64_t> snapshot_hlc,
                                                   bool* more) {
  std::vector<KeyValue> out;
  uint64_t used = 0;
  MERIDIAN_RETURN_IF_ERROR(Scan(
      range, snapshot_hlc,
      [&](const KeyValue& kv) {
        out.push_back(kv);
        return true;
      },
      more, &used));
  return out;
}

Result<ExecuteResult> TxnStore::Execute(const std::vector<Compare>& compares,
                                        const std::vector<Op>& success,
                                        const std::vector<Op>& failure) {
  const size_t total = compares.size() + std::max(success.size(), failure.size());
  if (total > options_.limits.max_txn_ops) {
    return LimitExceededError("max_txn_ops", options_.limits.max_txn_ops,
                              absl::StrCat("transaction has ", total,
                                           " compares and operations, over max_txn_ops (",
                                           options_.limits.max_txn_ops, ")"));
  }
  for (const Compare& c : compares) MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, c.key));
  for (const auto* branch : {&success, &failure}) {
    for (const Op& op : *branch) {
      MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, op.key));
      if (op.kind == Op::Kind::kPut) {
        MERIDIAN_RETURN_IF_ERROR(ValidateValue(options_.limits, op.value));
      }
    }
  }

  // Holding the commit lock makes compares, reads and writes one atomic step.
  ReadWriteLock lock(this);
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  {
    // Under the lock no intent may be waited for (its resolution needs the
    // lock): a key being committed across shards is a conflict.
    std::vector<std::string_view> keys;
    for (const Compare& c : compares) keys.push_back(c.key);
    for (const auto* branch : {&success, &failure}) {
      for (const Op& op : *branch) keys.push_back(op.key);
    }
    MERIDIAN_RETURN_IF_ERROR(CheckNoIntents(keys));
  }
  ExecuteResult out;
  out.snapshot_hlc = visible_hlc_.load();
  out.succeeded = true;
  for (const Compare& c : compares) {
    MERIDIAN_ASSIGN_OR_RETURN(auto r, ReadKv(c.key, out.snapshot_hlc));
    const bool live = r && r->value;
    if (!CompareHolds(c, live ? std::optional<std::string_view>(*r->value) : std::nullopt,
                      live ? r->version.hlc : 0)) {
      out.succeeded = false;
    }
  }

  // Later ops in the branch see the earlier ones' writes.
  std::map<std::string, std::optional<std::string>> writes;
  for (const Op& op : out.succeeded ? success : failure) {
    OpResult res;
    res.kind = op.kind;
    std::optional<storage::ReadResult> current;
    if (auto it = writes.find(op.key); it != writes.end()) {
      if (it->second) current = storage::ReadResult{{}, it->second};
    } else {
      MERIDIAN_ASSIGN_OR_RETURN(current, ReadKv(op.key, out.snapshot_hlc));
    }
    const bool live = current && current->value;
    switch (op.kind) {
      case Op::Kind::kGet:
        res.found = live;
        if (live) {
          res.value = *current->value;
          res.version = current->version;
        }
        break;
      case Op::Kind::kPut:
        writes[op.key] = op.value;
        break;
      case Op::Kind::kDelete:
        res.found = live;
        if (live) writes[op.key] = std::nullopt;
        break;
    }
    out.results.push_back(std::move(res));
  }
  if (!writes.empty()) {
    std::vector<storage::Record> records;
    for (auto& [key, value] : writes) records.push_back({keyspace::KvKey(key), {}, value});
    MERIDIAN_ASSIGN_OR_RETURN(out.commit_hlc, CommitLocked(std::move(records)));
  }
  return out;
}

Result<BeginInfo> TxnStore::Begin(uint64_t requested_timeout_ms) {
  MERIDIAN_ASSIGN_OR_RETURN(const uint64_t timeout_ms,
                            TxnTimeout(requested_timeout_ms, options_.default_txn_timeout_ms,
                                       options_.max_txn_timeout_ms));
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  if (OpenTxnCount() >= options_.max_open_txns) ReapExpired();
  const uint64_t deadline = clock_->NowMonotonicMicros() + timeout_ms * 1000;
  absl::MutexLock lock(&txns_mu_);
  if (txns_.size() >= options_.max_open_txns) {
    return ResourceExhaustedError(absl::StrCat("too many open transactions (max_open_txns = ",
                                               options_.max_open_txns, "); retry later"));
  }
  // Taken under txns_mu_, so garbage collection either sees this
  // transaction or read a visible timestamp at or below its snapshot.
  const uint64_t snapshot = visible_hlc_.load();
  const uint64_t id = next_txn_id_++;
  txns_.emplace(id, std::make_shared<OpenTxn>(id, snapshot, deadline, timeout_ms));
  return BeginInfo{id, snapshot, clock_->NowUnixMillis() + timeout_ms};
}

Result<std::shared_ptr<TxnStore::OpenTxn>> TxnStore::FindTxn(uint64_t txn_id) {
  std::shared_ptr<OpenTxn> txn;
  {
    absl::MutexLock lock(&txns_mu_);
    auto it = txns_.find(txn_id);
    if (it == txns_.end()) return TxnGone(txn_id);
    txn = it->second;
  }
  if (clock_->NowMonotonicMicros() > txn->deadline_mono_us) {
    EraseTxn(txn_id);
    return TxnNotFoundError(absl::StrCat("transaction ", txn_id, " expired: its deadline of ",
                                         txn->timeout_ms, " ms passed"));
  }
  return txn;
}

void TxnStore::EraseTxn(uint64_t txn_id) {
  absl::MutexLock lock(&txns_mu_);
  txns_.erase(txn_id);
}

Result<ReadResult> TxnStore::TxnGet(uint64_t txn_id, std::string_view key) {
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
  MERIDIAN_ASSIGN_OR_RETURN(auto txn, FindTxn(txn_id));
  absl::MutexLock lock(&txn->mu);
  if (txn->finished) return TxnGone(txn_id);
  MERIDIAN_RETURN_IF_ERROR(CountTxnOp(options_.limits, &txn->ops));
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  if (auto it = txn->writes.find(std::string(key)); it != txn->writes.end()) {
    ReadResult r;
    r.snapshot_hlc = txn->snapshot_hlc;
    r.found = it->second.has_value();
    if (r.found) r.value = *it->second;
    return r;
  }
  MERIDIAN_RETURN_IF_ERROR(
      WaitForIntents(key, key, /*single_key=*/true, txn->snapshot_hlc).status());
  MERIDIAN_ASSIGN_OR_RETURN(auto r, ReadKv(key, txn->snapshot_hlc));
  return ToReadResult(r, txn->snapshot_hlc);
}

Status TxnStore::TxnPut(uint64_t txn_id, std::string_view key, std::string_view value) {
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
  MERIDIAN_RETURN_IF_ERROR(ValidateValue(options_.limits, value));
  MERIDIAN_ASSIGN_OR_RETURN(auto txn, FindTxn(txn_id));
  absl::MutexLock lock(&txn->mu);
  if (txn->finished) return TxnGone(txn_id);
  MERIDIAN_RETURN_IF_ERROR(CountTxnOp(options_.limits, &txn->ops));
  txn->writes[std::string(key)] = std::string(value);
  return absl::OkStatus();
}

Status TxnStore::TxnDelete(uint64_t txn_id, std::string_view key) {
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
  MERIDIAN_ASSIGN_OR_RETURN(auto txn, FindTxn(txn_id));
  absl::MutexLock lock(&txn->mu);
  if (txn->finished) return TxnGone(txn_id);
  MERIDIAN_RETURN_IF_ERROR(CountTxnOp(options_.limits, &txn->ops));
  txn->writes[std::string(key)] = std::nullopt;
  return absl::OkStatus();
}

Result<ScanResult> TxnStore::TxnScan(uint64_t txn_id, const ScanRange& range) {
  MERIDIAN_RETURN_IF_ERROR(ValidateScanRange(range));
  MERIDIAN_ASSIGN_OR_RETURN(auto txn, FindTxn(txn_id));
  absl::MutexLock lock(&txn->mu);
  if (txn->finished) return TxnGone(txn_id);
  MERIDIAN_RETURN_IF_ERROR(CountTxnOp(options_.limits, &txn->ops));

  const uint64_t max = options_.limits.max_scan_limit;
  const uint64_t limit = range.limit == 0 ? max : std::min(range.limit, max);
  std::string start = range.prefix.empty() ? range.start : range.prefix;
  std::string end = range.prefix.empty() ? range.end : PrefixSuccessor(range.prefix);
  auto in_range = [&](const std::string& k) { return k >= start && (end.empty() || k < end); };

  ScanResult out;
  out.snapshot_hlc = txn->snapshot_hlc;
  auto wit = txn->writes.lower_bound(start);
  // Emits a key unless the limit is reached, in which case it records that
  // more remain and stops the scan.
  auto emit = [&](KeyValue kv) {
    if (out.kvs.size() >= limit) {
      out.more = true;
      return false;
    }
    if (range.keys_only) kv.value.clear();
    out.kvs.push_back(std::move(kv));
    return true;
  };
  // Buffered puts before `key` (or all remaining ones if key is null).
  auto drain_writes_before = [&](const std::string* key) {
    for (; wit != txn->writes.end() && in_range(wit->first) && (!key || wit->first < *key);
         ++wit) {
      if (wit->second && !emit({wit->first, *wit->second, {}})) return false;
    }
    return true;
  };
  ScanRange engine_range{start, end, "", 0, range.keys_only};
  bool unused_more = false;
  uint64_t unused_snap = 0;
  bool stopped = false;
  Status s = Scan(engine_range, txn->snapshot_hlc,
                  [&](const KeyValue& kv) {
                    if (!drain_writes_before(&kv.key)) return !(stopped = true);
                    if (wit != txn->writes.end() && wit->first == kv.key) {
                      // Our own write shadows the committed version.
                      auto own = wit++;
                      if (own->second && !emit({own->first, *own->second, {}})) {
                        return !(stopped = true);
                      }
                      return true;
                    }
                    if (!emit(kv)) return !(stopped = true);
                    return true;
                  },
                  &unused_more, &unused_snap);
  MERIDIAN_RETURN_IF_ERROR(s);
  if (!stopped) drain_writes_before(nullptr);
  return out;
}

Result<CommitInfo> TxnStore::Commit(uint64_t txn_id) {
  MERIDIAN_ASSIGN_OR_RETURN(auto txn, FindTxn(txn_id));
  absl::MutexLock txn_lock(&txn->mu);
  if (txn->finished) return TxnGone(txn_id);
  txn->finished = true;
  EraseTxn(txn_id);
  if (txn->writes.empty()) return CommitInfo{0};

  ReadWriteLock lock(this);
  MERIDIAN_RETURN_IF_ERROR(CheckWriteConflicts(txn->writes, txn->snapshot_hlc, ""));
  std::vector<storage::Record> records;
  records.reserve(txn->writes.size());
  for (const auto& [key, value] : txn->writes) records.push_back({keyspace::KvKey(key), {}, value});
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t ts, CommitLocked(std::move(records)));
  return CommitInfo{ts};
}

Status TxnStore::Abort(uint64_t txn_id) {
  MERIDIAN_ASSIGN_OR_RETURN(auto txn, FindTxn(txn_id));
  absl::MutexLock txn_lock(&txn->mu);
  if (txn->finished) return TxnGone(txn_id);
  txn->finished = true;
  EraseTxn(txn_id);
  return absl::OkStatus();
}

Result<CommitInfo> TxnStore::CsetDelta(std::string_view key, std::string_view element,
                                       int64_t delta) {
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
  if (element.size() > options_.limits.max_key_bytes) {
    return LimitExceededError("max_key_bytes", options_.limits.max_key_bytes,
                              absl::StrCat("cset element is ", element.size(),
                                           " bytes, over max_key_bytes (",
                                           options_.limits.max_key_bytes, ")"));
  }
  const std::string engine_key = keyspace::CsetEntryKey(key, element);
  ReadWriteLock lock(this);
  MERIDIAN_ASSIGN_OR_RETURN(auto current,
                            engine_->Get(engine_key, storage::Snapshot::Latest()));
  int64_t count = 0;
  if (current && current->value && !keyspace::DecodeCount(*current->value, &count)) {
    return CorruptionError(absl::StrCat("cset entry of \"", absl::CEscape(absl::string_view(key.data(), key.size())),
                                        "\" has a malformed count"));
  }
  count += delta;
  std::optional<std::string> value;
  if (count != 0) value = keyspace::EncodeCount(count);
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t ts, CommitLocked({{engine_key, {}, value}}));
  return CommitInfo{ts};
}

Result<CommitInfo> TxnStore::CsetAdd(std::string_view key, std::string_view element) {
  return CsetDelta(key, element, +1);
}

Result<CommitInfo> TxnStore::CsetRemove(std::string_view key, std::string_view element) {
  return CsetDelta(key, element, -1);
}

Result<std::vector<CsetEntry>> TxnStore::CsetRead(std::string_view key, uint64_t* snapshot_used) {
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  MERIDIAN_RETURN_IF_ERROR(CheckOwns(key));
  const uint64_t snap = visible_hlc_.load();
  *snapshot_used = snap;
  const std::string prefix = keyspace::CsetPrefix(key);
  storage::ScanOptions opts{prefix, PrefixSuccessor(prefix), 0, false};
  std::vector<CsetEntry> out;
  Status decode_error;
  MERIDIAN_RETURN_IF_ERROR(engine_->Scan(
      opts, SnapshotAt(snap),
      [&](const storage::KeyValue& kv) {
        CsetEntry e{kv.key.substr(prefix.size()), 0};
        if (!keyspace::DecodeCount(kv.value, &e.count)) {
          decode_error = CorruptionError("cset entry has a malformed count");
          return false;
        }
        if (e.count != 0) out.push_back(std::move(e));
        return true;
      },
      nullptr));
  MERIDIAN_RETURN_IF_ERROR(decode_error);
  return out;
}

size_t TxnStore::ReapExpired() {
  const uint64_t now = clock_->NowMonotonicMicros();
  absl::MutexLock lock(&txns_mu_);
  return std::erase_if(txns_, [&](const auto& entry) {
    return now > entry.second->deadline_mono_us;
  });
}

uint64_t TxnStore::GcHorizon(uint64_t now_ms, uint64_t retention_ms,
                             uint64_t cluster_low_watermark, uint64_t oldest_open,
                             uint64_t visible, uint64_t previous) {
  const uint64_t retained = MakeHlc(now_ms > retention_ms ? now_ms - retention_ms : 0, 0);
  const uint64_t horizon = std::min({retained, cluster_low_watermark, oldest_open, visible});
  return std::max(horizon, previous);
}

uint64_t TxnStore::OldestOpenSnapshot() {
  uint64_t oldest = UINT64_MAX;
  absl::MutexLock lock(&txns_mu_);
  for (const auto& [id, txn] : txns_) oldest = std::min(oldest, txn->snapshot_hlc);
  if (!held_snapshots_.empty()) oldest = std::min(oldest, *held_snapshots_.begin());
  return oldest;
}

Status TxnStore::CollectGarbage(uint64_t cluster_low_watermark) {
  ReapExpired();
  // visible_hlc_ is read before the open snapshots: a Begin that registers
  // after them took its snapshot (under txns_mu_) at or above it.
  const uint64_t visible = visible_hlc_.load();
  const uint64_t previous = gc_hlc_.load();
  const uint64_t watermark =
      GcHorizon(clock_->NowUnixMillis(), options_.gc_retention_ms, cluster_low_watermark,
                OldestOpenSnapshot(), visible, previous);
  if (watermark <= previous) return absl::OkStatus();
  // Refuse explicit snapshots below the watermark before dropping versions.
  gc_hlc_.store(watermark);
  absl::MutexLock lock(&apply_mu_);  // GarbageCollect must not race Apply
  return engine_->GarbageCollect(SnapshotAt(watermark));
}

uint64_t TxnStore::OpenTxnCount() {
  absl::MutexLock lock(&txns_mu_);
  return txns_.size();
}

uint64_t TxnStore::AppliedIndex() { return engine_->Stats().applied_index; }

}  // namespace meridian::txn
