// Replication: drives one MultiPaxos group for this node. It owns the pure
// consensus::Replica, the node WAL and the peer senders, and runs the
// driver loop on its own thread: step messages, tick, propose; then for each
// Ready persist (WAL, one fdatasync), send, apply committed entries through
// the apply callback, and Advance.
//
// It is the txn::CommitLog of a replicated TxnStore: Commit proposes a
// command and waits until it is applied here.
//
// Compaction: once compact_every_entries entries were applied since the
// last compaction, the store is flushed and the log (in memory and in the
// WAL) is trimmed through the durable applied index, but on a leader not
// beyond what every peer has committed unless a peer lags by more than
// max_lag_entries (then it gets a snapshot: meridian.v1.Peer/InstallSnapshot,
// sent from a thread of its own).
//
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/random.h"
#include "common/status.h"
#include "consensus/membership.h"
#include "consensus/replica.h"
#include "consensus/wal.h"
#include "storage/engine.h"
#include "txn/commit_log.h"
#include "txn/txn_store.h"

namespace meridian::server {

class PeerSender;

class Replication final : public txn::CommitLog {
 public:
  struct Options {
    consensus::NodeId id = consensus::kNoNode;
    // The bootstrap membership (id -> host:port, self included), used until
    // the store holds a committed one. With join, these are only addresses
    // to reach: this node waits to be added (MemberAdd) and never runs
    // before it is a voter.
    std::map<consensus::NodeId, std::string> members;
    bool join = false;
    consensus::Wal::Io wal_io = consensus::Wal::Io::kAuto;
    std::string wal_dir;
    int tick_ms = 50;              // one consensus tick
    int heartbeat_ticks = 1;
    int election_ticks = 10;
    int commit_timeout_ms = 5000;  // Commit gives up (COMMIT_UNKNOWN) after this
    uint64_t compact_every_entries = 10'000;
    uint64_t max_lag_entries = 100'000;  // log kept for a lagging peer; bounds memory
    uint64_t max_snapshot_bytes = 8ull << 30;  // a bigger incoming snapshot is refused
  };

  // Recovers from the WAL, replays committed entries above the store's
  // applied index into it, and starts the driver thread.
  // REQUIRES: store outlives the Replication (Stop it first).
  static Result<std::unique_ptr<Replication>> Start(const Options& options, txn::TxnStore* store);
  ~Replication() override;
  void Stop();

  Status Commit(std::string command, const std::function<void()>& queued = {}) override;
  // Hands a message from a peer to the driver.
  void Receive(consensus::Message m);
  // Installs a snapshot a leader sent (taken at applied index `index`);
  // returns once it is durable, or why it was refused.
  Status InstallSnapshot(std::vector<storage::Record> records, uint64_t index);
  uint64_t max_snapshot_bytes() const { return options_.max_snapshot_bytes; }

  // This node leads and has applied everything chosen before its election.
  bool IsLeaderReady();
  // Returns once a read of this node's state machine is linearizable: at
  // once while the leader lease holds, else after a read-index round and the
  // apply it needs. NotLeader (hint: the leader's address) on a follower;
  // UNAVAILABLE if leadership cannot be confirmed within commit_timeout_ms.
  Status ReadBarrier();
  struct ReadStats {
    uint64_t lease_reads = 0;  // answered from the lease
    uint64_t index_reads = 0;  // answered after a read-index round
  };
  ReadStats read_stats();
  // host:port of the leader as this node believes it, or "".
  std::string LeaderAddress();
  consensus::NodeId LeaderId();

  // The committed membership and the log index it was committed at.
  std::pair<consensus::Membership, uint64_t> Membership();
  // Proposes the membership `edit` makes of the current one and waits until
  // it commits (NOT_LEADER elsewhere; UNAVAILABLE while another change is
  // pending; COMMIT_UNKNOWN on timeout). Returns the new membership.
  using MembershipEdit =
      std::function<Result<consensus::Membership>(const consensus::Membership& current)>;
  Result<consensus::Membership> ChangeMembership(MembershipEdit edit);

 private:
  struct Waiter {
    std::string command;
    MembershipEdit edit;  // set: a membership change, its command computed in the loop
    bool done = false;
    Status result;
  };
  Replication(const Options& options, txn::TxnStore* store);
  // Loop thread: applies one committed entry (fatal on error).
  void Apply(const consensus::Entry& e);
  // Loop thread: trims the log if enough was applied since the last time.
  void MaybeCompact();
  // Loop thread: starts a snapshot transfer to `to` unless one is running.
  void StartSnapshotTransfer(consensus::NodeId to);
  struct SnapshotInstall;
  // Loop thread: installs snapshots that arrived.
  void InstallSnapshots(std::deque<std::shared_ptr<SnapshotInstall>> installs,
                        std::unique_lock<std::mutex>& lock);
  void Loop();
  void Drain(std::unique_lock<std::mutex>& lock);
  // Loop thread: hands `reads` to the replica, or refuses them.
  void StartReads(std::deque<std::shared_ptr<Waiter>> reads, std::unique_lock<std::mutex>& lock);
  // Loop thread, `lock` held: finishes reads whose index is applied.
  void FinishReads();
  // `lock` held: hands a waiter its result.
  void Finish(Waiter* w, Status s);
  void Send(const consensus::Message& m);
  // The leader's address from the replica's view; loop thread only.
  std::string LeaderAddressUnlocked();
  // Waits for a proposal's result (Commit and ChangeMembership).
  Status AwaitCommit(const std::shared_ptr<Waiter>& waiter, std::unique_lock<std::mutex>& lock);
  // Loop thread: proposes one queued command or membership change.
  void Propose(const std::shared_ptr<Waiter>& waiter, const std::string& hint,
               std::unique_lock<std::mutex>& lock);
  // Loop thread: after the membership may have changed, dials new members
  // and publishes the membership and addresses.
  void RefreshMembers();

  const Options options_;
  txn::TxnStore* const store_;
  Random random_;
  std::unique_ptr<consensus::Wal> wal_;
  std::unique_ptr<consensus::Replica> replica_;  // touched only by the loop thread
  std::map<consensus::NodeId, std::unique_ptr<PeerSender>> senders_;  // loop thread
  std::map<consensus::NodeId, std::string> dialed_;  // id -> address senders_ use
  // Published by the loop thread under mu_.
  std::map<consensus::NodeId, std::string> addresses_;
  consensus::Membership membership_;
  uint64_t membership_index_ = 0;
  bool members_changed_ = false;  // loop thread
  uint64_t applied_ = 0;

  std::mutex mu_;
  std::condition_variable loop_cv_;  // wakes the driver loop: input arrived
  std::condition_variable done_cv_;  // wakes Commit callers: a result is in
  std::deque<consensus::Message> inbox_;
  std::deque<std::pair<std::string, std::shared_ptr<Waiter>>> proposals_;
  std::map<uint64_t, std::shared_ptr<Waiter>> waiting_;  // log index -> its proposer
  std::deque<std::shared_ptr<Waiter>> read_requests_;    // not yet given to the replica
  std::deque<std::shared_ptr<SnapshotInstall>> snapshot_installs_;
  struct Transfer {
    std::thread thread;
    std::shared_ptr<grpc::ClientContext> ctx;
    bool done = false;
  };
  std::map<consensus::NodeId, Transfer> transfers_;  // guarded by mu_
  std::map<uint64_t, std::shared_ptr<Waiter>> reads_in_flight_;  // read id -> waiter (loop)
  std::multimap<uint64_t, std::shared_ptr<Waiter>> reads_to_apply_;  // index -> waiter
  uint64_t next_read_id_ = 1;
  uint64_t lease_deadline_us_ = 0;  // monotonic time the lease ends; 0: no lease
  ReadStats read_stats_;
  bool stop_ = false;
  bool leader_ready_ = false;
  bool results_ready_ = false;  // some waiter got its result this round
  consensus::NodeId leader_ = consensus::kNoNode;
  std::thread thread_;
};

}  // namespace meridian::server
