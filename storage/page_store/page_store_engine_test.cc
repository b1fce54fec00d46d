#include "storage/page_store/page_store.h"

#include <string>

#include "gtest/gtest.h"
#include "storage/conformance_util.h"
#include "storage/engine_conformance.h"

namespace meridian::storage::page_store {
namespace {

PageStore::Options ConformanceOptions(const std::string& dir, uint64_t memory_bytes,
                                      uint64_t checkpoint_bytes) {
  PageStore::Options o;
  o.dir = dir;
  o.memory_bytes = memory_bytes;
  o.checkpoint_log_bytes = checkpoint_bytes;
  o.log_segment_bytes = 1 << 20;
  o.dwb_pages = 64;
  return o;
}

Result<std::unique_ptr<Engine>> OpenEngine(const PageStore::Options& o) {
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<PageStore> s, PageStore::Open(o));
  return std::unique_ptr<Engine>(std::move(s));
}

const bool kRegistered = [] {
  // Roomy: everything stays cached between checkpoints.
  RegisterEngineConformance("PageStoreConformance", [](const std::string& dir) {
    return OpenEngine(ConformanceOptions(dir, 8 << 20, 256 << 10));
  });
  // Tiny: nearly every Apply evicts, so write-back, overflow pages,
  // reorganization, blobs and frequent checkpoints all run.
  RegisterEngineConformance("PageStoreTinyCacheConformance", [](const std::string& dir) {
    return OpenEngine(ConformanceOptions(dir, 24 << 10, 48 << 10));
  });
  return true;
}();

}  // namespace
}  // namespace meridian::storage::page_store
