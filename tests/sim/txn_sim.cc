#include "tests/sim/txn_sim.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "common/coding.h"
#include "common/hlc.h"
#include "common/random.h"
#include "proto/shard_lookup.h"
#include "server/shard_access.h"
#include "server/shard_directory.h"
#include "server/txn_coordinator.h"
#include "storage/rocks/rocks_engine.h"
#include "txn/txn_store.h"

namespace meridian::sim {

const char* TxnWorkloadName(TxnWorkload w) {
  switch (w) {
    case TxnWorkload::kBank:
      return "bank";
    case TxnWorkload::kListAppend:
      return "list-append";
    case TxnWorkload::kLongFork:
      return "long-fork";
  }
  return "?";
}

const char* TxnFaultsName(TxnFaults f) {
  switch (f) {
    case TxnFaults::kNone:
      return "none";
    case TxnFaults::kCrashes:
      return "crashes";
    case TxnFaults::kPartitions:
      return "partitions";
    case TxnFaults::kAll:
      return "all";
  }
  return "?";
}

void TxnSimStats::Add(const TxnSimStats& o) {
  committed += o.committed;
  committed_two_phase += o.committed_two_phase;
  one_shot_commits += o.one_shot_commits;
  aborted += o.aborted;
  unknown += o.unknown;
  reads_checked += o.reads_checked;
  participant_restarts += o.participant_restarts;
  coordinator_crashes += o.coordinator_crashes;
  late_decisions += o.late_decisions;
  lost_requests += o.lost_requests;
  lost_replies += o.lost_replies;
  partitions += o.partitions;
  blocked_waits += o.blocked_waits;
  outcome_lookups += o.outcome_lookups;
  lookup_aborts += o.lookup_aborts;
}

std::string TxnSimStats::ToString() const {
  return absl::StrCat(
      "committed ", committed, " (two-phase ", committed_two_phase, ", one-shot ", one_shot_commits,
      "), aborted ", aborted, ", unknown ", unknown, "; complete reads checked ", reads_checked,
      "; participant restarts ", participant_restarts, ", coordinator crashes ",
      coordinator_crashes, ", late decisions ", late_decisions, ", lost requests ", lost_requests,
      ", lost replies ", lost_replies, ", partitions ", partitions, "; reader waits ",
      blocked_waits, ", outcome lookups ", outcome_lookups, " (aborted ", lookup_aborts, ")");
}

namespace {

// Transactions time out after this (virtual) long; it is also their
// intents' deadline, so readers recover a crashed coordinator's
// transactions after at most this much virtual time.
constexpr uint64_t kTxnTimeoutMs = 1000;
constexpr size_t kTraceKeep = 60;
// Each node's clock is off by up to this much either way.
constexpr int64_t kMaxSkewMs = 40;

// Virtual time. Moves only when the simulator advances it, or when a
// waiting loop (TxnStore::WaitForIntents) sleeps through it.
class SimClock final : public Clock {
 public:
  uint64_t NowUnixMillis() override { return kStartMs + now_us_.load() / 1000; }
  uint64_t NowUnixMicros() override { return kStartMs * 1000 + now_us_.load(); }
  uint64_t NowMonotonicMicros() override { return now_us_.load(); }
  void SleepMicros(uint64_t us) override {
    now_us_ += us;
    if (on_sleep) on_sleep();
  }
  void Advance(uint64_t us) { now_us_ += us; }
  uint64_t now_us() const { return now_us_.load(); }
  std::function<void()> on_sleep;

 private:
  static constexpr uint64_t kStartMs = 1'700'000'000'000;
  std::atomic<uint64_t> now_us_{0};
};

// One node's view of virtual time: its wall clock is off by a fixed skew
// (within the HLC's max offset), as real nodes' clocks are.
class NodeClock final : public Clock {
 public:
  NodeClock(SimClock* base, int64_t skew_ms) : base_(base), skew_ms_(skew_ms) {}
  uint64_t NowUnixMillis() override { return base_->NowUnixMillis() + skew_ms_; }
  uint64_t NowUnixMicros() override { return base_->NowUnixMicros() + skew_ms_ * 1000; }
  uint64_t NowMonotonicMicros() override { return base_->NowMonotonicMicros(); }
  void SleepMicros(uint64_t us) override { base_->SleepMicros(us); }
  int64_t skew_ms() const { return skew_ms_; }

 private:
  SimClock* const base_;
  const int64_t skew_ms_;
};

using Seen = std::map<std::string, std::optional<std::string>>;

// One operation of a planned transaction.
struct PlanOp {
  enum class Kind { kGet, kScanAll, kPut };
  Kind kind = Kind::kGet;
  std::string key;
  // kPut: the value to write, from what the transaction read so far;
  // nullopt: skip this write.
  std::function<std::optional<std::string>(const Seen&)> value;
};

struct Plan {
  std::vector<PlanOp> ops;
  bool full_read = false;  // reads every key of the workload
  // Commit as a one-shot transaction instead (TxnCoordinator::Execute):
  // abort this one, then write what it would have written if every key it
  // wrote still has the value this one read (compares at a new snapshot).
  bool one_shot_commit = false;
};

enum class Outcome { kOpen, kCommitted, kAborted, kUnknown };

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kOpen:
      return "open";
    case Outcome::kCommitted:
      return "committed";
    case Outcome::kAborted:
      return "aborted";
    case Outcome::kUnknown:
      return "unknown";
  }
  return "?";
}

// What one transaction did, as its client saw it.
struct TxnRecord {
  uint64_t id = 0;       // the simulator's number
  uint64_t node_id = 0;  // its coordinator's
  uint64_t txn_id = 0;   // the coordinator's id
  uint64_t snapshot = 0;
  uint64_t commit_hlc = 0;  // committed with writes
  Outcome outcome = Outcome::kOpen;
  bool full_read = false;
  bool reads_complete = false;  // every planned read answered
  // Reads from the store (plans never read a key after writing it).
  std::vector<std::pair<std::string, std::optional<std::string>>> reads;
  std::map<std::string, std::string> writes;

  std::string Describe() const {
    return absl::StrCat("txn ", id, " (", OutcomeName(outcome), ", snapshot ", FormatHlc(snapshot),
                        commit_hlc ? absl::StrCat(", commit ", FormatHlc(commit_hlc)) : "", ")");
  }
};

std::string Show(const std::optional<std::string>& v) {
  return v ? absl::StrCat("\"", *v, "\"") : "absent";
}

// The key of item `i` of a workload: item i lives in shard i % shards + 1.
std::string ItemKey(int shards, int i, std::string_view name) {
  return absl::StrCat(std::string(1, static_cast<char>('a' + i % shards)), "/", std::string(name),
                      i);
}

// A workload: plans transactions and checks what they saw.
class Workload {
 public:
  virtual ~Workload() = default;
  // Written by one transaction before the run.
  virtual std::map<std::string, std::string> Initial() = 0;
  virtual std::vector<std::string> Keys() = 0;
  virtual Plan Next(Random& rng) = 0;
  // Checks a transaction that just ended (its outcome may still be kUnknown).
  virtual Status Check(const TxnRecord& t) = 0;
  // End-state check: `final` read every key at one snapshot after the run;
  // `history` holds every transaction, outcomes settled where the records
  // say.
  virtual Status Final(const TxnRecord& final, const std::vector<TxnRecord>& history) = 0;
  uint64_t reads_checked = 0;
};

// ---- bank ----

class Bank final : public Workload {
 public:
  explicit Bank(int shards) {
    for (int i = 0; i < 2 * shards; ++i) accounts_.push_back(ItemKey(shards, i, "acct"));
  }
  std::map<std::string, std::string> Initial() override {
    std::map<std::string, std::string> out;
    for (const std::string& a : accounts_) out[a] = std::to_string(kBalance);
    return out;
  }
  std::vector<std::string> Keys() override { return accounts_; }
  Plan Next(Random& rng) override {
    Plan p;
    if (rng.OneIn(3)) {
      p.full_read = true;
      if (rng.OneIn(2)) {
        p.ops.push_back({PlanOp::Kind::kScanAll, "", {}});
      } else {
        std::vector<std::string> order = accounts_;
        for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Uniform(i)]);
        for (const std::string& a : order) p.ops.push_back({PlanOp::Kind::kGet, a, {}});
      }
      return p;
    }
    const size_t i = rng.Uniform(accounts_.size());
    size_t j = rng.Uniform(accounts_.size() - 1);
    if (j >= i) ++j;
    const std::string from = accounts_[i], to = accounts_[j];
    const int64_t amount = 1 + static_cast<int64_t>(rng.Uniform(30));
    auto balance = [](const Seen& seen, const std::string& k) -> std::optional<int64_t> {
      auto it = seen.find(k);
      int64_t v = 0;
      if (it == seen.end() || !it->second || !absl::SimpleAtoi(*it->second, &v)) return {};
      return v;
    };
    p.one_shot_commit = rng.OneIn(4);
    p.ops.push_back({PlanOp::Kind::kGet, from, {}});
    p.ops.push_back({PlanOp::Kind::kGet, to, {}});
    p.ops.push_back({PlanOp::Kind::kPut, from, [=](const Seen& s) -> std::optional<std::string> {
                       auto a = balance(s, from), b = balance(s, to);
                       if (!a || !b || *a < amount) return {};
                       return std::to_string(*a - amount);
                     }});
    p.ops.push_back({PlanOp::Kind::kPut, to, [=](const Seen& s) -> std::optional<std::string> {
                       auto a = balance(s, from), b = balance(s, to);
                       if (!a || !b || *a < amount) return {};
                       return std::to_string(*b + amount);
                     }});
    return p;
  }
  Status Check(const TxnRecord& t) override {
    if (!t.full_read || !t.reads_complete) return absl::OkStatus();
    return CheckTotal(t);
  }
  Status Final(const TxnRecord& final, const std::vector<TxnRecord>&) override {
    return CheckTotal(final);
  }

 private:
  static constexpr int64_t kBalance = 100;

  Status CheckTotal(const TxnRecord& t) {
    ++reads_checked;
    std::map<std::string, int64_t> seen;
    for (const auto& [k, v] : t.reads) {
      int64_t b = 0;
      if (!v || !absl::SimpleAtoi(*v, &b)) {
        return absl::InternalError(
            absl::StrCat("bank: ", t.Describe(), " read account ", k, " = ", Show(v)));
      }
      if (b < 0) {
        return absl::InternalError(
            absl::StrCat("bank: ", t.Describe(), " read a negative balance ", k, " = ", b));
      }
      seen[k] = b;
    }
    int64_t total = 0;
    for (const std::string& a : accounts_) {
      auto it = seen.find(a);
      if (it == seen.end()) {
        return absl::InternalError(
            absl::StrCat("bank: ", t.Describe(), " did not see account ", a));
      }
      total += it->second;
    }
    const int64_t want = kBalance * static_cast<int64_t>(accounts_.size());
    if (total != want || seen.size() != accounts_.size()) {
      std::vector<std::string> parts;
      for (const auto& [k, b] : seen) parts.push_back(absl::StrCat(k, "=", b));
      return absl::InternalError(absl::StrCat("bank: ", t.Describe(), " read a total of ", total,
                                              ", not ", want, ": ", absl::StrJoin(parts, " ")));
    }
    return absl::OkStatus();
  }

  std::vector<std::string> accounts_;
};

// ---- list-append ----

std::vector<uint64_t> ParseList(const std::optional<std::string>& v) {
  std::vector<uint64_t> out;
  if (!v) return out;
  for (absl::string_view part : absl::StrSplit(*v, ' ', absl::SkipEmpty())) {
    uint64_t x = 0;
    if (absl::SimpleAtoi(part, &x)) out.push_back(x);
  }
  return out;
}

std::string ShowList(const std::vector<uint64_t>& l) {
  return absl::StrCat("[", absl::StrJoin(l, " "), "]");
}

class ListAppend final : public Workload {
 public:
  explicit ListAppend(int shards) {
    for (int i = 0; i < 2 * shards; ++i) keys_.push_back(ItemKey(shards, i, "list"));
  }
  std::map<std::string, std::string> Initial() override { return {}; }
  std::vector<std::string> Keys() override { return keys_; }
  Plan Next(Random& rng) override {
    Plan p;
    if (rng.OneIn(5)) {  // read them all
      p.full_read = true;
      std::vector<std::string> order = keys_;
      for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Uniform(i)]);
      for (const std::string& k : order) p.ops.push_back({PlanOp::Kind::kGet, k, {}});
      return p;
    }
    // 1..4 micro-ops on distinct keys: an append reads the list and writes
    // it extended by a unique value.
    std::vector<std::string> order = keys_;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Uniform(i)]);
    const size_t n = 1 + rng.Uniform(4);
    for (size_t i = 0; i < n; ++i) {
      const std::string k = order[i];
      p.ops.push_back({PlanOp::Kind::kGet, k, {}});
      if (rng.OneIn(3)) continue;  // a read
      const uint64_t v = next_value_++;
      p.ops.push_back({PlanOp::Kind::kPut, k, [k, v](const Seen& s) -> std::optional<std::string> {
                         auto it = s.find(k);
                         if (it == s.end()) return {};
                         std::string out = it->second.value_or("");
                         if (!out.empty()) out += " ";
                         return out + std::to_string(v);
                       }});
    }
    return p;
  }

  Status Check(const TxnRecord& t) override {
    MERIDIAN_RETURN_IF_ERROR(CheckReads(t));
    Register(t);
    return absl::OkStatus();
  }

  Status Final(const TxnRecord& final, const std::vector<TxnRecord>& history) override {
    // Outcomes the records settled replace what clients knew.
    for (const TxnRecord& t : history) Register(t);
    MERIDIAN_RETURN_IF_ERROR(CheckReads(final));
    for (const TxnRecord& t : history) MERIDIAN_RETURN_IF_ERROR(CheckVisibility(t));
    return CheckVisibility(final);
  }

 private:
  struct Append {
    uint64_t txn = 0;
    std::string key;
  };
  struct Writer {
    Outcome outcome = Outcome::kOpen;
    uint64_t commit_hlc = 0;
    std::map<std::string, uint64_t> appends;  // key -> value
    std::string describe;
  };

  void Register(const TxnRecord& t) {
    Writer& w = writers_[t.id];
    w.outcome = t.outcome;
    w.commit_hlc = t.commit_hlc;
    w.describe = t.Describe();
    for (const auto& [k, v] : t.writes) {
      std::vector<uint64_t> l = ParseList(v);
      if (l.empty()) continue;
      w.appends[k] = l.back();
      appended_[l.back()] = {t.id, k};
    }
  }

  // The per-read checks: no duplicates, no value from an aborted (or not
  // yet committed) transaction, one order per key, no fractured cut.
  Status CheckReads(const TxnRecord& t) {
    std::map<std::string, std::vector<uint64_t>> lists;
    for (const auto& [k, v] : t.reads) lists[k] = ParseList(v);
    if (t.full_read && t.reads_complete) ++reads_checked;
    for (const auto& [k, l] : lists) {
      std::set<uint64_t> seen;
      for (uint64_t e : l) {
        if (!seen.insert(e).second) {
          return absl::InternalError(absl::StrCat("list-append: ", t.Describe(), " read ", k, " = ",
                                                  ShowList(l), ": ", e, " twice"));
        }
        auto a = appended_.find(e);
        if (a == appended_.end() || a->second.key != k) {
          return absl::InternalError(absl::StrCat("list-append: ", t.Describe(), " read ", k, " = ",
                                                  ShowList(l), ": ", e,
                                                  " was appended there by no transaction that "
                                                  "ended"));
        }
        const Writer& w = writers_[a->second.txn];
        if (w.outcome == Outcome::kAborted || w.outcome == Outcome::kOpen) {
          return absl::InternalError(absl::StrCat("list-append: ", t.Describe(), " read ", k, " = ",
                                                  ShowList(l), ": ", e, " was appended by ",
                                                  w.describe));
        }
        // Fractured: the writer's other appends to keys this one read.
        for (const auto& [k2, e2] : w.appends) {
          auto l2 = lists.find(k2);
          if (l2 == lists.end()) continue;
          if (std::find(l2->second.begin(), l2->second.end(), e2) == l2->second.end()) {
            return absl::InternalError(
                absl::StrCat("list-append: fractured read: ", t.Describe(), " read ", k, " = ",
                             ShowList(l), " (with ", e, " of ", w.describe, ") but ", k2, " = ",
                             ShowList(l2->second), " (without its ", e2, ")"));
          }
        }
      }
      // One order per key: each read is a prefix of the longest, or extends it.
      std::vector<uint64_t>& longest = longest_[k];
      const size_t common = std::min(longest.size(), l.size());
      if (!std::equal(l.begin(), l.begin() + common, longest.begin())) {
        return absl::InternalError(absl::StrCat("list-append: ", t.Describe(), " read ", k, " = ",
                                                ShowList(l), ", which is not a prefix of ",
                                                ShowList(longest), " read before, nor extends it"));
      }
      if (l.size() > longest.size()) longest = l;
    }
    return absl::OkStatus();
  }

  // With outcomes settled: a read at snapshot s of key k holds exactly the
  // committed appends to k stamped at or below s, in commit order, plus
  // maybe some of unknown outcome.
  Status CheckVisibility(const TxnRecord& t) {
    for (const auto& [k, v] : t.reads) {
      const std::vector<uint64_t> l = ParseList(v);
      std::set<uint64_t> in(l.begin(), l.end());
      uint64_t last_commit = 0;
      for (uint64_t e : l) {
        const Writer& w = writers_[appended_[e].txn];
        if (w.outcome == Outcome::kAborted) {
          return absl::InternalError(absl::StrCat("list-append: ", t.Describe(), " read ", k, " = ",
                                                  ShowList(l), ": ", e, " was appended by ",
                                                  w.describe));
        }
        if (w.outcome != Outcome::kCommitted) continue;
        if (w.commit_hlc > t.snapshot) {
          return absl::InternalError(absl::StrCat("list-append: ", t.Describe(), " read ", k, " = ",
                                                  ShowList(l), ": ", e, " of ", w.describe,
                                                  ", committed after the snapshot"));
        }
        if (w.commit_hlc < last_commit) {
          return absl::InternalError(absl::StrCat("list-append: ", t.Describe(), " read ", k, " = ",
                                                  ShowList(l), ": ", e, " of ", w.describe,
                                                  " is after an append committed later"));
        }
        last_commit = w.commit_hlc;
      }
      for (const auto& [e, a] : appended_) {
        if (a.key != k) continue;
        const Writer& w = writers_[a.txn];
        if (w.outcome == Outcome::kCommitted && w.commit_hlc <= t.snapshot && !in.count(e)) {
          return absl::InternalError(absl::StrCat("list-append: lost append: ", t.Describe(),
                                                  " read ", k, " = ", ShowList(l), " without ", e,
                                                  " of ", w.describe));
        }
      }
    }
    return absl::OkStatus();
  }

  std::vector<std::string> keys_;
  uint64_t next_value_ = 1;
  std::map<uint64_t, Writer> writers_;
  std::map<uint64_t, Append> appended_;  // value -> who appended it where
  std::map<std::string, std::vector<uint64_t>> longest_;
};

// ---- long fork ----

class LongFork final : public Workload {
 public:
  explicit LongFork(int shards) {
    for (int i = 0; i < 2 * shards; ++i) keys_.push_back(ItemKey(shards, i, "ctr"));
  }
  std::map<std::string, std::string> Initial() override { return {}; }
  std::vector<std::string> Keys() override { return keys_; }
  Plan Next(Random& rng) override {
    Plan p;
    std::vector<std::string> order = keys_;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Uniform(i)]);
    if (rng.OneIn(3)) {
      p.full_read = true;
      if (rng.OneIn(2)) {
        p.ops.push_back({PlanOp::Kind::kScanAll, "", {}});
      } else {
        for (const std::string& k : order) p.ops.push_back({PlanOp::Kind::kGet, k, {}});
      }
      return p;
    }
    const size_t n = 1 + rng.Uniform(2);
    for (size_t i = 0; i < n; ++i) {
      const std::string k = order[i];
      p.ops.push_back({PlanOp::Kind::kGet, k, {}});
      p.ops.push_back({PlanOp::Kind::kPut, k, [k](const Seen& s) -> std::optional<std::string> {
                         auto it = s.find(k);
                         if (it == s.end()) return {};
                         return std::to_string(Value(it->second) + 1);
                       }});
    }
    return p;
  }
  Status Check(const TxnRecord& t) override {
    if (!t.full_read || !t.reads_complete) return absl::OkStatus();
    ++reads_checked;
    const std::vector<uint64_t> v = Vector(t);
    for (const auto& [other, w] : reads_) {
      bool le = true, ge = true;
      for (size_t i = 0; i < v.size(); ++i) {
        le = le && v[i] <= w[i];
        ge = ge && v[i] >= w[i];
      }
      if (!le && !ge) {
        return absl::InternalError(absl::StrCat("long fork: ", t.Describe(), " read ", ShowList(v),
                                                " and ", other, " read ", ShowList(w), " (keys ",
                                                absl::StrJoin(keys_, " "),
                                                "): neither saw everything the other did"));
      }
    }
    reads_.emplace_back(t.Describe(), v);
    return absl::OkStatus();
  }
  Status Final(const TxnRecord& final, const std::vector<TxnRecord>& history) override {
    MERIDIAN_RETURN_IF_ERROR(Check(final));
    // Committed writers of each (key, value): at most one (no lost update).
    std::map<std::pair<std::string, uint64_t>, const TxnRecord*> committed;
    std::set<std::pair<std::string, uint64_t>> unknown;
    for (const TxnRecord& t : history) {
      for (const auto& [k, v] : t.writes) {
        const std::pair<std::string, uint64_t> kv{k, Value(v)};
        if (t.outcome == Outcome::kUnknown) unknown.insert(kv);
        if (t.outcome != Outcome::kCommitted) continue;
        auto [it, fresh] = committed.emplace(kv, &t);
        if (!fresh) {
          return absl::InternalError(absl::StrCat("lost update: ", t.Describe(), " and ",
                                                  it->second->Describe(), " both committed ", k,
                                                  " = ", v));
        }
      }
    }
    // A read at snapshot s sees the newest committed value at or below s,
    // or one of unknown outcome above it but below the next committed one.
    std::vector<const TxnRecord*> reads;
    for (const TxnRecord& t : history) {
      if (t.full_read && t.reads_complete) reads.push_back(&t);
    }
    reads.push_back(&final);
    for (const TxnRecord* t : reads) {
      const std::vector<uint64_t> v = Vector(*t);
      for (size_t i = 0; i < keys_.size(); ++i) {
        uint64_t lo = 0, hi = UINT64_MAX;
        for (const auto& [kv, w] : committed) {
          if (kv.first != keys_[i]) continue;
          if (w->commit_hlc <= t->snapshot) lo = std::max(lo, kv.second);
          if (w->commit_hlc > t->snapshot) hi = std::min(hi, kv.second);
        }
        if (v[i] < lo || v[i] >= hi || (v[i] != lo && !unknown.count({keys_[i], v[i]}))) {
          return absl::InternalError(absl::StrCat(
              "long fork: ", t->Describe(), " read ", keys_[i], " = ", v[i],
              ", but the newest committed value at or below its snapshot is ", lo,
              hi == UINT64_MAX ? std::string() : absl::StrCat(" and ", hi, " committed after it")));
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  static uint64_t Value(const std::optional<std::string>& v) {
    uint64_t x = 0;
    if (v) (void)absl::SimpleAtoi(*v, &x);
    return x;
  }
  std::vector<uint64_t> Vector(const TxnRecord& t) const {
    std::map<std::string, uint64_t> m;
    for (const auto& [k, v] : t.reads) m[k] = Value(v);
    std::vector<uint64_t> out;
    for (const std::string& k : keys_) out.push_back(m.count(k) ? m[k] : 0);
    return out;
  }

  std::vector<std::string> keys_;
  std::vector<std::pair<std::string, std::vector<uint64_t>>> reads_;
};

}  // namespace

// ---- the simulated cluster ----

class TxnSim::Impl {
 public:
  explicit Impl(const TxnSimOptions& o) : o_(o), rng_(o.seed * 0x9E3779B97F4A7C15ull + 1) {}
  ~Impl() {
    clock_.on_sleep = nullptr;
    coord_.reset();
    for (Shard& s : shards_) {
      s.store.reset();
      s.engine.reset();
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  Status Run();
  TxnSimStats stats_;
  std::deque<std::string> trace_;

 private:
  struct Shard {
    uint64_t id = 0;
    std::string path;
    std::unique_ptr<storage::RocksEngine> engine;
    std::unique_ptr<NodeClock> clock;
    std::unique_ptr<Hlc> hlc;
    std::unique_ptr<txn::TxnStore> store;
    uint64_t partitioned_until_us = 0;
    bool restart_pending = false;
  };
  enum class Kind { kRead, kCommitWrites, kPrepare, kDecideCommit, kDecideAbort, kResolve };

  // The network as one caller sees it: the coordinator (which can crash)
  // or the readers that recover transactions at their record shard.
  class Net final : public server::ShardAccess {
   public:
    Net(Impl* sim, bool coordinator) : coordinator_(coordinator), sim_(sim) {}
    bool dead = false;
    const bool coordinator_;

    Result<txn::ReadResult> Get(uint64_t shard, std::string_view key,
                                uint64_t snapshot_hlc) override {
      return sim_->Deliver<txn::ReadResult>(*this, shard, Kind::kRead, "", [&](txn::TxnStore* s) {
        return s->Get(key, snapshot_hlc);
      });
    }
    Result<std::vector<txn::KeyValue>> Scan(uint64_t shard, const txn::ScanRange& range,
                                            uint64_t snapshot_hlc, bool* more) override {
      return sim_->Deliver<std::vector<txn::KeyValue>>(
          *this, shard, Kind::kRead, "",
          [&](txn::TxnStore* s) { return s->ScanCollect(range, snapshot_hlc, more); });
    }
    Result<txn::CommitInfo> CommitWrites(uint64_t shard, uint64_t snapshot_hlc,
                                         const txn::TxnWrites& writes) override {
      return sim_->Deliver<txn::CommitInfo>(
          *this, shard, Kind::kCommitWrites, "",
          [&](txn::TxnStore* s) { return s->CommitWrites(snapshot_hlc, writes); });
    }
    Result<uint64_t> Prepare(uint64_t shard, const txn::PrepareArgs& args) override {
      sim_->NotePrepare(shard, args);
      return sim_->Deliver<uint64_t>(*this, shard, Kind::kPrepare, args.txn,
                                     [&](txn::TxnStore* s) { return s->Prepare(args); });
    }
    Result<txn::TxnOutcome> Decide(uint64_t shard, const std::string& txn,
                                   const txn::TxnOutcome& proposal) override {
      return sim_->Deliver<txn::TxnOutcome>(
          *this, shard, proposal.committed ? Kind::kDecideCommit : Kind::kDecideAbort, txn,
          [&](txn::TxnStore* s) { return s->Decide(txn, proposal); });
    }
    Status Resolve(uint64_t shard, const std::string& txn, const txn::TxnOutcome& outcome,
                   const std::vector<std::string>& keys) override {
      return sim_
          ->Deliver<bool>(*this, shard, Kind::kResolve, txn,
                          [&](txn::TxnStore* s) -> Result<bool> {
                            MERIDIAN_RETURN_IF_ERROR(s->Resolve(txn, outcome, keys));
                            return true;
                          })
          .status();
    }

   private:
    Impl* const sim_;
  };

  struct Prepared {
    uint64_t deadline_unix_ms = 0;
    std::vector<std::pair<uint64_t, std::string>> keys;  // (shard, key)
  };

  struct Client {
    bool active = false;
    Plan plan;
    size_t next = 0;
    uint64_t generation = 0;  // of the coordinator that began it
    TxnRecord rec;
    Seen seen;
  };

  int64_t Skew() { return static_cast<int64_t>(rng_.Uniform(2 * kMaxSkewMs + 1)) - kMaxSkewMs; }
  bool Crashy() const {
    return faults_on_ && (o_.faults == TxnFaults::kCrashes || o_.faults == TxnFaults::kAll);
  }
  bool Lossy() const {
    return faults_on_ && (o_.faults == TxnFaults::kPartitions || o_.faults == TxnFaults::kAll);
  }
  void Event(std::string what) {
    trace_.push_back(absl::StrCat("[", clock_.now_us() / 1000, ".",
                                  absl::Dec(clock_.now_us() % 1000, absl::kZeroPad3), "ms] ",
                                  std::move(what)));
    if (!o_.verbose && trace_.size() > kTraceKeep) trace_.pop_front();
  }
  static const char* KindName(Kind k) {
    switch (k) {
      case Kind::kRead:
        return "read";
      case Kind::kCommitWrites:
        return "commit-writes";
      case Kind::kPrepare:
        return "prepare";
      case Kind::kDecideCommit:
        return "decide(commit)";
      case Kind::kDecideAbort:
        return "decide(abort)";
      case Kind::kResolve:
        return "resolve";
    }
    return "?";
  }

  Status OpenShard(Shard& s);
  Status RestartShard(Shard& s, const std::string& why);
  void NewCoordinator();
  void NotePrepare(uint64_t shard, const txn::PrepareArgs& args) {
    Prepared& p = prepared_[args.txn];
    p.deadline_unix_ms = args.deadline_unix_ms;
    for (const auto& [k, v] : args.writes) p.keys.push_back({shard, k});
  }
  template <typename T>
  Result<T> Deliver(Net& from, uint64_t shard, Kind kind, const std::string& gid,
                    const std::function<Result<T>(txn::TxnStore*)>& fn);
  // Holds the coordinator's commit decision for `gid` back past its
  // deadline while a reader of one of its keys aborts it at its record.
  void LateDecision(const std::string& gid);
  void OnSleep();
  Status Step();
  void BeginTxn(Client& c);
  Status AdvanceTxn(Client& c);
  Status EndTxn(Client& c, Outcome outcome, const std::string& why);
  Status OneShotCommit(Client& c);
  // After each coordinator call: if it crashed, its open transactions are
  // gone and a new one takes its place.
  Status CheckCoordinator();
  Status Setup();
  Status Quiesce();
  // Settles unknown outcomes of two-phase transactions from their records.
  void SettleOutcomes();
  Status CheckNoIntents();

  const TxnSimOptions o_;
  Random rng_;
  SimClock clock_;
  std::string dir_;  // the shards' engines, removed at the end
  std::vector<Shard> shards_;
  server::ShardDirectory directory_;
  std::unique_ptr<NodeClock> coord_clock_;
  std::unique_ptr<Hlc> coord_hlc_;
  std::unique_ptr<Net> coord_net_;
  std::unique_ptr<Net> reader_net_;
  std::unique_ptr<server::TxnCoordinator> coord_;
  uint64_t generation_ = 0;
  bool faults_on_ = false;
  bool in_hook_ = false;
  std::unique_ptr<Workload> workload_;
  std::vector<Client> clients_;
  std::vector<TxnRecord> history_;
  uint64_t next_txn_ = 1;
  std::map<std::string, Prepared> prepared_;
};

Status TxnSim::Impl::OpenShard(Shard& s) {
  storage::RocksEngine::Options eo;
  eo.path = s.path;
  eo.block_cache_bytes = 1 << 20;
  eo.memtable_bytes = 1 << 20;
  MERIDIAN_ASSIGN_OR_RETURN(s.engine, storage::RocksEngine::Open(eo));
  s.hlc = std::make_unique<Hlc>(s.clock.get());  // a restarted node's HLC starts afresh
  MERIDIAN_ASSIGN_OR_RETURN(s.store,
                            txn::TxnStore::Open(s.engine.get(), s.hlc.get(), s.clock.get(), {}));
  // A read blocked past an intent's deadline decides the transaction at
  // its record (aborting it if undecided), as server/node.cc sets it up.
  s.store->SetOutcomeLookup([this](const txn::TxnIntent& intent) -> Result<txn::TxnOutcome> {
    ++stats_.outcome_lookups;
    Result<txn::TxnOutcome> r =
        reader_net_->Decide(intent.record_shard, intent.txn, txn::TxnOutcome{false, 0});
    if (r.ok() && !r->committed) ++stats_.lookup_aborts;
    Event(absl::StrCat("reader: outcome lookup at shard ", intent.record_shard, ": ",
                       r.ok() ? (r->committed ? "committed" : "aborted") : r.status().ToString()));
    return r;
  });
  return absl::OkStatus();
}

Status TxnSim::Impl::RestartShard(Shard& s, const std::string& why) {
  Event(absl::StrCat("shard ", s.id, " restarts (", why, ")"));
  ++stats_.participant_restarts;
  s.store.reset();
  s.engine.reset();
  s.restart_pending = false;
  Status st = OpenShard(s);
  if (!st.ok())
    return Status(st.code(), absl::StrCat("restart of shard ", s.id, ": ", st.message()));
  return absl::OkStatus();
}

void TxnSim::Impl::NewCoordinator() {
  coord_.reset();
  ++generation_;
  coord_clock_ = std::make_unique<NodeClock>(&clock_, Skew());
  coord_hlc_ = std::make_unique<Hlc>(coord_clock_.get());
  coord_net_ = std::make_unique<Net>(this, /*coordinator=*/true);
  server::TxnCoordinator::Options co;
  co.node_id = generation_;
  co.default_timeout_ms = kTxnTimeoutMs;
  co.resolver_threads = 0;
  coord_ = std::make_unique<server::TxnCoordinator>(coord_net_.get(), &directory_, coord_hlc_.get(),
                                                    coord_clock_.get(), co);
}

template <typename T>
Result<T> TxnSim::Impl::Deliver(Net& from, uint64_t shard, Kind kind, const std::string& gid,
                                const std::function<Result<T>(txn::TxnStore*)>& fn) {
  if (from.dead) return UnavailableError("sim: the coordinator is down");
  if (shard == 0 || shard > shards_.size()) return absl::InternalError("sim: no such shard");
  const char* who = from.coordinator_ ? "coordinator" : "reader";
  Shard& s = shards_[shard - 1];
  if (Lossy() && clock_.now_us() < s.partitioned_until_us) {
    Event(absl::StrCat(who, ": ", KindName(kind), " to shard ", shard, " refused: partitioned"));
    return UnavailableError("sim: shard partitioned away");
  }
  if (Lossy() && rng_.OneIn(40)) {
    ++stats_.lost_requests;
    Event(absl::StrCat(who, ": ", KindName(kind), " to shard ", shard, " lost"));
    return UnavailableError("sim: request lost");
  }
  bool crash_after = false;
  if (from.coordinator_ && Crashy()) {
    if (kind == Kind::kPrepare && rng_.OneIn(30)) {
      from.dead = true;
      Event(absl::StrCat("coordinator crashes at its prepare to shard ", shard));
      return UnavailableError("sim: the coordinator crashed");
    }
    if (kind == Kind::kDecideCommit) {
      switch (rng_.Uniform(10)) {
        case 0:
          from.dead = true;
          Event(absl::StrCat("coordinator crashes before deciding at shard ", shard));
          return UnavailableError("sim: the coordinator crashed");
        case 1:
          crash_after = true;
          break;
        case 2:
        case 3:
          LateDecision(gid);
          break;
        default:
          break;
      }
    }
  }
  Result<T> out = fn(s.store.get());
  Event(absl::StrCat(who, ": ", KindName(kind), " at shard ", shard, ": ",
                     out.ok() ? "ok" : out.status().ToString()));
  if (crash_after) {
    from.dead = true;
    Event("coordinator crashes after deciding, before resolving");
    return UnavailableError("sim: the coordinator crashed");
  }
  if (Crashy() && rng_.OneIn(40)) {
    s.restart_pending = true;  // at the end of this step: the call took effect first
    if (rng_.OneIn(2)) {
      ++stats_.lost_replies;
      Event(absl::StrCat("shard ", shard, " crashes before replying"));
      if (kind == Kind::kCommitWrites) return CommitUnknownError("sim: the shard crashed");
      return UnavailableError("sim: the shard crashed");
    }
  }
  if (Lossy() && rng_.OneIn(40)) {
    ++stats_.lost_replies;
    Event(absl::StrCat(who, ": reply from shard ", shard, " lost"));
    if (kind == Kind::kCommitWrites) return CommitUnknownError("sim: reply lost");
    return UnavailableError("sim: reply lost");
  }
  return out;
}

void TxnSim::Impl::LateDecision(const std::string& gid) {
  auto it = prepared_.find(gid);
  if (it == prepared_.end() || it->second.keys.empty()) return;
  const Prepared& p = it->second;
  const auto& [shard, key] = p.keys[rng_.Uniform(p.keys.size())];
  Shard& s = shards_[shard - 1];
  auto intent = s.store->IntentOn(key);
  if (!intent || intent->txn != gid) return;
  ++stats_.late_decisions;
  if (s.clock->NowUnixMillis() <= p.deadline_unix_ms) {
    clock_.Advance((p.deadline_unix_ms + 1 - s.clock->NowUnixMillis()) * 1000);
  }
  Event(absl::StrCat("the decision is late: past the deadline, a reader reads ", key, " at shard ",
                     shard));
  // A reader at a fresh snapshot: at or above the intent, so it must wait
  // for (or recover) the outcome.
  Result<txn::ReadResult> r = s.store->Get(key, s.hlc->Now());
  Event(absl::StrCat("reader of ", key, ": ", r.ok() ? "ok" : r.status().ToString()));
}

void TxnSim::Impl::OnSleep() {
  ++stats_.blocked_waits;
  if (in_hook_ || coord_ == nullptr) return;
  // What the coordinator's resolver threads would do meanwhile.
  if (rng_.OneIn(3)) {
    in_hook_ = true;
    coord_->RunResolutions(1);
    in_hook_ = false;
  }
}

Status TxnSim::Impl::Setup() {
  static std::atomic<uint64_t> instances{0};
  // tmpfs when there is one: every commit is an fdatasync.
  std::error_code ec;
  const std::filesystem::path base =
      std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
          ? std::filesystem::path("/dev/shm")
          : std::filesystem::temp_directory_path();
  dir_ = (base / absl::StrCat("meridian_txn_sim_", ::getpid(), "_", TxnWorkloadName(o_.workload),
                              "_", TxnFaultsName(o_.faults), "_", o_.seed, "_", ++instances))
             .string();
  std::filesystem::remove_all(dir_, ec);
  std::filesystem::create_directories(dir_, ec);
  if (ec) return UnavailableError(absl::StrCat("cannot create ", dir_, ": ", ec.message()));
  v1::ClusterConfig map;
  map.set_version(1);
  for (int i = 0; i < o_.shards; ++i) {
    v1::ShardInfo* info = map.add_shards();
    info->set_shard_id(i + 1);
    if (i > 0) info->set_start_key(std::string(1, static_cast<char>('a' + i)));
    if (i + 1 < o_.shards) info->set_end_key(std::string(1, static_cast<char>('a' + i + 1)));
  }
  directory_.Set(map, "static");
  shards_.resize(o_.shards);
  for (int i = 0; i < o_.shards; ++i) {
    shards_[i].id = i + 1;
    shards_[i].path = absl::StrCat(dir_, "/shard", i + 1);
    shards_[i].clock = std::make_unique<NodeClock>(&clock_, Skew());
    MERIDIAN_RETURN_IF_ERROR(OpenShard(shards_[i]));
  }
  reader_net_ = std::make_unique<Net>(this, /*coordinator=*/false);
  NewCoordinator();
  clock_.on_sleep = [this] { OnSleep(); };
  switch (o_.workload) {
    case TxnWorkload::kBank:
      workload_ = std::make_unique<Bank>(o_.shards);
      break;
    case TxnWorkload::kListAppend:
      workload_ = std::make_unique<ListAppend>(o_.shards);
      break;
    case TxnWorkload::kLongFork:
      workload_ = std::make_unique<LongFork>(o_.shards);
      break;
  }
  // The initial state, in one transaction (across shards), before faults.
  const auto initial = workload_->Initial();
  if (!initial.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(txn::BeginInfo b, coord_->Begin(kTxnTimeoutMs));
    for (const auto& [k, v] : initial) MERIDIAN_RETURN_IF_ERROR(coord_->Put(b.txn_id, k, v));
    bool two_phase = false;
    MERIDIAN_RETURN_IF_ERROR(coord_->Commit(b.txn_id, &two_phase).status());
    while (coord_->RunResolutions() > 0) {
    }
  }
  // Snapshots are clock readings, and a clock that trails by the skew may
  // take one below a commit acknowledged just before (docs/consistency.md,
  // "Not yet"): let the skew pass, so every snapshot sees the initial state.
  clock_.Advance((2 * kMaxSkewMs + 1) * 1000);
  clients_.resize(o_.clients);
  faults_on_ = true;
  std::vector<int64_t> skews;
  for (const Shard& sh : shards_) skews.push_back(sh.clock->skew_ms());
  Event(absl::StrCat("start: ", TxnWorkloadName(o_.workload), " with ", o_.shards,
                     " shards (clock skews ", absl::StrJoin(skews, " "), " ms; coordinator's ",
                     coord_clock_->skew_ms(), " ms), faults: ", TxnFaultsName(o_.faults)));
  return absl::OkStatus();
}

void TxnSim::Impl::BeginTxn(Client& c) {
  Result<txn::BeginInfo> b = coord_->Begin(kTxnTimeoutMs);
  if (!b.ok()) {
    Event(absl::StrCat("begin: ", b.status().ToString()));
    return;
  }
  c = Client{};
  c.active = true;
  c.plan = workload_->Next(rng_);
  c.generation = generation_;
  c.rec.id = next_txn_++;
  c.rec.node_id = generation_;
  c.rec.txn_id = b->txn_id;
  c.rec.snapshot = b->snapshot_hlc;
  c.rec.full_read = c.plan.full_read;
  Event(absl::StrCat("txn ", c.rec.id, " begins at ", FormatHlc(b->snapshot_hlc)));
}

Status TxnSim::Impl::EndTxn(Client& c, Outcome outcome, const std::string& why) {
  c.active = false;
  c.rec.outcome = outcome;
  switch (outcome) {
    case Outcome::kCommitted:
      ++stats_.committed;
      break;
    case Outcome::kAborted:
      ++stats_.aborted;
      break;
    default:
      ++stats_.unknown;
      break;
  }
  Event(absl::StrCat(c.rec.Describe(), " ends: ", why));
  history_.push_back(c.rec);
  return workload_->Check(history_.back());
}

Status TxnSim::Impl::AdvanceTxn(Client& c) {
  const uint64_t id = c.rec.txn_id;
  auto fail = [&](const Status& s, const std::string& what) {
    (void)coord_->Abort(id);
    return EndTxn(c, Outcome::kAborted, absl::StrCat(what, " failed: ", s.ToString()));
  };
  while (c.next < c.plan.ops.size()) {
    const PlanOp& op = c.plan.ops[c.next++];
    switch (op.kind) {
      case PlanOp::Kind::kGet: {
        Result<txn::ReadResult> r = coord_->Get(id, op.key);
        if (!r.ok()) return fail(r.status(), absl::StrCat("get ", op.key));
        std::optional<std::string> v;
        if (r->found) v = r->value;
        c.rec.reads.push_back({op.key, v});
        c.seen[op.key] = v;
        Event(absl::StrCat("txn ", c.rec.id, " get ", op.key, " = ", Show(v)));
        return absl::OkStatus();
      }
      case PlanOp::Kind::kScanAll: {
        Result<txn::ScanResult> r = coord_->Scan(id, txn::ScanRange{});
        if (!r.ok()) return fail(r.status(), "scan");
        std::vector<std::string> parts;
        for (const txn::KeyValue& kv : r->kvs) {
          c.rec.reads.push_back({kv.key, kv.value});
          c.seen[kv.key] = kv.value;
          parts.push_back(absl::StrCat(kv.key, "=", kv.value));
        }
        Event(absl::StrCat("txn ", c.rec.id, " scan: ", absl::StrJoin(parts, " ")));
        return absl::OkStatus();
      }
      case PlanOp::Kind::kPut: {
        std::optional<std::string> v = op.value(c.seen);
        if (!v) continue;  // the plan skips it
        Status s = coord_->Put(id, op.key, *v);
        if (!s.ok()) return fail(s, absl::StrCat("put ", op.key));
        c.rec.writes[op.key] = *v;
        return absl::OkStatus();
      }
    }
  }
  c.rec.reads_complete = true;
  bool two_phase = false;
  if (c.plan.one_shot_commit && !c.rec.writes.empty()) return OneShotCommit(c);
  Result<txn::CommitInfo> r = coord_->Commit(id, &two_phase);
  if (coord_net_->dead) return EndTxn(c, Outcome::kUnknown, "the coordinator crashed in Commit");
  if (r.ok()) {
    c.rec.commit_hlc = r->commit_hlc;
    if (two_phase) ++stats_.committed_two_phase;
    return EndTxn(c, Outcome::kCommitted,
                  absl::StrCat("committed", two_phase ? " (two-phase)" : ""));
  }
  if (GetErrorKind(r.status()) == ErrorKind::kCommitUnknown) {
    return EndTxn(c, Outcome::kUnknown, r.status().ToString());
  }
  // CONFLICT, UNAVAILABLE (nothing was written), TXN_NOT_FOUND (expired).
  return EndTxn(c, Outcome::kAborted, r.status().ToString());
}

Status TxnSim::Impl::OneShotCommit(Client& c) {
  (void)coord_->Abort(c.rec.txn_id);
  std::vector<txn::Compare> compares;
  std::vector<txn::Op> puts;
  for (const auto& [k, v] : c.rec.writes) {
    txn::Compare cmp;
    cmp.key = k;
    auto seen = c.seen.find(k);
    if (seen != c.seen.end() && seen->second) {
      cmp.value = *seen->second;
    } else {
      cmp.target = txn::Compare::Target::kExists;
      cmp.exists = false;
    }
    compares.push_back(cmp);
    puts.push_back({txn::Op::Kind::kPut, k, v});
  }
  bool two_phase = false;
  Result<txn::ExecuteResult> r = coord_->Execute(compares, puts, {}, &two_phase);
  if (coord_net_->dead) return EndTxn(c, Outcome::kUnknown, "the coordinator crashed in Execute");
  if (r.ok() && r->succeeded) {
    c.rec.snapshot = r->snapshot_hlc;  // its writes were checked at this one
    c.rec.commit_hlc = r->commit_hlc;
    if (two_phase) ++stats_.committed_two_phase;
    ++stats_.one_shot_commits;
    return EndTxn(c, Outcome::kCommitted,
                  absl::StrCat("one-shot committed", two_phase ? " (two-phase)" : ""));
  }
  if (r.ok()) return EndTxn(c, Outcome::kAborted, "one-shot: a compare failed, nothing written");
  if (GetErrorKind(r.status()) == ErrorKind::kCommitUnknown) {
    return EndTxn(c, Outcome::kUnknown, absl::StrCat("one-shot: ", r.status().ToString()));
  }
  return EndTxn(c, Outcome::kAborted, absl::StrCat("one-shot: ", r.status().ToString()));
}

Status TxnSim::Impl::CheckCoordinator() {
  if (!coord_net_->dead) return absl::OkStatus();
  ++stats_.coordinator_crashes;
  for (Client& c : clients_) {
    if (c.active && c.generation == generation_) {
      // Never committed: nothing was sent before Commit.
      MERIDIAN_RETURN_IF_ERROR(EndTxn(c, Outcome::kAborted, "its coordinator crashed"));
    }
  }
  NewCoordinator();
  Event(absl::StrCat("coordinator ", generation_, " starts (clock skew ", coord_clock_->skew_ms(),
                     " ms)"));
  return absl::OkStatus();
}

Status TxnSim::Impl::Step() {
  clock_.Advance(rng_.Uniform(3000));
  for (Shard& s : shards_) {
    if (s.restart_pending) MERIDIAN_RETURN_IF_ERROR(RestartShard(s, "crashed during a call"));
  }
  if (Crashy() && rng_.OneIn(60)) {
    MERIDIAN_RETURN_IF_ERROR(RestartShard(shards_[rng_.Uniform(shards_.size())], "between steps"));
  }
  if (Lossy() && rng_.OneIn(40)) {
    Shard& s = shards_[rng_.Uniform(shards_.size())];
    // Mostly short; now and then longer than a transaction's timeout.
    const uint64_t ms = 1 + rng_.Uniform(rng_.OneIn(8) ? 1500 : 30);
    s.partitioned_until_us = clock_.now_us() + ms * 1000;
    ++stats_.partitions;
    Event(absl::StrCat("shard ", s.id, " is partitioned away for ", ms, " ms"));
  }
  if (rng_.OneIn(3)) {
    coord_->RunResolutions(1 + rng_.Uniform(4));
    MERIDIAN_RETURN_IF_ERROR(CheckCoordinator());
  }
  Client& c = clients_[rng_.Uniform(clients_.size())];
  if (!c.active) {
    BeginTxn(c);
  } else {
    MERIDIAN_RETURN_IF_ERROR(AdvanceTxn(c));
  }
  return CheckCoordinator();
}

void TxnSim::Impl::SettleOutcomes() {
  const auto config = directory_.Current().config;
  for (TxnRecord& t : history_) {
    if (t.outcome != Outcome::kUnknown || t.writes.empty()) continue;
    std::set<uint64_t> shards;
    for (const auto& [k, v] : t.writes) shards.insert(FindShard(*config, k)->shard_id());
    if (shards.size() < 2) continue;  // one round: only its visibility can tell
    std::string gid;
    PutFixed64(&gid, t.node_id);
    PutFixed64(&gid, t.txn_id);
    const uint64_t record = FindShard(*config, t.writes.begin()->first)->shard_id();
    Result<std::optional<txn::TxnOutcome>> o = shards_[record - 1].store->ReadOutcome(gid);
    if (!o.ok()) continue;
    if (!o->has_value()) {
      // Undecided after every key was read past its deadline: no intent is
      // left (CheckNoIntents), so it can never commit.
      t.outcome = Outcome::kAborted;
    } else if ((*o)->committed) {
      t.outcome = Outcome::kCommitted;
      t.commit_hlc = (*o)->commit_hlc;
    } else {
      t.outcome = Outcome::kAborted;
    }
    Event(absl::StrCat("txn ", t.id, " of unknown outcome: its record says ",
                       OutcomeName(t.outcome)));
  }
}

Status TxnSim::Impl::CheckNoIntents() {
  for (Shard& s : shards_) {
    for (const std::string& k : workload_->Keys()) {
      if (auto i = s.store->IntentOn(k)) {
        return absl::InternalError(
            absl::StrCat("an intent of a crashed or slow coordinator is "
                         "left on ",
                         k, " at shard ", s.id, " after the final read"));
      }
    }
  }
  return absl::OkStatus();
}

Status TxnSim::Impl::Quiesce() {
  faults_on_ = false;
  Event("faults stop");
  for (Shard& s : shards_) {
    if (s.restart_pending) MERIDIAN_RETURN_IF_ERROR(RestartShard(s, "crashed during a call"));
  }
  for (Client& c : clients_) {
    if (!c.active) continue;
    (void)coord_->Abort(c.rec.txn_id);
    MERIDIAN_RETURN_IF_ERROR(EndTxn(c, Outcome::kAborted, "the run ends"));
  }
  for (int i = 0; i < 25 && coord_->RunResolutions() > 0; ++i) {
  }
  // Past every deadline: what is left is a crashed coordinator's, for the
  // final read to recover.
  clock_.Advance(3 * kTxnTimeoutMs * 1000);
  Client c;
  c.active = true;
  MERIDIAN_ASSIGN_OR_RETURN(txn::BeginInfo b, coord_->Begin(kTxnTimeoutMs));
  c.rec.id = next_txn_++;
  c.rec.txn_id = b.txn_id;
  c.rec.snapshot = b.snapshot_hlc;
  c.rec.full_read = true;
  Result<txn::ScanResult> r = coord_->Scan(b.txn_id, txn::ScanRange{});
  if (!r.ok()) {
    return Status(r.status().code(),
                  absl::StrCat("the final read failed with no faults: ", r.status().message()));
  }
  for (const txn::KeyValue& kv : r->kvs) c.rec.reads.push_back({kv.key, kv.value});
  c.rec.reads_complete = true;
  (void)coord_->Abort(b.txn_id);
  c.rec.outcome = Outcome::kCommitted;
  Event(absl::StrCat("final read at ", FormatHlc(b.snapshot_hlc), ": ", r->kvs.size(), " keys"));
  SettleOutcomes();
  Status s = workload_->Final(c.rec, history_);
  stats_.reads_checked = workload_->reads_checked;
  MERIDIAN_RETURN_IF_ERROR(s);
  return CheckNoIntents();
}

Status TxnSim::Impl::Run() {
  MERIDIAN_RETURN_IF_ERROR(Setup());
  for (int i = 0; i < o_.steps; ++i) {
    Status s = Step();
    if (!s.ok()) {
      stats_.reads_checked = workload_->reads_checked;
      return Status(s.code(), absl::StrCat("step ", i, ": ", s.message()));
    }
  }
  return Quiesce();
}

TxnSim::TxnSim(const TxnSimOptions& options) : impl_(std::make_unique<Impl>(options)) {}
TxnSim::~TxnSim() = default;
Status TxnSim::Run() { return impl_->Run(); }
const TxnSimStats& TxnSim::stats() const { return impl_->stats_; }
std::string TxnSim::Trace() const { return absl::StrJoin(impl_->trace_, "\n"); }

}  // namespace meridian::sim
