// SimCluster: a deterministic simulation of one MultiPaxos group. The real
// consensus::Replica runs over a simulated network (delay, drop, duplicate,
// reorder, partition, and targeted drop/hold rules), simulated durable
// storage (a crash loses whatever a Ready had not yet persisted) and virtual
// time that jumps from tick to tick. Everything comes from one seed, so a
// failing seed replays exactly.
//
// Each node has a state machine (the commands and config entries applied,
// a hash of them, and the membership they make) that is durable only at its
// compaction points and when a snapshot is installed: a restart resumes from
// that image and replays the durable log above it. Nodes compact their logs
// (at random thresholds, if enabled), leaders' snapshot requests ship a copy
// of their state machine to the peer after a random delay (or lose it), and
// spare nodes can join, become learners and voters, and be removed again.
//
// CheckInvariants() runs after every event:
//   - a node leads only in a ballot that names it, as a voter of its
//     committed config, and one ballot has at most one leader;
//   - a committed slot never changes its value, on any node, ever (slots a
//     node compacted away are skipped), so committed prefixes agree;
//   - applied <= committed on every node, and entries apply without gaps;
//   - nodes at an equal applied index have equal state machines;
//   - leases: while a node's HasLease() holds, no ballot above its own has
//     committed anything (all nodes tick in lock step, so this compares
//     virtual times; a node's ticks count from its (re)start);
//   - read-index: an ok ReadState's index covers every slot any node knew
//     committed when ReadIndex was called, so a read served once that index
//     is applied sees every earlier committed write.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/status.h"
#include "consensus/replica.h"

namespace meridian::sim {

struct SimOptions {
  int nodes = 3;
  uint64_t seed = 1;
  int max_delay_ticks = 3;  // messages arrive 1..max_delay ticks after sending; >= 1
  int drop_per_mille = 0;   // chance a message is lost
  int dup_per_mille = 0;    // chance a message is delivered twice
  // Chance, per Ready, that the node crashes while handling it: before the
  // persist, after the persist but before sending, or after applying but
  // before Advance (each a third of the time).
  int crash_mid_ready_per_mille = 0;
  // Keep every event (messages and Readys too) instead of the last 40:
  // for replaying one seed.
  bool full_trace = false;
  // Node ids nodes+1 .. nodes+spares exist but start down and outside the
  // group; Join starts one as a joining replica (no membership).
  int spares = 0;
  // If compact_max > 0: each node compacts its log once it has applied
  // compact_min..compact_max entries (drawn anew each time) past its last
  // compaction point; leaders keep what lagging peers need half the time.
  int compact_min = 0;
  int compact_max = 0;
  // Chance, per Ready, that a node crashes before persisting it if the
  // Ready raises its promised ballot (a promise that must not be sent yet).
  int crash_on_promise_per_mille = 0;
};

// Which messages a drop or hold rule matches. An empty set matches anything.
struct MessageFilter {
  std::set<consensus::MessageType> types;
  std::set<consensus::NodeId> from;
  std::set<consensus::NodeId> to;
  bool Matches(const consensus::Message& m) const;
};

// "accept", "promise", ... (the MessageType without the k, lower case).
std::string MessageTypeName(consensus::MessageType type);
std::optional<consensus::MessageType> ParseMessageType(const std::string& name);
// One line for traces: "1->2 accept b=3.1 [4..6] ci=3".
std::string Describe(const consensus::Message& m);

class SimCluster {
 public:
  explicit SimCluster(const SimOptions& options);

  // Advances virtual time by `ticks`, delivering messages and ticking nodes.
  // Returns the first invariant violation, if any.
  Status Run(int ticks);
  // Proposes `command` at the current leader, if any; true if one took it.
  bool Propose(const std::string& command);
  // Proposes `commands` at node `id` (which may be a stale leader), all in
  // one Ready, so they leave in one Accept batch. Returns the replica's
  // error (NotLeader) for the first one it refuses, or FailedPrecondition
  // if the node is down.
  Status ProposeAt(consensus::NodeId id, const std::vector<std::string>& commands);
  // The leader `from` hands leadership to `to` (Replica::TransferLeadership).
  Status Transfer(consensus::NodeId from, consensus::NodeId to);

  void Crash(consensus::NodeId id);    // loses everything not persisted
  // From its durable state: the state machine image, its applied index and
  // membership, and the durable log after the trim point. No-op for a node
  // that never started.
  void Restart(consensus::NodeId id);
  // Starts spare node `id` as a joining replica (empty membership).
  Status Join(consensus::NodeId id);
  // Membership changes proposed at the current leader (ProposeConfig):
  // `id` becomes a learner (joining it first if it never ran), a voter, or
  // leaves the group. The replica's error if it refuses (NotLeader,
  // Unavailable while a change is pending, InvalidArgument).
  Status AddLearner(consensus::NodeId id);
  Status Promote(consensus::NodeId id);
  Status Remove(consensus::NodeId id);
  // Node `id` makes its state machine durable and compacts its log through
  // what it has applied.
  void Compact(consensus::NodeId id);
  // Asks node `id` for a read-index read (Replica::ReadIndex); the result is
  // checked by the read-index invariant. The replica's error if it refuses.
  Status Read(consensus::NodeId id);
  // Where a crash can hit a Ready: before its persist; after the persist
  // but before its messages_after_persist are sent; or after applying, but
  // before Advance.
  enum class CrashPoint { kBeforePersist = 1, kBeforeSend = 2, kBeforeAdvance = 3 };
  // The next Ready `id` handles crashes it at `point`.
  void CrashInNextReady(consensus::NodeId id, CrashPoint point) { armed_crash_[id] = point; }
  // The next Ready of `id` that raises its promised ballot crashes it
  // before the persist (its `messages` are out: a promise wrongly placed
  // there leaves, and is forgotten); it restarts at once if `restart`.
  void CrashBeforePersistingPromise(consensus::NodeId id, bool restart) {
    armed_promise_crash_[id] = restart;
  }
  void Partition(std::set<consensus::NodeId> side);  // cut `side` off from the rest
  // Each group reaches only itself; unlisted nodes form one more group.
  void PartitionGroups(const std::vector<std::set<consensus::NodeId>>& groups);
  void Heal();  // ends the partition (drop and hold rules stay)
  // Matching messages sent from now on are lost.
  void Drop(const MessageFilter& filter);
  // Matching messages sent from now on are kept back until Release/Discard.
  void Hold(const MessageFilter& filter);
  // Sends the held messages that match now (they arrive after the usual
  // delay, unless a partition or rule stops them); returns how many.
  size_t Release(const MessageFilter& filter);
  size_t Discard(const MessageFilter& filter);  // forgets them
  void ClearRules();  // no more drop or hold rules; held messages stay held
  // Stops message loss, duplication and mid-Ready crashes (armed ones too).
  void StopFaults() {
    options_.drop_per_mille = options_.dup_per_mille = options_.crash_mid_ready_per_mille = 0;
    options_.crash_on_promise_per_mille = 0;
    armed_crash_.clear();
    armed_promise_crash_.clear();
  }
  void set_max_delay_ticks(int ticks) { options_.max_delay_ticks = ticks; }

  // The committed membership of `id` (its state machine's if it is down).
  consensus::Membership Config(consensus::NodeId id) const;
  // It ran at some point (spares start down until they join).
  bool Started(consensus::NodeId id) const { return nodes_.at(id).started; }
  // Event counts, for coverage: a fault the sweep never reaches is a gap.
  struct Stats {
    uint64_t compactions = 0, snapshots_sent = 0, snapshots_installed = 0, snapshots_lost = 0,
             configs_committed = 0, reads_ok = 0, reads_failed = 0, reads_served = 0,
             leases_checked = 0, promise_crashes = 0;
  };
  const Stats& stats() const { return stats_; }
  size_t SnapshotsInstalled(consensus::NodeId id) const { return nodes_.at(id).installed; }

  // The live leader with the highest ballot, if any.
  std::optional<consensus::NodeId> Leader() const;
  std::vector<consensus::NodeId> Leaders() const;  // every live node that thinks it leads
  uint64_t CommitIndex(consensus::NodeId id) const;
  uint64_t AppliedIndex(consensus::NodeId id) const;
  bool Alive(consensus::NodeId id) const { return nodes_.at(id).replica != nullptr; }
  const std::vector<consensus::NodeId>& ids() const { return ids_; }
  // The replica of a live node (nullptr if down), for expectations.
  const consensus::Replica* replica(consensus::NodeId id) const {
    return nodes_.at(id).replica.get();
  }
  // Commands applied on `id`, in order (no-ops and configs excluded).
  const std::vector<std::string>& Applied(consensus::NodeId id) const {
    return nodes_.at(id).sm.applied;
  }
  // The value first seen committed at each slot, by any node.
  const std::map<uint64_t, consensus::Entry>& chosen() const { return chosen_; }
  size_t held() const { return held_.size(); }
  uint64_t now() const { return now_; }
  uint64_t seed() const { return options_.seed; }
  std::string Trace() const;     // the last events (all with full_trace)
  void Note(std::string event);  // adds an event to the trace
  // The invariants above; Run checks them after every event.
  Status CheckInvariants();

 private:
  // The state machine: what a snapshot copies.
  struct StateMachine {
    uint64_t index = 0;                 // applied through
    std::vector<std::string> applied;   // commands (no no-ops, no configs)
    uint64_t hash = 0;                  // of every entry applied
    consensus::Membership config;       // empty: the bootstrap list (or none, joining)
    uint64_t config_index = 0;
  };
  struct Node {
    std::unique_ptr<consensus::Replica> replica;
    std::unique_ptr<Random> random;
    bool started = false;
    bool bootstrap = true;  // started with the initial member list, not joining
    uint64_t born = 0;      // virtual time of the last (re)start: its tick 0
    consensus::HardState durable_hard;
    std::map<uint64_t, consensus::Entry> durable_log;
    uint64_t durable_trim = 0;  // the durable log starts after this
    StateMachine sm;            // volatile
    StateMachine durable_sm;    // at the last compaction or snapshot install
    uint64_t compact_at = 0;    // compact once this many applied past the last point
    size_t installed = 0;       // snapshots installed
  };
  struct SnapshotInFlight {
    uint64_t at;
    consensus::NodeId from, to;
    StateMachine sm;
  };
  struct PendingRead {
    consensus::NodeId node;
    uint64_t required;  // the highest commit index any node knew at the call
  };
  struct InFlight {
    uint64_t at;
    uint64_t seq;
    consensus::Message msg;
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void Deliver(consensus::Message m);
  void ProcessReady(consensus::NodeId id);
  void Apply(Node& n, consensus::NodeId id, const consensus::Entry& e);
  void StartReplica(consensus::NodeId id);
  void MaybeCompact(consensus::NodeId id);
  void Compact(consensus::NodeId id, uint64_t through);
  void InstallSnapshot(const SnapshotInFlight& s);
  Status ChangeConfig(const char* what, consensus::NodeId id,
                      void (*change)(consensus::Membership&, consensus::NodeId));
  uint64_t KnownCommit();
  bool Cut(consensus::NodeId a, consensus::NodeId b) const;

  SimOptions options_;
  Random random_;
  std::vector<consensus::NodeId> ids_;
  std::map<consensus::NodeId, Node> nodes_;
  std::vector<InFlight> network_;  // a min-heap by (at, seq)
  uint64_t seq_ = 0;
  uint64_t now_ = 0;
  std::map<consensus::NodeId, int> group_;  // partition group per node; absent = 0
  std::vector<MessageFilter> drop_rules_;
  std::vector<MessageFilter> hold_rules_;
  std::vector<consensus::Message> held_;
  std::map<consensus::NodeId, CrashPoint> armed_crash_;
  std::map<consensus::NodeId, bool> armed_promise_crash_;  // -> restart at once
  std::vector<consensus::NodeId> initial_;                 // the bootstrap voters
  std::vector<SnapshotInFlight> snapshots_;
  std::map<uint64_t, PendingRead> reads_;  // read id -> what it must see
  uint64_t next_read_ = 1;
  uint64_t known_commit_ = 0;              // the highest commit index seen anywhere
  consensus::Ballot committed_ballot_;     // the highest ballot that committed its no-op
  uint64_t committed_ballot_at_ = 0;
  std::string violation_;                  // found while handling a Ready
  Stats stats_;
  std::map<uint64_t, consensus::Entry> chosen_;             // first committed value per slot
  std::map<consensus::Ballot, consensus::NodeId> leaders_;  // ballot -> its leader
  std::map<uint64_t, uint64_t> state_at_;                   // applied index -> state hash
  std::vector<std::string> trace_;
  std::map<consensus::NodeId, uint64_t> checked_;  // committed slots checked per node
  uint64_t checks_ = 0;
};

}  // namespace meridian::sim
