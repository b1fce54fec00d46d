// The wait of a session read (docs/consistency.md, "Sessions"): a replica
// serves a read carrying a session token once its store's visible
// timestamp covers the token's entry for this site, so the read reflects
// every write the session saw or made. Followers' visible timestamps move
// as they apply the leader's commits and its closes: idle ones
// (--close-interval), and those a waiting follower asks for
// (close_nudger.h).
//
// Thread-safe (no state).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace meridian::server {

// Waits with no deadline from the client are bounded by this; so are
// longer ones.
constexpr uint64_t kMaxCausalWaitMs = 10'000;

// A verified session token may name a time beyond this node's clock + the
// max clock offset (a node stamped it while its clock ran ahead): the node
// waits that much out, if it is at most this long (and the deadline
// allows), before it accepts the token; a token further ahead is refused.
constexpr uint64_t kMaxTokenAheadWaitMs = 5'000;

// How long a session read may wait, given the time left until the
// client's deadline (nullopt: none). Leaves a margin (a fifth of it, 5 to
// 100 ms) so that CAUSAL_WAIT_TIMEOUT reaches the client before its own
// deadline does; 0 when nothing is left.
uint64_t CausalWaitBudgetMs(std::optional<uint64_t> remaining_ms);

// Polls `visible` (every 50 µs at first, backing off to 1 ms) until it
// returns at least `target`, for at most `budget_ms` on `clock`'s monotonic
// time. Returns the microseconds it waited; CAUSAL_WAIT_TIMEOUT naming the
// target, how far the replica got and `what` (e.g. "shard 3") if it ran
// out of time. `while_waiting`, if set, is called with the microseconds
// waited so far before each pause (e.g. to ask the leader to close the
// target); it should return promptly.
Result<uint64_t> WaitUntilVisible(
    const std::function<uint64_t()>& visible, uint64_t target, Clock* clock, uint64_t budget_ms,
    std::string_view what, const std::function<void(uint64_t waited_us)>& while_waiting = nullptr);

}  // namespace meridian::server
