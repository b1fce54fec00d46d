// The leader's side of Participant.CloseThrough: a follower whose session
// read waits on an idle shard asks the shard's leader to close the
// timestamp it needs now, rather than at the leader's next idle close
// (CloseNudger is the follower's side; docs/consistency.md, "Sessions").
//
// Thread-safe (no state).
#pragma once

#include <cstdint>

#include "common/clock.h"
#include "common/hlc.h"
#include "common/status.h"
#include "txn/txn_store.h"

namespace meridian::server {

// Closes `store` through `through_hlc` (TxnStore::CloseThrough: one empty
// commit at most) and returns its visible timestamp afterwards, at or
// above `through_hlc`.
//
// The timestamp comes from a peer, which took it from a session token it
// verified; a leader still trusts no peer with its clock: INVALID_ARGUMENT,
// nothing closed or observed, if `through_hlc` is beyond `clock`'s
// physical time + `max_clock_offset_ms`. Otherwise `hlc` observes it, as
// for every participant call, so this node stamps later commits above it.
// The store's errors (NOT_LEADER on a follower, ...) are returned as is.
// REQUIRES: store, hlc and clock are non-null.
Result<uint64_t> ServeCloseRequest(txn::TxnStore* store, uint64_t through_hlc, Hlc* hlc,
                                   Clock* clock, uint64_t max_clock_offset_ms);

}  // namespace meridian::server
