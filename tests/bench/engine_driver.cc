// The engine driver: storage::Engine in-process, without the network,
// consensus or transaction layers, as the floor the other targets are
// compared with. Each operation runs on a worker thread; writes are
// serialized (the engine takes one writer) and each is its own WriteBatch.
// The load phase alone gathers records into larger unsynced batches
// (EngineDriverOptions::load_batch) and flushes once at its end.
#include "tests/bench/engine_driver.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/page_store/page_store.h"
#include "storage/rocks/rocks_engine.h"
#include "tests/bench/driver.h"
#include "tests/bench/thread_pool.h"

namespace meridian::bench {
namespace {

using storage::Record;
using storage::Snapshot;
using storage::Version;
using storage::WriteBatch;

class EngineDriver final : public Driver {
 public:
  EngineDriver(std::unique_ptr<storage::Engine> engine, std::function<Status()> settle,
               const EngineDriverOptions& options)
      : engine_(std::move(engine)),
        settle_(std::move(settle)),
        options_(options),
        log_index_(engine_->Stats().applied_index),
        pool_(static_cast<size_t>(options.threads)) {}

  std::string Name() const override { return "engine"; }

  std::string Describe() const override {
    return std::string(engine_->Name()) + " in-process, " + std::to_string(options_.threads) +
           " threads, " + (options_.sync ? "synced writes" : "unsynced writes");
  }

  std::string DescribeLoad() const override {
    const std::string settle =
        options_.settle_after_load
            ? (engine_->Name() == "rocksdb" ? ", then compactions waited for"
                                            : ", then a checkpoint")
            : "";
    if (options_.load_batch == 0) return Driver::DescribeLoad() + settle;
    return "batched: " + std::to_string(options_.load_batch) +
           " keys per WriteBatch, unsynced, one engine Flush at the end" + settle;
  }

  void Load(const std::string& key, const std::string& value, Done done) override {
    if (options_.load_batch == 0) return Write(key, value, std::move(done));
    pool_.Submit([this, key, value, done = std::move(done)]() mutable {
      done(BufferLoad(std::move(key), std::move(value)));
    });
  }

  Status FinishLoad() override {
    if (options_.load_batch > 0) {
      std::vector<std::pair<std::string, std::string>> rest;
      {
        absl::MutexLock l(&load_mu_);
        rest.swap(load_buffer_);
      }
      if (!rest.empty()) (void)ApplyLoad(std::move(rest));  // its error is in load_error_
      {
        absl::MutexLock l(&load_mu_);
        if (!load_error_.ok()) return load_error_;
      }
      MERIDIAN_RETURN_IF_ERROR(engine_->Flush());
    }
    return options_.settle_after_load ? settle_() : absl::OkStatus();
  }

  void Read(const std::string& key, ReadDone done) override {
    pool_.Submit([this, key, done = std::move(done)] { done(Get(key)); });
  }

  void Write(const std::string& key, const std::string& value, Done done) override {
    pool_.Submit([this, key, value, done = std::move(done)] {
      Status s;
      {
        absl::MutexLock l(&write_mu_);
        s = ApplyLocked({{key, value}}, options_.sync);
      }
      done(std::move(s));
    });
  }

  void Scan(const std::string& start, size_t count, ScanDone done) override {
    pool_.Submit([this, start, count, done = std::move(done)] {
      size_t n = 0;
      storage::ScanOptions options{.start = start, .limit = count};
      Status s = engine_->Scan(
          options, Snapshot::Latest(),
          [&n](const storage::KeyValue&) {
            ++n;
            return true;
          },
          nullptr);
      if (!s.ok()) return done(s);
      done(n);
    });
  }

  // The engine has no transactions; holding the write lock across the reads
  // and the write makes the pair atomic, since every write takes it. Never
  // aborts.
  void ReadModifyWrite(const std::vector<std::string>& keys, const std::string& value,
                       RmwDone done) override {
    pool_.Submit([this, keys, value, done = std::move(done)] {
      Status s;
      {
        absl::MutexLock l(&write_mu_);
        s = ReadModifyWriteLocked(keys, value);
      }
      done(std::move(s), 0);
    });
  }

 private:
  Status ReadModifyWriteLocked(const std::vector<std::string>& keys, const std::string& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    std::vector<std::pair<std::string, std::string>> writes;
    for (const auto& key : keys) {
      MERIDIAN_RETURN_IF_ERROR(Get(key).status());
      writes.emplace_back(key, value);
    }
    return ApplyLocked(std::move(writes), options_.sync);
  }

  Result<std::optional<std::string>> Get(const std::string& key) {
    MERIDIAN_ASSIGN_OR_RETURN(std::optional<storage::ReadResult> r,
                              engine_->Get(key, Snapshot::Latest()));
    if (!r) return std::optional<std::string>();
    return std::move(r->value);  // nullopt for a tombstone
  }

  // Adds a record to the load buffer; applies the buffer once it holds
  // load_batch records. OK once buffered (and applied, if this record filled
  // the batch); after any failed load batch, that batch's error.
  Status BufferLoad(std::string key, std::string value) {
    std::vector<std::pair<std::string, std::string>> full;
    {
      absl::MutexLock l(&load_mu_);
      if (!load_error_.ok()) return load_error_;
      load_buffer_.emplace_back(std::move(key), std::move(value));
      if (load_buffer_.size() < static_cast<size_t>(options_.load_batch)) return absl::OkStatus();
      full.swap(load_buffer_);
      load_buffer_.reserve(static_cast<size_t>(options_.load_batch));
    }
    return ApplyLoad(std::move(full));
  }

  // Applies one load batch, unsynced; a failure is kept for FinishLoad.
  Status ApplyLoad(std::vector<std::pair<std::string, std::string>> writes) {
    Status s;
    {
      absl::MutexLock l(&write_mu_);
      s = ApplyLocked(std::move(writes), /*sync=*/false);
    }
    if (!s.ok()) {
      absl::MutexLock l(&load_mu_);
      if (load_error_.ok()) load_error_ = s;
    }
    return s;
  }

  // Version hlc = log index: both increase with every batch, also across
  // runs on the same directory, so the newest write is the newest version.
  Status ApplyLocked(std::vector<std::pair<std::string, std::string>> writes, bool sync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    WriteBatch batch;
    batch.log_index = ++log_index_;
    batch.records.reserve(writes.size());
    for (auto& [key, value] : writes) {
      batch.records.push_back(Record{.key = std::move(key),
                                     .version = Version{.hlc = batch.log_index, .site = 1},
                                     .value = std::move(value)});
    }
    return engine_->Apply(batch, sync);
  }

  const std::unique_ptr<storage::Engine> engine_;
  const std::function<Status()> settle_;  // EngineDriverOptions::settle_after_load
  const EngineDriverOptions options_;
  absl::Mutex write_mu_;
  uint64_t log_index_ ABSL_GUARDED_BY(write_mu_);
  absl::Mutex load_mu_;  // never held while taking write_mu_
  std::vector<std::pair<std::string, std::string>> load_buffer_ ABSL_GUARDED_BY(load_mu_);
  Status load_error_ ABSL_GUARDED_BY(load_mu_);  // the first failed load batch
  // Last: destroyed first, so queued operations finish while the engine lives.
  ThreadPool pool_;
};

}  // namespace

Result<std::unique_ptr<Driver>> MakeEngineDriver(const DriverOptions& options,
                                                 const EngineDriverOptions& engine_options) {
  if (options.engine != "rocksdb" && options.engine != "pagestore") {
    return InvalidArgumentError("engine driver: unknown engine \"" + options.engine +
                                "\" (rocksdb or pagestore)");
  }
  if (options.engine_dir.empty())
    return InvalidArgumentError("engine driver: --engine-dir is required");
  if (engine_options.threads < 1)
    return InvalidArgumentError("engine driver: --threads must be >= 1");
  if (engine_options.load_batch < 0)
    return InvalidArgumentError("engine driver: --load-batch must be >= 0");
  std::unique_ptr<storage::Engine> engine;
  std::function<Status()> settle;
  if (options.engine == "pagestore") {
    // The memory budget is the record cache (PageStore has no other cache);
    // direct I/O is its page file and double-write buffer.
    storage::page_store::PageStore::Options po;
    po.dir = options.engine_dir;
    po.memory_bytes = options.engine_memory_bytes;
    po.direct_io = options.engine_direct_io;
    MERIDIAN_ASSIGN_OR_RETURN(auto store, storage::page_store::PageStore::Open(po));
    settle = [p = store.get()] { return p->Checkpoint(); };
    engine = std::move(store);
  } else {
    storage::RocksEngine::Options ro;
    ro.path = options.engine_dir;
    ro.block_cache_bytes = options.engine_memory_bytes;
    ro.use_direct_io = options.engine_direct_io;
    MERIDIAN_ASSIGN_OR_RETURN(auto rocks, storage::RocksEngine::Open(ro));
    settle = [r = rocks.get()] { return r->WaitForCompactions(); };
    engine = std::move(rocks);
  }
  return std::unique_ptr<Driver>(
      new EngineDriver(std::move(engine), std::move(settle), engine_options));
}

Result<std::unique_ptr<Driver>> MakeEngineDriver(const DriverOptions& options) {
  return MakeEngineDriver(options, EngineDriverOptions());
}

}  // namespace meridian::bench
