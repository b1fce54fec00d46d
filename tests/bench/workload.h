// What meridian-bench runs: the operation mix of each workload (YCSB core
// A-F plus write, txn and scan), and the shared counter of inserted keys.
#pragma once

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/random.h"
#include "common/status.h"
#include "tests/bench/generators.h"

namespace meridian::bench {

enum class OpType : int {
  kRead = 0,
  kUpdate,           // blind write of an existing key
  kInsert,           // blind write of a new key
  kScan,             // up to N keys from a start key
  kReadModifyWrite,  // one transaction reading and rewriting keys
};
inline constexpr int kOpTypes = 5;
// "read", "update", "insert", "scan", "rmw".
std::string_view OpTypeName(OpType type);

Result<Distribution> ParseDistribution(std::string_view name);
std::string_view DistributionName(Distribution d);

struct WorkloadSpec {
  std::string name;  // "a".."f", "write", "txn", "scan"
  // Fraction of each OpType, indexed by OpType; they sum to 1.
  std::array<double, kOpTypes> mix{};
  Distribution distribution = Distribution::kZipfian;  // the default for it
  // Whether it reads existing keys, so --load defaults to on.
  bool reads_existing = true;
  // Keys each read-modify-write reads and rewrites (YCSB F: 1).
  int rmw_keys = 1;

  double fraction(OpType t) const { return mix[static_cast<int>(t)]; }
  // E.g. "read 50% update 50%".
  std::string DescribeMix() const;
};

// The spec of workload `name`, or InvalidArgument. Workload txn's
// transactions each cover `txn_keys` keys. REQUIRES: txn_keys >= 1.
Result<WorkloadSpec> WorkloadByName(std::string_view name, int txn_keys = 2);

// Picks operation types in the proportions of a spec. Not thread-safe.
class OpChooser {
 public:
  explicit OpChooser(const WorkloadSpec& spec);
  OpType Next(Random& rng);

 private:
  std::array<double, kOpTypes> cumulative_{};
};

// Key numbers of inserted keys, and how far they are known to exist. Inserts
// take key numbers in order; a chooser may only pick below Limit(), the
// count of keys whose insert finished (in order: a slow insert holds back
// later ones, as YCSB's AcknowledgedCounterGenerator does), so reads do not
// chase keys still in flight. A failed insert also counts as finished.
//
// Thread-safe.
class InsertCounter {
 public:
  // Keys [0, existing) exist already.
  explicit InsertCounter(uint64_t existing);

  // The key number for the next insert.
  uint64_t Allocate();
  // The insert of `keynum` finished (successfully or not).
  // REQUIRES: keynum came from Allocate() and is finished once.
  void Finish(uint64_t keynum);
  uint64_t Limit() const;
  // The key number the next Allocate returns.
  uint64_t Next() const;

 private:
  mutable absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::bench
