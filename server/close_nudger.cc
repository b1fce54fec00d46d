#include "server/close_nudger.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hlc.h"
#include "server/log.h"
#include "server/server_metrics.h"

namespace meridian::server {

CloseNudger::CloseNudger(CloseFn close) : close_(std::move(close)) {}

CloseNudger::~CloseNudger() {
  AwaitIdle();
  std::vector<std::thread> senders;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [shard, state] : shards_) senders.push_back(std::move(state.sender));
  }
  for (std::thread& t : senders) {
    if (t.joinable()) t.join();
  }
}

bool CloseNudger::Idle() const {
  return std::none_of(shards_.begin(), shards_.end(),
                      [](const auto& entry) { return entry.second.in_flight; });
}

void CloseNudger::AwaitIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &CloseNudger::Idle));
}

CloseNudger::Outcome CloseNudger::Nudge(uint64_t shard, uint64_t needed, uint64_t timeout_ms) {
  std::thread finished;  // the shard's previous request, done: joined unlocked
  {
    absl::MutexLock lock(&mu_);
    ShardState& state = shards_[shard];
    const bool covered =
        state.closed_through >= needed || (state.in_flight && state.in_flight_through >= needed);
    if (covered) {
      Metrics().close_requests->With({"coalesced"})->Inc();
      return Outcome::kCoalesced;
    }
    if (state.in_flight) return Outcome::kBusy;
    finished = std::move(state.sender);
    state.in_flight = true;
    state.in_flight_through = needed;
    state.sender =
        std::thread([this, shard, needed, timeout_ms] { Send(shard, needed, timeout_ms); });
  }
  if (finished.joinable()) finished.join();
  return Outcome::kSent;
}

void CloseNudger::Send(uint64_t shard, uint64_t through, uint64_t timeout_ms) {
  Result<uint64_t> closed = close_(shard, through, timeout_ms);
  Metrics().close_requests->With({closed.ok() ? "closed" : "failed"})->Inc();
  if (!closed.ok()) {
    Log(Level::kDebug, "a close request to a shard's leader failed",
        {{"shard", absl::StrCat(shard)},
         {"through", FormatHlc(through)},
         {"error", std::string(closed.status().message())}});
  }
  absl::MutexLock lock(&mu_);
  ShardState& state = shards_[shard];
  state.in_flight = false;
  if (closed.ok()) state.closed_through = std::max(state.closed_through, *closed);
}

}  // namespace meridian::server
