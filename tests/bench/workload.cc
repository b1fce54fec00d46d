#include "tests/bench/workload.h"

#include <cstdio>

namespace meridian::bench {

std::string_view OpTypeName(OpType type) {
  switch (type) {
    case OpType::kRead:
      return "read";
    case OpType::kUpdate:
      return "update";
    case OpType::kInsert:
      return "insert";
    case OpType::kScan:
      return "scan";
    case OpType::kReadModifyWrite:
      return "rmw";
  }
  return "?";
}

Result<Distribution> ParseDistribution(std::string_view name) {
  if (name == "zipfian") return Distribution::kZipfian;
  if (name == "uniform") return Distribution::kUniform;
  if (name == "latest") return Distribution::kLatest;
  return InvalidArgumentError("unknown distribution (want zipfian, uniform or latest)");
}

std::string_view DistributionName(Distribution d) {
  switch (d) {
    case Distribution::kZipfian:
      return "zipfian";
    case Distribution::kUniform:
      return "uniform";
    case Distribution::kLatest:
      return "latest";
  }
  return "?";
}

std::string WorkloadSpec::DescribeMix() const {
  std::string out;
  for (int i = 0; i < kOpTypes; ++i) {
    if (mix[i] <= 0) continue;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s%s %g%%", out.empty() ? "" : " ",
                  std::string(OpTypeName(static_cast<OpType>(i))).c_str(), mix[i] * 100);
    out += buf;
  }
  return out;
}

Result<WorkloadSpec> WorkloadByName(std::string_view name, int txn_keys) {
  WorkloadSpec w;
  w.name = std::string(name);
  auto set = [&w](OpType t, double f) { w.mix[static_cast<int>(t)] = f; };
  if (name == "a") {
    set(OpType::kRead, 0.5);
    set(OpType::kUpdate, 0.5);
  } else if (name == "b") {
    set(OpType::kRead, 0.95);
    set(OpType::kUpdate, 0.05);
  } else if (name == "c") {
    set(OpType::kRead, 1);
  } else if (name == "d") {
    set(OpType::kRead, 0.95);
    set(OpType::kInsert, 0.05);
    w.distribution = Distribution::kLatest;
  } else if (name == "e") {
    set(OpType::kScan, 0.95);
    set(OpType::kInsert, 0.05);
  } else if (name == "f") {
    set(OpType::kRead, 0.5);
    set(OpType::kReadModifyWrite, 0.5);
  } else if (name == "write") {
    set(OpType::kUpdate, 1);
    w.reads_existing = false;
  } else if (name == "txn") {
    set(OpType::kReadModifyWrite, 1);
    w.rmw_keys = txn_keys;
  } else if (name == "scan") {
    set(OpType::kScan, 1);
  } else {
    return InvalidArgumentError("unknown workload (want a, b, c, d, e, f, write, txn or scan)");
  }
  return w;
}

OpChooser::OpChooser(const WorkloadSpec& spec) {
  double sum = 0;
  for (int i = 0; i < kOpTypes; ++i) cumulative_[i] = sum += spec.mix[i];
}

OpType OpChooser::Next(Random& rng) {
  const double u = NextDouble(rng) * cumulative_[kOpTypes - 1];
  for (int i = 0; i < kOpTypes; ++i) {
    // Skips absent types, so a zero fraction is never picked.
    if (u < cumulative_[i]) return static_cast<OpType>(i);
  }
  for (int i = kOpTypes - 1; i > 0; --i) {
    if (cumulative_[i] > cumulative_[i - 1]) return static_cast<OpType>(i);
  }
  return OpType::kRead;
}

InsertCounter::InsertCounter(uint64_t existing) : next_(existing) {}

uint64_t InsertCounter::Allocate() {
  absl::MutexLock l(&mu_);
  pending_.insert(next_);
  return next_++;
}

void InsertCounter::Finish(uint64_t keynum) {
  absl::MutexLock l(&mu_);
  pending_.erase(keynum);
}

uint64_t InsertCounter::Limit() const {
  absl::MutexLock l(&mu_);
  return pending_.empty() ? next_ : *pending_.begin();
}

uint64_t InsertCounter::Next() const {
  absl::MutexLock l(&mu_);
  return next_;
}

}  // namespace meridian::bench
