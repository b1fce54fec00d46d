#include "tests/bench/stats.h"

#include <algorithm>

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
  const ErrorKind kind = GetErrorKind(s);
  if (kind == ErrorKind::kInternal && s.code() != absl::StatusCode::kInternal) {
    // No Meridian kind fits (an engine's I/O error, a bare gRPC failure):
    // the canonical code says more than "INTERNAL".
    return absl::StatusCodeToString(s.code());
  }
  return std::string(ErrorKindName(kind));
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
