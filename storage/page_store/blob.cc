#include "storage/page_store/blob.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/crc32c.h"

namespace meridian::storage::page_store {

std::string BlobRef::Encode() const {
  std::string out;
  PutFixed32(&out, first_page);
  PutFixed32(&out, length);
  PutFixed32(&out, crc);
  return out;
}

bool BlobRef::Decode(std::string_view in, BlobRef* out) {
  return in.size() == kBlobRefBytes && GetFixed32(&in, &out->first_page) &&
         GetFixed32(&in, &out->length) && GetFixed32(&in, &out->crc);
}

BlobRef FormatBlob(char* buf, uint32_t first_page, std::string_view value) {
  BlobRef ref{first_page, static_cast<uint32_t>(value.size()),
              crc32c::Mask(crc32c::Value(value))};
  for (uint32_t i = 0; i < ref.pages(); ++i) {
    char* p = buf + i * kPageSize;
    std::memset(p, 0, kPageSize);
    const std::string_view part = value.substr(i * kBlobPayloadBytes, kBlobPayloadBytes);
    p[4] = static_cast<char>(PageKind::kBlob);
    p[5] = static_cast<char>(kPageFormat);
    const uint16_t n = static_cast<uint16_t>(part.size());
    std::memcpy(p + 6, &n, 2);
    const uint32_t no = first_page + i;
    std::memcpy(p + 12, &no, 4);
    std::memcpy(p + kBlobHeaderBytes, part.data(), part.size());
  }
  return ref;
}

Status ReadBlobValue(const char* buf, const BlobRef& ref, std::string* value) {
  value->clear();
  value->reserve(ref.length);
  for (uint32_t i = 0; i < ref.pages(); ++i) {
    const char* p = buf + i * kPageSize;
    const uint32_t no = ref.first_page + i;
    uint16_t n = 0;
    std::memcpy(&n, p + 6, 2);
    if (!IsSealedPage(p, no) || static_cast<PageKind>(p[4]) != PageKind::kBlob ||
        n > kBlobPayloadBytes) {
      return CorruptionError(absl::StrCat("blob page ", no, ": checksum, kind or length mismatch"));
    }
    value->append(p + kBlobHeaderBytes, n);
  }
  if (value->size() != ref.length || crc32c::Mask(crc32c::Value(*value)) != ref.crc) {
    return CorruptionError(absl::StrCat("blob at page ", ref.first_page,
                                        ": the value does not match its reference"));
  }
  return absl::OkStatus();
}

bool IsSealedPage(const char* buf, uint32_t page_no) {
  uint32_t stored = 0;
  uint32_t no = 0;
  std::memcpy(&stored, buf, 4);
  std::memcpy(&no, buf + 12, 4);
  const auto kind = static_cast<PageKind>(buf[4]);
  if (kind != PageKind::kData && kind != PageKind::kOverflow && kind != PageKind::kBlob) {
    return false;
  }
  if (static_cast<uint8_t>(buf[5]) != kPageFormat || no != page_no) return false;
  return crc32c::Unmask(stored) == crc32c::Extend(0, buf + 4, kPageSize - 4);
}

}  // namespace meridian::storage::page_store
