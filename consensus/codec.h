// Binary encodings of consensus values, for the WAL and the wire. Layouts
// are in docs/formats/wal.md. Decoders return false on malformed input.
#pragma once

#include <string>
#include <string_view>

#include "consensus/types.h"

namespace meridian::consensus {

void EncodeBallot(std::string* out, const Ballot& b);
bool DecodeBallot(std::string_view* in, Ballot* b);
void EncodeHardState(std::string* out, const HardState& h);
bool DecodeHardState(std::string_view* in, HardState* h);
void EncodeEntry(std::string* out, const Entry& e);
bool DecodeEntry(std::string_view* in, Entry* e);
void EncodeMessage(std::string* out, const Message& m);
bool DecodeMessage(std::string_view* in, Message* m);

}  // namespace meridian::consensus
