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
// Every batch also carries the sender's hybrid logical clock (PeerBatch.hlc),
// and the receiver merges it into its own (Options::hlc): the HLC rides every
// peer RPC, as it rides every client reply in the session token. A peer's
// timestamp beyond the max clock offset ahead of this node's wall clock is
// refused (Hlc::Observe): counted in meridian_peer_hlc_rejected_total{peer},
// logged when a peer starts sending them, and kept for the fence
// (Rejections()), which fences this node when a majority of its peers are
// beyond the offset by either measure.
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
#include "common/hlc.h"
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
    // This node's HLC: stamped on every batch and merged with every peer's.
    // Null: batches carry no HLC and incoming ones are not merged.
    Hlc* hlc = nullptr;
    // Per-peer counts of refused timestamps ({peer} = address); null: none.
    metrics::Family<metrics::Counter>* hlc_rejected = nullptr;
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

  // Merges `hlc`, received from peer `from` (on a batch, or in a unary
  // call's metadata: server/peer_call_clock.h), into Options::hlc; a
  // refusal is counted, logged when the peer starts sending them, and
  // reported by Rejections(). 0, no Options::hlc, or a unary call from a
  // node this one neither streams to nor hears from: ignored.
  void MergeRemoteHlc(consensus::NodeId from, uint64_t hlc);

  // A peer whose HLC this node refused (beyond the max offset ahead of its
  // wall clock) within the last max_age_us.
  struct Rejection {
    consensus::NodeId peer = consensus::kNoNode;
    std::string address;
    uint64_t ahead_ms = 0;  // the newest refused timestamp minus our wall clock
    uint64_t count = 0;     // refusals since the peer started sending them
    friend bool operator==(const Rejection&, const Rejection&) = default;
  };
  // Streamed peers with a recent refusal, by id.
  std::vector<Rejection> Rejections();

 private:
  struct Peer {
    std::string address;  // "" until AddPeer
    bool streaming = false;
    metrics::Histogram* rtt = nullptr;
    uint64_t last_ping_mono_us = 0;
    bool pinged = false;
    std::optional<std::pair<uint64_t, uint64_t>> echo_due;  // (t1, t2) of its latest ping
    std::deque<std::pair<uint64_t, ClockSample>> samples;   // (arrival, monotonic us), oldest first
    std::optional<uint64_t> last_rejected_mono_us;
    uint64_t rejected_ahead_ms = 0;
    uint64_t rejected_count = 0;  // since the current run of refusals began
  };
  // MergeRemoteHlc for a peer already known (REQUIRES: mu_ not held).
  void AdoptOrRefuse(consensus::NodeId from, uint64_t hlc);


  Clock* const clock_;
  const Options options_;
  absl::Mutex mu_;
  std::map<consensus::NodeId, Peer> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::server
