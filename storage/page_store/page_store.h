// PageStore: the update-in-place Engine (TreeLine's ideas for byte-string
// keys and MVCC). docs/formats/page_store.md is the design and the on-disk
// format; this header is the contract.
//
// Data lives in three places:
//   - the record cache (record_cache.h): every version of recently written
//     or read keys, newest first; the only home of keys with more than one
//     version or a tombstone ("pinned" keys) until GarbageCollect drops them;
//   - pages: 4 KiB slotted pages grouped into segments placed by linear
//     models (segment.h), holding the newest version of every other key;
//   - the redo log (redo_log.h): every batch since the last checkpoint.
// A checkpoint writes every dirty entry back, then CHECKPOINT (segment index,
// free pages, pinned keys), then trims the log. Open reads CHECKPOINT,
// repairs torn pages from the double-write buffer and replays the log; it
// never scans the pages.
//
// Thread-safety: as Engine. Readers share a mutex with each other; the
// writer takes it exclusively only to change memory and to write pages
// back. A scan is atomic per chunk (up to 4 pages of one segment, at most
// 256 keys), not across chunks; Export is atomic as a whole (it excludes
// writers).
//
// Failure (fail-stop): an I/O error while writing (log, pages, double-write
// buffer, checkpoint) latches: that call and every later one, reads
// included, return it (RESOURCE_EXHAUSTED for a full disk, else DATA_LOSS or
// the I/O error); close and reopen to recover. A page that fails its
// checksum when read is DATA_LOSS naming the page, latched the same way; a
// corrupt page is never served. An error met after a batch is in the log and
// the cache (while writing back or checkpointing) is latched and returned by
// the next call; that Apply itself returns OK.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/file_system.h"
#include "common/status.h"
#include "storage/engine.h"
#include "storage/engine_guards.h"
#include "storage/page_store/double_write.h"
#include "storage/page_store/page_io.h"
#include "storage/page_store/record_cache.h"
#include "storage/page_store/redo_log.h"
#include "storage/page_store/segment.h"

namespace meridian::storage::page_store {

class PageStore final : public Engine {
 public:
  struct Options {
    // All file access; nullptr means PosixFileSystem(). Not owned; must
    // outlive the store.
    FileSystem* fs = nullptr;
    // The store's directory (created if missing). REQUIRES: non-empty.
    std::string dir;
    // Memory for the record cache, bytes. Pinned keys (several versions or
    // a tombstone) stay in memory even beyond it until GarbageCollect.
    uint64_t memory_bytes = 256ull << 20;
    // O_DIRECT for the page file and the double-write buffer (falls back to
    // buffered I/O where the file system refuses it).
    bool direct_io = true;
    // Page I/O path: kAuto (io_uring, else pread/pwrite), kUring (Open fails
    // if io_uring is refused), kPosix. The redo log follows the same choice.
    PageIo::Mode io_mode = PageIo::Mode::kAuto;
    // Apply of a batch that is not `chosen` is refused (RESOURCE_EXHAUSTED,
    // nothing written, not latched) when the file system would keep fewer
    // free bytes than this after it; CheckSpace asks the same. 0: no check.
    uint64_t min_free_bytes = 0;
    // A checkpoint is taken once the redo log has grown this many bytes
    // since the last one (and at a clean close). >= 1.
    uint64_t checkpoint_log_bytes = 64ull << 20;
    // Redo log segment size, bytes (the WAL's Options::segment_bytes);
    // >= 4 KiB and larger than the largest batch.
    uint64_t log_segment_bytes = 64ull << 20;
    // Of each redo log segment, how much is allocated on disk ahead of the
    // writes, in steps of this many bytes (the WAL's
    // Options::preallocate_bytes). 0: the whole segment.
    uint64_t log_preallocate_bytes = 0;
    // Slots of the double-write buffer, pages. >= 64.
    uint32_t dwb_pages = 256;
    // Fill factor of pages when segments are built by Ingest, and by
    // reorganization of a segment with no insert history (or of any
    // segment when forecast_inserts is false), in [0.1, 1]: the rest is
    // room for inserts.
    double fill = 0.7;
    // Insert forecasting: a reorganization fills each page by the inserts
    // its key range received since it was built (ForecastFill in
    // segment.h; docs/formats/page_store.md, "Insert forecasting").
    bool forecast_inserts = true;
    // For the free-space check's refresh interval; nullptr: SystemClock().
    Clock* clock = nullptr;
  };

  // More than Engine's stats; docs/formats/page_store.md explains each.
  struct DetailedStats {
    uint64_t applied_index = 0;
    uint64_t durable_index = 0;
    uint64_t file_bytes = 0;          // page file + dwb + CHECKPOINT + log since checkpoint
    uint64_t page_count = 0;          // pages in the page file (page 0 unused)
    uint64_t free_pages = 0;          // reusable now
    uint64_t pending_free_pages = 0;  // reusable after the next checkpoint
    uint64_t blob_pages = 0;
    uint64_t segments = 0;
    uint64_t segments_by_pages[5] = {};  // segments of 1, 2, 4, 8, 16 pages
    uint64_t overflow_pages = 0;
    uint64_t unused_page_bytes = 0;   // in live data and overflow pages
    // (free + pending pages) * 4 KiB + unused_page_bytes, over the page
    // file's bytes: the share of the page file not holding records.
    double fragmentation = 0;
    uint64_t cache_bytes = 0;
    uint64_t cache_entries = 0;
    uint64_t pinned_entries = 0;
    uint64_t dirty_entries = 0;
    uint64_t page_reads = 0;
    uint64_t page_writes = 0;
    uint64_t reorganizations = 0;
    // Insert forecasting, since open: inserts written back (appends
    // included), appends, and segments built by reorganization by the fill
    // they were planned at (record bytes over planned bytes): < 0.65,
    // [0.65, 0.85), >= 0.85.
    uint64_t inserts_counted = 0;
    uint64_t appends_counted = 0;
    uint64_t reorganized_by_fill[3] = {};
    uint64_t checkpoints = 0;
    uint64_t pages_repaired_at_open = 0;
    std::string io_path;
  };

  // Opens the store in options.dir, creating an empty one if it holds no
  // CHECKPOINT. Errors: InvalidArgument (bad options), DataLoss (a corrupt
  // CHECKPOINT or redo log, with the file named), I/O errors.
  static Result<std::unique_ptr<PageStore>> Open(const Options& options);

  // Checkpoints (a clean close) unless an error is latched.
  ~PageStore() override;
  PageStore(const PageStore&) = delete;
  PageStore& operator=(const PageStore&) = delete;

  std::string_view Name() const override { return "pagestore"; }
  Status Apply(const WriteBatch& batch, bool sync) override;
  Status Flush() override;
  Status CheckSpace(uint64_t bytes) override;
  Result<std::optional<ReadResult>> Get(std::string_view key, const Snapshot& snapshot) override;
  Result<std::optional<Version>> LatestVersion(std::string_view key) override;
  Status Scan(const ScanOptions& options, const Snapshot& snapshot,
              const std::function<bool(const KeyValue&)>& fn, bool* more) override;
  Status GarbageCollect(const Snapshot& watermark) override;
  // `fn` runs with writers excluded: it must not call Apply, GarbageCollect
  // or Ingest.
  Status Export(const std::function<Status(const Record&)>& fn, uint64_t* index) override;
  Status Ingest(const std::vector<Record>& records, uint64_t index) override;
  EngineStats Stats() override;
  // Walks the segment index (not the record cache) under the shared lock:
  // for scrapes, not for every request.
  SpaceStats Space() override;

  DetailedStats Detailed();
  // How pages are reached (DetailedStats::io_path) and how many torn pages
  // Open repaired: cheap, unlike Detailed (no cache or index walk).
  std::string IoPath();
  uint64_t PagesRepairedAtOpen() const { return repaired_at_open_; }
  // The space of the segments whose lower bound is in [from, to) (tests,
  // tools; walks those segments).
  struct RangeSpace {
    uint64_t segments = 0;
    uint64_t data_pages = 0;
    uint64_t overflow_pages = 0;
    uint64_t unused_page_bytes = 0;  // as DetailedStats, over these pages
  };
  RangeSpace SpaceIn(std::string_view from, std::optional<std::string_view> to);
  // Takes a checkpoint now (tests, tools).
  Status Checkpoint();

  // Keys longer than this are refused by Apply and Ingest (InvalidArgument).
  static constexpr size_t kMaxKeyBytes = 1024;

 private:
  // A record as a page stores it: the value bytes, or a BlobRef.
  struct PageRecord {
    std::string key;
    Version version;
    std::optional<std::string> value;
    bool external = false;
    size_t Bytes() const { return Page::RecordBytes(key, value); }
  };
  // One change a write-back makes to a page: put a record, or erase the key.
  struct PageChange {
    std::string key;
    std::optional<PageRecord> put;
  };
  using Buffer = std::unique_ptr<char, void (*)(void*)>;
  // The page images of one write-back round, written together by FlushPlan.
  struct PagePlan {
    std::map<uint32_t, Buffer> images;  // loaded or new
    std::set<uint32_t> dirty;           // to write
    std::vector<uint32_t> allocated;    // pages allocated for it (logged)
    std::vector<uint32_t> released;     // freed fresh pages: reusable once it is written
  };

  static PageRecord FromEntry(const PageEntry& e);

  explicit PageStore(const Options& options);
  Status OpenFiles(bool* created);

  Status Health() const;
  // The page-level part of DetailedStats (segments, pages, fragmentation).
  void FillPageStats(DetailedStats* d) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Status Fail(Status s);
  void RaiseDurable(uint64_t index);
  Status CheckFreeSpace(uint64_t bytes);

  std::string PagesPath(uint64_t generation) const;
  Status EnsureLogDurable();
  Status CheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Page access. The plan is the set of page images of one write-back round.
  Result<char*> LoadPage(PagePlan* plan, uint32_t page_no, PageKind kind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  char* NewPage(PagePlan* plan, uint32_t page_no) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FreePage(PagePlan* plan, uint32_t page_no) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A page no longer used: reusable after the plan is written if the last
  // checkpoint does not know it (fresh), else after the next checkpoint.
  void Release(PagePlan* plan, uint32_t page_no) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t AllocateRun(PagePlan* plan, uint32_t pages) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t AllocateRunFromFree(uint32_t pages) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // At open: pages allocated since the checkpoint stay allocated if a page
  // written since, and still reachable from its index, references them.
  Status ReconcileAllocations(const std::vector<PageWrites>& writes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status FlushPlan(PagePlan* plan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Write-back: settles the page of `key` (and every entry it holds).
  Status WriteBackKey(PagePlan* plan, std::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status WriteBackAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status Reorganize(PagePlan* plan, SegmentIndex::Map::iterator seg,
                    std::vector<PageChange> changes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Builds segments for `records` (sorted) over [lower, upper) into the plan
  // and the index. `fills`: per record, its forecast fill (empty: all at
  // Options::fill; Ingest). `open_tail`: the last segment is one page at
  // most half full, the rest planned as usual (appends at the end of the
  // key space). REQUIRES: fills empty or one per record.
  Status BuildRegion(PagePlan* plan, const std::vector<PageRecord>& records,
                     const std::vector<double>& fills, bool open_tail, const std::string& lower,
                     const std::optional<std::string>& upper) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts the inserts (and appends) among `changes` to page `page` of
  // `seg`, whose images are main and ovf (or null), before they are applied.
  void CountInserts(SegmentIndex::Map::iterator seg, uint32_t page, char* main,
                    char* ovf, const std::vector<PageChange>& changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status PrepareRecord(PagePlan* plan, std::string_view key, const CachedVersion& v,
                       PageRecord* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FreeRecordBlob(PagePlan* plan, const PageRecord& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CLOCK eviction down to `target` bytes; with write_back, dirty entries'
  // pages are written back (batched), else only clean entries go.
  Status Evict(uint64_t target, bool write_back) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Reads (shared lock): the page version of `key`, value loaded.
  Status ReadPageVersion(std::string_view key, std::optional<CachedVersion>* out)
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Records of pages [first, segment end) of `seg` with keys in [from, to).
  Status ReadSegmentRecords(SegmentIndex::Map::const_iterator seg, std::string_view from,
                            const std::optional<std::string>& to,
                            std::vector<PageRecord>* out) ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Status ReadBlob(std::string_view ref, std::string* value) ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Status ReadBlobInPlan(PagePlan* plan, std::string_view ref, std::string* value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ReadPages(std::span<const PageIoRequest> requests) ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Completes the entry of key with a page version read under the shared
  // lock, if no page changed since (epoch); then trims the cache.
  void FillFromPage(std::string_view key, const std::optional<CachedVersion>& page_version,
                    uint64_t epoch);
  // Visits, in key order, every key in [from, to) of one chunk: its cache
  // entry (or null) and its page record (or null). Sets *next to where the
  // next chunk starts, or nullopt at the end of the key space.
  Status VisitChunk(std::string_view from, const std::optional<std::string>& to,
                    const std::function<bool(const std::string& key, const CacheEntry* e,
                                             const PageRecord* p)>& visit,
                    std::optional<std::string>* next) ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const Options options_;
  FileSystem* const fs_;
  Clock* const clock_;

  // Serializes Apply, GarbageCollect, Ingest, checkpoints and Export.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Memory state and page contents: shared for reads, exclusive to change.
  mutable absl::Mutex mu_ ABSL_ACQUIRED_BEFORE(log_mu_);
  RecordCache cache_ ABSL_GUARDED_BY(mu_);
  SegmentIndex index_ ABSL_GUARDED_BY(mu_);
  std::set<uint32_t> free_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> pending_free_ ABSL_GUARDED_BY(mu_);
  // Allocated since the last checkpoint, which therefore references none.
  std::set<uint32_t> fresh_ ABSL_GUARDED_BY(mu_);
  uint32_t page_count_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_lsn_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t log_group_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t checkpoint_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Bumped whenever pages or the index change: a reader's page version is
  // stale if it moved.
  uint64_t page_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // When eviction could not get below its target (everything left pinned),
  // it is not tried again before the cache grows past this.
  uint64_t evict_floor_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t inserts_counted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t appends_counted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reorganized_by_fill_[3] ABSL_GUARDED_BY(mu_) = {};
  std::unique_ptr<PageIo> pages_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<DoubleWriteBuffer> dwb_ ABSL_GUARDED_BY(mu_);

  absl::Mutex log_mu_;
  std::unique_ptr<RedoLog> log_ ABSL_GUARDED_BY(log_mu_);
  uint64_t logged_index_ ABSL_GUARDED_BY(log_mu_) = 0;

  std::atomic<uint64_t> applied_index_{0};
  std::atomic<uint64_t> durable_index_{0};
  std::atomic<uint64_t> page_reads_{0};
  std::atomic<uint64_t> page_writes_{0};
  std::atomic<uint64_t> reorganizations_{0};
  std::atomic<uint64_t> checkpoints_{0};
  uint64_t repaired_at_open_ = 0;
  bool opened_ = false;  // Open succeeded: the destructor checkpoints

  FailLatch latch_;
  FreeSpaceReserve reserve_;
};

}  // namespace meridian::storage::page_store
