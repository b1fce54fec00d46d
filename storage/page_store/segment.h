// Segments: runs of 1, 2, 4, 8 or 16 contiguous pages whose records are
// placed by a linear model over the key head, and the in-memory index of
// them (docs/formats/page_store.md, "Segments").
//
// The key head of a key is the 8 bytes that follow the segment's prefix,
// read as one integer: big-endian, and in a mixed radix given by the range
// of values each of those bytes takes in the segment's keys when it was
// built (so "user0123" style decimal keys are as dense as binary ones; with
// full ranges this is the plain big-endian integer). A byte outside its range
// counts as the range's end and every later byte as the same end, which keeps
// the head order-preserving for all keys with the prefix. A segment's model
// maps a key to one of its pages:
//   key below the prefix range -> page 0; above it -> the last page;
//   otherwise floor(slope * (head - base)), clamped to [0, pages).
// The map is monotone in the key, so each page holds a contiguous key range
// and a lookup is: index probe, one multiplication, one page read.
//
// Nothing here is thread-safe; PageStore guards the index with its mutex.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/page_store/page.h"

namespace meridian::storage::page_store {

inline constexpr uint32_t kMaxSegmentPages = 16;
// Bytes of a page available to records and slots whatever its fences: the
// page store truncates fences to kMaxFenceBytes each (fences.h below), so
// a page always has at least this much room.
inline constexpr size_t kMaxFenceBytes = 256;
inline constexpr size_t kPageCapacity = kPageSize - Page::kHeaderBytes - 2 * kMaxFenceBytes;

// The 8 bytes of `key` after its first `prefix_len` bytes, big-endian,
// zero-padded on the right.
uint64_t KeyHead(std::string_view key, size_t prefix_len);
size_t CommonPrefixLength(std::string_view a, std::string_view b);
// The shortest s with prev < s <= next. REQUIRES: prev < next.
std::string Separator(std::string_view prev, std::string_view next);

// The page fences a segment's pages carry: the segment's own bounds,
// loosened to fit kMaxFenceBytes each (a prefix of the lower bound is still a
// lower bound; an upper bound that is too long becomes "none").
std::string_view PageLowerFence(std::string_view segment_lower);
std::optional<std::string_view> PageUpperFence(std::optional<std::string_view> segment_upper);

struct PageModel {
  std::string prefix;
  std::array<uint8_t, 8> lo = {0, 0, 0, 0, 0, 0, 0, 0};  // per head byte: its range
  std::array<uint8_t, 8> hi = {255, 255, 255, 255, 255, 255, 255, 255};
  uint64_t base = 0;    // key head of the segment's first record
  double slope = 0;     // pages per unit of head
  uint32_t pages = 1;   // 1, 2, 4, 8 or 16

  // The key head. REQUIRES: key starts with prefix.
  uint64_t Head(std::string_view key) const;
  // The largest head any key can have.
  uint64_t MaxHead() const;
  uint32_t PageFor(std::string_view key) const;
  // The smallest key k with PageFor(k) >= page: page `page` holds the keys
  // in [PageStart(page), PageStart(page + 1)) (within the segment's bounds).
  // "" for page 0; nullopt (no such key) for page >= pages.
  std::optional<std::string> PageStart(uint32_t page) const;
  friend bool operator==(const PageModel&, const PageModel&) = default;
};

struct Segment {
  std::string lower;  // inclusive; the next segment's lower is the exclusive upper
  uint32_t first_page = 0;
  PageModel model;
  std::array<uint32_t, kMaxSegmentPages> overflow{};  // per page; 0 = none
  // Bytes of records and slots per page and per overflow page (fragmentation).
  std::array<uint16_t, kMaxSegmentPages> used{};
  std::array<uint16_t, kMaxSegmentPages> overflow_used{};
  // Insert history since the segment was built (insert forecasting, see
  // ForecastFill): per page, write-backs that put a key its page and
  // overflow did not hold, appends excluded; and appends: such puts into
  // the last page of the last segment above every key that page held.
  // Saturating.
  std::array<uint32_t, kMaxSegmentPages> inserts{};
  uint32_t appends = 0;

  uint32_t pages() const { return model.pages; }
  friend bool operator==(const Segment&, const Segment&) = default;
};

// The segments, keyed by lower bound; the first has lower "" so every key
// has a segment.
class SegmentIndex {
 public:
  using Map = std::map<std::string, Segment, std::less<>>;

  // The segment holding `key`. REQUIRES: !empty().
  Map::iterator Find(std::string_view key);
  Map::const_iterator Find(std::string_view key) const;
  // The exclusive upper bound of `it`'s segment; nullopt for the last.
  std::optional<std::string_view> Upper(Map::const_iterator it) const;

  Map& map() { return map_; }
  const Map& map() const { return map_; }
  bool empty() const { return map_.empty(); }
  size_t size() const { return map_.size(); }

 private:
  Map map_;
};

// What the planner needs of each record: its key and the bytes it takes in
// a page (Page::RecordBytes, slot included).
struct PlanRecord {
  std::string_view key;
  size_t bytes = 0;
  // The fill forecast for the record's neighbourhood (ForecastFill); 0: the
  // plan's fill.
  double fill = 0;
};

// One planned segment: records [begin, end) of the input, its lower bound
// and its model.
struct SegmentPlan {
  size_t begin = 0;
  size_t end = 0;
  std::string lower;
  PageModel model;
};

// Splits `records` (sorted, distinct keys, each <= kPageCapacity bytes) into
// segments covering [region_lower, region upper): the first segment starts
// at region_lower, the others at a separator before their first record.
// Each page is filled to about `fill` of kPageCapacity, or, for records with
// their own fill, so that each record takes about bytes / fill of a page (a
// record at fill 0.5 leaves as much room as it takes). A segment takes the
// most pages (16, 8, 4, 2) whose model keeps every page within
// kPageCapacity, else it is a single page. No records: one empty segment.
// REQUIRES: fill and every record's nonzero fill in (0, 1].
std::vector<SegmentPlan> PlanSegments(std::span<const PlanRecord> records,
                                      std::string_view region_lower, double fill);

// Insert forecasting (docs/formats/page_store.md, "Insert forecasting").
// A page built with `built` records that received `inserts` more before its
// segment was reorganized is forecast to receive inserts at the same rate
// per record over the next segment's life: its records, rebuilt, get
//   fill = built / (built + inserts)
// (room for `inserts / built` more records per record), clamped to
// [kMinForecastFill, kMaxForecastFill]. No inserts: kMaxForecastFill (dense);
// no history at all (built == inserts == 0): kMaxForecastFill too, there is
// nothing to leave room beside.
inline constexpr double kMinForecastFill = 0.5;
inline constexpr double kMaxForecastFill = 0.95;
double ForecastFill(uint64_t built, uint64_t inserts);

}  // namespace meridian::storage::page_store
