#include "tests/bench/stats.h"

#include <algorithm>

#include "absl/strings/cord.h"

namespace meridian::bench {

OpStats RunStats::Total() const {
  OpStats total;
  for (const auto& op : by_op) total.Merge(op);
  return total;
}

void RunStats::Merge(const RunStats& other) {
  for (int i = 0; i < kOpTypes; ++i) by_op[i].Merge(other.by_op[i]);
  for (const auto& [kind, e] : other.errors_by_kind) {
    ErrorCount& mine = errors_by_kind[kind];
    if (mine.count == 0) mine.first_message = e.first_message;
    mine.count += e.count;
  }
}

std::string ErrorKindLabel(const Status& s) {
  // A Meridian error carries its kind as a payload. Without one the kind
  // would only be guessed from the code (NOT_FOUND would read as
  // TXN_NOT_FOUND), so the canonical code names it instead.
  bool has_payload = false;
  s.ForEachPayload([&has_payload](absl::string_view, const absl::Cord&) { has_payload = true; });
  if (!has_payload) return absl::StatusCodeToString(s.code());
  return std::string(ErrorKindName(GetErrorKind(s)));
}

Recorder::Shard& Recorder::Mine() {
  static std::atomic<int> next{0};
  thread_local const int index = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shards_[index];
}

void Recorder::Ok(OpType type, uint64_t latency_us) {
  Shard& shard = Mine();
  {
    absl::MutexLock l(&shard.mu);
    shard.stats.by_op[static_cast<int>(type)].latency_us.Record(latency_us);
  }
  ok_.fetch_add(1, std::memory_order_relaxed);
}

void Recorder::Error(OpType type, std::string_view kind, std::string_view message) {
  Shard& shard = Mine();
  {
    absl::MutexLock l(&shard.mu);
    ++shard.stats.by_op[static_cast<int>(type)].errors;
    ErrorCount& e = shard.stats.errors_by_kind[std::string(kind)];
    if (e.count++ == 0) e.first_message = std::string(message);
  }
  errors_.fetch_add(1, std::memory_order_relaxed);
}

void Recorder::Aborts(OpType type, uint64_t n) {
  if (n == 0) return;
  Shard& shard = Mine();
  absl::MutexLock l(&shard.mu);
  shard.stats.by_op[static_cast<int>(type)].aborts += n;
}

RunStats Recorder::Snapshot() const {
  RunStats all;
  for (const Shard& shard : shards_) {
    absl::MutexLock l(&shard.mu);
    all.Merge(shard.stats);
  }
  return all;
}

void WrittenKeys::Add(uint64_t keynum) {
  Shard& shard = shards_[keynum % kShards];
  absl::MutexLock l(&shard.mu);
  shard.keys.insert(keynum);
}

std::vector<uint64_t> WrittenKeys::Sorted() const {
  std::vector<uint64_t> out;
  for (const Shard& shard : shards_) {
    absl::MutexLock l(&shard.mu);
    out.insert(out.end(), shard.keys.begin(), shard.keys.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

size_t WrittenKeys::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock l(&shard.mu);
    n += shard.keys.size();
  }
  return n;
}

}  // namespace meridian::bench
