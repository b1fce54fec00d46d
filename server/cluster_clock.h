// ClusterClock: what this node learns of every node of the cluster config
// through Participant.NodeClock (participant.proto): their clocks, for the
// snapshot of a coordinated transaction, and their low watermarks, for
// garbage collection (docs/consistency.md, "Transactions across shards").
//
// A node's clock, as it answers, is max(its HLC, every local store's
// visible timestamp): at or above every timestamp it stamped, applied or
// acknowledged (a commit is applied where it is acknowledged; an applied
// timestamp that the HLC refused to adopt, beyond the max clock offset,
// still counts). Its low watermark is the oldest snapshot a transaction
// open on it can still read at, or its clock when none is open; it only
// moves up (a later Begin's snapshot is at or above the clock it answered),
// so an old answer is a safe one.
//
//   - Now(), at a coordinator's Begin: the maximum of this node's clock and
//     every other node's, asked in parallel. A node that does not answer
//     within Options::now_deadline_ms (or did not answer the last Gather)
//     counts as max(this node's HLC, its wall clock + the max clock
//     offset): every timestamp starts as some node's wall clock reading,
//     within the offset of ours unless that node is fenced. (A node whose
//     HLC adopted a timestamp near the offset ahead of its own wall clock,
//     e.g. a client's explicit snapshot, may run up to twice the offset
//     ahead: a best effort, docs/consistency.md.) Every answer is observed
//     into this node's HLC.
//   - Gather(), every second from the maintenance loop: asks every node for
//     its low watermark without waiting, and returns the cluster low
//     watermark from the latest answers: the minimum over the nodes of this
//     one's and each other's last answer, or, for a node that never
//     answered, the floor below. Every answer is raised to the floor
//     now - (max txn timeout + max clock offset + kInFlightSlackMs): a
//     transaction expires at its deadline, so nothing older can still be
//     read there (this also keeps a node that is down for good from holding
//     garbage collection back for ever).
//
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/hlc.h"
#include "meridian/v1/participant.grpc.pb.h"
#include "server/shard_directory.h"

namespace meridian::server {

class ClusterClock {
 public:
  struct Options {
    uint64_t self_id = 0;                   // this node's member id: never asked
    uint64_t max_clock_offset_ms = 500;     // --max-clock-offset
    uint64_t max_txn_timeout_ms = 600'000;  // --max-txn-timeout
    uint64_t now_deadline_ms = 200;         // Now() waits at most this long for the others
    uint64_t gather_deadline_ms = 2'000;    // a Gather question's gRPC deadline
  };
  // Reads of this node's own state (see above); called on any thread.
  struct Local {
    std::function<uint64_t()> clock;
    std::function<uint64_t()> low_watermark;
  };
  // A read still running at its transaction's deadline (waiting on an
  // intent, at most 15 s) keeps reading its snapshot a little longer.
  static constexpr uint64_t kInFlightSlackMs = 60'000;

  // REQUIRES: map, hlc and clock outlive this object.
  ClusterClock(const ShardDirectory* map, Hlc* hlc, Clock* clock, Local local, Options options);
  // Waits for the questions in flight (each bounded by its deadline).
  ~ClusterClock();

  // The snapshot clock of a Begin (see above). Never fails.
  uint64_t Now();
  // Sends this round's questions and returns the cluster low watermark.
  uint64_t Gather();
  // The last Gather's cluster low watermark; 0 before the first.
  uint64_t LowWatermark() const { return low_watermark_.load(); }
  // The answer to a NodeClock call; observes the caller's clock.
  v1::NodeClockResponse Answer(uint64_t caller_hlc);

  // How many Now() calls used the fallback for some node (tests, metrics).
  uint64_t fallbacks() const { return fallbacks_.load(); }

 private:
  struct Peer {
    std::string address;
    std::shared_ptr<v1::Participant::Stub> stub;
    bool reachable = true;          // answered its last question
    bool asking = false;            // a Gather question is in flight
    uint64_t low_watermark = 0;     // its last answer; 0: never answered
  };

  // Brings peers_ in line with the current cluster config.
  void RefreshPeersLocked();
  uint64_t Fallback();
  uint64_t Floor();
  void Done();  // a question finished

  const ShardDirectory* const map_;
  Hlc* const hlc_;
  Clock* const clock_;
  const Local local_;
  const Options options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Peer> peers_;  // by node id, this node excluded
  uint64_t map_version_ = 0;        // of the config peers_ reflects
  bool map_seen_ = false;
  int in_flight_ = 0;               // questions whose callback has not run
  std::atomic<uint64_t> low_watermark_{0};
  std::atomic<uint64_t> fallbacks_{0};
};

}  // namespace meridian::server
