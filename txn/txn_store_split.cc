// TxnStore: online range splits (docs/operations.md, "Splits").
//
// The split command (the log's tagged form: kRestoreCommandTag, then 'S'):
// stamp, split key, child shard, child group. Every replica applies it at
// the same log index to the same state, so every replica seeds the same
// child store and keeps the same left half; nothing is shipped between
// nodes. The split records (range end, one per child) are versioned by log
// index, like the store's other system records.
#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "txn/keyspace.h"
#include "txn/txn_store.h"

namespace meridian::txn {
namespace {

constexpr char kSplit = 'S';

std::string Printable(std::string_view key) {
  return absl::CHexEscape(absl::string_view(key.data(), std::min<size_t>(key.size(), 64)));
}

std::string EncodeSplitChild(const SplitChild& c) {
  std::string out;
  PutLengthPrefixed(&out, c.spec.split_key);
  PutVarint64(&out, c.spec.child_shard);
  PutVarint64(&out, c.spec.child_group);
  PutLengthPrefixed(&out, c.end_key);
  PutVarint64(&out, c.index);
  PutVarint64(&out, c.split_hlc);
  return out;
}

bool DecodeSplitChild(std::string_view in, SplitChild* c) {
  std::string_view split_key, end_key;
  if (!GetLengthPrefixed(&in, &split_key) || !GetVarint64(&in, &c->spec.child_shard) ||
      !GetVarint64(&in, &c->spec.child_group) || !GetLengthPrefixed(&in, &end_key) ||
      !GetVarint64(&in, &c->index) || !GetVarint64(&in, &c->split_hlc)) {
    return false;
  }
  c->spec.split_key = std::string(split_key);
  c->end_key = std::string(end_key);
  return in.empty();
}

// The user key an engine record belongs to, for 'k' and 'c' records.
std::optional<std::string> UserKeyOfRecord(std::string_view engine_key) {
  if (engine_key.empty()) return std::nullopt;
  if (engine_key.front() == 'k') return std::string(keyspace::UserKeyOf(engine_key));
  std::string cset_key, element;
  if (keyspace::ParseCsetEntryKey(engine_key, &cset_key, &element)) return cset_key;
  return std::nullopt;
}

bool InRange(std::string_view key, std::string_view start, std::string_view end) {
  return key >= start && (end.empty() || key < end);
}

}  // namespace

bool TxnStore::IsSplitCommand(std::string_view command) {
  return command.size() >= 2 && command[0] == '\0' && command[1] == kSplit;
}

void TxnStore::SetSplitHandler(SplitHandler handler) { split_handler_ = std::move(handler); }

std::optional<std::string> TxnStore::RangeEnd() const {
  absl::MutexLock lock(&range_mu_);
  return range_end_;
}

Status TxnStore::LoadRangeEnd() {
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<storage::ReadResult> r,
                            engine_->Get(keyspace::RangeEndKey(), storage::Snapshot::Latest()));
  absl::MutexLock lock(&range_mu_);
  if (r && r->value) {
    range_end_ = *r->value;
  } else {
    range_end_.reset();
  }
  return absl::OkStatus();
}

Status TxnStore::CheckOwns(std::string_view key) const {
  absl::MutexLock lock(&range_mu_);
  if (!range_end_ || key < *range_end_) return absl::OkStatus();
  return WrongShardError("", 0,
                         absl::StrCat("key \"", Printable(key),
                                      "\" moved to another shard when this one split at \"",
                                      Printable(*range_end_), "\"; refresh the shard map"));
}

Status TxnStore::CheckOwnsRange(std::string_view start, std::string_view end,
                                bool single_key) const {
  if (single_key) return CheckOwns(start);
  {
    absl::MutexLock lock(&range_mu_);
    if (!range_end_ || (!end.empty() && end <= *range_end_)) return absl::OkStatus();
  }
  // The range reaches past the end: its first key (or the end) tells.
  MERIDIAN_RETURN_IF_ERROR(CheckOwns(start));
  absl::MutexLock lock(&range_mu_);
  return WrongShardError("", 0,
                         absl::StrCat("the range reaches past \"", Printable(*range_end_),
                                      "\", where this shard split; refresh the shard map"));
}

Status TxnStore::CheckOwnsRecord(std::string_view engine_key) const {
  std::optional<std::string> key = UserKeyOfRecord(engine_key);
  return key ? CheckOwns(*key) : absl::OkStatus();
}

Result<std::optional<SplitChild>> TxnStore::ReadSplitChild(uint64_t child_group) {
  MERIDIAN_ASSIGN_OR_RETURN(
      std::optional<storage::ReadResult> r,
      engine_->Get(keyspace::SplitChildKey(child_group), storage::Snapshot::Latest()));
  if (!r || !r->value) return std::optional<SplitChild>();
  SplitChild c;
  if (!DecodeSplitChild(*r->value, &c)) return CorruptionError("malformed split record");
  return std::optional<SplitChild>(std::move(c));
}

Result<std::vector<SplitChild>> TxnStore::SplitChildren() {
  std::vector<SplitChild> out;
  Status decode_error;
  storage::ScanOptions opts{keyspace::kSplitChildPrefix,
                            PrefixSuccessor(keyspace::kSplitChildPrefix), 0, false};
  MERIDIAN_RETURN_IF_ERROR(engine_->Scan(
      opts, storage::Snapshot::Latest(),
      [&](const storage::KeyValue& kv) {
        SplitChild c;
        if (!DecodeSplitChild(kv.value, &c)) {
          decode_error = CorruptionError("malformed split record");
          return false;
        }
        out.push_back(std::move(c));
        return true;
      },
      nullptr));
  MERIDIAN_RETURN_IF_ERROR(decode_error);
  return out;
}

Result<RangeSize> TxnStore::MeasureRange() {
  RangeSize size;
  const storage::Snapshot snapshot = SnapshotAt(visible_hlc_.load());
  storage::ScanOptions opts{keyspace::kKvRangeStart, keyspace::kKvRangeEnd, 0, true};
  opts.keys_only = false;
  const auto bytes = [](const storage::KeyValue& kv) { return kv.key.size() - 1 + kv.value.size(); };
  // Two passes (the total, then where half of it lies) rather than holding
  // every key.
  MERIDIAN_RETURN_IF_ERROR(engine_->Scan(
      opts, snapshot,
      [&](const storage::KeyValue& kv) {
        size.live_bytes += bytes(kv);
        ++size.keys;
        return true;
      },
      nullptr));
  if (size.keys < 2) return size;
  uint64_t below = 0, seen = 0;
  MERIDIAN_RETURN_IF_ERROR(engine_->Scan(
      opts, snapshot,
      [&](const storage::KeyValue& kv) {
        // Never the first key: a split there would leave the parent empty.
        if (seen++ > 0 && (below * 2 >= size.live_bytes || seen == size.keys)) {
          size.middle_key = std::string(keyspace::UserKeyOf(kv.key));
          return false;
        }
        below += bytes(kv);
        return true;
      },
      nullptr));
  return size;
}

Status TxnStore::Split(const SplitSpec& spec) {
  if (spec.split_key.empty()) return InvalidArgumentError("split: empty split key");
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(options_.limits, spec.split_key));
  if (spec.child_shard == 0 || spec.child_group == 0) {
    return InvalidArgumentError("split: the child shard and group ids must not be 0");
  }
  if (!split_handler_) {
    return absl::FailedPreconditionError("split: this store has no split handler (not a shard group)");
  }
  // Reads the range, the records and the intents before it writes: waits for
  // queued commits to apply, and holds the lock until the split is applied,
  // so every later write sees the new range end.
  ReadWriteLock lock(this);
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<SplitChild> done, ReadSplitChild(spec.child_group));
  if (done) {
    if (done->spec.split_key != spec.split_key || done->spec.child_shard != spec.child_shard) {
      return InvalidArgumentError(absl::StrCat("split: group ", spec.child_group,
                                               " was already split off at another key"));
    }
    return absl::OkStatus();  // a repeat
  }
  const std::optional<std::string> end = RangeEnd();
  if (end && spec.split_key >= *end) {
    return InvalidArgumentError(absl::StrCat("split: key \"", Printable(spec.split_key),
                                             "\" is not below this shard's end \"",
                                             Printable(*end), "\""));
  }
  {
    absl::MutexLock intents(&intents_mu_);
    for (auto it = intents_.lower_bound(spec.split_key);
         it != intents_.end() && (!end || it->first < *end); ++it) {
      return absl::FailedPreconditionError(
          absl::StrCat("split: key \"", Printable(it->first),
                       "\" holds an intent of a transaction being committed; retry the split"));
    }
  }
  std::string cmd;
  cmd.push_back(kRestoreCommandTag);
  cmd.push_back(kSplit);
  PutVarint64(&cmd, hlc_->Now());
  PutLengthPrefixed(&cmd, spec.split_key);
  PutVarint64(&cmd, spec.child_shard);
  PutVarint64(&cmd, spec.child_group);
  if (commit_log_ != nullptr) {
    uint64_t applied = 0;
    MERIDIAN_RETURN_IF_ERROR(ProposeCheckedLocked(std::move(cmd), &applied));
  } else {
    absl::MutexLock apply(&apply_mu_);
    MERIDIAN_RETURN_IF_ERROR(ApplySplitCommand(next_log_index_, cmd, /*sync=*/true).status());
    ++next_log_index_;
  }
  MERIDIAN_ASSIGN_OR_RETURN(done, ReadSplitChild(spec.child_group));
  if (!done) return absl::FailedPreconditionError("split: refused when applied; retry the split");
  return absl::OkStatus();
}

Result<uint64_t> TxnStore::ApplySplitCommand(uint64_t index, std::string_view command,
                                             bool sync) {
  std::string_view in = command.substr(2);
  uint64_t stamp = 0;
  std::string_view split_key;
  SplitChild child;
  if (!GetVarint64(&in, &stamp) || !GetLengthPrefixed(&in, &split_key) ||
      !GetVarint64(&in, &child.spec.child_shard) || !GetVarint64(&in, &child.spec.child_group) ||
      !in.empty()) {
    return CorruptionError(absl::StrCat("malformed split command at index ", index));
  }
  child.spec.split_key = std::string(split_key);
  child.end_key = RangeEnd().value_or("");
  child.index = index;
  // Stamped like a commit, and raised above every earlier one.
  const uint64_t ts = std::max(stamp, visible_hlc_.load() + 1);
  child.split_hlc = ts;
  const storage::Version version{ts, options_.site_id};
  const storage::Version meta{index, options_.site_id};

  // The same checks as the proposer's, on the same state on every replica:
  // a split that no longer fits (a repeat, or an intent that got in) only
  // closes its timestamp.
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<SplitChild> done,
                            ReadSplitChild(child.spec.child_group));
  bool refused = done.has_value() || !split_handler_ ||
                 (!child.end_key.empty() && child.spec.split_key >= child.end_key);
  if (!refused) {
    absl::MutexLock intents(&intents_mu_);
    auto it = intents_.lower_bound(child.spec.split_key);
    refused = it != intents_.end() && InRange(it->first, child.spec.split_key, child.end_key);
  }
  std::vector<storage::Record> records;
  if (!refused) {
    // Every version of the moved keys, for the child; one tombstone per
    // moved key, for this store.
    std::vector<storage::Record> moved;
    uint64_t exported_at = 0;
    MERIDIAN_RETURN_IF_ERROR(engine_->Export(
        [&](const storage::Record& r) {
          std::optional<std::string> key = UserKeyOfRecord(r.key);
          if (!key || !InRange(*key, child.spec.split_key, child.end_key)) return absl::OkStatus();
          if (moved.empty() || moved.back().key != r.key) {
            records.push_back({r.key, version, std::nullopt});
          }
          moved.push_back(r);
          return absl::OkStatus();
        },
        &exported_at));
    // The child's clock starts at the split; its range end is this one's.
    moved.push_back({keyspace::LastCommitKey(), version, std::string()});
    if (!child.end_key.empty()) moved.push_back({keyspace::RangeEndKey(), meta, child.end_key});
    std::sort(moved.begin(), moved.end(), [](const storage::Record& a, const storage::Record& b) {
      return a.key != b.key ? a.key < b.key : a.version > b.version;
    });
    MERIDIAN_RETURN_IF_ERROR(split_handler_(child, moved));
    records.push_back({keyspace::RangeEndKey(), meta, child.spec.split_key});
    records.push_back({keyspace::SplitChildKey(child.spec.child_group), meta,
                       EncodeSplitChild(child)});
  }
  records.push_back({refused ? keyspace::LastCloseKey() : keyspace::LastCommitKey(), version,
                     std::string()});
  MERIDIAN_RETURN_IF_ERROR(engine_->Apply({index, std::move(records), /*chosen=*/true}, sync));
  if (!refused) {
    absl::MutexLock lock(&range_mu_);
    range_end_ = child.spec.split_key;
  }
  (void)hlc_->Observe(ts);
  visible_hlc_.store(ts);
  return ts;
}

}  // namespace meridian::txn
