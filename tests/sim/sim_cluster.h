// SimCluster: a deterministic simulation of one MultiPaxos group. The real
// consensus::Replica runs over a simulated network (delay, drop, duplicate,
// reorder, partition), simulated durable storage (a crash loses whatever a
// Ready had not yet persisted) and virtual time that jumps from tick to
// tick. Everything comes from one seed, so a failing seed replays exactly.
//
// CheckInvariants() runs after every event:
//   - a node leads only in a ballot that names it, and one ballot has at most
//     one leader;
//   - a committed slot never changes its value, on any node, ever;
//   - committed prefixes agree across nodes;
//   - applied <= committed on every node;
//   - nodes at an equal applied index have equal state machines.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/random.h"
#include "consensus/replica.h"

namespace meridian::sim {

struct SimOptions {
  int nodes = 3;
  uint64_t seed = 1;
  int max_delay_ticks = 3;     // messages arrive 1..max_delay ticks after sending
  int drop_per_mille = 0;      // chance a message is lost
  int dup_per_mille = 0;       // chance a message is delivered twice
  int crash_mid_ready_per_mille = 0;  // chance a crash hits between persist and send
};

class SimCluster {
 public:
  explicit SimCluster(const SimOptions& options);

  // Advances virtual time by `ticks`, delivering messages and ticking nodes.
  // Returns the first invariant violation, if any.
  Status Run(int ticks);
  // Proposes `command` at the current leader, if any; true if one took it.
  bool Propose(const std::string& command);

  void Crash(consensus::NodeId id);    // loses everything not persisted
  void Restart(consensus::NodeId id);  // from its durable state
  void Partition(std::set<consensus::NodeId> side);  // cut `side` off from the rest
  void Heal();
  // Stops message loss, duplication and mid-Ready crashes.
  void StopFaults() {
    options_.drop_per_mille = options_.dup_per_mille = options_.crash_mid_ready_per_mille = 0;
  }

  std::optional<consensus::NodeId> Leader() const;
  uint64_t CommitIndex(consensus::NodeId id) const;
  uint64_t AppliedIndex(consensus::NodeId id) const;
  bool Alive(consensus::NodeId id) const { return nodes_.at(id).replica != nullptr; }
  // Commands applied on `id`, in order (no-ops excluded).
  const std::vector<std::string>& Applied(consensus::NodeId id) const {
    return nodes_.at(id).applied;
  }
  uint64_t now() const { return now_; }
  std::string Trace() const;  // the last events, for failure messages

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
  Status CheckInvariants();
  void Note(std::string event);

  SimOptions options_;
  Random random_;
  std::vector<consensus::NodeId> ids_;
  std::map<consensus::NodeId, Node> nodes_;
  std::vector<InFlight> network_;  // a min-heap by (at, seq)
  uint64_t seq_ = 0;
  uint64_t now_ = 0;
  std::set<consensus::NodeId> partition_;
  std::map<uint64_t, consensus::Entry> chosen_;             // first committed value per slot
  std::map<consensus::Ballot, consensus::NodeId> leaders_;  // ballot -> its leader
  std::map<uint64_t, uint64_t> state_at_;                   // applied index -> state hash
  std::vector<std::string> trace_;
  std::map<consensus::NodeId, uint64_t> checked_;  // committed slots checked per node
  uint64_t checks_ = 0;
};

}  // namespace meridian::sim
