#include "storage/rocks/rocks_engine.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/coding.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/listener.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace meridian::storage {
namespace {

// The key space (docs/formats/rocks_engine.md). Every RocksDB key starts with
// a one-byte tag, so user records and metadata can never collide.
constexpr char kRecordTag = 'v';
constexpr char kMetaTag = 'm';
// Exclusive upper bound of all record keys.
constexpr char kRecordEnd[] = "w";
static_assert(kMetaTag < kRecordTag && kRecordTag + 1 == 'w');

constexpr char kFormatKey[] = "mformat";
constexpr char kFormatValue[] = "meridian.rocks_engine.v1";
constexpr char kAppliedIndexKey[] = "mapplied_index";

// BE64(~hlc) + BE32(~site) after the encoded user key.
constexpr size_t kVersionBytes = 12;

constexpr char kTombstoneTag = 0x00;
constexpr char kValueTag = 0x01;

// GarbageCollect writes its deletes in batches of about this many, split
// only between user keys so that each key's deletes land atomically.
constexpr uint32_t kGcBatchDeletes = 4096;

// After this many Next() calls without leaving a user key, Scan seeks past it.
constexpr int kNextsBeforeSeek = 8;

std::string RecordPrefix(std::string_view user_key) {
  std::string p(1, kRecordTag);
  PutOrderedBytes(&p, user_key);
  return p;
}

// The smallest key greater than every record key of the user key whose
// prefix is `prefix`. The prefix ends in the 0x00 0x01 terminator, so bumping
// the last byte stays within the same user key's neighbours.
std::string PrefixEnd(std::string_view prefix) {
  std::string e(prefix);
  e.back() = static_cast<char>(e.back() + 1);
  return e;
}

void AppendVersion(std::string* dst, const Version& v) {
  PutBigEndian64(dst, ~v.hlc);
  PutBigEndian32(dst, ~v.site);
}

std::string RecordKey(std::string_view user_key, const Version& v) {
  std::string k = RecordPrefix(user_key);
  AppendVersion(&k, v);
  return k;
}

// The length of the leading PutOrderedBytes encoding in `s`, or 0 if `s` does
// not start with a complete, well-formed one.
size_t OrderedBytesLength(std::string_view s) {
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] != '\0') continue;
    if (s[i + 1] == '\x01') return i + 2;
    if (s[i + 1] != '\xff') return 0;
    ++i;
  }
  return 0;
}

// The length of the record prefix ('v' + encoded user key) of a well-formed
// record key, or 0 if `key` is not one.
size_t RecordPrefixLength(std::string_view key) {
  if (key.empty() || key[0] != kRecordTag) return 0;
  size_t n = OrderedBytesLength(key.substr(1));
  if (n == 0 || 1 + n + kVersionBytes != key.size()) return 0;
  return 1 + n;
}

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

Status CorruptKey(std::string_view key) {
  return CorruptionError(absl::StrCat("rocks engine: malformed record key of ", key.size(),
                                      " bytes"));
}

// Decodes the version suffix of a record key whose prefix is `prefix_len`
// bytes long.
Version DecodeVersion(std::string_view key, size_t prefix_len) {
  std::string_view in = key.substr(prefix_len);
  uint64_t hlc = 0;
  uint32_t site = 0;
  GetBigEndian64(&in, &hlc);
  GetBigEndian32(&in, &site);
  return Version{~hlc, ~site};
}

// Splits a record key into user key and version.
Status ParseRecordKey(std::string_view key, std::string* user_key, Version* v,
                      size_t* prefix_len) {
  size_t n = RecordPrefixLength(key);
  std::string_view in = key.substr(1);
  if (n == 0 || !GetOrderedBytes(&in, user_key)) return CorruptKey(key);
  *v = DecodeVersion(key, n);
  if (prefix_len != nullptr) *prefix_len = n;
  return absl::OkStatus();
}

std::string EncodeValue(const std::optional<std::string>& value) {
  if (!value.has_value()) return std::string(1, kTombstoneTag);
  std::string v(1, kValueTag);
  v.append(*value);
  return v;
}

// Decodes a stored value; nullopt in `*out` is a tombstone.
Status DecodeValue(std::string_view stored, std::optional<std::string>* out) {
  if (stored.size() == 1 && stored[0] == kTombstoneTag) {
    out->reset();
    return absl::OkStatus();
  }
  if (stored.empty() || stored[0] != kValueTag) {
    return CorruptionError(absl::StrCat("rocks engine: bad value tag in a ", stored.size(),
                                        "-byte value"));
  }
  out->emplace(stored.substr(1));
  return absl::OkStatus();
}

bool IsTombstone(std::string_view stored) {
  return stored.size() == 1 && stored[0] == kTombstoneTag;
}

Status DecodeIndex(std::string_view stored, uint64_t* index) {
  if (stored.size() != 8 || !GetFixed64(&stored, index)) {
    return CorruptionError("rocks engine: the applied index record is not 8 bytes");
  }
  return absl::OkStatus();
}

std::string EncodeIndex(uint64_t index) {
  std::string s;
  PutFixed64(&s, index);
  return s;
}

// The greatest hlc `snapshot` sees at any site; no visible version is newer.
uint64_t MaxVisibleHlc(const Snapshot& snapshot) {
  if (snapshot.is_latest()) return UINT64_MAX;
  uint64_t m = 0;  // absent sites see hlc 0 (Snapshot::At)
  for (const auto& [site, hlc] : snapshot.entries()) m = std::max(m, hlc);
  return m;
}

// (Debian's abseil has its own string_view, distinct from std::string_view.)
Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  std::string msg = absl::StrCat("rocks engine: ", what, ": ", s.ToString());
  if (s.IsCorruption()) return CorruptionError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(absl::StrCat(msg, " (disk full)"));
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsNotSupported()) return absl::FailedPreconditionError(msg);
  return absl::InternalError(msg);
}

// Record keys are 'v' + ordered(user key) + 12 version bytes; the prefix is
// everything but the version, so a prefix Bloom filter answers "does this
// user key have any version here" for Get and LatestVersion. Metadata keys
// are outside the domain. Satisfies RocksDB's prefix properties because the
// encoding is order-preserving and prefix-free, and a prefix itself is never
// in the domain (it has no version bytes after its terminator).
class VersionedKeyPrefix final : public rocksdb::SliceTransform {
 public:
  // Part of the on-disk format: RocksDB ignores filters built by a
  // differently named extractor.
  const char* Name() const override { return "meridian.VersionedKeyPrefix.v1"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - kVersionBytes);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return RecordPrefixLength(View(key)) != 0;
  }
};

// RocksDB's own file names. A directory without CURRENT that holds anything
// else is not a store RocksDB (or a crash during its creation) left there.
bool IsRocksFileName(std::string_view n) {
  return n == "." || n == ".." || n == "CURRENT" || n == "IDENTITY" || n == "LOCK" ||
         n == "LOG" || n == "lost+found" || n.starts_with("LOG.old.") ||
         n.starts_with("MANIFEST-") || n.starts_with("OPTIONS-") || n.ends_with(".log") ||
         n.ends_with(".sst") || n.ends_with(".dbtmp");
}

Status CheckDirectory(const RocksEngine::Options& options, rocksdb::Env* env) {
  const std::string& path = options.path;
  if (env->FileExists(path + "/CURRENT").ok()) return absl::OkStatus();
  std::vector<std::string> children;
  if (!env->GetChildren(path, &children).ok()) {
    // Missing directory: RocksDB creates it, or reports it missing.
    if (!options.create_if_missing) {
      return absl::NotFoundError(absl::StrCat("rocks engine: no store at ", path));
    }
    return absl::OkStatus();
  }
  for (const std::string& c : children) {
    if (!IsRocksFileName(c)) {
      return absl::FailedPreconditionError(
          absl::StrCat("rocks engine: ", path, " is not a RocksDB store (no CURRENT file) ",
                       "but holds other files, such as '", c, "'"));
    }
  }
  if (!options.create_if_missing) {
    return absl::NotFoundError(absl::StrCat("rocks engine: no store at ", path));
  }
  return absl::OkStatus();
}

// Times memtable flushes: FlushJobInfo has no duration, so the time runs
// from OnFlushBegin to OnFlushCompleted of the same job.
class FlushTimer final : public rocksdb::EventListener {
 public:
  explicit FlushTimer(std::function<void(double)> done) : done_(std::move(done)) {}

  void OnFlushBegin(rocksdb::DB*, const rocksdb::FlushJobInfo& info) override {
    const uint64_t now = SystemClock()->NowMonotonicMicros();
    std::lock_guard<std::mutex> lock(mu_);
    // A flush that failed never completes; keep the map small regardless.
    if (started_.size() >= 64) started_.erase(started_.begin());
    started_[{info.thread_id, info.job_id}] = now;
  }

  void OnFlushCompleted(rocksdb::DB*, const rocksdb::FlushJobInfo& info) override {
    const uint64_t now = SystemClock()->NowMonotonicMicros();
    uint64_t began = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = started_.find({info.thread_id, info.job_id});
      if (it == started_.end()) return;
      began = it->second;
      started_.erase(it);
    }
    done_(static_cast<double>(now - began) / 1e6);
  }

 private:
  const std::function<void(double)> done_;
  std::mutex mu_;
  std::map<std::pair<uint64_t, int>, uint64_t> started_;  // (thread, job) -> began, µs
};

rocksdb::Options MakeRocksOptions(const RocksEngine::Options& options) {
  rocksdb::Options o;
  o.create_if_missing = options.create_if_missing;
  o.paranoid_checks = true;
  // Replays the WAL up to its first torn or corrupt record: after a power
  // loss that is the unsynced tail, and every synced batch precedes it.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.max_background_jobs = 2;
  o.bytes_per_sync = 1 << 20;
  o.keep_log_file_num = 4;
  o.compaction_style = rocksdb::kCompactionStyleLevel;
  o.level_compaction_dynamic_level_bytes = true;
  o.prefix_extractor = std::make_shared<VersionedKeyPrefix>();
  o.memtable_prefix_bloom_size_ratio = 0.02;
  o.use_direct_reads = options.use_direct_io;
  o.use_direct_io_for_flush_and_compaction = options.use_direct_io;
  if (options.env != nullptr) o.env = options.env;
  o.write_buffer_size = static_cast<size_t>(options.memtable_bytes);
  if (options.on_flush) o.listeners.push_back(std::make_shared<FlushTimer>(options.on_flush));

  rocksdb::BlockBasedTableOptions t;
  if (options.block_cache_bytes > 0) {
    t.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
  } else {
    t.no_block_cache = true;
  }
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Every lookup is a prefix seek; whole-key filters would never be asked.
  t.whole_key_filtering = false;
  t.format_version = 5;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

Status OpenError(const rocksdb::Status& s, const std::string& path) {
  std::string msg = s.ToString();
  if (s.IsIOError() && (msg.find("LOCK") != std::string::npos ||
                        msg.find("lock") != std::string::npos)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "rocks engine: ", path, " is already open (its LOCK file is held): ", msg));
  }
  if (s.IsInvalidArgument() && msg.find("does not exist") != std::string::npos) {
    return absl::NotFoundError(absl::StrCat("rocks engine: no store at ", path, ": ", msg));
  }
  return FromRocks(s, absl::StrCat("cannot open ", path));
}

}  // namespace

struct RocksEngine::Impl {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::Env* env = nullptr;
  std::string path;
  std::unique_ptr<FreeSpaceReserve> reserve;  // --min-free-disk

  ~Impl() {
    // Close reports a latched background error; there is nobody to tell, and
    // the WAL still holds everything for the next Open.
    if (db != nullptr) db->Close().PermitUncheckedError();
  }
};

RocksEngine::RocksEngine(std::unique_ptr<Impl> impl, uint64_t applied_index)
    : impl_(std::move(impl)), applied_index_(applied_index), durable_index_(applied_index) {}

RocksEngine::~RocksEngine() = default;

Result<std::unique_ptr<RocksEngine>> RocksEngine::Open(const Options& options) {
  if (options.path.empty()) return InvalidArgumentError("rocks engine: Options.path is empty");
  rocksdb::Env* env = options.env != nullptr ? options.env : rocksdb::Env::Default();
  MERIDIAN_RETURN_IF_ERROR(CheckDirectory(options, env));

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(MakeRocksOptions(options), options.path, &raw);
  if (!s.ok()) return OpenError(s, options.path);
  auto impl = std::make_unique<Impl>();
  impl->db.reset(raw);
  impl->env = env;
  impl->path = options.path;
  impl->reserve = std::make_unique<FreeSpaceReserve>(options.path, options.min_free_bytes,
                                                     SystemClock());
  rocksdb::DB* db = raw;
  const std::string& path = options.path;

  std::string stored;
  s = db->Get(rocksdb::ReadOptions(), kFormatKey, &stored);
  if (s.IsNotFound()) {
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    it->SeekToFirst();
    if (!it->status().ok()) return FromRocks(it->status(), absl::StrCat("reading ", path));
    if (it->Valid()) {
      return CorruptionError(absl::StrCat("rocks engine: ", path,
                                          " holds a RocksDB store not written by this engine "
                                          "(no format record)"));
    }
    // A new store. The marker and index land together, so a crash here
    // leaves either an empty store (redone next Open) or a complete one.
    rocksdb::WriteBatch wb;
    wb.Put(kFormatKey, kFormatValue).PermitUncheckedError();
    wb.Put(kAppliedIndexKey, EncodeIndex(0)).PermitUncheckedError();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db->Write(wo, &wb);
    if (!s.ok()) return FromRocks(s, absl::StrCat("initializing ", path));
    stored = kFormatValue;
  } else if (!s.ok()) {
    return FromRocks(s, absl::StrCat("reading the format record of ", path));
  }
  if (stored != kFormatValue) {
    return CorruptionError(absl::StrCat("rocks engine: ", path, " has format '", stored,
                                        "', this build reads only '", kFormatValue, "'"));
  }

  // Every key must be metadata or a well-formed record; check the two ends.
  {
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    it->SeekToLast();
    if (it->Valid()) {
      std::string_view k = View(it->key());
      bool ok = k >= "m" && (k < "n" || RecordPrefixLength(k) != 0);
      it->SeekToFirst();
      ok = ok && it->Valid() && View(it->key()) >= "m";
      if (!ok) {
        return CorruptionError(
            absl::StrCat("rocks engine: ", path, " holds keys outside the engine's key space"));
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), absl::StrCat("reading ", path));
  }

  s = db->Get(rocksdb::ReadOptions(), kAppliedIndexKey, &stored);
  if (s.IsNotFound()) {
    return CorruptionError(absl::StrCat("rocks engine: ", path, " has no applied index record"));
  }
  if (!s.ok()) return FromRocks(s, absl::StrCat("reading the applied index of ", path));
  uint64_t applied = 0;
  MERIDIAN_RETURN_IF_ERROR(DecodeIndex(stored, &applied));

  // Whatever recovery replayed is reported durable from now on: make sure it
  // is, in case it came from an unsynced WAL tail that outlived the process.
  s = db->FlushWAL(/*sync=*/true);
  if (!s.ok()) return FromRocks(s, absl::StrCat("syncing the WAL of ", path));

  return std::unique_ptr<RocksEngine>(new RocksEngine(std::move(impl), applied));
}

Status RocksEngine::Health() const { return latch_.Health(); }
Status RocksEngine::Fail(Status s) { return latch_.Fail(std::move(s)); }
void RocksEngine::RaiseDurable(uint64_t index) { RaiseAtLeast(&durable_index_, index); }

Status RocksEngine::CheckSpace(uint64_t bytes) {
  MERIDIAN_RETURN_IF_ERROR(Health());
  return CheckFreeSpace(bytes);
}

Status RocksEngine::CheckFreeSpace(uint64_t batch_bytes) const {
  return impl_->reserve->Check(batch_bytes);
}

Status RocksEngine::Apply(const WriteBatch& batch, bool sync) {
  MERIDIAN_RETURN_IF_ERROR(Health());
  uint64_t applied = applied_index_.load();
  if (batch.log_index <= applied) {
    return InvalidArgumentError(absl::StrCat("rocks engine: log index ", batch.log_index,
                                             " is not greater than the applied index ", applied));
  }
  if (!batch.chosen) MERIDIAN_RETURN_IF_ERROR(CheckFreeSpace(ApproximateBytes(batch.records)));
  rocksdb::WriteBatch wb;
  for (const Record& r : batch.records) {
    rocksdb::Status s = wb.Put(RecordKey(r.key, r.version), EncodeValue(r.value));
    if (!s.ok()) return FromRocks(s, "building a write batch");  // nothing written yet
  }
  // The index rides in the same RocksDB batch: both land, or neither.
  rocksdb::Status s = wb.Put(kAppliedIndexKey, EncodeIndex(batch.log_index));
  if (!s.ok()) return FromRocks(s, "building a write batch");
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  s = impl_->db->Write(wo, &wb);
  if (!s.ok()) return Fail(FromRocks(s, absl::StrCat("applying log index ", batch.log_index)));
  applied_index_.store(batch.log_index);
  // A synced write syncs the whole WAL, so every earlier batch is durable too.
  if (sync) RaiseDurable(batch.log_index);
  return absl::OkStatus();
}

Status RocksEngine::Flush() {
  MERIDIAN_RETURN_IF_ERROR(Health());
  absl::MutexLock l(&sync_mu_);
  uint64_t index = applied_index_.load();
  rocksdb::Status s = impl_->db->FlushWAL(/*sync=*/true);
  if (!s.ok()) return Fail(FromRocks(s, "syncing the WAL"));
  RaiseDurable(index);
  return absl::OkStatus();
}

Status RocksEngine::FlushMemtables() {
  MERIDIAN_RETURN_IF_ERROR(Health());
  rocksdb::FlushOptions options;
  options.wait = true;
  rocksdb::Status s = impl_->db->Flush(options);
  if (!s.ok()) return Fail(FromRocks(s, "flushing the memtables"));
  return absl::OkStatus();
}

Status RocksEngine::WaitForCompactions() {
  MERIDIAN_RETURN_IF_ERROR(FlushMemtables());
  for (;;) {
    MERIDIAN_RETURN_IF_ERROR(Health());
    uint64_t pending = 0, running = 0, flushes = 0;
    if (!impl_->db->GetIntProperty("rocksdb.compaction-pending", &pending) ||
        !impl_->db->GetIntProperty("rocksdb.num-running-compactions", &running) ||
        !impl_->db->GetIntProperty("rocksdb.num-running-flushes", &flushes)) {
      return absl::InternalError("rocks engine: compaction properties unavailable");
    }
    if (pending == 0 && running == 0 && flushes == 0) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

namespace {

// An iterator over the versions of one key, newest first, positioned at the
// first version not newer than `from`. It seeks to a full version key, not
// the bare prefix: prefix seeks need a target inside the prefix extractor's
// domain. Not movable: the iterator points at `end`.
struct KeyVersions {
  KeyVersions(rocksdb::DB* db, std::string_view key, Version from)
      : prefix(RecordPrefix(key)), end(PrefixEnd(prefix)), upper(end) {
    rocksdb::ReadOptions ro;
    ro.prefix_same_as_start = true;
    ro.iterate_upper_bound = &upper;
    it.reset(db->NewIterator(ro));
    std::string target = prefix;
    AppendVersion(&target, from);
    it->Seek(target);
  }
  KeyVersions(const KeyVersions&) = delete;
  KeyVersions& operator=(const KeyVersions&) = delete;

  const std::string prefix;
  const std::string end;
  const rocksdb::Slice upper;
  std::unique_ptr<rocksdb::Iterator> it;
};

}  // namespace

Result<std::optional<ReadResult>> RocksEngine::Get(std::string_view key,
                                                   const Snapshot& snapshot) {
  MERIDIAN_RETURN_IF_ERROR(Health());
  // Versions are newest first; skip straight past those newer than anything
  // the snapshot can see.
  KeyVersions versions(impl_->db.get(), key, Version{MaxVisibleHlc(snapshot), UINT32_MAX});
  const std::string& prefix = versions.prefix;
  rocksdb::Iterator* it = versions.it.get();
  for (; it->Valid(); it->Next()) {
    std::string_view k = View(it->key());
    if (k.size() != prefix.size() + kVersionBytes) return Fail(CorruptKey(k));
    Version v = DecodeVersion(k, prefix.size());
    if (!snapshot.Sees(v)) continue;
    ReadResult r{v, std::nullopt};
    Status st = DecodeValue(View(it->value()), &r.value);
    if (!st.ok()) return Fail(st);
    return std::optional<ReadResult>(std::move(r));
  }
  if (!it->status().ok()) return Fail(FromRocks(it->status(), "get"));
  return std::optional<ReadResult>();
}

Result<std::optional<Version>> RocksEngine::LatestVersion(std::string_view key) {
  MERIDIAN_RETURN_IF_ERROR(Health());
  KeyVersions versions(impl_->db.get(), key, Version{UINT64_MAX, UINT32_MAX});
  const std::string& prefix = versions.prefix;
  rocksdb::Iterator* it = versions.it.get();
  if (it->Valid()) {
    std::string_view k = View(it->key());
    if (k.size() != prefix.size() + kVersionBytes) return Fail(CorruptKey(k));
    return std::optional<Version>(DecodeVersion(k, prefix.size()));
  }
  if (!it->status().ok()) return Fail(FromRocks(it->status(), "latest version"));
  return std::optional<Version>();
}

Status RocksEngine::Scan(const ScanOptions& options, const Snapshot& snapshot,
                         const std::function<bool(const KeyValue&)>& fn, bool* more) {
  if (more != nullptr) *more = false;
  MERIDIAN_RETURN_IF_ERROR(Health());
  if (!options.end.empty() && options.end <= options.start) return absl::OkStatus();
  // The encoding preserves order, so [start, end) maps to this key range.
  const std::string lower = RecordPrefix(options.start);
  const std::string end =
      options.end.empty() ? std::string(kRecordEnd) : RecordPrefix(options.end);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  ro.iterate_upper_bound = &upper;
  // One iterator is one RocksDB snapshot: the scan sees whole batches only.
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  const uint64_t max_hlc = MaxVisibleHlc(snapshot);

  uint64_t returned = 0;
  std::string prefix;
  KeyValue kv;
  it->Seek(lower);
  while (it->Valid()) {
    // The iterator is at the newest version of a user key.
    size_t prefix_len = 0;
    Status st = ParseRecordKey(View(it->key()), &kv.key, &kv.version, &prefix_len);
    if (!st.ok()) return Fail(st);
    prefix.assign(it->key().data(), prefix_len);
    if (kv.version.hlc > max_hlc) {
      std::string target = prefix;
      AppendVersion(&target, Version{max_hlc, UINT32_MAX});
      it->Seek(target);
    }
    // Find the newest visible version of this key.
    bool found = false;
    bool live = false;
    for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
      Version v = DecodeVersion(View(it->key()), prefix_len);
      if (!snapshot.Sees(v)) continue;
      found = true;
      std::string_view stored = View(it->value());
      live = !IsTombstone(stored);
      if (live) {
        std::optional<std::string> value;
        if (!options.keys_only) {
          st = DecodeValue(stored, &value);
          if (!st.ok()) return Fail(st);
        }
        kv.value = value.has_value() ? std::move(*value) : std::string();
        kv.version = v;
      }
      break;
    }
    if (found && live) {
      if (options.limit != 0 && returned == options.limit) {
        if (more != nullptr) *more = true;
        return absl::OkStatus();
      }
      ++returned;
      if (!fn(kv)) return absl::OkStatus();
    }
    // Step past this key's older versions; seek if there are many.
    int steps = 0;
    while (it->Valid() && it->key().starts_with(prefix)) {
      if (++steps > kNextsBeforeSeek) {
        it->Seek(PrefixEnd(prefix));
        break;
      }
      it->Next();
    }
  }
  if (!it->status().ok()) return Fail(FromRocks(it->status(), "scan"));
  return absl::OkStatus();
}

Status RocksEngine::GarbageCollect(const Snapshot& watermark) {
  MERIDIAN_RETURN_IF_ERROR(Health());
  rocksdb::Slice upper(kRecordEnd);
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;  // a full pass would evict the readers' working set
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  rocksdb::WriteBatch wb;
  // Not synced: each batch is whole or absent after a crash, and any subset
  // of these deletes leaves reads above the watermark unchanged.
  auto write = [&]() -> Status {
    if (wb.Count() == 0) return absl::OkStatus();
    rocksdb::Status s = impl_->db->Write(rocksdb::WriteOptions(), &wb);
    wb.Clear();
    if (!s.ok()) return Fail(FromRocks(s, "garbage collection"));
    return absl::OkStatus();
  };
  std::string prefix;
  bool seen = false;  // the watermark sees a version of `prefix` already passed
  for (it->Seek(std::string(1, kRecordTag)); it->Valid(); it->Next()) {
    std::string_view k = View(it->key());
    bool first = prefix.empty() || !k.starts_with(prefix);
    size_t prefix_len = prefix.size();
    if (first) {
      prefix_len = RecordPrefixLength(k);
      if (prefix_len == 0) return Fail(CorruptKey(k));
      if (wb.Count() >= kGcBatchDeletes) MERIDIAN_RETURN_IF_ERROR(write());
      prefix.assign(k.substr(0, prefix_len));
      seen = false;
    }
    if (seen) {
      wb.Delete(it->key()).PermitUncheckedError();  // shadowed
      continue;
    }
    Version v = DecodeVersion(k, prefix_len);
    if (!watermark.Sees(v)) continue;
    seen = true;
    if (first && IsTombstone(View(it->value()))) {
      wb.Delete(it->key()).PermitUncheckedError();
    }
  }
  if (!it->status().ok()) return Fail(FromRocks(it->status(), "garbage collection"));
  return write();
}

Status RocksEngine::Export(const std::function<Status(const Record&)>& fn, uint64_t* index) {
  MERIDIAN_RETURN_IF_ERROR(Health());
  rocksdb::ManagedSnapshot snap(impl_->db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.snapshot();
  std::string stored;
  rocksdb::Status s = impl_->db->Get(ro, kAppliedIndexKey, &stored);
  if (!s.ok()) return Fail(FromRocks(s, "export: reading the applied index"));
  uint64_t at = 0;
  Status st = DecodeIndex(stored, &at);
  if (!st.ok()) return Fail(st);
  if (index != nullptr) *index = at;

  rocksdb::Slice upper(kRecordEnd);
  ro.total_order_seek = true;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  Record r;
  for (it->Seek(std::string(1, kRecordTag)); it->Valid(); it->Next()) {
    st = ParseRecordKey(View(it->key()), &r.key, &r.version, nullptr);
    if (st.ok()) st = DecodeValue(View(it->value()), &r.value);
    if (!st.ok()) return Fail(st);
    MERIDIAN_RETURN_IF_ERROR(fn(r));
  }
  if (!it->status().ok()) return Fail(FromRocks(it->status(), "export"));
  return absl::OkStatus();
}

Status RocksEngine::Ingest(const std::vector<Record>& records, uint64_t index) {
  MERIDIAN_RETURN_IF_ERROR(Health());
  // One synced batch: after a crash the store is wholly old or wholly new.
  rocksdb::WriteBatch wb;
  rocksdb::Status s = wb.DeleteRange(std::string(1, kRecordTag), kRecordEnd);
  for (const Record& r : records) {
    if (!s.ok()) break;
    s = wb.Put(RecordKey(r.key, r.version), EncodeValue(r.value));
  }
  if (s.ok()) s = wb.Put(kAppliedIndexKey, EncodeIndex(index));
  if (!s.ok()) return FromRocks(s, "building the ingest batch");  // nothing written yet
  absl::MutexLock l(&sync_mu_);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = impl_->db->Write(wo, &wb);
  if (!s.ok()) return Fail(FromRocks(s, "ingest"));
  applied_index_.store(index);
  durable_index_.store(index);  // may lower it: the old history is gone
  return absl::OkStatus();
}

EngineStats RocksEngine::Stats() {
  EngineStats st;
  st.applied_index = applied_index_.load();
  st.durable_index = durable_index_.load();
  uint64_t sst = 0;
  uint64_t mem = 0;
  if (impl_->db->GetIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &sst) &&
      impl_->db->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &mem)) {
    st.approximate_size_bytes = sst + mem;
  }
  return st;
}

SpaceStats RocksEngine::Space() {
  SpaceStats st;
  std::vector<std::string> children;
  if (impl_->env->GetChildren(impl_->path, &children).ok()) {
    for (const std::string& c : children) {
      uint64_t size = 0;
      // A file compaction deleted meanwhile is simply not counted.
      if (impl_->env->GetFileSize(impl_->path + "/" + c, &size).ok()) st.size_bytes += size;
    }
  }
  uint64_t live = 0;
  uint64_t sst = 0;
  if (impl_->db->GetIntProperty(rocksdb::DB::Properties::kEstimateLiveDataSize, &live)) {
    st.live_bytes = live;
  }
  if (impl_->db->GetIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &sst) && sst > 0) {
    st.fragmentation =
        std::clamp(1.0 - static_cast<double>(live) / static_cast<double>(sst), 0.0, 1.0);
  }
  struct statvfs fs;
  if (::statvfs(impl_->path.c_str(), &fs) == 0) {
    st.disk_free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  return st;
}

}  // namespace meridian::storage
