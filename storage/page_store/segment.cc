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

uint64_t PageModel::Head(std::string_view key) const {
  uint64_t h = 0;
  int clamped = 0;  // -1: below a byte's range so far, +1: above
  for (size_t i = 0; i < 8; ++i) {
    const uint64_t radix = uint64_t{hi[i]} - lo[i] + 1;
    const size_t at = prefix.size() + i;
    // A key that ends here is below any byte.
    const int b = at < key.size() ? static_cast<uint8_t>(key[at]) : -1;
    if (clamped == 0 && b < lo[i]) clamped = -1;
    if (clamped == 0 && b > hi[i]) clamped = 1;
    const uint64_t digit = clamped < 0 ? 0 : clamped > 0 ? radix - 1 : static_cast<uint64_t>(b - lo[i]);
    h = h * radix + digit;  // < the product of the radixes so far <= 2^64
  }
  return h;
}

uint64_t PageModel::MaxHead() const {
  uint64_t h = 0;
  for (size_t i = 0; i < 8; ++i) {
    const uint64_t radix = uint64_t{hi[i]} - lo[i] + 1;
    h = h * radix + (radix - 1);
  }
  return h;
}

uint32_t PageModel::PageFor(std::string_view key) const {
  if (pages <= 1) return 0;
  const int c = key.substr(0, prefix.size()).compare(prefix);
  if (c < 0) return 0;
  if (c > 0) return pages - 1;
  const uint64_t h = Head(key);
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
  const uint64_t max_head = MaxHead();
  if (page_of(max_head) < page) {
    // Only keys above the prefix range reach this page (they go to the last).
    std::string succ = PrefixSuccessor(prefix);
    if (succ.empty()) return std::nullopt;
    return succ;
  }
  uint64_t lo_head = base, hi_head = max_head;  // page_of(lo) < page <= page_of(hi)
  while (hi_head - lo_head > 1) {
    const uint64_t mid = lo_head + (hi_head - lo_head) / 2;
    if (page_of(mid) >= page) {
      hi_head = mid;
    } else {
      lo_head = mid;
    }
  }
  // The head's bytes, without trailing range minimums: for keys with the
  // prefix, key >= this string exactly when Head(key) >= hi_head.
  std::array<uint8_t, 8> bytes;
  std::array<bool, 8> at_min;
  uint64_t h = hi_head;
  for (size_t i = 8; i-- > 0;) {
    const uint64_t radix = uint64_t{hi[i]} - lo[i] + 1;
    const uint64_t digit = h % radix;
    h /= radix;
    bytes[i] = static_cast<uint8_t>(lo[i] + digit);
    at_min[i] = digit == 0;
  }
  size_t n = 8;
  while (n > 0 && at_min[n - 1]) --n;
  std::string out = prefix;
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(bytes[i]));
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
  const size_t plen = model->prefix.size();
  model->lo.fill(255);
  model->hi.fill(0);
  for (size_t i = s; i < e; ++i) {
    for (size_t j = 0; j < 8 && plen + j < r[i].key.size(); ++j) {
      const uint8_t b = static_cast<uint8_t>(r[i].key[plen + j]);
      model->lo[j] = std::min(model->lo[j], b);
      model->hi[j] = std::max(model->hi[j], b);
    }
  }
  for (size_t j = 0; j < 8; ++j) {
    if (model->lo[j] > model->hi[j]) model->lo[j] = model->hi[j] = 0;  // no key reaches it
  }
  model->base = model->Head(first);
  const uint64_t span = model->Head(last) - model->base;
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

double ForecastFill(uint64_t built, uint64_t inserts) {
  if (inserts == 0) return kMaxForecastFill;
  const double f = static_cast<double>(built) / (static_cast<double>(built) + inserts);
  return std::clamp(f, kMinForecastFill, kMaxForecastFill);
}

std::vector<SegmentPlan> PlanSegments(std::span<const PlanRecord> records,
                                      std::string_view region_lower, double fill) {
  std::vector<SegmentPlan> out;
  const size_t target = static_cast<size_t>(fill * static_cast<double>(kPageCapacity));
  // The bytes a record takes of a page budgeted at `fill`: its own bytes at
  // the plan's fill, more (the room forecast for it) at a lower one.
  std::vector<size_t> planned(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const PlanRecord& r = records[i];
    planned[i] = r.fill <= 0 || r.fill == fill
                     ? r.bytes
                     : static_cast<size_t>(std::ceil(static_cast<double>(r.bytes) * fill / r.fill));
  }
  // suffix[i]: planned bytes of records [i, end).
  std::vector<size_t> suffix(records.size() + 1, 0);
  for (size_t i = records.size(); i-- > 0;) suffix[i] = suffix[i + 1] + planned[i];
  size_t s = 0;
  do {
    SegmentPlan plan;
    plan.begin = s;
    plan.lower = s == 0 ? std::string(region_lower) : Separator(records[s - 1].key, records[s].key);
    bool done = false;
    for (uint32_t n = kMaxSegmentPages; n >= 2 && !done; n /= 2) {
      const size_t budget = n * target;
      // Fewer records than the pages are planned for: a segment whose
      // pages end up much emptier than planned wastes the room chosen for
      // them (the tail of every reorganization would): take fewer pages.
      if (suffix[s] * 4 < budget * 3) continue;
      size_t e = s;
      size_t used = 0;
      while (e < records.size() && used + planned[e] <= budget) used += planned[e++];
      // Random keys crowd some pages, and a gap in the heads (say, between
      // decimal digits) crowds one side of it: find the most records, down to
      // half the pages' worth, that this many pages can hold.
      const size_t min_end = s + std::max<size_t>(2 * n, (e - s) / 2);
      if (e < min_end) continue;
      if (FitModel(records, s, e, n, &plan.model)) {
        plan.end = e;
        done = true;
        continue;
      }
      size_t lo = min_end, hi = e;  // hi does not fit
      PageModel best;
      size_t best_end = 0;
      while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        PageModel m;
        if (FitModel(records, s, mid, n, &m)) {
          best = std::move(m);
          best_end = mid;
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      if (best_end != 0) {
        plan.model = std::move(best);
        plan.end = best_end;
        done = true;
      }
    }
    if (!done) {
      plan.model = PageModel{};
      size_t e = s;
      size_t used = 0;
      while (e < records.size() && (e == s || used + planned[e] <= target)) {
        used += planned[e++];
      }
      plan.end = e;
    }
    out.push_back(std::move(plan));
    s = out.back().end;
  } while (s < records.size());
  return out;
}

}  // namespace meridian::storage::page_store
