// meridian-bench's results, as the table it prints and as the JSON document
// --json writes (the same figures; docs/benchmarks.md defines them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tests/bench/runner.h"

namespace meridian::bench {

struct Report {
  // The setup.
  std::string driver;     // "meridian", "etcd", "engine"
  std::string target;     // the driver's Describe()
  std::string endpoints;  // comma-separated; empty for the engine driver
  RunOptions options;
  int engine_threads = 0;  // engine driver only
  // Engine driver: seconds to open the engine (its recovery, on an existing
  // directory).
  std::optional<double> open_seconds;
  bool loaded = false;
  std::string load_method;  // the driver's DescribeLoad(), when loaded

  std::optional<PhaseResult> load;  // when records were loaded first
  bool ran = false;                 // false: the load failed, so no run
  PhaseResult run;
  // --verify-writes: the distinct keys the run wrote successfully (load
  // included), and the read-back of each.
  uint64_t written_keys = 0;
  std::optional<PhaseResult> verify;
};

// Human-readable; latencies in milliseconds.
std::string FormatTable(const Report& report);
// One JSON object; latencies in microseconds.
std::string FormatJson(const Report& report);

// Successful operations per second of a phase (0 when it measured no time).
double OpsPerSecond(const PhaseResult& phase, uint64_t ops);

}  // namespace meridian::bench
