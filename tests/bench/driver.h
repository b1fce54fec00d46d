// A benchmark target, as meridian-bench sees it: asynchronous key-value
// operations with completion callbacks. One driver per target kind:
// meridian (the SDK), etcd (its v3 gRPC API), engine (storage::Engine
// in-process).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace meridian::bench {

struct DriverOptions {
  std::vector<std::string> endpoints;  // host:port targets (meridian, etcd)
  std::string engine = "rocksdb";      // engine driver: which engine
  std::string engine_dir;              // engine driver: data directory
  uint64_t engine_memory_bytes = 256ull << 20;  // engine driver: cache budget
  bool engine_direct_io = false;       // engine driver: O_DIRECT
  int rpc_timeout_ms = 10'000;
  // meridian driver: causal sessions on (the SDK's default) or off.
  bool sessions = true;
  // meridian driver: "" reads through the SDK's async calls (linearizable,
  // at the leader); "linearizable" or "session" reads with that consistency
  // through its blocking calls on the driver's thread pool, the same way for
  // both, so the two compare like for like.
  std::string read_consistency;
};

using Done = std::function<void(Status)>;
using ReadDone = std::function<void(Result<std::optional<std::string>>)>;
using ScanDone = std::function<void(Result<size_t>)>;  // number of keys read
// A read-modify-write's outcome and `aborts`: how many of its attempts
// aborted on a conflict (the target answered CONFLICT, or a compare failed)
// and were started over. A read-modify-write that gave up after conflicting
// every time counts every attempt. 0 for a driver that never retries.
using RmwDone = std::function<void(Status, int aborts)>;

// Thread-safe. Every operation calls its callback exactly once, possibly on
// another thread and possibly before returning; callbacks must not block.
class Driver {
 public:
  virtual ~Driver() = default;
  virtual std::string Name() const = 0;
  virtual void Read(const std::string& key, ReadDone done) = 0;
  // Insert and update are both a blind write of the whole value.
  virtual void Write(const std::string& key, const std::string& value, Done done) = 0;
  // Up to `count` keys from `start` in key order.
  virtual void Scan(const std::string& start, size_t count, ScanDone done) = 0;
  // One transaction that reads every key and writes each back with `value`,
  // atomically (read-modify-write; YCSB F uses one key), retrying
  // conflicts as the target's client would.
  virtual void ReadModifyWrite(const std::vector<std::string>& keys, const std::string& value,
                               RmwDone done) = 0;
  // A description for the report, e.g. "meridian 1 node" or "etcd 3 members".
  virtual std::string Describe() const = 0;

  // The load phase. Load writes one record, as Write does by default. A
  // driver may instead buffer loaded records and write them in batches:
  // `done` then reports that the record is buffered (or an error if the load
  // has already failed), and FinishLoad writes the rest.
  virtual void Load(const std::string& key, const std::string& value, Done done) {
    Write(key, value, std::move(done));
  }
  // Writes whatever Load buffered and makes every loaded record durable.
  // Blocks. OK, or the first error of any write of the load (a batch written
  // after its records' callbacks said OK included).
  // REQUIRES: every Load's callback has been called; no Load after it.
  virtual Status FinishLoad() { return absl::OkStatus(); }
  // How Load writes, for the report, e.g. "one write per key".
  virtual std::string DescribeLoad() const { return "one write per key, as the run's"; }
};

Result<std::unique_ptr<Driver>> MakeMeridianDriver(const DriverOptions& options);
Result<std::unique_ptr<Driver>> MakeEtcdDriver(const DriverOptions& options);
Result<std::unique_ptr<Driver>> MakeEngineDriver(const DriverOptions& options);

}  // namespace meridian::bench
