// Opening the storage engine a data dir names: the one place meridiand turns
// an engine name ("rocksdb", "pagestore") and its settings into an Engine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/engine.h"

namespace meridian::server {

// The engines meridiand can run, in the order --help lists them.
inline constexpr const char* kEngineNames[] = {"pagestore", "rocksdb"};

struct EngineSettings {
  std::string name;          // one of kEngineNames
  std::string path;          // the engine's directory (created if missing)
  // The engine's memory budget: RocksDB's block cache, or PageStore's record
  // cache (its only cache; keys with several versions stay beyond it until
  // garbage collection). It also sizes what the engine writes ahead on disk
  // (LogAheadBytes), so a store given little memory, such as the config
  // group's, stays small on disk.
  uint64_t cache_bytes = 128ull << 20;
  uint64_t min_free_bytes = 0;  // the free-disk reserve (Engine::CheckSpace)
  // RocksDB only: called with each memtable flush's duration in seconds.
  std::function<void(double)> on_flush;
};

// Bytes an engine with `cache_bytes` of memory commits on disk ahead of its
// writes: half the memory budget, within [1 MiB, 64 MiB] (64 MiB, the
// engines' old fixed size, from a 128 MiB budget up). PageStore allocates
// its redo log in steps of this size (its segments still hold 64 MiB, so the
// largest commit fits); RocksDB takes it as its memtable size, which also
// sizes its WAL preallocation.
uint64_t LogAheadBytes(uint64_t cache_bytes);

// Opens (or creates) the engine. Errors name the directory and keep the
// engine's status code (DATA_LOSS for a corrupt file, RESOURCE_EXHAUSTED for
// a full disk, FAILED_PRECONDITION for a locked directory).
Result<std::unique_ptr<storage::Engine>> OpenEngine(const EngineSettings& settings);

}  // namespace meridian::server
