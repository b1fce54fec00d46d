// Engine: the versioned key-value store under the transaction layer.
//
// An engine keeps, for every key, a set of versions. A version is named by
// (commit HLC, origin site) and holds a value or a tombstone. Writes arrive in
// batches, each tagged with a strictly increasing log index (the position of
// the batch in the replicated log, or a local counter on a single node); a
// batch applies atomically. Readers pass a Snapshot, a vector of per-site
// timestamps: a version is visible iff its hlc <= snapshot[its site].
//
// The engine knows nothing of transactions, conflicts or keyspaces; txn/
// encodes those into keys. Keys and values are arbitrary byte strings; keys
// are ordered bytewise.
//
// Thread-safety: all methods are safe to call concurrently, except that
// Apply, GarbageCollect and Ingest calls must be serialized by the caller
// (one writer); Flush may run concurrently with them. Readers never block the writer for long.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meridian::storage {

using SiteId = uint32_t;

// The name of one version: its commit timestamp and origin site.
// hlc >= 1: a snapshot sees hlc 0 at every site, absent ones included.
struct Version {
  uint64_t hlc = 0;
  SiteId site = 0;
  friend bool operator==(const Version&, const Version&) = default;
  friend auto operator<=>(const Version&, const Version&) = default;
};

// A vector timestamp: per site, the greatest visible commit HLC. Sites that
// are absent see nothing.
class Snapshot {
 public:
  Snapshot() = default;
  // A snapshot of a single site.
  static Snapshot AtSite(SiteId site, uint64_t hlc) {
    Snapshot s;
    s.Set(site, hlc);
    return s;
  }
  // A snapshot that sees every version (reads the latest).
  static Snapshot Latest();

  void Set(SiteId site, uint64_t hlc) { ts_[site] = hlc; }
  uint64_t At(SiteId site) const {
    if (all_) return UINT64_MAX;
    auto it = ts_.find(site);
    return it == ts_.end() ? 0 : it->second;
  }
  bool Sees(const Version& v) const { return v.hlc <= At(v.site); }
  const std::map<SiteId, uint64_t>& entries() const { return ts_; }
  bool is_latest() const { return all_; }

 private:
  std::map<SiteId, uint64_t> ts_;
  bool all_ = false;
};

inline Snapshot Snapshot::Latest() {
  Snapshot s;
  s.all_ = true;
  return s;
}

// One versioned write. A missing value is a tombstone (a delete).
struct Record {
  std::string key;
  Version version;
  std::optional<std::string> value;
  friend bool operator==(const Record&, const Record&) = default;
};

// The writes of one log entry, applied atomically.
struct WriteBatch {
  uint64_t log_index = 0;  // > the engine's applied index
  std::vector<Record> records;
  // Already chosen by consensus: applied even inside the free-disk reserve,
  // which exists so that chosen entries can always be applied. (The leader
  // checks the reserve with CheckSpace before it proposes.)
  bool chosen = false;
};

// Roughly the disk space `records` take (keys, values, per-record overhead).
inline uint64_t ApproximateBytes(const std::vector<Record>& records) {
  uint64_t bytes = 0;
  for (const Record& r : records) bytes += r.key.size() + (r.value ? r.value->size() : 0) + 32;
  return bytes;
}

// What a point read finds: the newest visible version of the key.
struct ReadResult {
  Version version;
  std::optional<std::string> value;  // nullopt: the newest visible version is a tombstone
};

struct ScanOptions {
  std::string start;    // inclusive
  std::string end;      // exclusive; empty = no upper bound
  uint64_t limit = 0;   // max live keys to return; 0 = unlimited
  bool keys_only = false;
};

struct KeyValue {
  std::string key;
  std::string value;  // empty when keys_only
  Version version;
};

struct EngineStats {
  uint64_t applied_index = 0;           // log index of the last applied batch
  uint64_t durable_index = 0;           // log index known to survive a crash
  uint64_t approximate_size_bytes = 0;  // on-disk footprint, bytes
};

// Disk space, for operators and metrics. Not for hot paths: computing it
// may list files and call statvfs.
struct SpaceStats {
  uint64_t size_bytes = 0;  // everything the engine's files take on disk
  // Of the data files, what the engine estimates is live: reachable data
  // (every version it keeps, old ones until garbage-collected), as opposed
  // to space that compaction or reorganization could give back.
  uint64_t live_bytes = 0;
  // The share of the data files that is not live, in [0, 1]; 0 with no
  // data files. Each engine documents its estimate.
  double fragmentation = 0;
  uint64_t disk_free_bytes = 0;  // free to unprivileged users on the engine's file system
};

class Engine {
 public:
  virtual ~Engine() = default;

  // The engine's name as shown by status and flags ("rocksdb", "pagestore").
  virtual std::string_view Name() const = 0;

  // Applies `batch` atomically and sets the applied index to batch.log_index.
  // With sync, the batch and the index are durable (fdatasync) before this
  // returns; without it they become durable by a later synced Apply or Flush.
  // Returns InvalidArgument, and applies nothing, if batch.log_index is not
  // greater than the applied index. An I/O error leaves the engine unusable:
  // every later call returns it.
  virtual Status Apply(const WriteBatch& batch, bool sync) = 0;

  // Makes everything applied so far durable.
  virtual Status Flush() = 0;

  // RESOURCE_EXHAUSTED (naming the reserve) if writing about `bytes` more
  // would eat into the free-disk reserve; Apply of a batch not `chosen`
  // checks the same.
  virtual Status CheckSpace(uint64_t bytes) = 0;

  // The newest version of `key` visible in `snapshot`, or nullopt if the key
  // has no visible version at all.
  virtual Result<std::optional<ReadResult>> Get(std::string_view key,
                                                const Snapshot& snapshot) = 0;

  // The newest version of `key` regardless of any snapshot (the conflict
  // check needs it), or nullopt if the key has no version.
  virtual Result<std::optional<Version>> LatestVersion(std::string_view key) = 0;

  // Calls `fn` for each key in [options.start, options.end) whose newest
  // visible version is live, in key order, until `fn` returns false or the
  // limit is reached. Returns true in `*more` if it stopped at the limit with
  // at least one more live key in range (more may be null).
  virtual Status Scan(const ScanOptions& options, const Snapshot& snapshot,
                      const std::function<bool(const KeyValue&)>& fn, bool* more) = 0;

  // Drops versions no reader can need: for every key, the versions shadowed
  // by a newer version that `watermark` sees, and a tombstone that is the
  // newest version and that `watermark` sees. Reads at snapshots that see
  // everything `watermark` sees return the same live values afterwards (a
  // dropped tombstone reads as "no version" instead of a tombstone).
  virtual Status GarbageCollect(const Snapshot& watermark) = 0;

  // Calls `fn` for every record (all versions, tombstones included) in key
  // order, newest version first within a key; the state as of one applied
  // index, returned in `*index`.
  virtual Status Export(const std::function<Status(const Record&)>& fn, uint64_t* index) = 0;

  // Replaces the whole content with `records` (as produced by Export) and sets
  // the applied index to `index`, durably.
  virtual Status Ingest(const std::vector<Record>& records, uint64_t index) = 0;

  // Cheap: the transaction layer reads it on every apply.
  virtual EngineStats Stats() = 0;

  virtual SpaceStats Space() = 0;
};

}  // namespace meridian::storage
