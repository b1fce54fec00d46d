// Replica: the pure MultiPaxos core of one node in one group.
//
// It holds no threads, clocks, files or sockets. The driver feeds it
// messages (Step), logical time (Tick) and commands (Propose), then takes a
// Ready batch that says what to do, in order:
//
//   1. persist ready.hard_state (if set) and ready.entries, durably;
//   2. send ready.messages (these could have gone before step 1);
//   3. send ready.messages_after_persist (promises and accept replies: an
//      acceptor must not vouch for state a crash could lose);
//   4. apply ready.committed to the state machine, in order;
//   5. call Advance(ready);
//   6. serve each ok ready.reads[i] once the state machine has applied its
//      index (a read-index read is then linearizable).
//
// Protocol (see docs/consensus.md): ballots name their leader; phase 1 runs
// over every slot above the candidate's commit index and merges the replies
// (highest ballot wins, gaps become no-ops); the new leader re-proposes them
// all in its ballot; phase 2 is batched and pipelined; the leader's Commit
// message is also the heartbeat, and followers' replies tell the leader
// what they lack. A follower that heard from a live leader recently ignores
// prepares (unless forced by a leadership transfer), so a node cut off from
// the majority cannot depose a healthy leader, and a leader that cannot hear
// a majority steps down.
//
// Leases: time is counted in ticks. A follower that heard the leader refuses
// to promise another candidate for election_ticks of its own ticks (and a
// restarted node for its first election_ticks, since it may have vouched for
// a lease before the crash). So once a majority acknowledged a heartbeat the
// leader sent at tick t, no other leader can exist before the follower
// windows end, and the leader may serve reads locally until tick
// t + lease_ticks, where lease_ticks leaves a margin for clocks that tick at
// different rates. Without a lease (just elected, transferring, lost acks)
// reads use read-index: a fresh heartbeat round confirmed by a majority.
//
// Not thread-safe: the driver serializes every call.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/status.h"
#include "consensus/membership.h"
#include "consensus/types.h"

namespace meridian::consensus {

// A read-index request that became safe (ok: serve it once the state
// machine applied `index`) or failed (this replica lost leadership).
struct ReadState {
  uint64_t id = 0;
  uint64_t index = 0;
  bool ok = false;
};

// The leader cannot catch `to` up from its log (the entries it needs were
// compacted away): the driver streams it a snapshot of the state machine,
// taken at any applied index >= min_index, and the peer installs it with
// Replica::InstallSnapshot.
struct SnapshotRequest {
  NodeId to = kNoNode;
  uint64_t min_index = 0;
};

struct Ready {
  std::optional<HardState> hard_state;   // persist if set
  uint64_t compacted_through = 0;        // if > 0: persist "log starts after this index"
  std::vector<Entry> entries;            // persist (overwriting the same index)
  std::vector<Message> messages;         // may be sent at once
  std::vector<Message> messages_after_persist;  // only after the persist
  std::vector<Entry> committed;          // apply in order
  std::vector<ReadState> reads;          // read-index results
  std::vector<SnapshotRequest> snapshots;  // peers to send a snapshot to
  bool empty() const {
    return !hard_state && compacted_through == 0 && entries.empty() && messages.empty() &&
           messages_after_persist.empty() && committed.empty() && reads.empty() &&
           snapshots.empty();
  }
};

class Replica {
 public:
  struct Options {
    NodeId id = kNoNode;
    // The membership in effect when the replica starts: `config` if it has
    // any node (the state machine's, set at `config_index`), else `members`
    // as voters (the bootstrap list). Neither: a node joining an existing
    // group, which learns its membership from the log and never runs first.
    std::vector<NodeId> members;
    Membership config;
    uint64_t config_index = 0;
    int heartbeat_ticks = 1;       // the leader sends Commit every this many ticks
    int election_ticks = 10;       // base follower timeout; > heartbeat_ticks
    size_t max_batch_entries = 64; // entries per Accept message
    // How long a majority-acknowledged heartbeat lets the leader read
    // locally; 0 derives it: (election_ticks - 1) * 4 / 5, which stays safe
    // while the nodes' tick rates differ by up to 10%.
    int lease_ticks = 0;
    // A peer that needs a snapshot is asked again after this many ticks if
    // it has not caught up.
    int snapshot_retry_ticks = 100;
  };

  // `hard_state` and `entries` are what an earlier incarnation persisted;
  // the state machine already holds every entry through `applied_index`
  // (those are chosen, so the log may start after it).
  // REQUIRES: random outlives the replica; options.id is in members.
  Replica(const Options& options, Random* random, HardState hard_state = {},
          std::vector<Entry> entries = {}, uint64_t applied_index = 0);

  Status Step(const Message& m);
  void Tick();
  // Returns the slot the command was given, or NotLeader (hint: the
  // leader's id, if known) unless this node leads. The command is chosen at
  // that slot only if the entry later committed there is this command.
  Result<uint64_t> Propose(std::string command);
  // Asks `target` to take over leadership. REQUIRES: this node leads.
  Status TransferLeadership(NodeId target);
  // Whether this node may stand for election (default true). A node that
  // may not neither starts a probe when its election timer fires nor takes
  // over on a transfer; it still votes, accepts and, if it leads, leads.
  // The server clears it while the node is fenced (server/fence.h).
  void set_may_lead(bool may) { may_lead_ = may; }
  // Proposes a membership change (see membership.h); returns its slot. The
  // leader must have committed its first entry, no other change may be
  // pending, and at most one voter may change.
  Result<uint64_t> ProposeConfig(const Membership& next);
  // The committed membership, and the slot it was committed at (0: initial).
  const Membership& config() const { return config_; }
  uint64_t config_index() const { return config_index_; }
  bool config_pending() const { return !pending_configs_.empty(); }
  // The newest config in the log, chosen or not: the one that decides
  // whether this node may run for leader (as in Raft, a node promoted by
  // a pending config may lead; one removed by it may not run again).
  const Membership& newest_config() const {
    return pending_configs_.empty() ? config_ : pending_configs_.rbegin()->second;
  }
  // Everyone in the committed and pending configs, with their addresses.
  std::map<NodeId, std::string> KnownMembers() const;
  // Asks for a linearizable read: the answer comes as Ready::reads[id] —
  // at once while the lease holds, else after a heartbeat round a majority
  // acknowledged. NotLeader unless this node leads.
  Status ReadIndex(uint64_t id);
  // True while this leader may serve reads from its state machine without
  // asking the others (it must also have applied leader_start_index()).
  bool HasLease() const;
  // Log compaction: forget entries through `through`, which the state
  // machine has applied durably (through <= applied_index()). Peers that
  // still need them get a snapshot instead.
  void Compact(uint64_t through);
  // The state machine now holds a snapshot taken at `index` (installed by
  // the driver): everything through it is chosen and applied. `config` is
  // the membership the snapshot holds, committed at `config_index`.
  void InstallSnapshot(uint64_t index, const Membership& config, uint64_t config_index);
  uint64_t compacted_through() const { return compacted_; }
  // On a leader, the lowest commit index any peer reported (0 if one never
  // answered): compacting above it costs that peer a snapshot. Elsewhere,
  // applied_index().
  uint64_t LowestPeerCommit() const;
  // On a leader, for each peer the log goes to, the highest index it
  // reported committed (0 if it never answered); empty elsewhere. With
  // last_index(), how far each peer lags (metrics).
  std::map<NodeId, uint64_t> PeerCommitIndexes() const;
  // On a leader, the highest slot it has proposed into; elsewhere the
  // highest slot in its log (0 if none).
  uint64_t last_index() const;
  // Ticks so far, and the tick at which the current lease ends (0: none).
  uint64_t now_ticks() const { return now_ticks_; }
  uint64_t lease_expiry_tick() const { return HasLease() ? lease_expiry_ : 0; }

  bool HasReady() const;
  Ready TakeReady();
  void Advance(const Ready& ready);

  NodeId id() const { return options_.id; }
  bool is_leader() const { return role_ == Role::kLeader; }
  NodeId leader() const { return leader_; }
  const Ballot& ballot() const { return ballot_; }
  // The slot of the no-op a new leader proposes; once it is applied, the
  // leader's state machine holds every command chosen before its election.
  uint64_t leader_start_index() const { return leader_start_index_; }
  uint64_t commit_index() const { return hard_.commit_index; }
  uint64_t applied_index() const { return applied_; }
  // The entry at `index` if present (tests and invariant checkers).
  const Entry* EntryAt(uint64_t index) const;

 private:
  // kProber asks before it runs phase 1, so that a node that cannot reach a
  // majority never raises its promised ballot, and so never out-bids (and
  // deposes) a healthy leader when it reconnects.
  enum class Role { kFollower, kProber, kCandidate, kLeader };

  // True if `yes` (ids) holds a majority of the committed voters and of
  // each pending config's, and of `extra`'s (a candidate's view).
  template <typename Set>
  bool IsQuorum(const Set& yes, const std::vector<Membership>& extra = {}) const;
  // Everyone the log goes to: members of the committed and pending
  // configs, this node excluded.
  std::vector<NodeId> Peers() const;
  bool CanRun() const { return may_lead_ && newest_config().IsVoter(options_.id); }
  void NotePendingConfig(const Entry& e);
  void CommitConfig(const Entry& e);
  void StepDownIfNoVoter();
  // Configs in promises the candidate has not seen in its own log.
  std::vector<Membership> PromisedConfigs() const;
  void MaybeWin();
  Status NotLeader() const;
  // Leader: stores `command` at the next slot and queues it for phase 2.
  uint64_t AppendAsLeader(std::string command, bool config);
  void SendPrepare(NodeId peer);
  int LeaseTicks() const;
  void OnHeartbeatAcked(NodeId peer, uint64_t seq);
  void FailPendingReads();
  void ResetElectionTimer();
  void StartProbe();
  void StartPhase1(bool force);
  bool LeaderAlive(NodeId asking) const;
  void BecomeFollower(const Ballot& b);
  void BecomeLeader();
  void Promise(const Ballot& b);  // raise hard_.promised and persist it
  void Store(Entry e);            // accept into the log and persist
  void Send(Message m, bool after_persist = false);
  void SendAccepts(NodeId peer, uint64_t from, uint64_t to);
  void Heartbeat();
  void AdvanceLeaderCommit();
  void AdvanceFollowerCommit(uint64_t leader_commit);
  void CollectCommitted();
  void RequestSnapshot(NodeId peer);

  // What Accept and Commit from a leader share: a stale ballot is refused
  // (the sender learns ours, as a `reply_type` reject) and false returned;
  // otherwise we adopt the ballot, follow its leader and feed the failure
  // detector.
  bool FollowLeader(const Message& m, MessageType reply_type);
  void OnPrepare(const Message& m);
  void OnPromise(const Message& m);
  void OnAccept(const Message& m);
  void OnAccepted(const Message& m);
  void OnCommit(const Message& m);
  void OnCommitAck(const Message& m);
  void OnProbe(const Message& m);
  void OnProbeReply(const Message& m);

  const Options options_;
  Random* const random_;

  HardState hard_;
  bool hard_dirty_ = false;
  std::map<uint64_t, Entry> log_;
  Membership config_;
  uint64_t config_index_ = 0;
  std::map<uint64_t, Membership> pending_configs_;  // config entries in the log above config_index_
  uint64_t applied_ = 0;
  uint64_t collected_ = 0;  // committed entries handed out in a Ready
  uint64_t compacted_ = 0;  // the log holds no entry at or below this

  Role role_ = Role::kFollower;
  Ballot ballot_;             // the ballot we follow or lead
  NodeId leader_ = kNoNode;
  bool may_lead_ = true;
  int election_elapsed_ = 0;
  int election_timeout_ = 0;
  int heartbeat_elapsed_ = 0;
  // Adaptive failure detection: an estimate of the gap between leader
  // messages, in ticks, scaled by 16 for precision. The timeout never drops
  // below election_ticks but grows when the leader's messages arrive late.
  int gap_estimate_x16_ = 0;
  int last_leader_contact_ = 0;  // ticks since the last message from the leader

  uint64_t max_round_seen_ = 0;  // from rejections: the next attempt outbids it
  // Prober state.
  std::set<NodeId> probe_grants_;
  Ballot probe_ballot_;
  // Candidate state.
  std::map<NodeId, Message> promises_;
  std::set<NodeId> prepared_;  // nodes sent our Prepare
  bool phase1_force_ = false;
  // Leader state.
  uint64_t next_index_ = 1;
  uint64_t leader_start_index_ = 0;
  std::map<uint64_t, std::set<NodeId>> acks_;  // uncommitted slot -> acceptors
  std::map<NodeId, uint64_t> peer_commit_;     // what each follower has committed
  std::set<NodeId> heard_this_term_;           // check-quorum window
  int quorum_elapsed_ = 0;
  std::vector<Entry> unsent_;                  // proposed, not yet in an Accept
  // Leases and read-index: heartbeat rounds, their send ticks, and what
  // each follower acknowledged.
  uint64_t now_ticks_ = 0;
  uint64_t hb_seq_ = 0;
  std::map<uint64_t, uint64_t> hb_sent_tick_;  // round -> tick it was sent
  std::map<NodeId, uint64_t> peer_acked_seq_;
  uint64_t lease_expiry_ = 0;
  bool lease_blocked_ = false;  // a transfer is under way: no lease
  bool read_round_due_ = false;  // a read-index request awaits a heartbeat round
  struct PendingRead {
    uint64_t id, index, seq;
  };
  std::vector<PendingRead> pending_reads_;
  std::map<NodeId, uint64_t> snapshot_asked_tick_;  // peer -> when we last asked

  Ready ready_;
};

}  // namespace meridian::consensus
