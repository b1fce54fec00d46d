// PageStore: write-back of record cache entries to pages, overflow pages,
// segment reorganization, page allocation and CLOCK eviction.
//
// Crash-safety rules this code keeps (docs/formats/page_store.md):
//  - pages are written only after the log holds every batch they reflect
//    (FlushPlan syncs the log first), and always through the double-write
//    buffer;
//  - a record already on a page stays on that page (main or overflow) until
//    it is replaced or erased: new versions go to the main page if they fit,
//    else to its overflow. So a page referenced by the last checkpoint keeps
//    every record that is not in the log, whatever the in-memory index
//    changed since;
//  - a reorganization writes new pages and frees the old ones only for reuse
//    after the next checkpoint, so after a crash the checkpoint's index
//    still finds them intact.
#include <algorithm>
#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/page_store/blob.h"
#include "storage/page_store/page_store.h"

namespace meridian::storage::page_store {
namespace {

// A record larger than this (value and key, in page bytes) keeps its value in
// blob pages. Leaves room for at least two such records in any page.
constexpr size_t kMaxInlineRecordBytes = 1200;
static_assert(kMaxInlineRecordBytes * 2 <= kPageCapacity);
static_assert(PageStore::kMaxKeyBytes + kBlobRefBytes + 32 <= kMaxInlineRecordBytes);
// Pages gathered by eviction before they are written together.
constexpr size_t kFlushPages = 64;

}  // namespace

Result<char*> PageStore::LoadPage(PagePlan* plan, uint32_t page_no, PageKind kind) {
  auto it = plan->images.find(page_no);
  if (it != plan->images.end()) return it->second.get();
  Buffer buf = PageIo::AlignedBuffer(1);
  const PageIoRequest req{page_no, 1, buf.get()};
  MERIDIAN_RETURN_IF_ERROR(pages_->Read(std::span<const PageIoRequest>(&req, 1)));
  ++page_reads_;
  if (kind == PageKind::kBlob) {
    if (!IsSealedPage(buf.get(), page_no) || static_cast<PageKind>(buf.get()[4]) != kind) {
      return CorruptionError(absl::StrCat("page ", page_no, ": not an intact blob page"));
    }
  } else {
    MERIDIAN_RETURN_IF_ERROR(Page(buf.get()).Verify(page_no));
  }
  char* p = buf.get();
  plan->images.emplace(page_no, std::move(buf));
  return p;
}

char* PageStore::NewPage(PagePlan* plan, uint32_t page_no) {
  Buffer buf = PageIo::AlignedBuffer(1);
  char* p = buf.get();
  plan->images.insert_or_assign(page_no, std::move(buf));
  plan->dirty.insert(page_no);
  return p;
}

void PageStore::FreePage(PagePlan* plan, uint32_t page_no) {
  plan->dirty.erase(page_no);
  plan->images.erase(page_no);
  Release(plan, page_no);
}

void PageStore::Release(PagePlan* plan, uint32_t page_no) {
  // A fresh page is referenced by nothing the checkpoint knows: data and
  // overflow pages only by the in-memory index, and a fresh blob only by
  // fresh pages (it stops being fresh when a record in an older page points
  // at it, see WriteBackKey). Once this plan's pages are written (through
  // the double-write buffer, so a crash repairs them), it can be reused.
  if (fresh_.count(page_no) > 0) {
    plan->released.push_back(page_no);
  } else {
    pending_free_.push_back(page_no);  // the checkpoint may reference it
  }
}

uint32_t PageStore::AllocateRun(PagePlan* plan, uint32_t pages) {
  const uint32_t first = AllocateRunFromFree(pages);
  for (uint32_t i = 0; i < pages; ++i) {
    plan->allocated.push_back(first + i);
    fresh_.insert(first + i);
  }
  return first;
}

uint32_t PageStore::AllocateRunFromFree(uint32_t pages) {
  uint32_t run_start = 0;
  uint32_t run_len = 0;
  uint32_t prev = 0;
  for (uint32_t p : free_) {
    if (run_len > 0 && p == prev + 1) {
      ++run_len;
    } else {
      run_start = p;
      run_len = 1;
    }
    prev = p;
    if (run_len == pages) {
      free_.erase(free_.find(run_start), std::next(free_.find(p)));
      return run_start;
    }
  }
  const uint32_t first = page_count_;
  page_count_ += pages;
  return first;
}

Status PageStore::FlushPlan(PagePlan* plan) {
  if (plan->dirty.empty()) {
    plan->images.clear();
    plan->allocated.clear();
    free_.insert(plan->released.begin(), plan->released.end());
    plan->released.clear();
    return absl::OkStatus();
  }
  PageWrites record;
  record.lsn = next_lsn_;
  record.allocated = std::move(plan->allocated);
  // Blob pages go first and on their own: a record must never become
  // durable before the blob it points to (a crash may keep any prefix of
  // the writes below, and any subset of one double-write).
  std::vector<PageIoRequest> blobs;
  std::vector<PageIoRequest> pages;
  for (uint32_t no : plan->dirty) {
    char* p = plan->images.at(no).get();
    (Page(p).kind() == PageKind::kBlob ? blobs : pages).push_back(PageIoRequest{no, 1, p});
  }
  for (std::vector<PageIoRequest>* v : {&blobs, &pages}) {
    for (const PageIoRequest& r : *v) {
      Page page(r.buf);
      page.set_lsn(next_lsn_++);
      page.Seal();
      if (v == &pages) record.written.push_back(static_cast<uint32_t>(r.page_no));
    }
  }
  // Write-ahead: the log must hold every batch these pages reflect, and
  // which pages they took (see ReconcileAllocations).
  {
    absl::MutexLock l(&log_mu_);
    log_->AppendPageWrites(record);
  }
  Status s = EnsureLogDurable();
  if (s.ok()) s = dwb_->Write(pages_.get(), blobs);
  if (s.ok()) s = dwb_->Write(pages_.get(), pages);
  page_writes_ += blobs.size() + pages.size();
  ++page_epoch_;
  if (s.ok()) free_.insert(plan->released.begin(), plan->released.end());
  plan->images.clear();
  plan->dirty.clear();
  plan->allocated.clear();
  plan->released.clear();
  return s;
}

Status PageStore::ReadBlobInPlan(PagePlan* plan, std::string_view ref_bytes, std::string* value) {
  BlobRef ref;
  if (!BlobRef::Decode(ref_bytes, &ref)) return CorruptionError("page store: bad blob reference");
  Buffer buf = PageIo::AlignedBuffer(ref.pages());
  for (uint32_t i = 0; i < ref.pages(); ++i) {
    MERIDIAN_ASSIGN_OR_RETURN(char* p, LoadPage(plan, ref.first_page + i, PageKind::kBlob));
    std::memcpy(buf.get() + i * kPageSize, p, kPageSize);
  }
  return ReadBlobValue(buf.get(), ref, value);
}

Status PageStore::PrepareRecord(PagePlan* plan, std::string_view key, const CachedVersion& v,
                                PageRecord* out) {
  out->key = std::string(key);
  out->version = v.version;
  out->value = v.value;
  out->external = false;
  if (v.value && Page::RecordBytes(key, v.value) > kMaxInlineRecordBytes) {
    const uint32_t pages = BlobRef::BlobPages(v.value->size());
    const uint32_t first = AllocateRun(plan, pages);
    Buffer staging = PageIo::AlignedBuffer(pages);
    const BlobRef ref = FormatBlob(staging.get(), first, *v.value);
    for (uint32_t i = 0; i < pages; ++i) {
      std::memcpy(NewPage(plan, first + i), staging.get() + i * kPageSize, kPageSize);
    }
    out->value = ref.Encode();
    out->external = true;
  }
  return absl::OkStatus();
}

void PageStore::FreeRecordBlob(PagePlan* plan, const PageRecord& r) {
  BlobRef ref;
  if (!r.external || !BlobRef::Decode(*r.value, &ref)) return;
  for (uint32_t i = 0; i < ref.pages(); ++i) Release(plan, ref.first_page + i);
}

Status PageStore::WriteBackKey(PagePlan* plan, std::string_view key) {
  auto seg_it = index_.Find(key);
  Segment& seg = seg_it->second;
  const uint32_t i = seg.model.PageFor(key);
  // The key range of page i within the segment.
  std::string from = seg.model.PageStart(i).value_or(std::string());
  if (from < seg.lower) from = seg.lower;
  std::optional<std::string> to = seg.model.PageStart(i + 1);
  if (std::optional<std::string_view> upper = index_.Upper(seg_it)) {
    if (!to || *upper < *to) to = std::string(*upper);
  }
  const uint32_t main_no = seg.first_page + i;
  MERIDIAN_ASSIGN_OR_RETURN(char* main, LoadPage(plan, main_no, PageKind::kData));
  char* ovf = nullptr;
  if (seg.overflow[i] != 0) {
    MERIDIAN_ASSIGN_OR_RETURN(ovf, LoadPage(plan, seg.overflow[i], PageKind::kData));
  }
  auto find_on_page = [&](std::string_view k) -> std::optional<PageEntry> {
    std::optional<PageEntry> e = Page(main).Find(k);
    if (!e && ovf != nullptr) e = Page(ovf).Find(k);
    return e;
  };

  // Settle every entry of the page: complete it with the page's version,
  // and decide what the page must hold for it.
  std::vector<PageChange> changes;
  std::vector<std::string> emptied;
  auto& map = cache_.map();
  for (auto it = map.lower_bound(from); it != map.end() && (!to || it->first < *to); ++it) {
    CacheEntry& e = it->second;
    if (e.complete && !e.dirty) continue;
    const uint64_t before = cache_.Charge(it);
    if (!e.complete) {
      if (std::optional<PageEntry> pe = find_on_page(it->first)) {
        CachedVersion pv{pe->version, std::nullopt};
        if (pe->value) pv.value = std::string(*pe->value);
        if (pe->external) {
          std::string value;
          MERIDIAN_RETURN_IF_ERROR(ReadBlobInPlan(plan, *pe->value, &value));
          pv.value = std::move(value);
        }
        MergePageVersion(&e.versions, pv);
      }
      e.complete = true;
    }
    if (e.dirty) {
      if (e.SingleLive()) {
        PageRecord r;
        MERIDIAN_RETURN_IF_ERROR(PrepareRecord(plan, it->first, e.versions[0], &r));
        changes.push_back(PageChange{it->first, std::move(r)});
      } else if (e.versions.empty() || (e.versions.size() == 1 && !e.versions[0].value)) {
        changes.push_back(PageChange{it->first, std::nullopt});
      }
      // Several versions: the entry is pinned and the page keeps whatever
      // it has for the key (the entry is the truth until GC collapses it).
      e.dirty = false;
    }
    e.ref = 1;  // not evicted before the plan is written (see Evict)
    cache_.Recharge(it, before);
    if (e.versions.empty()) emptied.push_back(it->first);
  }

  CountInserts(seg_it, i, main, ovf, changes);
  bool main_changed = false;
  bool ovf_changed = false;
  uint32_t new_ovf = 0;
  for (size_t c = 0; c < changes.size(); ++c) {
    const PageChange& ch = changes[c];
    for (char* img : {main, ovf}) {
      if (img == nullptr) continue;
      if (std::optional<PageEntry> pe = Page(img).Find(ch.key)) {
        FreeRecordBlob(plan, FromEntry(*pe));
        Page(img).Erase(ch.key);
        (img == main ? main_changed : ovf_changed) = true;
      }
    }
    if (!ch.put) continue;
    const PageRecord& r = *ch.put;
    // A blob referenced from a page the last checkpoint knows must outlive
    // that page's durable copy: it is no longer fresh (see Release).
    auto pin_blob = [&](uint32_t page_no) {
      BlobRef ref;
      if (!r.external || fresh_.count(page_no) > 0 || !BlobRef::Decode(*r.value, &ref)) return;
      for (uint32_t k = 0; k < ref.pages(); ++k) fresh_.erase(ref.first_page + k);
    };
    if (Page(main).Put(r.key, r.version, r.value, r.external)) {
      main_changed = true;
      pin_blob(main_no);
      continue;
    }
    if (ovf == nullptr) {
      new_ovf = AllocateRun(plan, 1);
      ovf = NewPage(plan, new_ovf);
      Page(ovf).Init(PageKind::kOverflow, new_ovf, Page(main).lower_fence(),
                     Page(main).upper_fence());
      seg.overflow[i] = new_ovf;
    }
    if (Page(ovf).Put(r.key, r.version, r.value, r.external)) {
      ovf_changed = true;
      pin_blob(seg.overflow[i]);
      continue;
    }
    // Neither the page nor its overflow has room: rebuild the segment with
    // this and the remaining changes (it reads the images as changed so far).
    std::vector<PageChange> rest(std::make_move_iterator(changes.begin() + c),
                                 std::make_move_iterator(changes.end()));
    MERIDIAN_RETURN_IF_ERROR(Reorganize(plan, seg_it, std::move(rest)));
    for (const std::string& k : emptied) cache_.Erase(cache_.map().find(k));
    return absl::OkStatus();
  }
  if (ovf != nullptr && Page(ovf).count() == 0) {
    // An empty overflow goes; a crash before the next checkpoint finds it
    // again with its old records, which the main page's newer ones shadow.
    FreePage(plan, seg.overflow[i]);
    seg.overflow[i] = 0;
    ovf = nullptr;
    ovf_changed = false;
  }
  if (Page(main).overflow() != seg.overflow[i]) {
    Page(main).set_overflow(seg.overflow[i]);
    main_changed = true;
  }
  if (main_changed) plan->dirty.insert(main_no);
  if (ovf_changed) plan->dirty.insert(seg.overflow[i]);
  seg.used[i] = static_cast<uint16_t>(Page(main).UsedBytes());
  seg.overflow_used[i] = ovf != nullptr ? static_cast<uint16_t>(Page(ovf).UsedBytes()) : 0;
  for (const std::string& k : emptied) cache_.Erase(cache_.map().find(k));
  return absl::OkStatus();
}

void PageStore::CountInserts(SegmentIndex::Map::iterator seg_it, uint32_t page,
                             char* main, char* ovf,
                             const std::vector<PageChange>& changes) {
  Segment& seg = seg_it->second;
  // Appends: into the last page of the last segment, above every key there.
  const bool tail = page + 1 == seg.pages() && !index_.Upper(seg_it).has_value();
  std::optional<std::string_view> max_key;
  if (tail) {
    for (char* img : {main, ovf}) {
      if (img == nullptr || Page(img).count() == 0) continue;
      const std::string_view k = Page(img).At(Page(img).count() - 1).key;
      if (!max_key || k > *max_key) max_key = k;
    }
  }
  auto bump = [](uint32_t* n) {
    if (*n < UINT32_MAX) ++*n;
  };
  for (const PageChange& ch : changes) {
    if (!ch.put || Page(main).Find(ch.key) || (ovf != nullptr && Page(ovf).Find(ch.key))) {
      continue;  // an erase, or an update in place
    }
    ++inserts_counted_;
    if (tail && (!max_key || ch.key > *max_key)) {
      ++appends_counted_;
      bump(&seg.appends);
    } else {
      bump(&seg.inserts[page]);
    }
  }
}

PageStore::PageRecord PageStore::FromEntry(const PageEntry& e) {
  PageRecord r;
  r.key = std::string(e.key);
  r.version = e.version;
  if (e.value) r.value = std::string(*e.value);
  r.external = e.external;
  return r;
}

Status PageStore::Reorganize(PagePlan* plan, SegmentIndex::Map::iterator seg_it,
                             std::vector<PageChange> changes) {
  const Segment old = seg_it->second;
  std::optional<std::string> upper;
  if (std::optional<std::string_view> u = index_.Upper(seg_it)) upper = std::string(*u);
  // Every record of the segment; main pages first, so their records win over
  // stale copies in overflows (possible only after a crash).
  std::map<std::string, PageRecord, std::less<>> records;
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t p = 0; p < old.pages(); ++p) {
      const uint32_t no = pass == 0 ? old.first_page + p : old.overflow[p];
      if (no == 0) continue;
      MERIDIAN_ASSIGN_OR_RETURN(char* img, LoadPage(plan, no, PageKind::kData));
      Page page(img);
      for (size_t s = 0; s < page.count(); ++s) {
        PageRecord r = FromEntry(page.At(s));
        std::string k = r.key;
        records.emplace(std::move(k), std::move(r));
      }
    }
  }
  for (PageChange& ch : changes) {
    auto it = records.find(ch.key);
    if (it != records.end()) {
      FreeRecordBlob(plan, it->second);
      records.erase(it);
    }
    if (ch.put) records.emplace(ch.key, std::move(*ch.put));
  }
  // The old pages stay intact until the next checkpoint: a crash before it
  // goes back to the checkpoint's index, which still names them.
  for (uint32_t p = 0; p < old.pages(); ++p) {
    FreePage(plan, old.first_page + p);
    if (old.overflow[p] != 0) FreePage(plan, old.overflow[p]);
  }
  index_.map().erase(seg_it);
  std::vector<PageRecord> sorted;
  sorted.reserve(records.size());
  for (auto& [key, r] : records) sorted.push_back(std::move(r));
  ++reorganizations_;

  // Insert forecasting: each record is rebuilt at the fill its old page's
  // insert history forecasts (a record stays on the page its key maps to,
  // so the old model names that page). A segment that received no insert
  // at all filled up by growing values, which insert counts cannot
  // forecast: it keeps Options::fill, as does everything without
  // forecasting.
  std::vector<double> fills;
  uint64_t inserts = old.appends;
  for (uint32_t p = 0; p < old.pages(); ++p) inserts += old.inserts[p];
  bool open_tail = false;
  if (options_.forecast_inserts && inserts > 0) {
    std::array<uint64_t, kMaxSegmentPages> now{};  // records per old page, after the changes
    for (const PageRecord& r : sorted) ++now[old.model.PageFor(r.key)];
    std::array<double, kMaxSegmentPages> page_fill{};
    for (uint32_t p = 0; p < old.pages(); ++p) {
      // Appends are the tail's, not the last page's (below).
      const uint64_t came = old.inserts[p] + (p + 1 == old.pages() ? old.appends : 0);
      page_fill[p] = ForecastFill(now[p] > came ? now[p] - came : 0, old.inserts[p]);
    }
    fills.reserve(sorted.size());
    for (const PageRecord& r : sorted) fills.push_back(page_fill[old.model.PageFor(r.key)]);
    // Appends land past the last key whatever room the pages have: pack
    // what is there and leave one open page at the end.
    open_tail = !upper && old.appends > 0 && old.appends >= old.inserts[old.pages() - 1];
  }
  return BuildRegion(plan, sorted, fills, open_tail, old.lower, upper);
}

Status PageStore::BuildRegion(PagePlan* plan, const std::vector<PageRecord>& records,
                              const std::vector<double>& fills, bool open_tail,
                              const std::string& lower, const std::optional<std::string>& upper) {
  std::vector<PlanRecord> in;
  in.reserve(records.size());
  for (size_t r = 0; r < records.size(); ++r) {
    in.push_back(PlanRecord{records[r].key, records[r].Bytes(), fills.empty() ? 0 : fills[r]});
  }
  // The open tail: the last records, up to half a page, on one page of
  // their own; the records before it are planned as usual.
  size_t cut = in.size();
  if (open_tail) {
    size_t bytes = 0;
    while (cut > 0 && bytes + in[cut - 1].bytes <= kPageCapacity / 2) bytes += in[--cut].bytes;
    if (cut == 0 || cut == in.size()) cut = in.size();  // all fits one open page / none does
  }
  std::vector<SegmentPlan> plans =
      PlanSegments(std::span<const PlanRecord>(in).first(cut), lower, options_.fill);
  if (cut < in.size()) {
    SegmentPlan tail;
    tail.begin = cut;
    tail.end = in.size();
    tail.lower = Separator(in[cut - 1].key, in[cut].key);
    plans.push_back(std::move(tail));
  }
  for (size_t k = 0; k < plans.size(); ++k) {
    const SegmentPlan& sp = plans[k];
    if (!fills.empty()) {
      // The fill the segment was planned at: its records' bytes over the
      // bytes planned for them.
      double bytes = 0, planned = 0;
      for (size_t r = sp.begin; r < sp.end; ++r) {
        bytes += static_cast<double>(in[r].bytes);
        planned += static_cast<double>(in[r].bytes) / fills[r];
      }
      const double f = planned > 0 ? bytes / planned : kMaxForecastFill;
      ++reorganized_by_fill_[f < 0.65 ? 0 : f < 0.85 ? 1 : 2];
    }
    Segment seg;
    seg.lower = sp.lower;
    seg.model = sp.model;
    seg.first_page = AllocateRun(plan, seg.pages());
    std::optional<std::string_view> seg_upper;
    if (k + 1 < plans.size()) {
      seg_upper = plans[k + 1].lower;
    } else if (upper) {
      seg_upper = *upper;
    }
    std::vector<char*> imgs;
    for (uint32_t p = 0; p < seg.pages(); ++p) {
      char* img = NewPage(plan, seg.first_page + p);
      Page(img).Init(PageKind::kData, seg.first_page + p, PageLowerFence(seg.lower),
                     PageUpperFence(seg_upper));
      imgs.push_back(img);
    }
    for (size_t r = sp.begin; r < sp.end; ++r) {
      const PageRecord& rec = records[r];
      const uint32_t p = seg.model.PageFor(rec.key);
      if (!Page(imgs[p]).Put(rec.key, rec.version, rec.value, rec.external)) {
        return absl::InternalError(absl::StrCat("page store: segment plan overfilled page ",
                                                seg.first_page + p));
      }
    }
    for (uint32_t p = 0; p < seg.pages(); ++p) {
      seg.used[p] = static_cast<uint16_t>(Page(imgs[p]).UsedBytes());
    }
    std::string key = seg.lower;
    index_.map().emplace(std::move(key), std::move(seg));
  }
  return absl::OkStatus();
}

Status PageStore::WriteBackAll() {
  PagePlan plan;
  auto& map = cache_.map();
  auto it = map.begin();
  while (it != map.end()) {
    if (it->second.complete && !it->second.dirty) {
      ++it;
      continue;
    }
    const std::string key = it->first;
    MERIDIAN_RETURN_IF_ERROR(WriteBackKey(&plan, key));
    if (plan.dirty.size() >= 4 * kFlushPages) MERIDIAN_RETURN_IF_ERROR(FlushPlan(&plan));
    it = map.upper_bound(key);
  }
  return FlushPlan(&plan);
}

Status PageStore::Evict(uint64_t target, bool write_back) {
  if (cache_.bytes() <= target) return absl::OkStatus();
  PagePlan plan;
  auto& map = cache_.map();
  auto it = map.lower_bound(cache_.hand());
  // Two laps: the first clears reference bits and writes dirty pages back,
  // the second finds what became evictable.
  uint64_t steps = 2 * map.size() + 64;
  Status s;
  while (cache_.bytes() > target && !map.empty() && steps-- > 0) {
    if (it == map.end()) {
      // Entries cleaned by an unwritten plan have their bit set, so none is
      // evicted before the plan is written: here, at the latest.
      s = FlushPlan(&plan);
      if (!s.ok()) break;
      it = map.begin();
    }
    CacheEntry& e = it->second;
    if (e.ref != 0) {
      e.ref = 0;
      ++it;
    } else if (e.Evictable()) {
      it = cache_.Erase(it);
    } else if (write_back && (e.dirty || !e.complete)) {
      const std::string key = it->first;
      s = WriteBackKey(&plan, key);
      if (!s.ok()) break;
      if (plan.dirty.size() >= kFlushPages) {
        s = FlushPlan(&plan);
        if (!s.ok()) break;
      }
      it = map.lower_bound(key);
    } else {
      ++it;  // pinned, or dirty and this pass only drops clean entries
    }
  }
  cache_.set_hand(it == map.end() ? std::string() : it->first);
  Status f = FlushPlan(&plan);
  if (s.ok()) s = f;
  if (s.ok() && cache_.bytes() <= target) evict_floor_ = 0;
  if (s.ok() && write_back && cache_.bytes() > target) {
    // What is left is pinned (or dirty, for a reader): do not walk again
    // before the cache has grown a little.
    evict_floor_ = cache_.bytes() + std::max<uint64_t>(options_.memory_bytes / 32, 64 << 10);
  }
  return s;
}

}  // namespace meridian::storage::page_store
