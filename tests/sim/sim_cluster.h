// SimCluster: a deterministic simulation of one MultiPaxos group. The real
// consensus::Replica runs over a simulated network (delay, drop, duplicate,
// reorder, partition, and targeted drop/hold rules), simulated durable
// storage (a crash loses whatever a Ready had not yet persisted) and virtual
// time that jumps from tick to tick. Everything comes from one seed, so a
// failing seed replays exactly.
//
// CheckInvariants() runs after every event:
//   - a node leads only in a ballot that names it, and one ballot has at most
//     one leader;
//   - a committed slot never changes its value, on any node, ever;
//   - committed prefixes agree across nodes;
//   - applied <= committed on every node;
//   - nodes at an equal applied index have equal state machines.
//
// Not thread-safe. The simulator does not compact logs, install snapshots
// or change membership (yet).
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
  void Restart(consensus::NodeId id);  // from its durable state
  // Where a crash can hit a Ready: before its persist; after the persist
  // but before its messages_after_persist are sent; or after applying, but
  // before Advance.
  enum class CrashPoint { kBeforePersist = 1, kBeforeSend = 2, kBeforeAdvance = 3 };
  // The next Ready `id` handles crashes it at `point`.
  void CrashInNextReady(consensus::NodeId id, CrashPoint point) { armed_crash_[id] = point; }
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
  // Stops message loss, duplication and mid-Ready crashes.
  void StopFaults() {
    options_.drop_per_mille = options_.dup_per_mille = options_.crash_mid_ready_per_mille = 0;
  }
  void set_max_delay_ticks(int ticks) { options_.max_delay_ticks = ticks; }

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
  // Commands applied on `id`, in order (no-ops excluded).
  const std::vector<std::string>& Applied(consensus::NodeId id) const {
    return nodes_.at(id).applied;
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
  struct Node {
    std::unique_ptr<consensus::Replica> replica;
    std::unique_ptr<Random> random;
    consensus::HardState durable_hard;
    std::map<uint64_t, consensus::Entry> durable_log;
    std::vector<std::string> applied;
    uint64_t applied_index = 0;
    uint64_t state_hash = 0;
  };
  struct InFlight {
    uint64_t at;
    uint64_t seq;
    consensus::Message msg;
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void Deliver(consensus::Message m);
  void ProcessReady(consensus::NodeId id);
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
  std::map<uint64_t, consensus::Entry> chosen_;             // first committed value per slot
  std::map<consensus::Ballot, consensus::NodeId> leaders_;  // ballot -> its leader
  std::map<uint64_t, uint64_t> state_at_;                   // applied index -> state hash
  std::vector<std::string> trace_;
  std::map<consensus::NodeId, uint64_t> checked_;  // committed slots checked per node
  uint64_t checks_ = 0;
};

}  // namespace meridian::sim
