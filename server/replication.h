// Replication: one MultiPaxos group on this node. It owns the pure
// consensus::Replica of the group and its state machine binding (a
// txn::TxnStore); the node's GroupHost (group_host.h) owns the WAL, the peer
// transport and the driver thread, and calls the Drive* methods below in
// each round: step messages, tick, propose; then take the Ready, persist
// (one WAL fdatasync for every group), send, apply committed entries, and
// Advance.
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
// Thread-safe; the Drive* methods run on the host's driver thread only.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/random.h"
#include "common/status.h"
#include "consensus/membership.h"
#include "consensus/replica.h"
#include "consensus/wal.h"
#include "consensus/types.h"
#include "storage/engine.h"
#include "txn/commit_log.h"
#include "txn/txn_store.h"

namespace meridian::server {

class GroupHost;

class Replication final : public txn::CommitLog {
 public:
  struct Options {
    consensus::GroupId group = 1;
    consensus::NodeId id = consensus::kNoNode;
    // The bootstrap membership (id -> host:port, self included), used until
    // the store holds a committed one. With join, these are only addresses
    // to reach: this node waits to be added (MemberAdd) and never runs
    // before it is a voter.
    std::map<consensus::NodeId, std::string> members;
    bool join = false;
    int heartbeat_ticks = 1;
    int election_ticks = 10;
    int commit_timeout_ms = 5000;  // Commit gives up (COMMIT_UNKNOWN) after this
    uint64_t compact_every_entries = 10'000;
    uint64_t max_lag_entries = 100'000;  // log kept for a lagging peer; bounds memory
  };

  ~Replication() override;

  Status Commit(std::string command, const std::function<void()>& queued = {},
                uint64_t* applied_hlc = nullptr, uint64_t epoch = 0) override;
  // The ballot round of this node's leadership once it is ready (see
  // IsLeaderReady), else 0.
  uint64_t LeaderEpoch() override;
  // Hands a message from a peer to the driver.
  void Receive(consensus::Message m);
  // Installs a snapshot a leader sent (taken at applied index `index`);
  // returns once it is durable, or why it was refused.
  Status InstallSnapshot(std::vector<storage::Record> records, uint64_t index);
  consensus::GroupId group() const { return options_.group; }

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
  // Asks this group's leader (this node: NOT_LEADER elsewhere) to hand
  // leadership to member `target`; returns once the request is queued.
  // INVALID_ARGUMENT if `target` is not a voter. The caller watches
  // LeaderId() for the outcome.
  Status TransferLeadership(consensus::NodeId target);
  // Whether this node may stand for this group's leadership (Replica::
  // set_may_lead): cleared while the node is fenced, so that it neither
  // runs nor takes over; it keeps leading until it hands leadership off.
  // Takes effect on the driver's next round.
  void SetMayLead(bool may) { may_lead_.store(may, std::memory_order_relaxed); }
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

  // What the group looks like from here, for status reports.
  struct Snapshot {
    consensus::NodeId leader = consensus::kNoNode;
    bool is_leader = false;
    uint64_t ballot_round = 0;
    uint64_t commit_index = 0;
    uint64_t applied_index = 0;
    size_t voters = 0;
    size_t learners = 0;
    // On the leader, per peer: its address and how many entries it lags,
    // the leader's last index minus the highest index the peer reported
    // committed. Empty elsewhere.
    struct PeerLag {
      consensus::NodeId peer = consensus::kNoNode;
      std::string address;
      uint64_t entries = 0;
    };
    std::vector<PeerLag> peer_lag;
  };
  Snapshot Describe();
  // Proposals and reads waiting for their answer.
  size_t PendingCount();

 private:
  friend class GroupHost;
  // One caller waiting for a proposal or a read. Each has its own condition
  // variable, so a round that finishes some waiters wakes only them (not
  // every caller blocked on the group).
  struct Waiter {
    std::string command;
    MembershipEdit edit;  // set: a membership change, its command computed in the loop
    bool done = false;
    Status result;
    uint64_t applied_hlc = 0;  // a commit: the timestamp the store applied it at
    uint64_t epoch = 0;        // proposed only in this leadership (0: any)
    std::condition_variable cv;
  };
  Replication(const Options& options, GroupHost* host, txn::TxnStore* store);
  // Builds the replica from what the WAL recovered and the store holds.
  Status Recover(consensus::RecoveredGroup recovered, Random* random);
  // Ends waits and snapshot transfers; the host's thread has stopped.
  void Stop();

  // Driver thread, once per round: ticks `ticks` times, then steps the
  // queued messages, proposals, reads and snapshot installs.
  void DriveInput(uint64_t ticks);
  // Driver thread: the Ready to persist, if any (its WAL records appended
  // and its pre-persist messages sent); false if there is none.
  bool DriveTakeReady(consensus::Ready* ready);
  // Driver thread, after the WAL sync that covers `ready`: sends, applies,
  // answers waiters, and advances the replica.
  void DriveFinishReady(consensus::Ready& ready);
  // Driver thread, at the end of a round: compaction, membership changes,
  // and what callers see (leader, lease; `start_us` and `tick_us` place
  // tick k at start_us + k * tick_us).
  void DriveEndRound(uint64_t start_us, uint64_t tick_us);
  // Has queued input for the driver. Takes mu_.
  bool HasInput();

  // Driver thread: applies one committed entry (fatal on error).
  // Returns the commit timestamp the store applied a command at (0: none).
  uint64_t Apply(const consensus::Entry& e);
  // Driver thread: trims the log if enough was applied since the last time.
  void MaybeCompact();
  // Driver thread: starts a snapshot transfer to `to` unless one is running.
  void StartSnapshotTransfer(consensus::NodeId to);
  struct SnapshotInstall;
  // Driver thread: installs snapshots that arrived.
  void InstallSnapshots(std::deque<std::shared_ptr<SnapshotInstall>> installs);
  // Driver thread: hands `reads` to the replica, or refuses them.
  void StartReads(std::deque<std::shared_ptr<Waiter>> reads);
  // `mu_` held: finishes reads whose index is applied.
  void FinishReads();
  // `mu_` held: hands a waiter its result.
  void Finish(Waiter* w, Status s);
  // The leader's address from the replica's view; driver thread only.
  std::string LeaderAddressUnlocked();
  // Waits for a proposal's result (Commit and ChangeMembership).
  Status AwaitCommit(const std::shared_ptr<Waiter>& waiter, std::unique_lock<std::mutex>& lock);
  Status AwaitCommitResult(const std::shared_ptr<Waiter>& waiter,
                           std::unique_lock<std::mutex>& lock);
  // Driver thread: proposes one queued command or membership change.
  void Propose(const std::shared_ptr<Waiter>& waiter, const std::string& hint);
  // Driver thread: after the membership may have changed, tells the host
  // whom to dial and publishes the membership and addresses.
  void RefreshMembers();
  // Wakes the host's driver thread: input arrived.
  void Wake();

  const Options options_;
  GroupHost* const host_;
  // This group's children of the server metrics (server_metrics.h).
  metrics::Counter* const leader_changes_;
  metrics::Counter* const proposals_committed_;
  metrics::Counter* const proposals_failed_;
  metrics::Counter* const entries_applied_;
  txn::TxnStore* const store_;
  std::unique_ptr<consensus::Replica> replica_;  // touched only by the driver thread
  // Published by the driver thread under mu_.
  std::map<consensus::NodeId, std::string> addresses_;
  consensus::Membership membership_;
  uint64_t membership_index_ = 0;
  Snapshot described_;
  uint64_t applied_ = 0;

  std::mutex mu_;
  std::condition_variable install_cv_;  // wakes InstallSnapshot callers: one finished
  std::deque<consensus::Message> inbox_;
  std::deque<std::pair<std::string, std::shared_ptr<Waiter>>> proposals_;
  std::map<uint64_t, std::shared_ptr<Waiter>> waiting_;  // log index -> its proposer
  std::deque<std::shared_ptr<Waiter>> read_requests_;    // not yet given to the replica
  std::deque<std::shared_ptr<SnapshotInstall>> snapshot_installs_;
  consensus::NodeId transfer_to_ = consensus::kNoNode;  // a queued leadership transfer
  struct Transfer {
    std::thread thread;
    std::shared_ptr<grpc::ClientContext> ctx;
    bool done = false;
  };
  std::map<consensus::NodeId, Transfer> transfers_;  // guarded by mu_
  std::map<uint64_t, std::shared_ptr<Waiter>> reads_in_flight_;  // read id -> waiter (loop)
  std::multimap<uint64_t, std::shared_ptr<Waiter>> reads_to_apply_;  // index -> waiter
  uint64_t next_read_id_ = 1;
  // Monotonic time the lease ends, set only while the leader is ready; 0:
  // no lease. Read without mu_ by the read fast path.
  std::atomic<uint64_t> lease_deadline_us_{0};
  std::atomic<uint64_t> lease_reads_{0};
  std::atomic<uint64_t> index_reads_{0};
  bool stop_ = false;
  std::atomic<bool> leader_ready_{false};
  std::atomic<bool> may_lead_{true};
  std::atomic<uint64_t> ready_epoch_{0};
  consensus::NodeId leader_ = consensus::kNoNode;
};

}  // namespace meridian::server
