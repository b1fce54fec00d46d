#include "storage/engine_model.h"

namespace meridian::storage {

void EngineModel::Apply(const WriteBatch& batch) {
  for (const Record& r : batch.records) keys_[r.key][r.version] = r.value;
  applied_index_ = batch.log_index;
}

std::optional<ReadResult> EngineModel::Get(const std::string& key,
                                           const Snapshot& snapshot) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return std::nullopt;
  for (const auto& [version, value] : it->second) {
    if (snapshot.Sees(version)) return ReadResult{version, value};
  }
  return std::nullopt;
}

std::optional<Version> EngineModel::LatestVersion(const std::string& key) const {
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second.empty()) return std::nullopt;
  return it->second.begin()->first;
}

std::vector<KeyValue> EngineModel::Scan(const ScanOptions& options, const Snapshot& snapshot,
                                        uint64_t stop_after, bool* more) const {
  *more = false;
  std::vector<KeyValue> out;
  for (auto it = keys_.lower_bound(options.start); it != keys_.end(); ++it) {
    if (!options.end.empty() && it->first >= options.end) break;
    std::optional<ReadResult> r = Get(it->first, snapshot);
    if (!r.has_value() || !r->value.has_value()) continue;
    if (options.limit != 0 && out.size() == options.limit) {
      *more = true;
      break;
    }
    out.push_back(KeyValue{it->first, options.keys_only ? std::string() : *r->value, r->version});
    if (stop_after != 0 && out.size() == stop_after) break;
  }
  return out;
}

void EngineModel::GarbageCollect(const Snapshot& watermark) {
  for (auto it = keys_.begin(); it != keys_.end();) {
    Versions& versions = it->second;
    auto seen = versions.begin();
    while (seen != versions.end() && !watermark.Sees(seen->first)) ++seen;
    if (seen != versions.end()) {
      versions.erase(std::next(seen), versions.end());  // shadowed
      if (seen == versions.begin() && !seen->second.has_value()) versions.erase(seen);
    }
    it = versions.empty() ? keys_.erase(it) : std::next(it);
  }
}

std::vector<Record> EngineModel::Records() const {
  std::vector<Record> out;
  for (const auto& [key, versions] : keys_) {
    for (const auto& [version, value] : versions) out.push_back(Record{key, version, value});
  }
  return out;
}

void EngineModel::Ingest(const std::vector<Record>& records, uint64_t index) {
  keys_.clear();
  WriteBatch b{index, records};
  Apply(b);
}

}  // namespace meridian::storage
