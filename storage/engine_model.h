// EngineModel: the dumb reference for Engine, a std::map of versions that
// implements the Engine contract (storage/engine.h) in the most obvious way.
// The conformance suite runs every engine side by side with it; other layers'
// tests may use it as an in-memory stand-in when they only need the results.
//
// Not thread-safe. Never fails: it does not check log indexes (the caller
// checks those against the engine under test).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/engine.h"

namespace meridian::storage {

class EngineModel {
 public:
  // Applies every record of `batch` in order (a later record with the same
  // key and version overwrites an earlier one) and sets the applied index.
  void Apply(const WriteBatch& batch);

  std::optional<ReadResult> Get(const std::string& key, const Snapshot& snapshot) const;
  std::optional<Version> LatestVersion(const std::string& key) const;

  // The keys Engine::Scan passes to fn, in order, when fn returns false on
  // the `stop_after`-th key (0: fn always returns true); `*more` as Scan sets it.
  std::vector<KeyValue> Scan(const ScanOptions& options, const Snapshot& snapshot,
                             uint64_t stop_after, bool* more) const;

  void GarbageCollect(const Snapshot& watermark);

  // All records in Export order.
  std::vector<Record> Records() const;
  void Ingest(const std::vector<Record>& records, uint64_t index);

  uint64_t applied_index() const { return applied_index_; }

 private:
  // Newest version first, as engines store and export them.
  using Versions = std::map<Version, std::optional<std::string>, std::greater<Version>>;

  std::map<std::string, Versions> keys_;
  uint64_t applied_index_ = 0;
};

}  // namespace meridian::storage
