// RocksEngine: the Engine on RocksDB (Debian's librocksdb-dev), the
// `--engine=rocksdb` option and the baseline the page store is measured
// against. docs/formats/rocks_engine.md describes the on-disk encoding and
// why it is crash-safe.
//
// Each version is one RocksDB key, ordered so that a key's versions sit
// together, newest first; the applied index lives in a metadata key written
// in the same RocksDB write batch as the records it covers, so after a crash
// the data and the index always agree.
//
// Thread-safety: as Engine (readers run concurrently with each other and with
// the one writer; Apply, GarbageCollect and Ingest are serialized by the
// caller). Fail-stop: after any RocksDB write or sync error, or a corrupt
// record found while reading, every later call returns that error; the engine
// must be closed and reopened (which replays RocksDB's WAL).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "storage/engine.h"
#include "storage/engine_guards.h"

namespace rocksdb {
class DB;
class Env;
}  // namespace rocksdb

namespace meridian::storage {

class RocksEngine final : public Engine {
 public:
  struct Options {
    // Directory of the RocksDB instance. REQUIRES: non-empty.
    std::string path;
    // Create an empty store if `path` holds none. When false, opening a
    // missing store is NotFound.
    bool create_if_missing = true;
    // Capacity of the LRU block cache for data, index and filter blocks, in
    // bytes; 0 disables the block cache.
    uint64_t block_cache_bytes = 128ull << 20;
    // O_DIRECT for reads, flushes and compactions (bypasses the page cache).
    // Fails Open on file systems without O_DIRECT, such as tmpfs.
    bool use_direct_io = false;
    // The RocksDB Env for all file access; not owned, must outlive the
    // engine. nullptr means rocksdb::Env::Default(). Tests pass a
    // fault-injecting Env here.
    rocksdb::Env* env = nullptr;
    // Apply refuses a batch (RESOURCE_EXHAUSTED, "disk full", nothing
    // written, not latched) when the file system holding `path` would keep
    // fewer than this many free bytes after it. The reserve leaves room for
    // memtable flushes and compactions, and keeps RocksDB from ever meeting
    // ENOSPC mid-write, a path on which Debian's RocksDB 7.8 can abort.
    // 0 disables the check.
    uint64_t min_free_bytes = 0;
    // One memtable's size (RocksDB's write_buffer_size), in bytes: what is
    // buffered in memory before a flush writes it to an SST file. > 0.
    uint64_t memtable_bytes = 64ull << 20;
    // Called after each memtable flush, on a RocksDB background thread, with
    // how long it took in seconds (from OnFlushBegin to OnFlushCompleted of
    // its EventListener). Must be cheap and thread-safe. Empty: not called.
    std::function<void(double seconds)> on_flush;
  };

  // Opens (or, with create_if_missing, creates) the store at options.path.
  // On failure returns, with a message naming the path:
  //   NotFound            no store and !create_if_missing;
  //   FailedPrecondition  the store is open elsewhere (RocksDB's LOCK file is
  //                       held, also by this process), or the directory holds
  //                       files that are not a RocksDB store;
  //   DataLoss            (CorruptionError) corrupt CURRENT/MANIFEST/SST/WAL,
  //                       or a RocksDB store not written by this engine or
  //                       by an unknown format version;
  //   other               I/O errors and bad options, as RocksDB reports them.
  static Result<std::unique_ptr<RocksEngine>> Open(const Options& options);

  // Closes RocksDB; unsynced writes stay in the WAL for the next Open.
  ~RocksEngine() override;

  RocksEngine(const RocksEngine&) = delete;
  RocksEngine& operator=(const RocksEngine&) = delete;

  std::string_view Name() const override { return "rocksdb"; }
  Status Apply(const WriteBatch& batch, bool sync) override;
  Status Flush() override;
  Status CheckSpace(uint64_t bytes) override;
  Result<std::optional<ReadResult>> Get(std::string_view key, const Snapshot& snapshot) override;
  Result<std::optional<Version>> LatestVersion(std::string_view key) override;
  Status Scan(const ScanOptions& options, const Snapshot& snapshot,
              const std::function<bool(const KeyValue&)>& fn, bool* more) override;
  Status GarbageCollect(const Snapshot& watermark) override;
  Status Export(const std::function<Status(const Record&)>& fn, uint64_t* index) override;
  Status Ingest(const std::vector<Record>& records, uint64_t index) override;
  // durable_index: the greatest index known to be synced (by a synced Apply,
  // Flush or Ingest, or recovered at Open). approximate_size_bytes: SST files
  // plus memtables.
  EngineStats Stats() override;
  // size_bytes: every file in `path` (SSTs, WAL, MANIFEST, logs).
  // live_bytes: RocksDB's rocksdb.estimate-live-data-size. fragmentation:
  // 1 - live_bytes / rocksdb.total-sst-files-size, clamped to [0, 1]: the
  // share of the SST files holding overwritten or deleted keys (including
  // the versions GarbageCollect removed) that compaction has not dropped yet.
  SpaceStats Space() override;

  // Writes the memtables to SST files and returns once that is done (and
  // on_flush has been called for it). For tests and tools.
  Status FlushMemtables();

  // Flushes the memtables, then returns once no compaction is pending or
  // running (polling RocksDB's properties every 100 ms): the shape a store
  // settles into after a bulk load. For benchmarks and tools.
  Status WaitForCompactions();

 private:
  struct Impl;  // RocksDB handles, kept out of this header.

  RocksEngine(std::unique_ptr<Impl> impl, uint64_t applied_index);

  // The latched error, or OK while the engine is healthy.
  Status Health() const;
  Status CheckFreeSpace(uint64_t bytes) const;
  // Latches `s` (the first error wins) and returns the latched error.
  // REQUIRES: !s.ok().
  Status Fail(Status s);
  // Raises durable_index_ to at least `index`.
  void RaiseDurable(uint64_t index);

  const std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> applied_index_;
  std::atomic<uint64_t> durable_index_;
  // Serializes Flush with Ingest, so that a Flush racing an Ingest that
  // lowers the index cannot leave durable_index_ above applied_index_.
  absl::Mutex sync_mu_;
  FailLatch latch_;
};

}  // namespace meridian::storage
