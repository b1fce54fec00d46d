// Membership: who votes in a group and who only learns. Voters form the
// quorums; learners receive the log (to catch up before promotion) and never
// vote or run. Addresses are opaque here; the driver dials them.
//
// A change travels through the log as a config entry and takes effect when
// it is committed. Until then the entry is "pending", and every quorum must
// be a majority of the committed voters and of each pending config's voters.
// A leader proposes one change at a time, and a change adds or removes at
// most one voter, so any two successive configs share a majority.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "consensus/types.h"

namespace meridian::consensus {

struct Membership {
  std::map<NodeId, std::string> voters;    // id -> address
  std::map<NodeId, std::string> learners;  // id -> address
  bool IsVoter(NodeId id) const { return voters.count(id) > 0; }
  bool Contains(NodeId id) const { return voters.count(id) || learners.count(id); }
  // A majority of the voters said yes (`yes` is a set or map keyed by id).
  template <typename Set>
  bool IsMajority(const Set& yes) const {
    size_t n = 0;
    for (const auto& [id, address] : voters) n += yes.count(id);
    return n >= voters.size() / 2 + 1;
  }
  friend bool operator==(const Membership&, const Membership&) = default;
};

std::string EncodeMembership(const Membership& m);
bool DecodeMembership(std::string_view in, Membership* m);

// OK if `to` may follow `from`: at least one voter, no node both voter and
// learner, and at most one voter added or removed (learners may come and go
// freely). InvalidArgument naming the problem otherwise.
Status ValidateChange(const Membership& from, const Membership& to);

}  // namespace meridian::consensus
