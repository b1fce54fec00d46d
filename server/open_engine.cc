#include "server/open_engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/log.h"
#include "storage/page_store/page_store.h"
#include "storage/rocks/rocks_engine.h"

namespace meridian::server {
namespace {

Result<std::unique_ptr<storage::Engine>> OpenNamed(const EngineSettings& s) {
  if (s.name == "pagestore") {
    storage::page_store::PageStore::Options o;
    o.dir = s.path;
    o.memory_bytes = s.cache_bytes;
    o.log_preallocate_bytes = LogAheadBytes(s.cache_bytes);
    o.min_free_bytes = s.min_free_bytes;
    // Direct I/O for the page file and the double-write buffer: the record
    // cache is the store's cache, the kernel's would hold the pages twice.
    o.direct_io = true;
    const absl::Time start = absl::Now();
    MERIDIAN_ASSIGN_OR_RETURN(auto engine, storage::page_store::PageStore::Open(o));
    // How the pages are reached (io_uring, or the pread/pwrite fallback and
    // why) and what recovery took, once per open.
    const std::string io_path = engine->IoPath();
    const bool fallback = io_path.rfind("io_uring", 0) != 0;
    Log(fallback ? Level::kWarn : Level::kInfo, "page store opened",
        {{"dir", s.path},
         {"io_path", io_path},
         {"open_ms", absl::StrCat(absl::ToInt64Milliseconds(absl::Now() - start))},
         {"applied_index", absl::StrCat(engine->Stats().applied_index)},
         {"pages_repaired", absl::StrCat(engine->PagesRepairedAtOpen())}});
    return std::unique_ptr<storage::Engine>(std::move(engine));
  }
  if (s.name == "rocksdb") {
    storage::RocksEngine::Options o;
    o.path = s.path;
    o.block_cache_bytes = s.cache_bytes;
    o.memtable_bytes = LogAheadBytes(s.cache_bytes);
    o.min_free_bytes = s.min_free_bytes;
    o.on_flush = s.on_flush;
    MERIDIAN_ASSIGN_OR_RETURN(auto engine, storage::RocksEngine::Open(o));
    return std::unique_ptr<storage::Engine>(std::move(engine));
  }
  return InvalidArgumentError(absl::StrCat("unknown storage engine \"", s.name,
                                           "\" (pagestore or rocksdb)"));
}

}  // namespace

uint64_t LogAheadBytes(uint64_t cache_bytes) {
  return std::clamp<uint64_t>(cache_bytes / 2, 1ull << 20, 64ull << 20);
}

Result<std::unique_ptr<storage::Engine>> OpenEngine(const EngineSettings& settings) {
  auto engine = OpenNamed(settings);
  if (!engine.ok()) {
    return Status(engine.status().code(),
                  absl::StrCat("cannot open the ", settings.name, " storage engine in ",
                               settings.path, ": ", engine.status().message()));
  }
  return engine;
}

}  // namespace meridian::server
