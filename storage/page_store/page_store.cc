// PageStore: open, the write path, checkpoints, GC, Ingest and stats.
// Write-back and reorganization are in page_store_writeback.cc, reads in
// page_store_read.cc.
#include "storage/page_store/page_store.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/page_store/blob.h"
#include "storage/page_store/checkpoint.h"

namespace meridian::storage::page_store {
namespace {

constexpr char kPagesPrefix[] = "pages-";
constexpr char kDwbFile[] = "dwb";
// Unsynced log bytes are written (and synced) once this many accumulate.
constexpr uint64_t kMaxPendingLogBytes = 4ull << 20;

consensus::Wal::Io WalIo(PageIo::Mode mode) {
  switch (mode) {
    case PageIo::Mode::kUring:
      return consensus::Wal::Io::kUring;
    case PageIo::Mode::kPosix:
      return consensus::Wal::Io::kPosix;
    case PageIo::Mode::kAuto:
      break;
  }
  return consensus::Wal::Io::kAuto;
}

Status ValidateKeys(const std::vector<Record>& records) {
  for (const Record& r : records) {
    if (r.key.size() > PageStore::kMaxKeyBytes) {
      return LimitExceededError("page store key bytes", PageStore::kMaxKeyBytes,
                                absl::StrCat("page store: a key of ", r.key.size(),
                                             " bytes is longer than ", PageStore::kMaxKeyBytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace

PageStore::PageStore(const Options& options)
    : options_(options),
      fs_(options.fs != nullptr ? options.fs : PosixFileSystem()),
      clock_(options.clock != nullptr ? options.clock : SystemClock()),
      reserve_(options.dir, options.min_free_bytes, clock_) {}

std::string PageStore::PagesPath(uint64_t generation) const {
  return absl::StrFormat("%s/%s%06d", options_.dir, kPagesPrefix, generation);
}

Result<std::unique_ptr<PageStore>> PageStore::Open(const Options& options) {
  if (options.dir.empty()) return InvalidArgumentError("page store: Options.dir is empty");
  if (options.memory_bytes == 0) return InvalidArgumentError("page store: memory_bytes is 0");
  if (options.checkpoint_log_bytes == 0) {
    return InvalidArgumentError("page store: checkpoint_log_bytes is 0");
  }
  if (options.dwb_pages < 16) return InvalidArgumentError("page store: dwb_pages < 16");
  if (!(options.fill >= 0.1 && options.fill <= 1.0)) {
    return InvalidArgumentError("page store: fill must be in [0.1, 1]");
  }
  std::unique_ptr<PageStore> store(new PageStore(options));
  bool created = false;
  MERIDIAN_RETURN_IF_ERROR(store->OpenFiles(&created));
  store->opened_ = true;
  return store;
}

Status PageStore::OpenFiles(bool* created) {
  absl::MutexLock w(&write_mu_);
  absl::WriterMutexLock l(&mu_);
  const std::string& dir = options_.dir;
  MERIDIAN_RETURN_IF_ERROR(fs_->CreateDir(dir));
  PageIo::Options io;
  io.mode = options_.io_mode;
  io.direct = options_.direct_io;
  io.arena_pages = 0;

  MERIDIAN_ASSIGN_OR_RETURN(std::optional<std::string> bytes, ReadCheckpointFile(fs_, dir));
  CheckpointData data;
  *created = !bytes.has_value();
  if (*created) {
    // A new store: one empty single-page segment covering every key. Files
    // left by a creation that crashed before its CHECKPOINT are replaced.
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->List(dir));
    for (const std::string& name : names) {
      if (absl::StartsWith(name, kPagesPrefix) || name == kDwbFile) {
        MERIDIAN_RETURN_IF_ERROR(fs_->Remove(absl::StrCat(dir, "/", name)));
      }
    }
    // Nor may a log without its CHECKPOINT replay into the new store.
    const std::string log_dir = absl::StrCat(dir, "/log");
    MERIDIAN_RETURN_IF_ERROR(fs_->CreateDir(log_dir));
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> logs, fs_->List(log_dir));
    for (const std::string& name : logs) {
      if (absl::EndsWith(name, ".log")) {
        MERIDIAN_RETURN_IF_ERROR(fs_->Remove(absl::StrCat(log_dir, "/", name)));
      }
    }
    if (!logs.empty()) MERIDIAN_RETURN_IF_ERROR(fs_->SyncDir(log_dir));
    MERIDIAN_ASSIGN_OR_RETURN(pages_, PageIo::Open(fs_, PagesPath(1), io));
    Buffer buf = PageIo::AlignedBuffer(1);
    Page page(buf.get());
    page.Init(PageKind::kData, 1, "", std::nullopt);
    page.set_lsn(1);
    page.Seal();
    const PageIoRequest req{1, 1, buf.get()};
    MERIDIAN_RETURN_IF_ERROR(pages_->Write(std::span<const PageIoRequest>(&req, 1)));
    MERIDIAN_RETURN_IF_ERROR(pages_->Sync());
    data.header = CheckpointHeader{0, 0, 1, 2, 2};
    Segment seg;
    seg.first_page = 1;
    data.segments.push_back(seg);
    CheckpointEncoder enc(data.header);
    enc.BeginSegments(1);
    enc.AddSegment(seg);
    enc.SetFreePages({});
    enc.BeginPinned(0);
    std::string file = enc.Finish();
    MERIDIAN_RETURN_IF_ERROR(WriteCheckpointFile(fs_, dir, file));
    checkpoint_bytes_ = file.size();
  } else {
    MERIDIAN_RETURN_IF_ERROR(DecodeCheckpoint(*bytes, &data));
    checkpoint_bytes_ = bytes->size();
  }
  const CheckpointHeader& h = data.header;
  generation_ = h.pages_generation;
  log_group_ = h.log_group;
  page_count_ = static_cast<uint32_t>(h.page_count);

  // Leftovers of an interrupted Ingest or checkpoint.
  const std::string pages_name = absl::StrFormat("%s%06d", kPagesPrefix, generation_);
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->List(dir));
  bool have_pages = false;
  bool removed = false;
  for (const std::string& name : names) {
    if (name == pages_name) {
      have_pages = true;
    } else if (absl::StartsWith(name, kPagesPrefix) || name == "CHECKPOINT.tmp") {
      MERIDIAN_RETURN_IF_ERROR(fs_->Remove(absl::StrCat(dir, "/", name)));
      removed = true;
    }
  }
  if (removed) MERIDIAN_RETURN_IF_ERROR(fs_->SyncDir(dir));
  if (!have_pages) {
    return CorruptionError(absl::StrCat("page store ", dir, ": the page file ", pages_name,
                                        " named by CHECKPOINT is missing"));
  }
  if (pages_ == nullptr) {
    MERIDIAN_ASSIGN_OR_RETURN(pages_, PageIo::Open(fs_, PagesPath(generation_), io));
  }
  MERIDIAN_ASSIGN_OR_RETURN(
      dwb_, DoubleWriteBuffer::Open(fs_, absl::StrCat(dir, "/", kDwbFile), io, options_.dwb_pages));
  uint64_t max_lsn = 0;
  MERIDIAN_RETURN_IF_ERROR(dwb_->Repair(pages_.get(), &repaired_at_open_, &max_lsn));
  next_lsn_ = std::max(h.next_lsn, max_lsn + 1);

  for (Segment& s : data.segments) {
    std::string lower = s.lower;
    index_.map().emplace(std::move(lower), std::move(s));
  }
  free_.insert(data.free_pages.begin(), data.free_pages.end());
  for (auto& [key, chain] : data.pinned) {
    CacheEntry e;
    e.versions = std::move(chain);
    e.complete = true;
    e.dirty = true;  // the page's copy of the key is unknown
    cache_.Insert(key, std::move(e));
  }

  consensus::Wal::Options wal;
  wal.segment_bytes = options_.log_segment_bytes;
  wal.preallocate_bytes = options_.log_preallocate_bytes;
  wal.io = WalIo(options_.io_mode);
  std::vector<WriteBatch> replay;
  std::vector<PageWrites> page_writes;
  uint64_t applied = h.applied_index;
  {
    absl::MutexLock ll(&log_mu_);
    MERIDIAN_ASSIGN_OR_RETURN(log_, RedoLog::Open(fs_, absl::StrCat(dir, "/log"), wal, log_group_,
                                                  h.applied_index, h.next_lsn, &replay,
                                                  &page_writes));
    for (const WriteBatch& b : replay) {
      for (const Record& r : b.records) cache_.Apply(r.key, CachedVersion{r.version, r.value});
      applied = b.log_index;
    }
    logged_index_ = applied;
  }
  MERIDIAN_RETURN_IF_ERROR(ReconcileAllocations(page_writes));
  applied_index_ = applied;
  durable_index_ = applied;  // the WAL synced what it replayed
  if (cache_.bytes() > options_.memory_bytes) {
    MERIDIAN_RETURN_IF_ERROR(Evict(options_.memory_bytes * 9 / 10, /*write_back=*/true));
  }
  return absl::OkStatus();
}

Status PageStore::ReconcileAllocations(const std::vector<PageWrites>& writes) {
  // Pages written since the checkpoint may reference pages allocated since
  // (a blob behind a record). The checkpoint's free list still calls those
  // free; keep the referenced ones.
  std::set<uint32_t> allocated;
  std::set<uint32_t> written;
  for (const PageWrites& w : writes) {
    allocated.insert(w.allocated.begin(), w.allocated.end());
    written.insert(w.written.begin(), w.written.end());
  }
  if (allocated.empty()) return absl::OkStatus();
  std::vector<uint32_t> reachable;  // written since, and in the checkpoint's index
  for (const auto& [lower, seg] : index_.map()) {
    for (uint32_t p = 0; p < seg.pages(); ++p) {
      for (uint32_t no : {seg.first_page + p, seg.overflow[p]}) {
        if (no != 0 && written.count(no) > 0) reachable.push_back(no);
      }
    }
  }
  std::set<uint32_t> referenced;
  Buffer buf = PageIo::AlignedBuffer(1);
  for (uint32_t no : reachable) {
    const PageIoRequest req{no, 1, buf.get()};
    MERIDIAN_RETURN_IF_ERROR(pages_->Read(std::span<const PageIoRequest>(&req, 1)));
    Page page(buf.get());
    MERIDIAN_RETURN_IF_ERROR(page.Verify(no));
    for (size_t i = 0; i < page.count(); ++i) {
      const PageEntry e = page.At(i);
      BlobRef ref;
      if (!e.external || !BlobRef::Decode(*e.value, &ref)) continue;
      for (uint32_t k = 0; k < ref.pages(); ++k) referenced.insert(ref.first_page + k);
    }
  }
  for (uint32_t no : allocated) {
    if (referenced.count(no) == 0) continue;
    free_.erase(no);
    page_count_ = std::max(page_count_, no + 1);
  }
  return absl::OkStatus();
}

PageStore::~PageStore() {
  // A store that failed to open has nothing to checkpoint (and maybe no
  // log): its files stay as Open found them.
  if (!opened_ || latch_.failed()) return;
  absl::MutexLock w(&write_mu_);
  // Nothing to report to: on failure the synced log still holds everything.
  (void)CheckpointLocked();
}

Status PageStore::Health() const { return latch_.Health(); }
Status PageStore::Fail(Status s) { return latch_.Fail(std::move(s)); }
void PageStore::RaiseDurable(uint64_t index) { RaiseAtLeast(&durable_index_, index); }

Status PageStore::CheckSpace(uint64_t bytes) {
  MERIDIAN_RETURN_IF_ERROR(Health());
  return CheckFreeSpace(bytes);
}

Status PageStore::CheckFreeSpace(uint64_t bytes) { return reserve_.Check(bytes); }

Status PageStore::Apply(const WriteBatch& batch, bool sync) {
  absl::MutexLock w(&write_mu_);
  MERIDIAN_RETURN_IF_ERROR(Health());
  const uint64_t applied = applied_index_.load();
  if (batch.log_index <= applied) {
    return InvalidArgumentError(absl::StrCat("page store: log index ", batch.log_index,
                                             " is not greater than the applied index ", applied));
  }
  MERIDIAN_RETURN_IF_ERROR(ValidateKeys(batch.records));
  if (!batch.chosen) MERIDIAN_RETURN_IF_ERROR(CheckFreeSpace(ApproximateBytes(batch.records)));
  bool checkpoint = false;
  {
    // The log first: a batch is visible only once it is in the log, so a
    // failed append leaves nothing of it behind.
    absl::MutexLock l(&log_mu_);
    MERIDIAN_RETURN_IF_ERROR(log_->Append(batch));
    logged_index_ = batch.log_index;
    if (sync || log_->pending_bytes() >= kMaxPendingLogBytes) {
      if (Status s = log_->Sync(); !s.ok()) return Fail(s);
      RaiseDurable(applied);  // everything before this batch
    }
    checkpoint = log_->bytes_since_trim() >= options_.checkpoint_log_bytes;
  }
  {
    absl::WriterMutexLock l(&mu_);
    for (const Record& r : batch.records) cache_.Apply(r.key, CachedVersion{r.version, r.value});
    applied_index_.store(batch.log_index);
    if (sync) RaiseDurable(batch.log_index);
    const uint64_t budget = options_.memory_bytes;
    if (cache_.bytes() > std::max(budget, evict_floor_)) {
      if (Status s = Evict(budget * 9 / 10, /*write_back=*/true); !s.ok()) {
        (void)Fail(s);  // the batch is applied; the next call reports it
        return absl::OkStatus();
      }
    }
  }
  if (checkpoint) {
    (void)CheckpointLocked();  // latches its own error for the next call
  }
  return absl::OkStatus();
}

Status PageStore::Flush() {
  MERIDIAN_RETURN_IF_ERROR(Health());
  absl::MutexLock l(&log_mu_);
  // Everything up to the applied index is in the log (appended first).
  const uint64_t applied = applied_index_.load();
  if (Status s = log_->Sync(); !s.ok()) return Fail(s);
  RaiseDurable(applied);
  return absl::OkStatus();
}

Status PageStore::EnsureLogDurable() {
  absl::MutexLock l(&log_mu_);
  const uint64_t applied = applied_index_.load();
  if (!log_->has_pending()) {
    RaiseDurable(std::min(applied, logged_index_));
    return absl::OkStatus();
  }
  MERIDIAN_RETURN_IF_ERROR(log_->Sync());
  RaiseDurable(std::min(applied, logged_index_));
  return absl::OkStatus();
}

Status PageStore::Checkpoint() {
  absl::MutexLock w(&write_mu_);
  MERIDIAN_RETURN_IF_ERROR(Health());
  return CheckpointLocked();
}

Status PageStore::CheckpointLocked() {
  uint64_t applied = 0;
  uint64_t next_lsn = 0;
  Status s;
  {
    absl::WriterMutexLock l(&mu_);
    s = WriteBackAll();
    if (s.ok()) s = EnsureLogDurable();
    if (s.ok()) s = pages_->Sync();
    applied = applied_index_.load();
    next_lsn = next_lsn_;
    if (s.ok()) {
      CheckpointEncoder enc(CheckpointHeader{applied, log_group_, generation_, next_lsn_,
                                             page_count_});
      enc.BeginSegments(index_.size());
      for (const auto& [lower, seg] : index_.map()) enc.AddSegment(seg);
      std::vector<uint32_t> free(free_.begin(), free_.end());
      free.insert(free.end(), pending_free_.begin(), pending_free_.end());
      std::sort(free.begin(), free.end());
      enc.SetFreePages(free);
      size_t pinned = 0;
      for (const auto& [key, e] : cache_.map()) pinned += e.Pinned() ? 1 : 0;
      enc.BeginPinned(pinned);
      for (const auto& [key, e] : cache_.map()) {
        if (e.Pinned()) enc.AddPinned(key, e.versions);
      }
      const std::string file = enc.Finish();
      s = WriteCheckpointFile(fs_, options_.dir, file);
      if (s.ok()) {
        // The new checkpoint no longer references them: reusable now.
        free_.insert(pending_free_.begin(), pending_free_.end());
        pending_free_.clear();
        fresh_.clear();
        checkpoint_bytes_ = file.size();
      }
    }
  }
  if (!s.ok()) return Fail(s);
  {
    absl::MutexLock l(&log_mu_);
    s = log_->Trim(applied, next_lsn);
  }
  if (!s.ok()) return Fail(s);
  ++checkpoints_;
  return absl::OkStatus();
}

Status PageStore::GarbageCollect(const Snapshot& watermark) {
  absl::MutexLock w(&write_mu_);
  MERIDIAN_RETURN_IF_ERROR(Health());
  absl::WriterMutexLock l(&mu_);
  // GC decides on whole version sets: settle every entry with its page
  // first, which also merges the page versions of incomplete entries.
  if (Status s = WriteBackAll(); !s.ok()) return Fail(s);
  for (auto it = cache_.map().begin(); it != cache_.map().end(); ++it) {
    const uint64_t before = cache_.Charge(it);
    if (CollectGarbage(&it->second.versions, watermark)) {
      it->second.dirty = true;  // an empty entry erases the key from its page
      cache_.Recharge(it, before);
    }
  }
  evict_floor_ = 0;
  if (cache_.bytes() > options_.memory_bytes) {
    if (Status s = Evict(options_.memory_bytes * 9 / 10, true); !s.ok()) return Fail(s);
  }
  return absl::OkStatus();
}

Status PageStore::Ingest(const std::vector<Record>& records, uint64_t index) {
  absl::MutexLock w(&write_mu_);
  MERIDIAN_RETURN_IF_ERROR(Health());
  MERIDIAN_RETURN_IF_ERROR(ValidateKeys(records));
  std::map<std::string, VersionChain> keys;
  for (const Record& r : records) AddVersion(&keys[r.key], CachedVersion{r.version, r.value});

  absl::WriterMutexLock l(&mu_);
  Status s = [&]() -> Status {
    const std::string& dir = options_.dir;
    // Make the old pages durable: after that no torn page can need the
    // double-write buffer, which restarts empty for the new page file.
    MERIDIAN_RETURN_IF_ERROR(pages_->Sync());
    PageIo::Options io;
    io.mode = options_.io_mode;
    io.direct = options_.direct_io;
    io.arena_pages = 0;
    const std::string dwb_path = absl::StrCat(dir, "/", kDwbFile);
    dwb_.reset();
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->List(dir));
    const uint64_t gen = generation_ + 1;
    const std::string pages_name = absl::StrFormat("%s%06d", kPagesPrefix, gen);
    for (const std::string& name : names) {
      if (name == kDwbFile || name == pages_name) {
        MERIDIAN_RETURN_IF_ERROR(fs_->Remove(absl::StrCat(dir, "/", name)));
      }
    }
    MERIDIAN_RETURN_IF_ERROR(fs_->SyncDir(dir));
    MERIDIAN_ASSIGN_OR_RETURN(dwb_, DoubleWriteBuffer::Open(fs_, dwb_path, io, options_.dwb_pages));
    std::unique_ptr<PageIo> old_pages = std::move(pages_);
    MERIDIAN_ASSIGN_OR_RETURN(pages_, PageIo::Open(fs_, PagesPath(gen), io));
    const uint64_t old_gen = generation_;
    generation_ = gen;
    cache_.Clear();
    index_.map().clear();
    free_.clear();
    pending_free_.clear();
    fresh_.clear();
    page_count_ = 1;
    evict_floor_ = 0;
    ++page_epoch_;

    // Keys with one live version go to pages; the rest stay in the cache.
    PagePlan plan;
    std::vector<PageRecord> on_pages;
    for (auto& [key, chain] : keys) {
      if (chain.size() == 1 && chain[0].value.has_value()) {
        PageRecord r;
        MERIDIAN_RETURN_IF_ERROR(PrepareRecord(&plan, key, chain[0], &r));
        on_pages.push_back(std::move(r));
        if (plan.dirty.size() >= 256) MERIDIAN_RETURN_IF_ERROR(FlushPlan(&plan));
      } else {
        CacheEntry e;
        e.versions = std::move(chain);
        e.complete = true;  // its page holds nothing of it
        cache_.Insert(key, std::move(e));
      }
    }
    MERIDIAN_RETURN_IF_ERROR(
        BuildRegion(&plan, on_pages, {}, /*open_tail=*/false, std::string(), std::nullopt));
    MERIDIAN_RETURN_IF_ERROR(FlushPlan(&plan));
    MERIDIAN_RETURN_IF_ERROR(pages_->Sync());

    // The new CHECKPOINT switches to the new pages and log group at once.
    CheckpointEncoder enc(CheckpointHeader{index, log_group_ + 1, generation_, next_lsn_,
                                           page_count_});
    enc.BeginSegments(index_.size());
    for (const auto& [lower, seg] : index_.map()) enc.AddSegment(seg);
    enc.SetFreePages({});
    enc.BeginPinned(cache_.size());
    for (const auto& [key, e] : cache_.map()) enc.AddPinned(key, e.versions);
    const std::string file = enc.Finish();
    MERIDIAN_RETURN_IF_ERROR(WriteCheckpointFile(fs_, dir, file));
    checkpoint_bytes_ = file.size();
    fresh_.clear();
    ++log_group_;
    old_pages.reset();
    MERIDIAN_RETURN_IF_ERROR(fs_->Remove(PagesPath(old_gen)));
    MERIDIAN_RETURN_IF_ERROR(fs_->SyncDir(dir));
    absl::MutexLock ll(&log_mu_);
    MERIDIAN_RETURN_IF_ERROR(log_->SwitchGroup(log_group_));
    logged_index_ = index;
    applied_index_.store(index);
    durable_index_.store(index);
    return absl::OkStatus();
  }();
  if (!s.ok()) return Fail(s);
  ++checkpoints_;
  return absl::OkStatus();
}

EngineStats PageStore::Stats() {
  EngineStats st;
  uint64_t log_bytes = 0;
  {
    absl::MutexLock l(&log_mu_);
    st.applied_index = applied_index_.load();
    st.durable_index = std::min(durable_index_.load(), st.applied_index);
    log_bytes = log_->bytes_since_trim();
  }
  absl::ReaderMutexLock l(&mu_);
  st.approximate_size_bytes = (uint64_t{page_count_} + options_.dwb_pages) * kPageSize +
                              checkpoint_bytes_ + log_bytes;
  return st;
}

SpaceStats PageStore::Space() {
  // Pages only: the record cache walk Detailed() adds is not needed here.
  DetailedStats d;
  d.file_bytes = Stats().approximate_size_bytes;
  {
    absl::ReaderMutexLock l(&mu_);
    FillPageStats(&d);
  }
  SpaceStats space;
  space.size_bytes = d.file_bytes;
  space.fragmentation = d.fragmentation;
  space.live_bytes = static_cast<uint64_t>(static_cast<double>(d.page_count * kPageSize) *
                                           (1 - d.fragmentation));
  struct statvfs st;
  if (::statvfs(options_.dir.c_str(), &st) == 0) {
    space.disk_free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }
  return space;
}

std::string PageStore::IoPath() {
  absl::ReaderMutexLock l(&mu_);
  return pages_->io_path();
}

PageStore::DetailedStats PageStore::Detailed() {
  DetailedStats d;
  EngineStats st = Stats();
  d.applied_index = st.applied_index;
  d.durable_index = st.durable_index;
  d.file_bytes = st.approximate_size_bytes;
  d.page_reads = page_reads_.load();
  d.page_writes = page_writes_.load();
  d.reorganizations = reorganizations_.load();
  d.checkpoints = checkpoints_.load();
  d.pages_repaired_at_open = repaired_at_open_;
  absl::ReaderMutexLock l(&mu_);
  FillPageStats(&d);
  d.inserts_counted = inserts_counted_;
  d.appends_counted = appends_counted_;
  for (int k = 0; k < 3; ++k) d.reorganized_by_fill[k] = reorganized_by_fill_[k];
  d.cache_bytes = cache_.bytes();
  d.cache_entries = cache_.size();
  for (const auto& [key, e] : cache_.map()) {
    d.pinned_entries += e.Pinned() ? 1 : 0;
    d.dirty_entries += e.dirty ? 1 : 0;
  }
  d.io_path = pages_->io_path();
  return d;
}

void PageStore::FillPageStats(DetailedStats* d) const {
  d->page_count = page_count_;
  d->free_pages = free_.size();
  d->pending_free_pages = pending_free_.size();
  d->segments = index_.size();
  uint64_t data_pages = 0;
  for (const auto& [lower, seg] : index_.map()) {
    ++d->segments_by_pages[std::countr_zero(seg.pages())];
    for (uint32_t p = 0; p < seg.pages(); ++p) {
      ++data_pages;
      d->unused_page_bytes += kPageSize - Page::kHeaderBytes - seg.used[p];
      if (seg.overflow[p] != 0) {
        ++d->overflow_pages;
        d->unused_page_bytes += kPageSize - Page::kHeaderBytes - seg.overflow_used[p];
      }
    }
  }
  const uint64_t accounted =
      1 + d->free_pages + d->pending_free_pages + data_pages + d->overflow_pages;
  d->blob_pages = d->page_count > accounted ? d->page_count - accounted : 0;
  const double file = static_cast<double>(d->page_count) * kPageSize;
  d->fragmentation =
      file > 0 ? (static_cast<double>((d->free_pages + d->pending_free_pages) * kPageSize) +
                  static_cast<double>(d->unused_page_bytes)) /
                     file
               : 0;
}

PageStore::RangeSpace PageStore::SpaceIn(std::string_view from,
                                          std::optional<std::string_view> to) {
  RangeSpace r;
  absl::ReaderMutexLock l(&mu_);
  for (auto it = index_.map().lower_bound(from);
       it != index_.map().end() && (!to || it->first < *to); ++it) {
    const Segment& seg = it->second;
    ++r.segments;
    for (uint32_t p = 0; p < seg.pages(); ++p) {
      ++r.data_pages;
      r.unused_page_bytes += kPageSize - Page::kHeaderBytes - seg.used[p];
      if (seg.overflow[p] != 0) {
        ++r.overflow_pages;
        r.unused_page_bytes += kPageSize - Page::kHeaderBytes - seg.overflow_used[p];
      }
    }
  }
  return r;
}

}  // namespace meridian::storage::page_store
