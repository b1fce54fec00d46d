#include "storage/page_store/segment.h"

#include <algorithm>
#include <cmath>

#include "common/coding.h"

namespace meridian::storage::page_store {

uint64_t KeyHead(std::string_view key, size_t prefix_len) {
  uint64_t h = 0;
  for (size_t i = 0; i < 8; ++i) {
    const size_t at = prefix_len + i;
    h = (h << 8) | (at < key.size() ? static_cast<uint8_t>(key[at]) : 0);
  }
  return h;
}

size_t CommonPrefixLength(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

std::string Separator(std::string_view prev, std::string_view next) {
  // next[0, cp] differs from prev at cp (or prev ends there), so it is > prev.
  return std::string(next.substr(0, CommonPrefixLength(prev, next) + 1));
}

std::string_view PageLowerFence(std::string_view segment_lower) {
  return segment_lower.substr(0, kMaxFenceBytes);
}

std::optional<std::string_view> PageUpperFence(std::optional<std::string_view> segment_upper) {
  if (!segment_upper || segment_upper->size() > kMaxFenceBytes) return std::nullopt;
  return segment_upper;
}

uint32_t PageModel::PageFor(std::string_view key) const {
  if (pages <= 1) return 0;
  const int c = key.substr(0, prefix.size()).compare(prefix);
  if (c < 0) return 0;
  if (c > 0) return pages - 1;
  const uint64_t h = KeyHead(key, prefix.size());
  if (h <= base) return 0;
  const double x = static_cast<double>(h - base) * slope;
  if (!(x < static_cast<double>(pages - 1))) return pages - 1;
  return static_cast<uint32_t>(x);
}

std::optional<std::string> PageModel::PageStart(uint32_t page) const {
  if (page == 0) return std::string();
  if (page >= pages) return std::nullopt;
  // The page of a key with the prefix, by its head (PageFor's last step).
  auto page_of = [&](uint64_t h) -> uint32_t {
    if (h <= base) return 0;
    const double x = static_cast<double>(h - base) * slope;
    if (!(x < static_cast<double>(pages - 1))) return pages - 1;
    return static_cast<uint32_t>(x);
  };
  if (page_of(UINT64_MAX) < page) {
    // Only keys above the prefix range reach this page (they go to the last).
    std::string succ = PrefixSuccessor(prefix);
    if (succ.empty()) return std::nullopt;
    return succ;
  }
  uint64_t lo = base, hi = UINT64_MAX;  // page_of(lo) < page <= page_of(hi)
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (page_of(mid) >= page) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  // prefix + head bytes without trailing zeros: for keys with the prefix,
  // key >= this string exactly when head(key) >= hi.
  std::string out = prefix;
  PutBigEndian64(&out, hi);
  while (out.size() > prefix.size() && out.back() == '\0') out.pop_back();
  return out;
}

SegmentIndex::Map::iterator SegmentIndex::Find(std::string_view key) {
  auto it = map_.upper_bound(key);
  return std::prev(it);
}

SegmentIndex::Map::const_iterator SegmentIndex::Find(std::string_view key) const {
  auto it = map_.upper_bound(key);
  return std::prev(it);
}

std::optional<std::string_view> SegmentIndex::Upper(Map::const_iterator it) const {
  ++it;
  if (it == map_.end()) return std::nullopt;
  return std::string_view(it->first);
}

namespace {

// The endpoint model of `n` pages over records [s, e): uniform heads between
// the first and the last record. true if every page stays within capacity.
bool FitModel(std::span<const PlanRecord> r, size_t s, size_t e, uint32_t n, PageModel* model) {
  const std::string_view first = r[s].key;
  const std::string_view last = r[e - 1].key;
  model->prefix = std::string(first.substr(0, CommonPrefixLength(first, last)));
  model->base = KeyHead(first, model->prefix.size());
  const uint64_t span = KeyHead(last, model->prefix.size()) - model->base;
  if (span == 0) return false;  // one head: the model cannot tell the keys apart
  model->pages = n;
  model->slope = static_cast<double>(n) / (static_cast<double>(span) + 1.0);
  std::array<size_t, kMaxSegmentPages> bytes{};
  for (size_t i = s; i < e; ++i) {
    const uint32_t p = model->PageFor(r[i].key);
    bytes[p] += r[i].bytes;
    if (bytes[p] > kPageCapacity) return false;
  }
  return true;
}

}  // namespace

std::vector<SegmentPlan> PlanSegments(std::span<const PlanRecord> records,
                                      std::string_view region_lower, double fill) {
  std::vector<SegmentPlan> out;
  const size_t target = static_cast<size_t>(fill * static_cast<double>(kPageCapacity));
  // suffix[i]: bytes of records [i, end).
  std::vector<size_t> suffix(records.size() + 1, 0);
  for (size_t i = records.size(); i-- > 0;) suffix[i] = suffix[i + 1] + records[i].bytes;
  size_t s = 0;
  do {
    SegmentPlan plan;
    plan.begin = s;
    plan.lower = s == 0 ? std::string(region_lower) : Separator(records[s - 1].key, records[s].key);
    bool done = false;
    for (uint32_t n = kMaxSegmentPages; n >= 2 && !done; n /= 2) {
      const size_t budget = n * target;
      if (suffix[s] * 2 < budget) continue;  // would leave the pages mostly empty
      size_t e = s;
      size_t used = 0;
      while (e < records.size() && used + records[e].bytes <= budget) used += records[e++].bytes;
      // Random keys crowd some pages: if one overflows, try fewer records
      // before fewer pages.
      const size_t take = e - s;
      for (size_t tenths = 10; tenths >= 7 && !done; --tenths) {
        const size_t end = s + take * tenths / 10;
        if (end - s < 2 * static_cast<size_t>(n)) break;
        if (FitModel(records, s, end, n, &plan.model)) {
          plan.end = end;
          done = true;
        }
      }
    }
    if (!done) {
      plan.model = PageModel{};
      size_t e = s;
      size_t used = 0;
      while (e < records.size() && (e == s || used + records[e].bytes <= target)) {
        used += records[e++].bytes;
      }
      plan.end = e;
    }
    out.push_back(std::move(plan));
    s = out.back().end;
  } while (s < records.size());
  return out;
}

}  // namespace meridian::storage::page_store
