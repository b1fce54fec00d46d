#include "storage/page_store/page.h"

#include <array>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/crc32c.h"

namespace meridian::storage::page_store {
namespace {

// Header field offsets (page.h).
constexpr size_t kCrc = 0, kKind = 4, kFormat = 5, kCount = 6, kHeapStart = 8, kDead = 10,
                 kPageNo = 12, kLsn = 16, kOverflow = 24, kLowerOff = 28, kLowerLen = 30,
                 kUpperOff = 32, kUpperLen = 34, kFlags = 36;
constexpr uint8_t kNoUpperFence = 1;
constexpr uint8_t kTombstone = 1;
constexpr uint8_t kExternal = 2;
constexpr size_t kBlobRefBytes = 12;  // blob.h
constexpr size_t kVersionBytes = 8 + 4 + 1;  // hlc, site, flags

size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Decodes a record; false if it is malformed.
bool DecodeRecord(std::string_view rec, PageEntry* out) {
  uint64_t key_len = 0;
  if (!GetVarint64(&rec, &key_len) || key_len + kVersionBytes > rec.size()) return false;
  out->key = rec.substr(0, key_len);
  rec.remove_prefix(key_len);
  uint64_t hlc = 0;
  uint32_t site = 0;
  (void)GetFixed64(&rec, &hlc);
  (void)GetFixed32(&rec, &site);
  const uint8_t flags = static_cast<uint8_t>(rec[0]);
  rec.remove_prefix(1);
  out->version = Version{hlc, site};
  if (flags & ~(kTombstone | kExternal)) return false;
  out->external = (flags & kExternal) != 0;
  if (flags & kTombstone) {
    if (!rec.empty() || out->external) return false;
    out->value.reset();
  } else {
    if (out->external && rec.size() != kBlobRefBytes) return false;
    out->value = rec;
  }
  return true;
}

}  // namespace

uint16_t Page::Get16(size_t at) const {
  uint16_t v;
  std::memcpy(&v, data_ + at, 2);
  return v;
}
void Page::Set16(size_t at, uint16_t v) { std::memcpy(data_ + at, &v, 2); }
uint32_t Page::Get32(size_t at) const {
  uint32_t v;
  std::memcpy(&v, data_ + at, 4);
  return v;
}
void Page::Set32(size_t at, uint32_t v) { std::memcpy(data_ + at, &v, 4); }

void Page::Init(PageKind kind, uint32_t page_no, std::string_view lower,
                std::optional<std::string_view> upper) {
  std::memset(data_, 0, kPageSize);
  data_[kKind] = static_cast<char>(kind);
  data_[kFormat] = static_cast<char>(kPageFormat);
  Set16(kHeapStart, kPageSize);
  Set32(kPageNo, page_no);
  const uint16_t lower_off = HeapAlloc(lower.size());
  std::memcpy(data_ + lower_off, lower.data(), lower.size());
  Set16(kLowerOff, lower_off);
  Set16(kLowerLen, static_cast<uint16_t>(lower.size()));
  if (upper) {
    const uint16_t upper_off = HeapAlloc(upper->size());
    std::memcpy(data_ + upper_off, upper->data(), upper->size());
    Set16(kUpperOff, upper_off);
    Set16(kUpperLen, static_cast<uint16_t>(upper->size()));
  } else {
    data_[kFlags] = static_cast<char>(kNoUpperFence);
  }
}

void Page::Seal() {
  Set32(kCrc, crc32c::Mask(crc32c::Extend(0, data_ + 4, kPageSize - 4)));
}

Status Page::Verify(uint32_t expected_page_no) const {
  auto bad = [&](const std::string& what) {
    return CorruptionError(absl::StrCat("page ", expected_page_no, ": ", what));
  };
  const uint32_t crc = crc32c::Extend(0, data_ + 4, kPageSize - 4);
  if (crc32c::Unmask(Get32(kCrc)) != crc) return bad("checksum mismatch (torn or damaged write)");
  if (kind() != PageKind::kData && kind() != PageKind::kOverflow) return bad("not a data page");
  if (static_cast<uint8_t>(data_[kFormat]) != kPageFormat) {
    return bad(absl::StrCat("unknown page format ", static_cast<int>(data_[kFormat])));
  }
  if (page_no() != expected_page_no) {
    return bad(absl::StrCat("holds page ", page_no(), " (a misplaced write)"));
  }
  const size_t heap_start = Get16(kHeapStart);
  if (heap_start > kPageSize || heap_start < SlotsEnd()) return bad("slots overlap the records");
  auto within_heap = [&](size_t off, size_t len) {
    return off >= heap_start && off + len <= kPageSize;
  };
  if (!within_heap(Get16(kLowerOff), Get16(kLowerLen)) ||
      (!(data_[kFlags] & kNoUpperFence) && !within_heap(Get16(kUpperOff), Get16(kUpperLen)))) {
    return bad("fence out of bounds");
  }
  std::string_view previous;
  for (size_t i = 0; i < count(); ++i) {
    const size_t off = Get16(kHeaderBytes + i * kSlotBytes);
    const size_t len = Get16(kHeaderBytes + i * kSlotBytes + 2);
    PageEntry e;
    if (!within_heap(off, len) || !DecodeRecord(std::string_view(data_ + off, len), &e)) {
      return bad(absl::StrCat("record ", i, " is malformed"));
    }
    if (i > 0 && e.key <= previous) return bad(absl::StrCat("record ", i, " is out of order"));
    if (!Covers(e.key)) return bad(absl::StrCat("record ", i, " is outside the fences"));
    previous = e.key;
  }
  return absl::OkStatus();
}

PageKind Page::kind() const { return static_cast<PageKind>(data_[kKind]); }
uint32_t Page::page_no() const { return Get32(kPageNo); }
uint64_t Page::lsn() const {
  uint64_t v;
  std::memcpy(&v, data_ + kLsn, 8);
  return v;
}
void Page::set_lsn(uint64_t lsn) { std::memcpy(data_ + kLsn, &lsn, 8); }
uint32_t Page::overflow() const { return Get32(kOverflow); }
void Page::set_overflow(uint32_t page_no) { Set32(kOverflow, page_no); }

std::string_view Page::lower_fence() const {
  return std::string_view(data_ + Get16(kLowerOff), Get16(kLowerLen));
}
std::optional<std::string_view> Page::upper_fence() const {
  if (data_[kFlags] & kNoUpperFence) return std::nullopt;
  return std::string_view(data_ + Get16(kUpperOff), Get16(kUpperLen));
}
bool Page::Covers(std::string_view key) const {
  const std::optional<std::string_view> upper = upper_fence();
  return key >= lower_fence() && (!upper || key < *upper);
}

size_t Page::count() const { return Get16(kCount); }

PageEntry Page::At(size_t slot) const {
  PageEntry e;
  (void)DecodeRecord(std::string_view(data_ + Get16(kHeaderBytes + slot * kSlotBytes),
                                      Get16(kHeaderBytes + slot * kSlotBytes + 2)),
                     &e);
  return e;
}

std::string_view Page::KeyAt(size_t slot) const {
  std::string_view rec(data_ + Get16(kHeaderBytes + slot * kSlotBytes),
                       Get16(kHeaderBytes + slot * kSlotBytes + 2));
  uint64_t key_len = 0;
  (void)GetVarint64(&rec, &key_len);
  return rec.substr(0, key_len);
}

size_t Page::LowerBound(std::string_view key, bool* found) const {
  size_t lo = 0, hi = count();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (KeyAt(mid) < key) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  *found = lo < count() && KeyAt(lo) == key;
  return lo;
}

std::optional<PageEntry> Page::Find(std::string_view key) const {
  bool found = false;
  const size_t slot = LowerBound(key, &found);
  if (!found) return std::nullopt;
  return At(slot);
}

size_t Page::RecordBytes(std::string_view key, std::optional<std::string_view> value) {
  return VarintBytes(key.size()) + key.size() + kVersionBytes + (value ? value->size() : 0) +
         kSlotBytes;
}

size_t Page::FreeBytes() const { return Get16(kHeapStart) - SlotsEnd() + Get16(kDead); }

size_t Page::UsedBytes() const {
  size_t used = count() * kSlotBytes;
  for (size_t i = 0; i < count(); ++i) used += Get16(kHeaderBytes + i * kSlotBytes + 2);
  return used;
}

uint16_t Page::HeapAlloc(size_t n) {
  const uint16_t at = static_cast<uint16_t>(Get16(kHeapStart) - n);
  Set16(kHeapStart, at);
  return at;
}

bool Page::Put(std::string_view key, Version version, std::optional<std::string_view> value,
               bool external) {
  const size_t record = RecordBytes(key, value) - kSlotBytes;
  bool found = false;
  size_t slot = LowerBound(key, &found);
  const size_t old_len = found ? Get16(kHeaderBytes + slot * kSlotBytes + 2) : 0;
  if (record + (found ? 0 : kSlotBytes) > FreeBytes() + old_len) return false;
  if (found) {
    Erase(key);  // its bytes count as dead; the slot is re-inserted below
  }
  if (Get16(kHeapStart) - SlotsEnd() < record + kSlotBytes) Compact();
  const uint16_t off = HeapAlloc(record);
  char* p = data_ + off;
  std::string head;
  PutVarint64(&head, key.size());
  std::memcpy(p, head.data(), head.size());
  p += head.size();
  std::memcpy(p, key.data(), key.size());
  p += key.size();
  std::memcpy(p, &version.hlc, 8);
  std::memcpy(p + 8, &version.site, 4);
  p[12] = static_cast<char>(value ? (external ? kExternal : 0) : kTombstone);
  p += kVersionBytes;
  if (value) std::memcpy(p, value->data(), value->size());
  char* slots = data_ + kHeaderBytes;
  std::memmove(slots + (slot + 1) * kSlotBytes, slots + slot * kSlotBytes,
               (count() - slot) * kSlotBytes);
  Set16(kHeaderBytes + slot * kSlotBytes, off);
  Set16(kHeaderBytes + slot * kSlotBytes + 2, static_cast<uint16_t>(record));
  Set16(kCount, static_cast<uint16_t>(count() + 1));
  return true;
}

bool Page::Erase(std::string_view key) {
  bool found = false;
  const size_t slot = LowerBound(key, &found);
  if (!found) return false;
  Set16(kDead, static_cast<uint16_t>(Get16(kDead) + Get16(kHeaderBytes + slot * kSlotBytes + 2)));
  char* slots = data_ + kHeaderBytes;
  std::memmove(slots + slot * kSlotBytes, slots + (slot + 1) * kSlotBytes,
               (count() - slot - 1) * kSlotBytes);
  Set16(kCount, static_cast<uint16_t>(count() - 1));
  std::memset(data_ + SlotsEnd(), 0, kSlotBytes);
  return true;
}

void Page::Compact() {
  std::array<char, kPageSize> heap;
  size_t top = kPageSize;
  auto move = [&](size_t off_field, size_t len_field) {
    const size_t len = Get16(len_field);
    top -= len;
    std::memcpy(heap.data() + top, data_ + Get16(off_field), len);
    Set16(off_field, static_cast<uint16_t>(top));
  };
  move(kLowerOff, kLowerLen);
  if (!(data_[kFlags] & kNoUpperFence)) move(kUpperOff, kUpperLen);
  for (size_t i = 0; i < count(); ++i) {
    move(kHeaderBytes + i * kSlotBytes, kHeaderBytes + i * kSlotBytes + 2);
  }
  std::memset(data_ + SlotsEnd(), 0, top - SlotsEnd());
  std::memcpy(data_ + top, heap.data() + top, kPageSize - top);
  Set16(kHeapStart, static_cast<uint16_t>(top));
  Set16(kDead, 0);
}

}  // namespace meridian::storage::page_store
