// The data directory: created if missing, and locked for the life of the
// process, so that a second meridiand on the same directory exits with a
// clear message instead of corrupting it.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace meridian::server {

// Holds an exclusive flock(2) on <dir>/LOCK, which also records the holder's
// pid. The lock is released when the object is destroyed or the process dies
// (even by SIGKILL), so a stale LOCK file never blocks a restart.
class DataDirLock {
 public:
  // Creates `dir` if needed and locks it. Returns FailedPrecondition naming
  // the holder's pid when another process holds the lock.
  static Result<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir);
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace meridian::server
