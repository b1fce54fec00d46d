// TxnStore: the participant side of two-phase commit across shards
// (docs/consistency.md, "Transactions across shards").
//
// Commands (the log's tagged form: kRestoreCommandTag, then a kind byte):
//   'p' prepare: stamp, deadline, record shard, txn, then the writes
//   'r' resolve: txn, committed, commit timestamp, then the keys
//   'd' decide:  txn, committed, commit timestamp
// Intent and record entries are versioned by log index, like the store's
// other system records.
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "txn/keyspace.h"
#include "txn/txn_store.h"

namespace meridian::txn {
namespace {

constexpr char kPrepare = 'p';
constexpr char kResolve = 'r';
constexpr char kDecide = 'd';

std::string Printable(std::string_view key) {
  return absl::CHexEscape(absl::string_view(key.data(), std::min<size_t>(key.size(), 64)));
}

void PutOptional(std::string* out, const std::optional<std::string>& v) {
  out->push_back(v ? 1 : 0);
  if (v) PutLengthPrefixed(out, *v);
}

bool GetOptional(std::string_view* in, std::optional<std::string>* v) {
  if (in->empty()) return false;
  const char has = in->front();
  in->remove_prefix(1);
  if (!has) {
    v->reset();
    return true;
  }
  std::string_view s;
  if (!GetLengthPrefixed(in, &s)) return false;
  *v = std::string(s);
  return true;
}

std::string EncodeIntent(const TxnIntent& i) {
  std::string out;
  PutVarint64(&out, i.prepare_hlc);
  PutVarint64(&out, i.deadline_unix_ms);
  PutVarint64(&out, i.record_shard);
  PutLengthPrefixed(&out, i.txn);
  PutOptional(&out, i.value);
  return out;
}

bool DecodeIntent(std::string_view in, TxnIntent* i) {
  std::string_view txn;
  if (!GetVarint64(&in, &i->prepare_hlc) || !GetVarint64(&in, &i->deadline_unix_ms) ||
      !GetVarint64(&in, &i->record_shard) || !GetLengthPrefixed(&in, &txn) ||
      !GetOptional(&in, &i->value)) {
    return false;
  }
  i->txn = std::string(txn);
  return in.empty();
}

void PutOutcome(std::string* out, const TxnOutcome& o) {
  out->push_back(o.committed ? 1 : 0);
  PutVarint64(out, o.commit_hlc);
}

bool GetOutcome(std::string_view* in, TxnOutcome* o) {
  if (in->empty()) return false;
  o->committed = in->front() != 0;
  in->remove_prefix(1);
  return GetVarint64(in, &o->commit_hlc);
}

std::string CommandHead(char kind) {
  std::string out;
  out.push_back('\0');  // TxnStore::kRestoreCommandTag: a tagged command
  out.push_back(kind);
  return out;
}

}  // namespace

bool TxnStore::IsTwoPhaseCommand(std::string_view command) {
  return command.size() >= 2 && command[0] == '\0' &&
         (command[1] == kPrepare || command[1] == kResolve || command[1] == kDecide);
}

void TxnStore::SetOutcomeLookup(OutcomeLookup lookup) { outcome_lookup_ = std::move(lookup); }

std::optional<TxnIntent> TxnStore::IntentOn(std::string_view key) {
  absl::MutexLock lock(&intents_mu_);
  auto it = intents_.find(key);
  if (it == intents_.end()) return std::nullopt;
  return it->second;
}

Status TxnStore::LoadIntents() {
  std::map<std::string, TxnIntent, std::less<>> loaded;
  storage::ScanOptions opts;
  opts.start = keyspace::kIntentRangeStart;
  opts.end = keyspace::kIntentRangeEnd;
  bool more = false;
  Status bad;
  MERIDIAN_RETURN_IF_ERROR(engine_->Scan(
      opts, storage::Snapshot::Latest(),
      [&](const storage::KeyValue& kv) {
        TxnIntent intent;
        if (!DecodeIntent(kv.value, &intent)) {
          bad = CorruptionError("malformed intent record");
          return false;
        }
        loaded.emplace(std::string(keyspace::UserKeyOfIntent(kv.key)), std::move(intent));
        return true;
      },
      &more));
  MERIDIAN_RETURN_IF_ERROR(bad);
  absl::MutexLock lock(&intents_mu_);
  intents_ = std::move(loaded);
  return absl::OkStatus();
}

Status TxnStore::CheckNoIntents(const std::vector<std::string_view>& keys) {
  absl::MutexLock lock(&intents_mu_);
  if (intents_.empty()) return absl::OkStatus();
  for (std::string_view key : keys) {
    if (intents_.find(key) == intents_.end()) continue;
    return ConflictError(absl::StrCat("key \"", Printable(key),
                                      "\" is locked by a transaction being committed across "
                                      "shards; retry"));
  }
  return absl::OkStatus();
}

Status TxnStore::CheckWriteConflicts(const TxnWrites& writes, uint64_t snapshot_hlc,
                                     std::string_view txn) {
  for (const auto& [key, value] : writes) {
    MERIDIAN_RETURN_IF_ERROR(CheckOwns(key));
    if (auto intent = IntentOn(key); intent && (txn.empty() || intent->txn != txn)) {
      return ConflictError(absl::StrCat("write-write conflict: key \"", Printable(key),
                                        "\" is written by a transaction being committed; retry "
                                        "the transaction"));
    }
    MERIDIAN_ASSIGN_OR_RETURN(auto latest, engine_->LatestVersion(keyspace::KvKey(key)));
    if (latest && latest->hlc > snapshot_hlc) {
      return ConflictError(absl::StrCat("write-write conflict: key \"", Printable(key),
                                        "\" was committed at ", FormatHlc(latest->hlc),
                                        ", after this transaction's snapshot ",
                                        FormatHlc(snapshot_hlc), "; retry the transaction"));
    }
  }
  return absl::OkStatus();
}

Result<CommitInfo> TxnStore::CommitWrites(uint64_t snapshot_hlc, const TxnWrites& writes) {
  for (const auto& [key, value] : writes) {
    MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
    if (value) MERIDIAN_RETURN_IF_ERROR(ValidateValue(options_.limits, *value));
  }
  if (writes.empty()) return CommitInfo{0};
  (void)hlc_->Observe(snapshot_hlc);
  ReadWriteLock lock(this);
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  MERIDIAN_RETURN_IF_ERROR(CheckWriteConflicts(writes, snapshot_hlc, ""));
  std::vector<storage::Record> records;
  records.reserve(writes.size());
  for (const auto& [key, value] : writes) records.push_back({keyspace::KvKey(key), {}, value});
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t ts, CommitLocked(std::move(records)));
  return CommitInfo{ts};
}

Result<uint64_t> TxnStore::Prepare(const PrepareArgs& args) {
  if (args.txn.empty()) return InvalidArgumentError("prepare: empty transaction id");
  if (args.writes.empty()) return InvalidArgumentError("prepare: no writes");
  uint64_t bytes = 0;
  for (const auto& [key, value] : args.writes) {
    MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, key));
    if (value) MERIDIAN_RETURN_IF_ERROR(ValidateValue(options_.limits, *value));
    bytes += key.size() + (value ? value->size() : 0);
  }
  if (bytes > options_.limits.max_txn_bytes) {
    return LimitExceededError("max_txn_bytes", options_.limits.max_txn_bytes,
                              absl::StrCat("transaction writes ", bytes,
                                           " bytes in one shard, over max_txn_bytes (",
                                           options_.limits.max_txn_bytes, ")"));
  }
  // The prepare is stamped above the snapshot.
  (void)hlc_->Observe(args.snapshot_hlc);
  ReadWriteLock lock(this);
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  // A repeat (the coordinator retrying) finds its own intents.
  if (auto mine = IntentOn(args.writes.begin()->first); mine && mine->txn == args.txn) {
    return mine->prepare_hlc;
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<TxnOutcome> decided, ReadOutcome(args.txn));
  if (decided) {
    return ConflictError("prepare: the transaction was already decided (aborted after its "
                         "deadline passed); retry the transaction");
  }
  MERIDIAN_RETURN_IF_ERROR(CheckWriteConflicts(args.writes, args.snapshot_hlc, args.txn));
  std::string cmd = CommandHead(kPrepare);
  PutVarint64(&cmd, hlc_->Now());
  PutVarint64(&cmd, args.deadline_unix_ms);
  PutVarint64(&cmd, args.record_shard);
  PutLengthPrefixed(&cmd, args.txn);
  PutVarint64(&cmd, args.writes.size());
  for (const auto& [key, value] : args.writes) {
    PutLengthPrefixed(&cmd, key);
    PutOptional(&cmd, value);
  }
  return ProposeTwoPhaseLocked(std::move(cmd));
}

Result<std::optional<TxnOutcome>> TxnStore::ReadOutcome(std::string_view txn) {
  MERIDIAN_ASSIGN_OR_RETURN(
      std::optional<storage::ReadResult> r,
      engine_->Get(keyspace::TxnRecordKey(txn), storage::Snapshot::Latest()));
  if (!r || !r->value) return std::optional<TxnOutcome>();
  TxnOutcome o;
  std::string_view in = *r->value;
  if (!GetOutcome(&in, &o) || !in.empty()) return CorruptionError("malformed transaction record");
  return std::optional<TxnOutcome>(o);
}

Result<TxnOutcome> TxnStore::Decide(std::string_view txn, const TxnOutcome& proposal) {
  if (txn.empty()) return InvalidArgumentError("decide: empty transaction id");
  ReadWriteLock lock(this);
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<TxnOutcome> decided, ReadOutcome(txn));
  if (decided) return *decided;
  std::string cmd = CommandHead(kDecide);
  PutLengthPrefixed(&cmd, txn);
  PutOutcome(&cmd, proposal);
  MERIDIAN_RETURN_IF_ERROR(ProposeTwoPhaseLocked(std::move(cmd)).status());
  MERIDIAN_ASSIGN_OR_RETURN(decided, ReadOutcome(txn));
  if (!decided) return absl::InternalError("decide: the record is missing after it was applied");
  return *decided;
}

Status TxnStore::Resolve(std::string_view txn, const TxnOutcome& outcome,
                         const std::vector<std::string>& keys) {
  // A resolution checks nothing against other commits (the intents keep
  // every other writer of its keys out until it is applied), so in
  // replicated mode it goes through the log without the commit lock.
  std::optional<ReadWriteLock> lock;
  if (commit_log_ == nullptr) lock.emplace(this);
  std::vector<std::string> mine;
  for (const std::string& key : keys) {
    if (auto intent = IntentOn(key); intent && intent->txn == txn) mine.push_back(key);
  }
  if (mine.empty()) return absl::OkStatus();  // resolved already
  std::string cmd = CommandHead(kResolve);
  PutLengthPrefixed(&cmd, txn);
  PutOutcome(&cmd, outcome);
  PutVarint64(&cmd, mine.size());
  for (const std::string& key : mine) PutLengthPrefixed(&cmd, key);
  if (commit_log_ != nullptr) {
    uint64_t applied = 0;
    return commit_log_->Commit(std::move(cmd), {}, &applied);
  }
  return ProposeTwoPhaseLocked(std::move(cmd)).status();
}

Result<uint64_t> TxnStore::ProposeTwoPhaseLocked(std::string command) {
  if (commit_log_ != nullptr) {
    uint64_t applied = 0;
    MERIDIAN_RETURN_IF_ERROR(ProposeCheckedLocked(std::move(command), &applied));
    return applied;
  }
  absl::MutexLock lock(&apply_mu_);
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t applied,
                            ApplyTwoPhaseCommand(next_log_index_, command, /*sync=*/true));
  ++next_log_index_;
  return applied;
}

Result<uint64_t> TxnStore::ApplyTwoPhaseCommand(uint64_t index, std::string_view command,
                                                bool sync) {
  const auto malformed = [&] {
    return CorruptionError(absl::StrCat("malformed two-phase commit command at index ", index));
  };
  std::string_view in = command.substr(2);
  const storage::Version meta{index, options_.site_id};
  std::vector<storage::Record> records;
  uint64_t result = 0;
  uint64_t raise_to = 0;  // a new last commit timestamp, if any
  std::map<std::string, std::optional<TxnIntent>> intent_changes;
  switch (command[1]) {
    case kPrepare: {
      TxnIntent intent;
      std::string_view txn;
      uint64_t stamp = 0, n = 0;
      if (!GetVarint64(&in, &stamp) || !GetVarint64(&in, &intent.deadline_unix_ms) ||
          !GetVarint64(&in, &intent.record_shard) || !GetLengthPrefixed(&in, &txn) ||
          !GetVarint64(&in, &n) || n > in.size()) {
        return malformed();
      }
      intent.txn = std::string(txn);
      // Raised like a commit's stamp: above every timestamp applied before.
      intent.prepare_hlc = std::max(stamp, visible_hlc_.load() + 1);
      for (uint64_t i = 0; i < n; ++i) {
        std::string_view key;
        if (!GetLengthPrefixed(&in, &key) || !GetOptional(&in, &intent.value)) return malformed();
        records.push_back({keyspace::IntentKey(key), meta, EncodeIntent(intent)});
        intent_changes[std::string(key)] = intent;
      }
      if (!in.empty()) return malformed();
      result = raise_to = intent.prepare_hlc;
      break;
    }
    case kResolve: {
      std::string_view txn;
      TxnOutcome outcome;
      uint64_t n = 0;
      if (!GetLengthPrefixed(&in, &txn) || !GetOutcome(&in, &outcome) || !GetVarint64(&in, &n) ||
          n > in.size()) {
        return malformed();
      }
      for (uint64_t i = 0; i < n; ++i) {
        std::string_view key;
        if (!GetLengthPrefixed(&in, &key)) return malformed();
        std::optional<TxnIntent> intent = IntentOn(key);
        if (!intent || intent->txn != txn) continue;  // resolved already
        if (outcome.committed) {
          records.push_back({keyspace::KvKey(key), {outcome.commit_hlc, options_.site_id},
                             intent->value});
        }
        records.push_back({keyspace::IntentKey(key), meta, std::nullopt});
        intent_changes[std::string(key)] = std::nullopt;
      }
      if (!in.empty()) return malformed();
      // Later commits here are stamped above the commit timestamp.
      if (outcome.committed && outcome.commit_hlc > visible_hlc_.load()) {
        raise_to = outcome.commit_hlc;
      }
      break;
    }
    case kDecide: {
      std::string_view txn;
      TxnOutcome outcome;
      if (!GetLengthPrefixed(&in, &txn) || !GetOutcome(&in, &outcome) || !in.empty()) {
        return malformed();
      }
      MERIDIAN_ASSIGN_OR_RETURN(std::optional<TxnOutcome> decided, ReadOutcome(txn));
      if (!decided) {  // the first decision wins
        std::string value;
        PutOutcome(&value, outcome);
        records.push_back({keyspace::TxnRecordKey(txn), meta, std::move(value)});
      }
      break;
    }
    default:
      return malformed();
  }
  if (raise_to != 0) {
    records.push_back({keyspace::LastCommitKey(), {raise_to, options_.site_id}, std::string()});
  }
  MERIDIAN_RETURN_IF_ERROR(engine_->Apply({index, std::move(records), /*chosen=*/true}, sync));
  {
    absl::MutexLock lock(&intents_mu_);
    for (auto& [key, change] : intent_changes) {
      if (change) {
        intents_[key] = std::move(*change);
      } else {
        intents_.erase(key);
      }
    }
  }
  if (raise_to != 0) {
    (void)hlc_->Observe(raise_to);
    visible_hlc_.store(raise_to);
  }
  return result;
}

Result<uint64_t> TxnStore::ReadSnapshot(std::optional<uint64_t> snapshot_hlc,
                                        std::string_view start, std::string_view end,
                                        bool single_key) {
  MERIDIAN_RETURN_IF_ERROR(CheckOwnsRange(start, end, single_key));
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t snap, ResolveSnapshot(snapshot_hlc));
  while (true) {
    MERIDIAN_ASSIGN_OR_RETURN(bool waited, WaitForIntents(start, end, single_key, snap));
    if (!waited || snapshot_hlc) return snap;
    snap = visible_hlc_.load();
  }
}

Result<bool> TxnStore::WaitForIntents(std::string_view start, std::string_view end,
                                      bool single_key, uint64_t snapshot_hlc) {
  const uint64_t give_up_ms = clock_->NowUnixMillis() + kMaxIntentWaitMs;
  uint64_t pause_us = 200;
  bool waited = false;
  while (true) {
    // The first intent at or below the snapshot in the range, if any.
    std::optional<std::pair<std::string, TxnIntent>> blocking;
    {
      absl::MutexLock lock(&intents_mu_);
      for (auto it = intents_.lower_bound(start);
           it != intents_.end() && (single_key ? it->first == start
                                               : end.empty() || it->first < end);
           ++it) {
        if (it->second.prepare_hlc <= snapshot_hlc) {
          blocking.emplace(it->first, it->second);
          break;
        }
        if (single_key) break;
      }
    }
    if (!blocking) return waited;
    waited = true;
    const auto& [key, intent] = *blocking;
    const uint64_t now_ms = clock_->NowUnixMillis();
    if (now_ms > intent.deadline_unix_ms && outcome_lookup_) {
      // Its coordinator may be gone: decide it at its record (an undecided
      // transaction is aborted there), then resolve this key.
      Result<TxnOutcome> outcome = outcome_lookup_(intent);
      if (outcome.ok()) {
        MERIDIAN_RETURN_IF_ERROR(Resolve(intent.txn, *outcome, {key}));
        continue;
      }
    }
    if (now_ms > give_up_ms) {
      return UnavailableError(absl::StrCat(
          "key \"", Printable(key), "\" is locked by a transaction being committed across shards, "
          "and its outcome is not known yet; retry"));
    }
    clock_->SleepMicros(pause_us);
    pause_us = std::min<uint64_t>(pause_us * 2, 20'000);
  }
}

}  // namespace meridian::txn
