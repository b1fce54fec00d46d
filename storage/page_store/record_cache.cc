#include "storage/page_store/record_cache.h"

#include <algorithm>

namespace meridian::storage::page_store {
namespace {

// Per-entry and per-version overhead beyond the bytes of keys and values:
// the map slot, the entry, the version record and allocator slack.
constexpr uint64_t kEntryOverhead = 64;
constexpr uint64_t kVersionOverhead = sizeof(CachedVersion) + 16;

VersionChain::iterator Position(VersionChain* chain, const Version& v) {
  return std::lower_bound(chain->begin(), chain->end(), v,
                          [](const CachedVersion& a, const Version& b) { return a.version > b; });
}

}  // namespace

int64_t AddVersion(VersionChain* chain, CachedVersion v) {
  auto it = Position(chain, v.version);
  const int64_t added = static_cast<int64_t>(RecordCache::VersionBytes(v));
  if (it != chain->end() && it->version == v.version) {
    const int64_t removed = static_cast<int64_t>(RecordCache::VersionBytes(*it));
    *it = std::move(v);
    return added - removed;
  }
  chain->insert(it, std::move(v));
  return added;
}

bool MergePageVersion(VersionChain* chain, const CachedVersion& v) {
  auto it = Position(chain, v.version);
  if (it != chain->end() && it->version == v.version) return false;
  chain->insert(it, v);
  return true;
}

const CachedVersion* Visible(const VersionChain& chain, const Snapshot& snapshot) {
  for (const CachedVersion& v : chain) {
    if (snapshot.Sees(v.version)) return &v;
  }
  return nullptr;
}

bool CollectGarbage(VersionChain* chain, const Snapshot& watermark) {
  auto seen = chain->begin();
  while (seen != chain->end() && !watermark.Sees(seen->version)) ++seen;
  if (seen == chain->end()) return false;
  bool changed = false;
  if (std::next(seen) != chain->end()) {
    chain->erase(std::next(seen), chain->end());  // shadowed by *seen
    changed = true;
  }
  if (seen == chain->begin() && !seen->value.has_value()) {
    chain->clear();  // the newest version is a tombstone the watermark sees
    changed = true;
  }
  return changed;
}

uint64_t RecordCache::VersionBytes(const CachedVersion& v) {
  return kVersionOverhead + (v.value ? v.value->size() : 0);
}

uint64_t RecordCache::EntryBytes(std::string_view key, const CacheEntry& e) {
  uint64_t bytes = kEntryOverhead + key.size();
  for (const CachedVersion& v : e.versions) bytes += VersionBytes(v);
  return bytes;
}

void RecordCache::Apply(std::string_view key, CachedVersion v) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    it = map_.emplace(std::string(key), CacheEntry{}).first;
    bytes_ += kEntryOverhead + key.size();
  }
  bytes_ += AddVersion(&it->second.versions, std::move(v));
  it->second.dirty = true;
  it->second.ref = 1;
}

RecordCache::Map::iterator RecordCache::InsertClean(std::string_view key, CachedVersion v) {
  CacheEntry e;
  e.versions.push_back(std::move(v));
  e.complete = true;
  return Insert(key, std::move(e));
}

RecordCache::Map::iterator RecordCache::Insert(std::string_view key, CacheEntry e) {
  bytes_ += EntryBytes(key, e);
  return map_.emplace(std::string(key), std::move(e)).first;
}

RecordCache::Map::iterator RecordCache::Erase(Map::iterator it) {
  bytes_ -= EntryBytes(it->first, it->second);
  return map_.erase(it);
}

void RecordCache::Clear() {
  map_.clear();
  bytes_ = 0;
  hand_.clear();
}

void RecordCache::Recharge(Map::const_iterator it, uint64_t before) {
  bytes_ = bytes_ - before + EntryBytes(it->first, it->second);
}

}  // namespace meridian::storage::page_store
