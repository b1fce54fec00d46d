// Fencing: when this node must stop serving clients (docs/operations.md,
// "Clock offset and fencing"). A fenced node keeps its consensus role: it
// votes, accepts and (if it leads) replicates as before; whether a node with
// a bad clock should also give up leadership is the clock issue's call (7).
// It only refuses data requests (UNAVAILABLE, so clients try another node),
// fails /readyz's `fenced` check and reports NOT_SERVING for the data
// services.
//
// A node is fenced when
//   - its clock is certainly more than max_offset away from a majority of
//     its peers: a peer counts when |offset| - rtt/2 (the smallest offset
//     the measurement allows) is over max_offset, or when this node refused
//     its HLC (beyond max_offset ahead of this node's wall clock) within the
//     last 5 s; such peers are more than half of the peers it streams to; or
//   - it is not a member (voter or learner) of a group it hosts: removed,
//     or not yet added.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "server/peer_clock.h"

namespace meridian::server {

struct FenceInputs {
  uint64_t max_offset_us = 500'000;  // --max-clock-offset
  size_t peers = 0;                  // peers this node streams to (the clock majority's base)
  std::vector<PeerClock::Estimate> estimates;  // the fresh ones
  std::vector<PeerClock::Rejection> rejections;  // peers whose HLC was refused lately
  std::vector<uint64_t> not_member_of;         // hosted groups whose membership lacks this node
};

struct FenceVerdict {
  bool clock = false;       // beyond max_offset from a majority of peers
  bool membership = false;  // not a member of a hosted group
  std::string reason;       // "" when not fenced; else names the peers and offsets, or the groups
  bool fenced() const { return clock || membership; }
  friend bool operator==(const FenceVerdict&, const FenceVerdict&) = default;
};

// The rule above. Pure.
FenceVerdict DecideFence(const FenceInputs& in);

// The node's current verdict. Update logs once when the node enters or
// leaves the fence (or the cause changes) and sets meridian_fenced and
// meridian_fenced_reason. Thread-safe; Check is cheap while not fenced.
class Fence {
 public:
  void Update(const FenceVerdict& verdict);
  // OK, or UNAVAILABLE "this node is fenced: <reason>; retry another node".
  Status Check() const;
  bool fenced() const { return fenced_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> fenced_{false};
  mutable absl::Mutex mu_;
  FenceVerdict verdict_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::server
