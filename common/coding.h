// Byte encodings shared by on-disk and wire formats.
//
// Fixed-width integers are little-endian unless the name says BigEndian; the
// big-endian forms sort bytewise in numeric order and are used inside keys.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace meridian {

void PutFixed32(std::string* dst, uint32_t v);
void PutFixed64(std::string* dst, uint64_t v);
void PutBigEndian32(std::string* dst, uint32_t v);
void PutBigEndian64(std::string* dst, uint64_t v);
void PutVarint64(std::string* dst, uint64_t v);
// A varint length followed by the bytes.
void PutLengthPrefixed(std::string* dst, std::string_view s);

// Each Get* consumes from the front of `in` and returns false, leaving `in`
// unspecified, if it is too short or malformed.
bool GetFixed32(std::string_view* in, uint32_t* v);
bool GetFixed64(std::string_view* in, uint64_t* v);
bool GetBigEndian32(std::string_view* in, uint32_t* v);
bool GetBigEndian64(std::string_view* in, uint64_t* v);
bool GetVarint64(std::string_view* in, uint64_t* v);
bool GetLengthPrefixed(std::string_view* in, std::string_view* s);

// An order-preserving, self-delimiting encoding of a byte string: 0x00 is
// written 0x00 0xFF and the string ends with 0x00 0x01. For any a < b (bytewise),
// Encode(a) + x < Encode(b) + y for all suffixes x, y.
void PutOrderedBytes(std::string* dst, std::string_view s);
bool GetOrderedBytes(std::string_view* in, std::string* s);

// The smallest string greater than every string with prefix `p`; empty when
// no such string exists (p is all 0xFF).
std::string PrefixSuccessor(std::string_view p);

}  // namespace meridian
