// RecordCache: the page store's in-memory version store and write buffer
// (docs/formats/page_store.md, "Record cache").
//
// Per key an entry: its versions, newest first, and two flags.
//   complete: the versions include whatever the key's page holds. An entry
//             made by Apply for a key that was not cached is incomplete (no
//             page read on the write path); a read or a write-back merges
//             the page's version in and completes it.
//   dirty:    the page may not reflect the entry; write-back settles it.
// The page holds the newest version only of keys whose entry has exactly
// one live version; every other entry (several versions, or a tombstone, or
// none left after GC) is pinned in memory and saved in each checkpoint.
// An entry is evictable when it is complete, clean and one live version.
//
// CLOCK: each entry has a reference bit, set on access; the hand walks the
// keys in order, clearing bits, and stops at entries whose bit is clear.
//
// Not thread-safe: PageStore guards it with its mutex. The reference bit may
// be set by readers under a shared lock (it is written atomically).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "storage/engine.h"

namespace meridian::storage::page_store {

struct CachedVersion {
  Version version;
  std::optional<std::string> value;  // nullopt: a tombstone
  friend bool operator==(const CachedVersion&, const CachedVersion&) = default;
};

// Newest first (descending Version).
using VersionChain = std::vector<CachedVersion>;

// Adds `v`, replacing a version of the same name. Returns the change in
// value bytes (may be negative).
int64_t AddVersion(VersionChain* chain, CachedVersion v);
// Adds `v` unless a version of that name is already there (the cache's is
// newer than the page's). true if added.
bool MergePageVersion(VersionChain* chain, const CachedVersion& v);
// The newest version `snapshot` sees, or null.
const CachedVersion* Visible(const VersionChain& chain, const Snapshot& snapshot);
// Engine::GarbageCollect on one key. true if anything was dropped.
bool CollectGarbage(VersionChain* chain, const Snapshot& watermark);

struct CacheEntry {
  VersionChain versions;
  bool complete = false;
  bool dirty = false;
  uint8_t ref = 1;  // CLOCK bit; set through SetReferenced

  bool SingleLive() const { return versions.size() == 1 && versions[0].value.has_value(); }
  // Pinned: its versions cannot live on a page alone.
  bool Pinned() const { return !SingleLive(); }
  bool Evictable() const { return complete && !dirty && SingleLive(); }
  void SetReferenced() const {
    std::atomic_ref<uint8_t>(const_cast<uint8_t&>(ref)).store(1, std::memory_order_relaxed);
  }
};

// Bytewise key order with lookups by std::string_view (Debian's abseil has
// its own string_view, so the default comparator will not take ours).
struct KeyLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a < b; }
};

class RecordCache {
 public:
  using Map = absl::btree_map<std::string, CacheEntry, KeyLess>;

  Map& map() { return map_; }
  const Map& map() const { return map_; }
  size_t size() const { return map_.size(); }
  // Approximate memory of all entries, bytes.
  uint64_t bytes() const { return bytes_; }

  // Adds a version applied by a batch: creates an incomplete entry if the
  // key has none; marks the entry dirty.
  void Apply(std::string_view key, CachedVersion v);
  // Inserts a complete, clean entry for a version read from a page.
  // REQUIRES: no entry for key.
  Map::iterator InsertClean(std::string_view key, CachedVersion v);
  // Inserts an entry as is. REQUIRES: no entry for key.
  Map::iterator Insert(std::string_view key, CacheEntry e);
  Map::iterator Erase(Map::iterator it);
  void Clear();

  // Call around any other change to an entry's versions, so bytes() follows:
  //   uint64_t before = cache.Charge(it); ...change...; cache.Recharge(it, before);
  uint64_t Charge(Map::const_iterator it) const { return EntryBytes(it->first, it->second); }
  void Recharge(Map::const_iterator it, uint64_t before);

  // The CLOCK hand: the key it will look at next ("" = from the start).
  const std::string& hand() const { return hand_; }
  void set_hand(std::string key) { hand_ = std::move(key); }

  static uint64_t EntryBytes(std::string_view key, const CacheEntry& e);
  static uint64_t VersionBytes(const CachedVersion& v);

 private:
  Map map_;
  uint64_t bytes_ = 0;
  std::string hand_;
};

}  // namespace meridian::storage::page_store
