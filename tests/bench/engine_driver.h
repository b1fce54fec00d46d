// The engine driver's own knobs, beyond DriverOptions (driver.h).
#pragma once

#include <memory>

#include "common/status.h"
#include "tests/bench/driver.h"

namespace meridian::bench {

struct EngineDriverOptions {
  // Threads that run the synchronous engine calls; also the most operations
  // executing at once (the rest queue). >= 1.
  int threads = 4;
  // Each write is durable (fdatasync) before it completes.
  bool sync = true;
  // Records per WriteBatch in the load phase (Driver::Load), applied
  // without sync; FinishLoad applies the last partial batch and calls the
  // engine's Flush, so the load is durable once it returns. 0: the load
  // writes as Write does, one batch per key, synced per `sync`. >= 0.
  int load_batch = 1000;
  // After the load, before it counts as done: RocksDB waits until no
  // compaction is pending or running, PageStore takes a checkpoint (every
  // dirty record written back, the log trimmed), so that the runs measure
  // each engine settled rather than paying for the load.
  bool settle_after_load = true;
};

// Opens options.engine ("rocksdb" or "pagestore") at options.engine_dir, creating it
// if needed. InvalidArgument for an unknown engine, an empty engine_dir or
// bad engine_options; the engine's error if it cannot open.
Result<std::unique_ptr<Driver>> MakeEngineDriver(const DriverOptions& options,
                                                 const EngineDriverOptions& engine_options);

}  // namespace meridian::bench
