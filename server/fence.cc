#include "server/fence.h"

#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/log.h"
#include "server/server_metrics.h"

namespace meridian::server {

FenceVerdict DecideFence(const FenceInputs& in) {
  FenceVerdict v;
  // Per peer beyond the bound, what shows it.
  std::map<consensus::NodeId, std::string> off;
  for (const PeerClock::Estimate& e : in.estimates) {
    // The true offset lies within offset ± rtt/2: this much it is at least.
    const double least = std::abs(static_cast<double>(e.sample.offset_us)) -
                         static_cast<double>(e.sample.rtt_us) / 2;
    if (least <= static_cast<double>(in.max_offset_us)) continue;
    off[e.peer] = absl::StrCat(" peer ", e.peer, " at ", e.address,
                               absl::StrFormat(" is %+.3f s away (rtt %.1f ms)",
                                               static_cast<double>(e.sample.offset_us) / 1e6,
                                               static_cast<double>(e.sample.rtt_us) / 1e3));
  }
  for (const PeerClock::Rejection& r : in.rejections) {
    std::string& why = off[r.peer];
    absl::StrAppend(&why, why.empty() ? absl::StrCat(" peer ", r.peer, " at ", r.address) : ",",
                    " sent ", r.count, " timestamps beyond the bound, the newest ", r.ahead_ms,
                    " ms ahead of this node's clock");
  }
  if (in.peers > 0 && off.size() * 2 > in.peers) {
    v.clock = true;
    absl::StrAppend(&v.reason, "clock offset beyond --max-clock-offset (",
                    in.max_offset_us / 1000, " ms) to ", off.size(), " of ", in.peers,
                    " peers:");
    for (const auto& [peer, why] : off) absl::StrAppend(&v.reason, why, ";");
    v.reason.pop_back();  // the last ';'
  }
  if (!in.not_member_of.empty()) {
    v.membership = true;
    std::string groups;
    for (uint64_t g : in.not_member_of) absl::StrAppend(&groups, groups.empty() ? "" : ", ", g);
    absl::StrAppend(&v.reason, v.reason.empty() ? "" : "; ", "not a member of group ", groups,
                    " (removed, or not yet added)");
  }
  return v;
}

void Fence::Update(const FenceVerdict& verdict) {
  bool log_enter = false, log_leave = false;
  {
    absl::MutexLock lock(&mu_);
    const bool cause_changed =
        verdict.clock != verdict_.clock || verdict.membership != verdict_.membership;
    log_enter = verdict.fenced() && cause_changed;
    log_leave = !verdict.fenced() && verdict_.fenced();
    verdict_ = verdict;
    fenced_.store(verdict.fenced(), std::memory_order_release);
  }
  ServerMetrics& m = Metrics();
  m.fenced->Set(verdict.fenced() ? 1 : 0);
  m.fenced_clock->Set(verdict.clock ? 1 : 0);
  m.fenced_membership->Set(verdict.membership ? 1 : 0);
  if (log_enter) {
    Log(Level::kWarn, "fenced: refusing client requests", {{"reason", verdict.reason}});
  } else if (log_leave) {
    Log(Level::kInfo, "no longer fenced: serving client requests");
  }
}

Status Fence::Check() const {
  if (!fenced()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (!verdict_.fenced()) return absl::OkStatus();
  return UnavailableError(
      absl::StrCat("this node is fenced: ", verdict_.reason, "; retry another node"));
}

}  // namespace meridian::server
