// CRC-32C (Castagnoli), as used by every checksummed Meridian format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace meridian::crc32c {

// Extends `crc` (the CRC of some earlier bytes) with `data`.
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(std::string_view data) { return Extend(0, data.data(), data.size()); }

// A stored CRC is masked so that a CRC over data containing CRCs stays strong.
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace meridian::crc32c
