// GroupHost: the consensus runtime of one node. It hosts any number of
// MultiPaxos groups (each a Replication) and owns what they share:
//
//   - the node WAL: every group appends to it, and one fdatasync per driver
//     round makes all of their records durable (group commit across groups);
//   - the peer transport: one gRPC stream to each peer node, whatever the
//     number of groups; all the messages of one round for one peer, every
//     group's heartbeat among them, travel as one PeerBatch (coalesced
//     heartbeats);
//   - the driver thread and the tick: all groups tick together.
//
// Usage: Open, AddGroup for each group, then Run. Thread-safe after Run;
// groups may still be added then (a split's new group), never removed.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/random.h"
#include "common/status.h"
#include "consensus/types.h"
#include "consensus/wal.h"
#include "meridian/v1/peer.pb.h"
#include "server/peer_clock.h"
#include "server/replication.h"
#include "txn/txn_store.h"

namespace meridian::server {

class PeerSender;

class GroupHost {
 public:
  struct Options {
    consensus::NodeId id = consensus::kNoNode;
    consensus::Wal::Io wal_io = consensus::Wal::Io::kAuto;
    std::string wal_dir;
    int tick_ms = 25;  // one consensus tick, for every group
    uint64_t max_snapshot_bytes = 8ull << 30;  // a bigger incoming snapshot is refused
    // The node's clock, carried on and merged from every peer batch
    // (PeerClock); null: not carried.
    Hlc* hlc = nullptr;
  };

  // Opens (recovering) the node WAL. Groups are added next.
  static Result<std::unique_ptr<GroupHost>> Open(const Options& options);
  ~GroupHost();

  // Adds group `options.group`, replaying what the WAL holds for it above
  // the store's applied index. Before Run it is added at once; after Run
  // the driver thread adds it between rounds, and this waits for it
  // (UNAVAILABLE once the host stops). REQUIRES: store outlives the host;
  // after Run, not called on the driver thread.
  Result<Replication*> AddGroup(Replication::Options options, txn::TxnStore* store);
  // Starts the driver thread.
  void Run();
  // Stops the driver and every group; waiters get UNAVAILABLE. Idempotent.
  void Stop();

  // The group, or null if this node does not host it.
  Replication* group(consensus::GroupId id) const;
  std::vector<Replication*> groups() const;
  consensus::Wal::Io wal_io() const;

  // A message from a peer for one of our groups; false if we do not host
  // that group.
  bool Receive(consensus::GroupId group, consensus::Message m);

  struct TransportStats {
    uint64_t batches_sent = 0;   // PeerBatch messages handed to the peer streams
    uint64_t messages_sent = 0;  // consensus messages inside them
  };
  TransportStats transport_stats();

  // For the groups: wakes the driver thread.
  void Wake();
  // For the groups (driver thread): queues a message for this round's batch
  // to its peer.
  void Send(consensus::GroupId group, const consensus::Message& m);
  // For the groups (driver thread): the peers `group` needs to reach.
  void SetPeers(consensus::GroupId group, const std::map<consensus::NodeId, std::string>& book);
  // Driver thread: the address a peer is dialed at, or "".
  std::string AddressOf(consensus::NodeId peer) const;
  consensus::NodeId id() const { return options_.id; }
  uint64_t max_snapshot_bytes() const { return options_.max_snapshot_bytes; }
  // Round-trip times and clock offsets to the peers this node streams to.
  PeerClock* peer_clock() { return &peer_clock_; }

 private:
  explicit GroupHost(const Options& options);
  void Loop();
  // Driver thread: one round over every group; `ticks` were due.
  void Round(uint64_t ticks, uint64_t start_us, uint64_t tick_us);
  // Driver thread: hands each peer its batch of this round so far.
  void Flush();
  // Driver thread: dials the union of the groups' peers.
  void Redial();
  // Creates and recovers the group; the driver thread (or before Run).
  Result<Replication*> AddGroupNow(Replication::Options options, txn::TxnStore* store);
  // Driver thread: the groups AddGroup queued after Run.
  void AddQueuedGroups();
  struct QueuedGroup {
    Replication::Options options;
    txn::TxnStore* store = nullptr;
    std::promise<Result<Replication*>> added;
  };

  const Options options_;
  Random random_;
  std::unique_ptr<consensus::Wal> wal_;
  std::map<consensus::GroupId, consensus::RecoveredGroup> recovered_;  // until AddGroup
  // Written only by the driver thread (or before Run), under groups_mu_;
  // other threads read it under groups_mu_, the driver thread without.
  mutable std::shared_mutex groups_mu_;
  std::map<consensus::GroupId, std::unique_ptr<Replication>> groups_;

  PeerClock peer_clock_;  // outlives senders_

  // Driver thread only.
  std::map<consensus::GroupId, std::map<consensus::NodeId, std::string>> books_;
  bool books_changed_ = false;
  std::map<consensus::NodeId, std::unique_ptr<PeerSender>> senders_;
  std::map<consensus::NodeId, std::string> dialed_;
  std::map<consensus::NodeId, std::vector<v1::GroupMessage>> outbox_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stop_ = false;
  std::vector<std::shared_ptr<QueuedGroup>> queued_groups_;
  TransportStats stats_;
  std::thread thread_;
};

}  // namespace meridian::server
