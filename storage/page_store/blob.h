// Blobs: values too large to sit in a page, stored in a run of contiguous
// blob pages; the record in the page holds a 12-byte BlobRef instead.
//
// Blob page layout (shares the first 24 bytes' meaning with page.h, so the
// double-write buffer checks every page kind alike):
//   0  u32  masked CRC-32C of bytes [4, 4096)
//   4  u8   kind (3, kBlob)       5  u8  format (1)
//   6  u16  payload bytes in this page
//   8  u32  reserved (zero)
//  12  u32  page number          16  u64 lsn (write sequence)
//  24  8 B  reserved (zero)      32  payload
//
// BlobRef := u32 first page, u32 value length, u32 masked CRC-32C of the value.
// Blob pages are written once and freed when their record is replaced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/page_store/page.h"

namespace meridian::storage::page_store {

inline constexpr size_t kBlobHeaderBytes = 32;
inline constexpr size_t kBlobPayloadBytes = kPageSize - kBlobHeaderBytes;
inline constexpr size_t kBlobRefBytes = 12;

struct BlobRef {
  uint32_t first_page = 0;
  uint32_t length = 0;
  uint32_t crc = 0;

  std::string Encode() const;
  static bool Decode(std::string_view in, BlobRef* out);
  uint32_t pages() const { return BlobPages(length); }
  static uint32_t BlobPages(size_t length) {
    return static_cast<uint32_t>((length + kBlobPayloadBytes - 1) / kBlobPayloadBytes);
  }
};

// Formats `pages` consecutive buffers (buf, buf + kPageSize, ...) as the
// blob pages of `value` starting at page `first_page`, and returns its ref.
// Pages are sealed by the writer (they get their lsn then).
BlobRef FormatBlob(char* buf, uint32_t first_page, std::string_view value);

// Reassembles the value from its pages (read into buf, ref.pages() pages).
// DataLoss naming the page if a page or the whole value fails its check.
Status ReadBlobValue(const char* buf, const BlobRef& ref, std::string* value);

// Whether `buf` holds a sealed page of any kind (data, overflow, blob) with
// an intact checksum that says it is page `page_no`.
bool IsSealedPage(const char* buf, uint32_t page_no);

}  // namespace meridian::storage::page_store
