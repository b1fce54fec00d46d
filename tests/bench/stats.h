// What meridian-bench measures: per operation type, the latencies of the
// operations that succeeded and the count of those that failed, by kind.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "tests/bench/histogram.h"
#include "tests/bench/workload.h"

namespace meridian::bench {

struct OpStats {
  Histogram latency_us;  // successful operations only
  uint64_t errors = 0;
  // Read-modify-writes: attempts that aborted on a conflict and were
  // retried (or, in one that gave up, every attempt), over the operations
  // counted here, successful or not (RmwDone's `aborts`, summed).
  uint64_t aborts = 0;
  uint64_t ok() const { return latency_us.count(); }
  // Aborted attempts per successful operation (per committed transaction);
  // 0 when none succeeded.
  double AbortsPerOk() const {
    return ok() > 0 ? static_cast<double>(aborts) / static_cast<double>(ok()) : 0;
  }
  void Merge(const OpStats& other) {
    latency_us.Merge(other.latency_us);
    errors += other.errors;
    aborts += other.aborts;
  }
};

struct ErrorCount {
  uint64_t count = 0;
  std::string first_message;  // of the first error of this kind seen
};

struct RunStats {
  std::array<OpStats, kOpTypes> by_op;
  // Keyed by ErrorKindName ("COMMIT_UNKNOWN", ...) or a bench-defined kind
  // ("NOT_FOUND": a read found no value; "WRONG_SIZE": verification read a
  // value of another size).
  std::map<std::string, ErrorCount> errors_by_kind;

  OpStats Total() const;
  void Merge(const RunStats& other);
};

// The error kind a failed operation is counted under: the Meridian
// ErrorKind name ("CONFLICT", "COMMIT_UNKNOWN", ...) of a Meridian error,
// else the canonical code's name ("DEADLINE_EXCEEDED", "DATA_LOSS", ...).
std::string ErrorKindLabel(const Status& s);

// Collects the results of operations completing on any thread.
//
// Thread-safe. Each thread records into one of a few shards (chosen once per
// thread), so completions on different threads rarely contend.
class Recorder {
 public:
  void Ok(OpType type, uint64_t latency_us);
  void Error(OpType type, std::string_view kind, std::string_view message);
  // `n` attempts of an operation of `type` aborted (see OpStats::aborts);
  // recorded beside the operation's own Ok or Error.
  void Aborts(OpType type, uint64_t n);
  void Error(OpType type, const Status& s) {
    // absl::string_view is not std::string_view in Debian's abseil.
    Error(type, ErrorKindLabel(s), std::string_view(s.message().data(), s.message().size()));
  }

  // Everything recorded so far.
  RunStats Snapshot() const;
  // Cheap running totals, for the progress line.
  uint64_t ok_count() const { return ok_.load(std::memory_order_relaxed); }
  uint64_t error_count() const { return errors_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    RunStats stats ABSL_GUARDED_BY(mu);
  };
  Shard& Mine();

  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> errors_{0};
};

// The key numbers a run wrote successfully, for --verify-writes.
// Thread-safe.
class WrittenKeys {
 public:
  void Add(uint64_t keynum);
  // Distinct key numbers, ascending.
  std::vector<uint64_t> Sorted() const;
  size_t size() const;

 private:
  static constexpr int kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    std::unordered_set<uint64_t> keys ABSL_GUARDED_BY(mu);
  };
  std::array<Shard, kShards> shards_;
};

}  // namespace meridian::bench
