#include "consensus/membership.h"

#include "absl/strings/str_cat.h"
#include "common/coding.h"

namespace meridian::consensus {

namespace {

void EncodeMap(std::string* out, const std::map<NodeId, std::string>& nodes) {
  PutVarint64(out, nodes.size());
  for (const auto& [id, address] : nodes) {
    PutVarint64(out, id);
    PutLengthPrefixed(out, address);
  }
}

bool DecodeMap(std::string_view* in, std::map<NodeId, std::string>* nodes) {
  uint64_t n = 0;
  if (!GetVarint64(in, &n) || n > in->size()) return false;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id = 0;
    std::string_view address;
    if (!GetVarint64(in, &id) || id == kNoNode || id > kMaxNodeId ||
        !GetLengthPrefixed(in, &address)) {
      return false;
    }
    (*nodes)[static_cast<NodeId>(id)] = std::string(address);
  }
  return true;
}

}  // namespace

std::string EncodeMembership(const Membership& m) {
  std::string out;
  EncodeMap(&out, m.voters);
  EncodeMap(&out, m.learners);
  return out;
}

bool DecodeMembership(std::string_view in, Membership* m) {
  *m = Membership();
  return DecodeMap(&in, &m->voters) && DecodeMap(&in, &m->learners) && in.empty();
}

Status ValidateChange(const Membership& from, const Membership& to) {
  if (to.voters.empty()) return InvalidArgumentError("a group needs at least one voter");
  for (const auto& [id, address] : to.learners) {
    if (to.voters.count(id)) {
      return InvalidArgumentError(absl::StrCat("member ", id, " cannot be voter and learner"));
    }
  }
  size_t changed = 0;
  for (const auto& [id, address] : to.voters) changed += !from.voters.count(id);
  for (const auto& [id, address] : from.voters) changed += !to.voters.count(id);
  if (changed > 1) {
    return InvalidArgumentError(
        "a membership change may add or remove at most one voter; do it in steps");
  }
  return absl::OkStatus();
}

}  // namespace meridian::consensus
