// PageStore: the read path (Get, LatestVersion, Scan, Export). Readers hold
// the mutex shared; a page version read from disk enters the cache (under
// the exclusive lock) only if no page changed in between.
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "storage/page_store/blob.h"
#include "storage/page_store/page_store.h"

namespace meridian::storage::page_store {
namespace {

// Live keys (Scan) or records (Export) gathered per chunk under the lock.
constexpr size_t kScanChunkKeys = 256;
// Main pages one scan chunk reads at most: a short scan reads the pages it
// needs (one I/O), not the rest of a 16-page segment.
constexpr uint32_t kScanChunkPages = 4;
constexpr size_t kExportChunkRecords = 4096;

// What a read sees of one key: the newest version `snapshot` sees among the
// cache entry's versions and the page's (the page's counts only when the
// entry is incomplete; a version in both is the cache's).
struct Seen {
  const CachedVersion* cached = nullptr;
  bool page = false;  // the page's version is the one seen
};

Seen SeenVersion(const CacheEntry* e, const std::optional<Version>& page_version,
                 const Snapshot& snapshot) {
  Seen seen;
  if (e != nullptr) seen.cached = Visible(e->versions, snapshot);
  if (page_version && (e == nullptr || !e->complete) && snapshot.Sees(*page_version) &&
      (seen.cached == nullptr || *page_version > seen.cached->version)) {
    seen.page = true;
  }
  return seen;
}

}  // namespace

Status PageStore::ReadPages(std::span<const PageIoRequest> requests) {
  MERIDIAN_RETURN_IF_ERROR(pages_->Read(requests));
  uint64_t n = 0;
  for (const PageIoRequest& r : requests) n += r.pages;
  page_reads_ += n;
  return absl::OkStatus();
}

Status PageStore::ReadBlob(std::string_view ref_bytes, std::string* value) {
  BlobRef ref;
  if (!BlobRef::Decode(ref_bytes, &ref)) return CorruptionError("page store: bad blob reference");
  Buffer buf = PageIo::AlignedBuffer(ref.pages());
  const PageIoRequest req{ref.first_page, ref.pages(), buf.get()};
  MERIDIAN_RETURN_IF_ERROR(ReadPages(std::span<const PageIoRequest>(&req, 1)));
  return ReadBlobValue(buf.get(), ref, value);
}

Status PageStore::ReadPageVersion(std::string_view key, std::optional<CachedVersion>* out) {
  out->reset();
  auto seg_it = index_.Find(key);
  const Segment& seg = seg_it->second;
  const uint32_t i = seg.model.PageFor(key);
  const uint32_t nos[2] = {seg.first_page + i, seg.overflow[i]};
  const int n = nos[1] != 0 ? 2 : 1;
  Buffer buf = PageIo::AlignedBuffer(2);
  PageIoRequest reqs[2];
  for (int k = 0; k < n; ++k) reqs[k] = PageIoRequest{nos[k], 1, buf.get() + k * kPageSize};
  MERIDIAN_RETURN_IF_ERROR(ReadPages(std::span<const PageIoRequest>(reqs, n)));
  for (int k = 0; k < n; ++k) {
    Page page(buf.get() + k * kPageSize);
    MERIDIAN_RETURN_IF_ERROR(page.Verify(nos[k]));
    std::optional<PageEntry> e = page.Find(key);
    if (!e) continue;
    CachedVersion v{e->version, std::nullopt};
    if (e->value && e->external) {
      std::string value;
      MERIDIAN_RETURN_IF_ERROR(ReadBlob(*e->value, &value));
      v.value = std::move(value);
    } else if (e->value) {
      v.value = std::string(*e->value);
    }
    *out = std::move(v);
    return absl::OkStatus();  // the main page's copy wins over an overflow's
  }
  return absl::OkStatus();
}

Status PageStore::ReadSegmentRecords(SegmentIndex::Map::const_iterator seg_it,
                                     std::string_view from, const std::optional<std::string>& to,
                                     std::vector<PageRecord>* out) {
  out->clear();
  const Segment& seg = seg_it->second;
  const uint32_t first = seg.model.PageFor(from);
  uint32_t last = to ? seg.model.PageFor(*to) : seg.pages() - 1;
  // Page `last` holds keys from PageStart(last) on: none below `to` if that
  // is already `to` or more.
  if (to && last > first) {
    std::optional<std::string> start = seg.model.PageStart(last);
    if (!start || *start >= *to) --last;
  }
  std::vector<uint32_t> overflows;
  for (uint32_t p = first; p <= last; ++p) {
    if (seg.overflow[p] != 0) overflows.push_back(seg.overflow[p]);
  }
  const uint32_t mains = last - first + 1;
  Buffer buf = PageIo::AlignedBuffer(mains + overflows.size());
  std::vector<PageIoRequest> reqs;
  reqs.push_back(PageIoRequest{seg.first_page + first, mains, buf.get()});
  for (size_t k = 0; k < overflows.size(); ++k) {
    reqs.push_back(PageIoRequest{overflows[k], 1, buf.get() + (mains + k) * kPageSize});
  }
  MERIDIAN_RETURN_IF_ERROR(ReadPages(reqs));
  // Main pages first: their records win over stale overflow copies.
  std::map<std::string_view, PageEntry> records;
  for (size_t k = 0; k < mains + overflows.size(); ++k) {
    const uint32_t no = k < mains ? seg.first_page + first + static_cast<uint32_t>(k)
                                  : overflows[k - mains];
    Page page(buf.get() + k * kPageSize);
    MERIDIAN_RETURN_IF_ERROR(page.Verify(no));
    bool found = false;
    for (size_t s = page.LowerBound(from, &found); s < page.count(); ++s) {
      PageEntry e = page.At(s);
      if (to && e.key >= *to) break;
      records.emplace(e.key, e);
    }
  }
  out->reserve(records.size());
  for (const auto& [key, e] : records) out->push_back(FromEntry(e));
  return absl::OkStatus();
}

Status PageStore::VisitChunk(
    std::string_view from, const std::optional<std::string>& to,
    const std::function<bool(const std::string&, const CacheEntry*, const PageRecord*)>& visit,
    std::optional<std::string>* next) {
  auto seg_it = index_.Find(from);
  std::optional<std::string> chunk_to = to;
  std::optional<std::string> seg_upper;
  if (std::optional<std::string_view> u = index_.Upper(seg_it)) seg_upper = std::string(*u);
  if (seg_upper && (!to || *seg_upper < *to)) chunk_to = seg_upper;
  // At most kScanChunkPages main pages: the chunk ends where the model starts
  // the page after them (a key above `from`, so the scan advances).
  const PageModel& model = seg_it->second.model;
  const uint32_t first = model.PageFor(from);
  if (first + kScanChunkPages < model.pages) {
    std::optional<std::string> page_end = model.PageStart(first + kScanChunkPages);
    if (page_end && *page_end > from && (!chunk_to || *page_end < *chunk_to)) {
      chunk_to = std::move(page_end);
    }
  }
  std::vector<PageRecord> recs;
  MERIDIAN_RETURN_IF_ERROR(ReadSegmentRecords(seg_it, from, chunk_to, &recs));
  const auto& map = cache_.map();
  auto ci = map.lower_bound(from);
  size_t pi = 0;
  auto cache_in_range = [&] { return ci != map.end() && (!chunk_to || ci->first < *chunk_to); };
  while (cache_in_range() || pi < recs.size()) {
    const CacheEntry* e = nullptr;
    const PageRecord* p = nullptr;
    const std::string* key = nullptr;
    if (cache_in_range() && (pi == recs.size() || ci->first <= recs[pi].key)) {
      e = &ci->second;
      key = &ci->first;
      if (pi < recs.size() && recs[pi].key == ci->first) p = &recs[pi++];
      ++ci;
    } else {
      p = &recs[pi++];
      key = &p->key;
    }
    if (!visit(*key, e, p)) {
      *next = *key + std::string(1, '\0');
      return absl::OkStatus();
    }
  }
  *next = chunk_to != to ? chunk_to : std::nullopt;
  return absl::OkStatus();
}

void PageStore::FillFromPage(std::string_view key, const std::optional<CachedVersion>& page_version,
                             uint64_t epoch) {
  absl::WriterMutexLock l(&mu_);
  if (page_epoch_ != epoch || latch_.failed()) return;
  auto it = cache_.map().find(key);
  if (it == cache_.map().end()) {
    if (page_version) cache_.InsertClean(key, *page_version);
  } else if (!it->second.complete) {
    const uint64_t before = cache_.Charge(it);
    if (page_version) MergePageVersion(&it->second.versions, *page_version);
    it->second.complete = true;
    cache_.Recharge(it, before);
  }
  if (cache_.bytes() > std::max(options_.memory_bytes, evict_floor_)) {
    (void)Evict(options_.memory_bytes * 9 / 10, /*write_back=*/false);  // no I/O: cannot fail
  }
}

Result<std::optional<ReadResult>> PageStore::Get(std::string_view key, const Snapshot& snapshot) {
  MERIDIAN_RETURN_IF_ERROR(Health());
  if (key.size() > kMaxKeyBytes) return std::optional<ReadResult>();
  std::optional<ReadResult> result;
  std::optional<CachedVersion> pv;
  uint64_t epoch = 0;
  {
    absl::ReaderMutexLock l(&mu_);
    auto it = cache_.map().find(key);
    const CacheEntry* e = it != cache_.map().end() ? &it->second : nullptr;
    if (e != nullptr) e->SetReferenced();
    if (e == nullptr || !e->complete) {
      if (Status s = ReadPageVersion(key, &pv); !s.ok()) return Fail(s);
    }
    std::optional<Version> page_version;
    if (pv) page_version = pv->version;
    const Seen seen = SeenVersion(e, page_version, snapshot);
    if (seen.page) {
      result = ReadResult{pv->version, pv->value};
    } else if (seen.cached != nullptr) {
      result = ReadResult{seen.cached->version, seen.cached->value};
    }
    if (e != nullptr && e->complete) return result;
    if (e == nullptr && !pv) return result;  // nothing to remember
    epoch = page_epoch_;
  }
  FillFromPage(key, pv, epoch);
  return result;
}

Result<std::optional<Version>> PageStore::LatestVersion(std::string_view key) {
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<ReadResult> r, Get(key, Snapshot::Latest()));
  if (!r) return std::optional<Version>();
  return std::optional<Version>(r->version);
}

Status PageStore::Scan(const ScanOptions& options, const Snapshot& snapshot,
                       const std::function<bool(const KeyValue&)>& fn, bool* more) {
  if (more != nullptr) *more = false;
  MERIDIAN_RETURN_IF_ERROR(Health());
  if (!options.end.empty() && options.start >= options.end) return absl::OkStatus();
  std::optional<std::string> to;
  if (!options.end.empty()) to = options.end;
  std::string cursor = options.start;
  uint64_t emitted = 0;
  while (true) {
    std::vector<KeyValue> out;
    std::optional<std::string> next;
    Status s;
    {
      absl::ReaderMutexLock l(&mu_);
      // One more than the limit tells whether there is more.
      const uint64_t want = options.limit != 0
                                ? std::min<uint64_t>(options.limit - emitted + 1, kScanChunkKeys)
                                : kScanChunkKeys;
      Status inner;
      s = VisitChunk(
          cursor, to,
          [&](const std::string& key, const CacheEntry* e, const PageRecord* p) {
            if (e != nullptr) e->SetReferenced();
            std::optional<Version> page_version;
            if (p != nullptr) page_version = p->version;
            const Seen seen = SeenVersion(e, page_version, snapshot);
            KeyValue kv;
            kv.key = key;
            if (seen.page && p->value) {
              kv.version = p->version;
              if (!options.keys_only && p->external) {
                inner = ReadBlob(*p->value, &kv.value);
                if (!inner.ok()) return false;
              } else if (!options.keys_only) {
                kv.value = *p->value;
              }
            } else if (!seen.page && seen.cached != nullptr && seen.cached->value) {
              kv.version = seen.cached->version;
              if (!options.keys_only) kv.value = *seen.cached->value;
            } else {
              return true;  // no visible version, or a tombstone
            }
            out.push_back(std::move(kv));
            return out.size() < want;
          },
          &next);
      if (s.ok()) s = inner;
    }
    if (!s.ok()) return Fail(s);
    for (const KeyValue& kv : out) {
      if (options.limit != 0 && emitted == options.limit) {
        if (more != nullptr) *more = true;
        return absl::OkStatus();
      }
      ++emitted;
      if (!fn(kv)) return absl::OkStatus();
    }
    if (!next) return absl::OkStatus();
    cursor = std::move(*next);
  }
}

Status PageStore::Export(const std::function<Status(const Record&)>& fn, uint64_t* index) {
  absl::MutexLock w(&write_mu_);
  MERIDIAN_RETURN_IF_ERROR(Health());
  if (index != nullptr) *index = applied_index_.load();
  std::string cursor;
  while (true) {
    std::vector<Record> out;
    std::optional<std::string> next;
    Status s;
    {
      absl::ReaderMutexLock l(&mu_);
      Status inner;
      s = VisitChunk(
          cursor, std::nullopt,
          [&](const std::string& key, const CacheEntry* e, const PageRecord* p) {
            VersionChain merged;
            const VersionChain* chain = &merged;
            if (e != nullptr && (e->complete || p == nullptr)) {
              chain = &e->versions;
            } else {
              if (e != nullptr) merged = e->versions;
              if (p != nullptr) {
                CachedVersion pv{p->version, p->value};
                if (p->external) {
                  pv.value.emplace();
                  inner = ReadBlob(*p->value, &*pv.value);
                  if (!inner.ok()) return false;
                }
                MergePageVersion(&merged, pv);
              }
            }
            for (const CachedVersion& v : *chain) out.push_back(Record{key, v.version, v.value});
            return out.size() < kExportChunkRecords;
          },
          &next);
      if (s.ok()) s = inner;
    }
    if (!s.ok()) return Fail(s);
    for (const Record& r : out) MERIDIAN_RETURN_IF_ERROR(fn(r));
    if (!next) return absl::OkStatus();
    cursor = std::move(*next);
  }
}

}  // namespace meridian::storage::page_store
