// PeerClock: each peer's round-trip time and clock offset, measured with
// NTP-style probes that ride the peer streams (peer.proto: ClockPing,
// ClockEcho).
//
// One exchange between this node A and a peer B:
//   t1  A's wall clock as A writes a batch carrying ClockPing{t1}
//   t2  B's wall clock when that batch arrives
//   t3  B's wall clock as B writes a batch (on B's own stream to A) carrying
//       ClockEcho{t1, t2, t3}
//   t4  A's wall clock when the echo arrives
// Then rtt = (t4 - t1) - (t3 - t2), and offset = ((t2 - t1) + (t3 - t4)) / 2
// is how far B's clock is ahead of A's. Whatever the asymmetry of the two
// paths, the true offset lies within offset ± rtt/2. B may hold the echo
// (until its next batch): the hold is t3 - t2 and drops out of both.
//
// Per peer, the last `window` samples are kept; the estimate is the one with
// the smallest rtt (the tightest bound, as NTP's clock filter picks it).
//
// Thread-safe. Stamp runs on the stream threads, OnBatch on the gRPC
// threads that read incoming streams, Estimates on scrapes and the fence.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "consensus/types.h"
#include "meridian/v1/peer.pb.h"

namespace meridian::server {

struct ClockSample {
  int64_t offset_us = 0;  // the peer's clock minus ours
  uint64_t rtt_us = 0;    // network round trip, the peer's hold excluded
  friend bool operator==(const ClockSample&, const ClockSample&) = default;
};

// One exchange's figures (see above), or nullopt when the timestamps cannot
// come from one exchange (t4 < t1, t3 < t2, or a hold longer than the round
// trip): a clock stepped mid-probe, and the sample is worthless.
std::optional<ClockSample> ComputeClockSample(uint64_t t1, uint64_t t2, uint64_t t3, uint64_t t4);

class PeerClock {
 public:
  struct Options {
    uint64_t ping_interval_us = 200'000;  // at most one ping per peer this often
    size_t window = 8;                    // samples kept per peer; >= 1
    uint64_t max_age_us = 5'000'000;      // a peer whose newest sample is older has no estimate
    // Per-peer rtt histograms ({peer} = address), observed once per sample;
    // null: none.
    metrics::Family<metrics::Histogram>* rtt_seconds = nullptr;
  };

  // REQUIRES: clock outlives this object.
  PeerClock(Clock* clock, Options options);

  // The peers this node streams to (the sender side): pings go only to
  // them, and they are the peers Estimates() reports and the fence counts.
  void AddPeer(consensus::NodeId peer, const std::string& address);
  void RemovePeer(consensus::NodeId peer);
  size_t peer_count();

  // Call right before writing `batch` to `peer`: adds a ping if one is due
  // and the echo of the peer's latest unanswered ping, both stamped now.
  // Returns whether it added either.
  bool Stamp(consensus::NodeId peer, v1::PeerBatch* batch);
  // Microseconds (monotonic) until `peer` is due a ping or has an echo
  // waiting: 0 = now. The stream waits at most this long for traffic.
  uint64_t ProbeDueInUs(consensus::NodeId peer);

  // A batch from `from` arrived at wall-clock `arrived_us`: remembers its
  // ping for the echo, and turns its echo into a sample.
  void OnBatch(consensus::NodeId from, const v1::PeerBatch& batch, uint64_t arrived_us);

  struct Estimate {
    consensus::NodeId peer = consensus::kNoNode;
    std::string address;
    ClockSample sample;   // the window's sample with the smallest rtt
    uint64_t age_us = 0;  // since the newest sample arrived
    size_t samples = 0;   // in the window
  };
  // Peers (AddPeer'd) with a sample younger than max_age_us, by id.
  std::vector<Estimate> Estimates();

 private:
  struct Peer {
    std::string address;  // "" until AddPeer
    bool streaming = false;
    metrics::Histogram* rtt = nullptr;
    uint64_t last_ping_mono_us = 0;
    bool pinged = false;
    std::optional<std::pair<uint64_t, uint64_t>> echo_due;  // (t1, t2) of its latest ping
    std::deque<std::pair<uint64_t, ClockSample>> samples;   // (arrival, monotonic us), oldest first
  };

  Clock* const clock_;
  const Options options_;
  absl::Mutex mu_;
  std::map<consensus::NodeId, Peer> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::server
