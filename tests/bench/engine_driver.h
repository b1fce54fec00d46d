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
};

// Opens options.engine ("rocksdb" or "pagestore") at options.engine_dir, creating it
// if needed. InvalidArgument for an unknown engine or an empty engine_dir;
// the engine's error if it cannot open.
Result<std::unique_ptr<Driver>> MakeEngineDriver(const DriverOptions& options,
                                                 const EngineDriverOptions& engine_options);

}  // namespace meridian::bench
