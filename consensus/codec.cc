#include "consensus/codec.h"

#include "common/coding.h"

namespace meridian::consensus {

void EncodeBallot(std::string* out, const Ballot& b) {
  PutVarint64(out, b.round);
  PutVarint64(out, b.leader);
}

bool DecodeBallot(std::string_view* in, Ballot* b) {
  uint64_t leader = 0;
  if (!GetVarint64(in, &b->round) || !GetVarint64(in, &leader) || leader > kMaxNodeId) {
    return false;
  }
  b->leader = static_cast<NodeId>(leader);
  return true;
}

void EncodeHardState(std::string* out, const HardState& h) {
  EncodeBallot(out, h.promised);
  PutVarint64(out, h.commit_index);
}

bool DecodeHardState(std::string_view* in, HardState* h) {
  return DecodeBallot(in, &h->promised) && GetVarint64(in, &h->commit_index);
}

void EncodeEntry(std::string* out, const Entry& e) {
  PutVarint64(out, e.index);
  EncodeBallot(out, e.ballot);
  out->push_back(e.config ? 2 : e.noop ? 1 : 0);  // the entry's kind
  PutLengthPrefixed(out, e.command);
}

bool DecodeEntry(std::string_view* in, Entry* e) {
  std::string_view command;
  if (!GetVarint64(in, &e->index) || !DecodeBallot(in, &e->ballot) || in->empty()) return false;
  const char kind = in->front();
  in->remove_prefix(1);
  if (kind < 0 || kind > 2 || !GetLengthPrefixed(in, &command)) return false;
  e->noop = kind == 1;
  e->config = kind == 2;
  e->command = std::string(command);
  return true;
}

void EncodeMessage(std::string* out, const Message& m) {
  out->push_back(static_cast<char>(m.type));
  PutVarint64(out, m.from);
  PutVarint64(out, m.to);
  EncodeBallot(out, m.ballot);
  PutVarint64(out, m.index);
  PutVarint64(out, m.last_index);
  PutVarint64(out, m.commit_index);
  PutVarint64(out, m.seq);
  out->push_back(static_cast<char>((m.reject ? 1 : 0) | (m.force ? 2 : 0)));
  PutVarint64(out, m.entries.size());
  for (const Entry& e : m.entries) EncodeEntry(out, e);
}

bool DecodeMessage(std::string_view* in, Message* m) {
  if (in->empty()) return false;
  const auto type = static_cast<uint8_t>(in->front());
  if (type > static_cast<uint8_t>(MessageType::kProbeReply)) return false;
  m->type = static_cast<MessageType>(type);
  in->remove_prefix(1);
  uint64_t from = 0, to = 0, n = 0;
  if (!GetVarint64(in, &from) || !GetVarint64(in, &to) || from > kMaxNodeId || to > kMaxNodeId ||
      !DecodeBallot(in, &m->ballot) || !GetVarint64(in, &m->index) ||
      !GetVarint64(in, &m->last_index) || !GetVarint64(in, &m->commit_index) || !GetVarint64(in, &m->seq) || in->empty()) {
    return false;
  }
  m->from = static_cast<NodeId>(from);
  m->to = static_cast<NodeId>(to);
  const uint8_t flags = static_cast<uint8_t>(in->front());
  in->remove_prefix(1);
  m->reject = flags & 1;
  m->force = flags & 2;
  if (!GetVarint64(in, &n) || n > in->size()) return false;  // each entry takes >= 1 byte
  m->entries.resize(n);
  for (Entry& e : m->entries) {
    if (!DecodeEntry(in, &e)) return false;
  }
  return true;
}

}  // namespace meridian::consensus
