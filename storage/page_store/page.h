// Page: one 4 KiB slotted page of the page store, as a view over a buffer.
//
// A page holds, for each key in its fence range [lower, upper), at most one
// version: the newest one written back (older versions live off-page, in the
// record cache's version chains). Slots are kept in key order at the front;
// records grow down from the end. Layout (little-endian), also in
// docs/formats/page_store.md:
//
//   0  u32  masked CRC-32C of bytes [4, 4096)
//   4  u8   kind (PageKind)          5  u8  format (1)
//   6  u16  slot count               8  u16 heap start (lowest record byte)
//  10  u16  dead heap bytes (records replaced or erased; Compact reclaims)
//  12  u32  page number: where the page belongs (catches misplaced writes)
//  16  u64  lsn: log index of the newest write-back this page holds
//  24  u32  overflow page number, 0 = none
//  28  u16  lower fence offset       30  u16 lower fence length
//  32  u16  upper fence offset       34  u16 upper fence length
//  36  u8   flags (bit 0: no upper fence, the page runs to the end of keys)
//  37  3 B  reserved (zero)
//  40  slots: u16 record offset, u16 record length; 4 B each
//
//  record := varint key_length, key, u64 hlc, u32 site, u8 flags (bit 0:
//            tombstone, bit 1: external value), value bytes (to the record's
//            end; for an external value, the 12-byte BlobRef of blob.h)
//
// A Page does not own its buffer. It is not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"
#include "storage/engine.h"

namespace meridian::storage::page_store {

inline constexpr size_t kPageSize = 4096;
inline constexpr uint8_t kPageFormat = 1;

// kBlob pages hold large values (blob.h); Page::Verify refuses them.
enum class PageKind : uint8_t { kFree = 0, kData = 1, kOverflow = 2, kBlob = 3 };

struct PageEntry {
  std::string_view key;
  Version version;
  std::optional<std::string_view> value;  // nullopt: a tombstone
  bool external = false;                  // value is a BlobRef (blob.h), not the bytes
};

class Page {
 public:
  static constexpr size_t kHeaderBytes = 40;
  static constexpr size_t kSlotBytes = 4;

  explicit Page(char* data) : data_(data) {}

  // Formats the buffer as an empty page covering [lower, upper); upper =
  // nullopt: no upper bound. The fences must fit (see MaxFenceBytes).
  void Init(PageKind kind, uint32_t page_no, std::string_view lower,
            std::optional<std::string_view> upper);
  // Fences longer than this together are refused by the page store's key
  // limit long before they reach a page.
  static constexpr size_t MaxFenceBytes() { return 1024; }

  // Computes and stores the checksum; call before writing the page out.
  void Seal();
  // Checks the checksum, kind, format, page number and internal bounds.
  // DataLoss naming what is wrong (a torn or misplaced write, a bit flip).
  Status Verify(uint32_t expected_page_no) const;

  PageKind kind() const;
  uint32_t page_no() const;
  uint64_t lsn() const;
  void set_lsn(uint64_t lsn);
  uint32_t overflow() const;
  void set_overflow(uint32_t page_no);
  std::string_view lower_fence() const;
  std::optional<std::string_view> upper_fence() const;
  // Whether `key` lies within the fences.
  bool Covers(std::string_view key) const;

  size_t count() const;
  PageEntry At(size_t slot) const;
  // The first slot whose key is >= key; *found if it is equal.
  size_t LowerBound(std::string_view key, bool* found) const;
  std::optional<PageEntry> Find(std::string_view key) const;

  // Inserts or replaces the version of `key` (which must be within the
  // fences). Compacts if that makes room. false, and the page unchanged, if
  // it cannot fit.
  // `external`: value is a BlobRef pointing at the bytes (REQUIRES value).
  bool Put(std::string_view key, Version version, std::optional<std::string_view> value,
           bool external = false);
  // Removes `key`'s version; false if it has none.
  bool Erase(std::string_view key);
  // Bytes a record of this key and value takes, its slot included.
  static size_t RecordBytes(std::string_view key, std::optional<std::string_view> value);
  // Bytes Put could still use (after a compaction).
  size_t FreeBytes() const;
  // Bytes of records and slots in use (fences and header excluded).
  size_t UsedBytes() const;
  // Rewrites the heap without dead bytes.
  void Compact();

  const char* data() const { return data_; }

 private:
  uint16_t Get16(size_t at) const;
  void Set16(size_t at, uint16_t v);
  uint32_t Get32(size_t at) const;
  void Set32(size_t at, uint32_t v);
  std::string_view KeyAt(size_t slot) const;
  size_t SlotsEnd() const { return kHeaderBytes + count() * kSlotBytes; }
  // Appends raw bytes to the heap; returns the offset. REQUIRES room.
  uint16_t HeapAlloc(size_t n);

  char* data_;
};

}  // namespace meridian::storage::page_store
