// CloseNudger: a follower's request that a shard's leader close, now, the
// timestamp a session read waits for (Participant.CloseThrough).
//
// A follower's visible timestamp moves only with its leader's commits. On a
// shard that takes no writes those are the leader's idle closes, every
// --close-interval, so a session read whose token names a newer time (the
// session wrote to another shard, or a leader's clock runs ahead) would
// wait up to that interval plus the maintenance period that runs the close
// (~0.5 s by default). Asked, the leader closes at once: a round trip and
// one replicated empty commit.
//
// Many reads may wait for one shard at once, so requests are de-duplicated
// per shard: at most one in flight, and none once the leader has reported
// closing at or above the timestamp needed (the follower has only to apply
// it). A request runs on a thread of its own, so a waiting read is served
// as soon as its replica covers it, whatever became of the request.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace meridian::server {

class CloseNudger {
 public:
  // Sends one close request for `shard` through `through_hlc` to its leader,
  // giving up after `timeout_ms`; returns the timestamp the leader's store
  // is closed through afterwards (ShardCaller::CloseThrough).
  using CloseFn =
      std::function<Result<uint64_t>(uint64_t shard, uint64_t through_hlc, uint64_t timeout_ms)>;

  enum class Outcome {
    kSent,       // a request through `needed` is on its way
    kCoalesced,  // none sent: a request in flight or done covers `needed`
    kBusy,       // none sent: a request through a lower timestamp is in
                 // flight; ask again once it is done
  };

  // REQUIRES: `close` may be called from any thread until the nudger is
  // destroyed.
  explicit CloseNudger(CloseFn close);
  // Waits for the requests in flight (each gives up after its timeout).
  // REQUIRES: no Nudge call is running or will start.
  ~CloseNudger();
  CloseNudger(const CloseNudger&) = delete;
  CloseNudger& operator=(const CloseNudger&) = delete;

  // Asks `shard`'s leader to close through `needed`, giving up after
  // `timeout_ms`, unless another request makes that pointless (see
  // Outcome). Returns at once. Counted in meridian_close_requests_total:
  // kCoalesced at once, a sent request by its result (closed or failed;
  // failures are logged at debug and otherwise ignored: the leader's idle
  // close still comes).
  Outcome Nudge(uint64_t shard, uint64_t needed, uint64_t timeout_ms);

  // Blocks until no request is in flight.
  void AwaitIdle();

 private:
  struct ShardState {
    bool in_flight = false;
    uint64_t in_flight_through = 0;  // while in_flight
    uint64_t closed_through = 0;     // the highest the leader reported
    // The thread of the last request, joined by the next one's Nudge (or
    // the destructor).
    std::thread sender;
  };

  // A request's thread.
  void Send(uint64_t shard, uint64_t through, uint64_t timeout_ms);
  bool Idle() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const CloseFn close_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, ShardState> shards_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::server
