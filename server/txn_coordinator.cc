#include "server/txn_coordinator.h"

#include <algorithm>
#include <cstdlib>
#include <future>

#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "proto/shard_lookup.h"
#include "server/log.h"
#include "txn/compare.h"

namespace meridian::server {
namespace {

constexpr uint64_t kLocalBits = 40;
constexpr uint64_t kLocalMask = (uint64_t{1} << kLocalBits) - 1;
constexpr int kResolveAttempts = 20;

}  // namespace

struct TxnCoordinator::OpenTxn {
  std::mutex mu;
  uint64_t id = 0;
  uint64_t snapshot_hlc = 0;
  uint64_t deadline_mono_us = 0;
  uint64_t deadline_unix_ms = 0;
  uint64_t timeout_ms = 0;
  uint64_t ops = 0;
  bool finished = false;
  txn::TxnWrites writes;
};

TxnCoordinator::TxnCoordinator(ShardAccess* shards, const ShardDirectory* map, Hlc* hlc,
                               Clock* clock, const Options& options)
    : shards_(shards), map_(map), hlc_(hlc), clock_(clock), options_(options) {
  // Restart-unique, like TxnStore's ids.
  next_id_ = 1 + (clock_->NowUnixMillis() * 1000) % (kLocalMask / 2);
  for (int i = 0; i < options_.resolver_threads; ++i) {
    resolvers_.emplace_back([this] { ResolverLoop(); });
  }
}

TxnCoordinator::~TxnCoordinator() {
  {
    std::lock_guard<std::mutex> lock(resolve_mu_);
    stop_ = true;
  }
  resolve_cv_.notify_all();
  for (std::thread& t : resolvers_) t.join();
}

Result<txn::BeginInfo> TxnCoordinator::Begin(uint64_t requested_timeout_ms,
                                             uint64_t min_snapshot_hlc) {
  MERIDIAN_ASSIGN_OR_RETURN(const uint64_t timeout_ms,
                            txn::TxnTimeout(requested_timeout_ms, options_.default_timeout_ms,
                                            options_.max_timeout_ms));
  auto t = std::make_shared<OpenTxn>();
  t->timeout_ms = timeout_ms;
  t->deadline_mono_us = clock_->NowMonotonicMicros() + timeout_ms * 1000;
  t->deadline_unix_ms = clock_->NowUnixMillis() + timeout_ms;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (txns_.size() >= options_.max_open_txns) {
      return ResourceExhaustedError(absl::StrCat("too many open transactions (max_open_txns = ",
                                                 options_.max_open_txns, "); retry later"));
    }
    // Registered (under mu_, as LowWatermark reads) before the snapshot can
    // only move up, so the low watermark never passes it.
    t->snapshot_hlc = std::max(hlc_->Now(), min_snapshot_hlc);
    t->id = (uint64_t{1} << 63) | (options_.node_id << kLocalBits) | (next_id_++ & kLocalMask);
    txns_[t->id] = t;
  }
  if (options_.cluster_clock) {
    const uint64_t cluster = options_.cluster_clock();
    std::lock_guard<std::mutex> txn_lock(t->mu);  // t->mu before mu_, as Commit takes them
    std::lock_guard<std::mutex> lock(mu_);
    t->snapshot_hlc = std::max(t->snapshot_hlc, cluster);
  }
  return txn::BeginInfo{t->id, t->snapshot_hlc, t->deadline_unix_ms};
}

uint64_t TxnCoordinator::LowWatermark() {
  const uint64_t now_us = clock_->NowMonotonicMicros();
  std::lock_guard<std::mutex> lock(mu_);
  // Under mu_: a Begin not yet registered takes its snapshot above this.
  uint64_t low = hlc_->Now();
  for (const auto& [id, t] : txns_) {
    if (now_us <= t->deadline_mono_us) low = std::min(low, t->snapshot_hlc);
  }
  return low;
}

Result<std::shared_ptr<TxnCoordinator::OpenTxn>> TxnCoordinator::Find(uint64_t txn_id) {
  const uint64_t node = (txn_id >> kLocalBits) & ((uint64_t{1} << 23) - 1);
  std::shared_ptr<OpenTxn> t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = txns_.find(txn_id);
    if (it != txns_.end()) t = it->second;
  }
  if (t == nullptr) {
    if (node != options_.node_id) {
      return TxnNotFoundError(absl::StrCat("transaction ", txn_id, " was begun at node ", node,
                                           ", not here (node ", options_.node_id,
                                           "): send its calls there"));
    }
    return TxnNotFoundError(absl::StrCat("unknown transaction ", txn_id,
                                         " (finished, aborted or expired)"));
  }
  if (clock_->NowMonotonicMicros() > t->deadline_mono_us) {
    std::lock_guard<std::mutex> lock(mu_);
    txns_.erase(txn_id);
    return TxnNotFoundError(absl::StrCat("transaction ", txn_id, " expired: its deadline of ",
                                         t->timeout_ms, " ms passed"));
  }
  return t;
}

namespace {

uint64_t ShardOf(const v1::ClusterConfig& map, std::string_view key) {
  const v1::ShardInfo* s = FindShard(map, key);
  return s ? s->shard_id() : 0;
}

}  // namespace

Status TxnCoordinator::Usable(OpenTxn& t, bool count_op) {
  if (t.finished) return TxnNotFoundError(absl::StrCat("transaction ", t.id, " is finished"));
  return count_op ? txn::CountTxnOp(options_.limits, &t.ops) : absl::OkStatus();
}

Result<txn::ReadResult> TxnCoordinator::Get(uint64_t txn_id, std::string_view key) {
  MERIDIAN_RETURN_IF_ERROR(txn::ValidateKey(options_.limits, key));
  MERIDIAN_ASSIGN_OR_RETURN(auto t, Find(txn_id));
  std::lock_guard<std::mutex> lock(t->mu);
  MERIDIAN_RETURN_IF_ERROR(Usable(*t, /*count_op=*/true));
  if (auto it = t->writes.find(std::string(key)); it != t->writes.end()) {
    txn::ReadResult r;
    r.snapshot_hlc = t->snapshot_hlc;
    r.found = it->second.has_value();
    if (r.found) r.value = *it->second;
    return r;
  }
  const uint64_t shard = ShardOf(*map_->Current().config, key);
  return shards_->Get(shard, key, t->snapshot_hlc);
}

Status TxnCoordinator::Put(uint64_t txn_id, std::string_view key, std::string_view value) {
  MERIDIAN_RETURN_IF_ERROR(txn::ValidateKey(options_.limits, key));
  MERIDIAN_RETURN_IF_ERROR(txn::ValidateValue(options_.limits, value));
  MERIDIAN_ASSIGN_OR_RETURN(auto t, Find(txn_id));
  std::lock_guard<std::mutex> lock(t->mu);
  MERIDIAN_RETURN_IF_ERROR(Usable(*t, /*count_op=*/true));
  t->writes[std::string(key)] = std::string(value);
  return absl::OkStatus();
}

Status TxnCoordinator::Delete(uint64_t txn_id, std::string_view key) {
  MERIDIAN_RETURN_IF_ERROR(txn::ValidateKey(options_.limits, key));
  MERIDIAN_ASSIGN_OR_RETURN(auto t, Find(txn_id));
  std::lock_guard<std::mutex> lock(t->mu);
  MERIDIAN_RETURN_IF_ERROR(Usable(*t, /*count_op=*/true));
  t->writes[std::string(key)] = std::nullopt;
  return absl::OkStatus();
}

Result<txn::ScanResult> TxnCoordinator::Scan(uint64_t txn_id, const txn::ScanRange& range) {
  if (!range.prefix.empty() && (!range.start.empty() || !range.end.empty())) {
    return InvalidArgumentError("scan: give either a prefix or a start/end range, not both");
  }
  const std::string start = range.prefix.empty() ? range.start : range.prefix;
  const std::string end = range.prefix.empty() ? range.end : PrefixSuccessor(range.prefix);
  MERIDIAN_RETURN_IF_ERROR(txn::ValidateRange(start, end));
  MERIDIAN_ASSIGN_OR_RETURN(auto t, Find(txn_id));
  std::lock_guard<std::mutex> lock(t->mu);
  MERIDIAN_RETURN_IF_ERROR(Usable(*t, /*count_op=*/true));
  const uint64_t max = options_.limits.max_scan_limit;
  const uint64_t limit = range.limit == 0 ? max : std::min(range.limit, max);

  txn::ScanResult out;
  out.snapshot_hlc = t->snapshot_hlc;
  const auto config = map_->Current().config;
  for (const v1::ShardInfo& shard : config->shards()) {
    // This shard's part of [start, end).
    const std::string& s_end = shard.end_key();
    if (!s_end.empty() && s_end <= start) continue;
    if (!end.empty() && shard.start_key() >= end) break;
    txn::ScanRange part;
    part.start = std::max(start, shard.start_key());
    part.end = end.empty() ? s_end : (s_end.empty() ? end : std::min(end, s_end));
    part.keys_only = range.keys_only;
    auto wit = t->writes.lower_bound(part.start);
    auto wend = part.end.empty() ? t->writes.end() : t->writes.lower_bound(part.end);
    uint64_t deletes = 0;
    for (auto it = wit; it != wend; ++it) deletes += it->second ? 0 : 1;
    // Enough stored keys to fill the limit after buffered deletes hide some.
    part.limit = limit - out.kvs.size() + deletes;
    bool more = false;
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<txn::KeyValue> stored,
                              shards_->Scan(shard.shard_id(), part, t->snapshot_hlc, &more));
    // Merge with the buffered writes, which win.
    std::vector<txn::KeyValue> merged;
    auto sit = stored.begin();
    while (sit != stored.end() || wit != wend) {
      const bool take_write = sit == stored.end() || (wit != wend && wit->first <= sit->key);
      if (take_write) {
        if (sit != stored.end() && sit->key == wit->first) ++sit;
        if (wit->second) merged.push_back({wit->first, range.keys_only ? "" : *wit->second, {}});
        ++wit;
      } else {
        merged.push_back(std::move(*sit++));
      }
    }
    for (txn::KeyValue& kv : merged) {
      if (out.kvs.size() >= limit) {
        out.more = true;
        return out;
      }
      out.kvs.push_back(std::move(kv));
    }
    if (more && out.kvs.size() >= limit) {
      out.more = true;
      return out;
    }
  }
  return out;
}

Result<txn::CommitInfo> TxnCoordinator::Commit(uint64_t txn_id, bool* two_phase) {
  *two_phase = false;
  MERIDIAN_ASSIGN_OR_RETURN(auto t, Find(txn_id));
  std::lock_guard<std::mutex> lock(t->mu);
  MERIDIAN_RETURN_IF_ERROR(Finish(*t, txn_id));
  if (t->writes.empty()) return txn::CommitInfo{0};
  const auto config = map_->Current().config;
  std::map<uint64_t, txn::TxnWrites> by_shard;
  for (auto& [key, value] : t->writes) by_shard[ShardOf(*config, key)][key] = std::move(value);
  if (by_shard.size() == 1) {
    Result<txn::CommitInfo> c = shards_->CommitWrites(by_shard.begin()->first, t->snapshot_hlc,
                                                       by_shard.begin()->second);
    if (c.ok()) (void)hlc_->Observe(c->commit_hlc);
    return c;
  }
  *two_phase = true;
  return CommitAcrossShards(*t, by_shard);
}

Result<txn::CommitInfo> TxnCoordinator::CommitAcrossShards(
    OpenTxn& t, const std::map<uint64_t, txn::TxnWrites>& by_shard) {
  std::string gid;
  PutFixed64(&gid, options_.node_id);
  PutFixed64(&gid, t.id);
  // The record lives with the first written key.
  const uint64_t record_shard = ShardOf(*map_->Current().config, t.writes.begin()->first);
  std::map<uint64_t, std::vector<std::string>> keys;
  for (const auto& [shard, writes] : by_shard) {
    for (const auto& [key, value] : writes) keys[shard].push_back(key);
  }
  // Phase one, every shard at once.
  std::map<uint64_t, std::future<Result<uint64_t>>> prepares;
  for (const auto& [shard, writes] : by_shard) {
    txn::PrepareArgs args{gid, t.snapshot_hlc, t.deadline_unix_ms, record_shard, writes};
    const auto policy =
        options_.resolver_threads == 0 ? std::launch::deferred : std::launch::async;
    prepares.emplace(shard, std::async(policy, [this, shard, args] {
                       return shards_->Prepare(shard, args);
                     }));
  }
  uint64_t commit_hlc = 0;
  Status failed;
  for (auto& [shard, f] : prepares) {
    Result<uint64_t> p = f.get();
    if (p.ok()) {
      commit_hlc = std::max(commit_hlc, *p);
    } else if (failed.ok()) {
      failed = Status(p.status().code(),
                      absl::StrCat("shard ", shard, " refused to prepare: ", p.status().message()));
      if (GetErrorKind(p.status()) == ErrorKind::kConflict) {
        failed = ConflictError(std::string(failed.message()));
      }
    }
  }
  const txn::TxnOutcome abort{false, 0};
  if (!failed.ok()) {
    // Not committed: decide so (a prepare whose answer was lost cannot
    // commit later either), then release whatever was prepared.
    Result<txn::TxnOutcome> d = shards_->Decide(record_shard, gid, abort);
    if (!d.ok() || d->committed) {
      return CommitUnknownError(absl::StrCat(failed.message(), "; and the abort could not be ",
                                             "recorded, so the outcome is unknown"));
    }
    for (auto& [shard, k] : keys) ResolveLater({shard, gid, abort, k});
    return failed;
  }
  if (options_.crash_after_prepare) {
    Log(Level::kError, "testing: the coordinator exits between the phases of a commit", {});
    std::_Exit(86);
  }
  // This node acknowledges it: its clock must cover it (ClusterClock).
  (void)hlc_->Observe(commit_hlc);
  const txn::TxnOutcome commit{true, commit_hlc};
  Result<txn::TxnOutcome> decided = shards_->Decide(record_shard, gid, commit);
  if (!decided.ok()) {
    return CommitUnknownError(absl::StrCat("the commit could not be recorded at shard ",
                                           record_shard, ": ", decided.status().message()));
  }
  for (auto& [shard, k] : keys) ResolveLater({shard, gid, *decided, k});
  if (!decided->committed) {
    return ConflictError(
        "the transaction was aborted: its deadline passed while it committed, and a reader "
        "waiting on it aborted it; retry the transaction");
  }
  return txn::CommitInfo{commit_hlc};
}

Status TxnCoordinator::Abort(uint64_t txn_id) {
  MERIDIAN_ASSIGN_OR_RETURN(auto t, Find(txn_id));
  std::lock_guard<std::mutex> lock(t->mu);
  return Finish(*t, txn_id);
}

Status TxnCoordinator::Finish(OpenTxn& t, uint64_t txn_id) {
  MERIDIAN_RETURN_IF_ERROR(Usable(t, /*count_op=*/false));
  t.finished = true;
  std::lock_guard<std::mutex> l(mu_);
  txns_.erase(txn_id);
  return absl::OkStatus();
}

Result<txn::ExecuteResult> TxnCoordinator::Execute(const std::vector<txn::Compare>& compares,
                                                   const std::vector<txn::Op>& success,
                                                   const std::vector<txn::Op>& failure,
                                                   bool* two_phase) {
  *two_phase = false;
  MERIDIAN_ASSIGN_OR_RETURN(txn::BeginInfo b, Begin(0));
  const uint64_t id = b.txn_id;
  auto run = [&]() -> Result<txn::ExecuteResult> {
    txn::ExecuteResult out;
    out.snapshot_hlc = b.snapshot_hlc;
    out.succeeded = true;
    for (const txn::Compare& c : compares) {
      MERIDIAN_ASSIGN_OR_RETURN(txn::ReadResult r, Get(id, c.key));
      if (!txn::CompareHolds(c, r.found ? std::optional<std::string_view>(r.value) : std::nullopt,
                             r.version.hlc)) {
        out.succeeded = false;
      }
    }
    // Later ops see the earlier ones' writes (Get reads the buffer first).
    for (const txn::Op& op : out.succeeded ? success : failure) {
      txn::OpResult res;
      res.kind = op.kind;
      if (op.kind == txn::Op::Kind::kPut) {
        MERIDIAN_RETURN_IF_ERROR(Put(id, op.key, op.value));
      } else {
        MERIDIAN_ASSIGN_OR_RETURN(txn::ReadResult r, Get(id, op.key));
        res.found = r.found;
        if (op.kind == txn::Op::Kind::kGet && r.found) {
          res.value = std::move(r.value);
          res.version = r.version;
        }
        if (op.kind == txn::Op::Kind::kDelete && r.found) {
          MERIDIAN_RETURN_IF_ERROR(Delete(id, op.key));
        }
      }
      out.results.push_back(std::move(res));
    }
    MERIDIAN_ASSIGN_OR_RETURN(txn::CommitInfo c, Commit(id, two_phase));
    out.commit_hlc = c.commit_hlc;
    return out;
  };
  Result<txn::ExecuteResult> out = run();
  if (!out.ok()) (void)Abort(id);  // TXN_NOT_FOUND if Commit already ended it
  return out;
}

size_t TxnCoordinator::ReapExpired() {
  const uint64_t now = clock_->NowMonotonicMicros();
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto it = txns_.begin(); it != txns_.end();) {
    if (now > it->second->deadline_mono_us) {
      it = txns_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

void TxnCoordinator::ResolveLater(Resolution r) {
  {
    std::lock_guard<std::mutex> lock(resolve_mu_);
    resolutions_.push_back(std::move(r));
  }
  resolve_cv_.notify_one();
}

size_t TxnCoordinator::PendingResolutions() {
  std::lock_guard<std::mutex> lock(resolve_mu_);
  return resolutions_.size() + resolving_;
}

size_t TxnCoordinator::RunResolutions(size_t max) {
  std::deque<Resolution> batch;
  {
    std::lock_guard<std::mutex> lock(resolve_mu_);
    while (!resolutions_.empty() && batch.size() < max) {
      batch.push_back(std::move(resolutions_.front()));
      resolutions_.pop_front();
    }
  }
  for (Resolution& r : batch) {
    if (shards_->Resolve(r.shard, r.txn, r.outcome, r.keys).ok()) continue;
    if (++r.attempts >= kResolveAttempts) continue;  // readers resolve it after the deadline
    std::lock_guard<std::mutex> lock(resolve_mu_);
    resolutions_.push_back(std::move(r));
  }
  return batch.size();
}

void TxnCoordinator::ResolverLoop() {
  std::unique_lock<std::mutex> lock(resolve_mu_);
  while (true) {
    resolve_cv_.wait(lock, [&] { return stop_ || !resolutions_.empty(); });
    // Stopping: what is left is resolved by readers once its deadline passes.
    if (stop_) return;
    Resolution r = std::move(resolutions_.front());
    resolutions_.pop_front();
    ++resolving_;
    lock.unlock();
    Status s;
    for (int attempt = 0; attempt < kResolveAttempts; ++attempt) {
      s = shards_->Resolve(r.shard, r.txn, r.outcome, r.keys);
      if (s.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10 << std::min(attempt, 6)));
    }
    if (!s.ok()) {
      // Readers resolve what is left once the deadline passes.
      Log(Level::kWarn, "cannot resolve a transaction's intents; readers will",
          {{"shard", absl::StrCat(r.shard)}, {"error", std::string(s.message())}});
    }
    lock.lock();
    --resolving_;
  }
}

}  // namespace meridian::server
