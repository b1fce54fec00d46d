// A clock-fenced node gives up the leadership it holds (server/fence.h).
//
// A fenced node refuses clients, so a group it leads would be unavailable
// for as long as the fence lasts; and its clock, the reason it is fenced,
// would still stamp the group's prepares and closes. So while it is fenced
// by its clock it may not stand for any group's leadership
// (Replication::SetMayLead), and it hands each group it leads to the voter
// whose log lags least. A fence for membership (not a member) changes
// nothing here: such a node leads nothing of the group anyway.
//
// Driven from the maintenance loop; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "consensus/membership.h"
#include "server/replication.h"

namespace meridian::server {

// The voter, other than `self`, to hand `group`'s leadership to: the one
// the leader's progress report shows least behind (a voter missing from it
// counts as furthest), ties to the lowest id; nullopt if there is none.
std::optional<consensus::NodeId> PickSuccessor(const Replication::Snapshot& group,
                                               const consensus::Membership& membership,
                                               consensus::NodeId self);

class FencedLeadership {
 public:
  // A transfer not done after this long is asked for again.
  static constexpr uint64_t kRetryUs = 1'000'000;

  explicit FencedLeadership(consensus::NodeId self) : self_(self) {}

  // Called with the fence's verdict each period. Returns how many
  // transfers it asked for.
  size_t Apply(bool clock_fenced, const std::vector<Replication*>& groups, uint64_t now_mono_us);

 private:
  const consensus::NodeId self_;
  bool barred_ = false;
  std::map<consensus::GroupId, uint64_t> asked_us_;  // group -> when a transfer was last asked
};

}  // namespace meridian::server
