#include "server/fenced_leadership.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "server/log.h"

namespace meridian::server {

std::optional<consensus::NodeId> PickSuccessor(const Replication::Snapshot& group,
                                               const consensus::Membership& membership,
                                               consensus::NodeId self) {
  std::optional<consensus::NodeId> best;
  uint64_t best_lag = std::numeric_limits<uint64_t>::max();
  for (const auto& [id, address] : membership.voters) {
    if (id == self) continue;
    uint64_t lag = std::numeric_limits<uint64_t>::max();
    for (const Replication::Snapshot::PeerLag& p : group.peer_lag) {
      if (p.peer == id) lag = p.entries;
    }
    // Voters come by id: a strict < keeps the lowest id on a tie.
    if (!best || lag < best_lag) {
      best = id;
      best_lag = lag;
    }
  }
  return best;
}

size_t FencedLeadership::Apply(bool clock_fenced, const std::vector<Replication*>& groups,
                               uint64_t now_mono_us) {
  if (clock_fenced != barred_) {
    barred_ = clock_fenced;
    for (Replication* r : groups) r->SetMayLead(!clock_fenced);
    asked_us_.clear();
    Log(clock_fenced ? Level::kWarn : Level::kInfo,
        clock_fenced ? "fenced by its clock: standing for no group's leadership"
                     : "no longer fenced by its clock: may lead again");
  }
  if (!clock_fenced) return 0;
  size_t asked = 0;
  for (Replication* r : groups) {
    r->SetMayLead(false);  // groups added since the fence began
    const Replication::Snapshot s = r->Describe();
    if (!s.is_leader) continue;
    auto it = asked_us_.find(r->group());
    if (it != asked_us_.end() && now_mono_us - it->second < kRetryUs) continue;
    const std::optional<consensus::NodeId> to = PickSuccessor(s, r->Membership().first, self_);
    if (!to) continue;  // the only voter: nobody to hand to
    asked_us_[r->group()] = now_mono_us;
    const Status st = r->TransferLeadership(*to);
    Log(st.ok() ? Level::kInfo : Level::kWarn, "fenced leader hands leadership off",
        {{"group", absl::StrCat(r->group())},
         {"to", absl::StrCat(*to)},
         {"result", st.ok() ? "asked" : std::string(st.message())}});
    if (st.ok()) ++asked;
  }
  return asked;
}

}  // namespace meridian::server
