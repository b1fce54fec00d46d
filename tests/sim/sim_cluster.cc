#include "tests/sim/sim_cluster.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"

namespace meridian::sim {

using consensus::Entry;
using consensus::Message;
using consensus::NodeId;

namespace {

uint64_t Mix(uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return (h ^ 0xff) * 1099511628211ull;
}

consensus::Replica::Options ReplicaOptions(NodeId id, const std::vector<NodeId>& ids) {
  consensus::Replica::Options o;
  o.id = id;
  o.members = ids;
  o.heartbeat_ticks = 1;
  o.election_ticks = 10;
  return o;
}

}  // namespace

SimCluster::SimCluster(const SimOptions& options) : options_(options), random_(options.seed) {
  for (int i = 1; i <= options.nodes; ++i) ids_.push_back(static_cast<NodeId>(i));
  for (NodeId id : ids_) {
    Node& n = nodes_[id];
    n.random = std::make_unique<Random>(options.seed * 1000 + id);
    n.replica = std::make_unique<consensus::Replica>(ReplicaOptions(id, ids_), n.random.get());
  }
}

void SimCluster::Note(std::string event) {
  trace_.push_back(absl::StrCat("t=", now_, " ", event));
  if (trace_.size() > 40) trace_.erase(trace_.begin());
}

std::string SimCluster::Trace() const {
  std::string out = absl::StrCat("seed ", options_.seed, "; last events:\n");
  for (const auto& e : trace_) absl::StrAppend(&out, "  ", e, "\n");
  return out;
}

void SimCluster::Deliver(Message m) {
  const bool cut = partition_.count(m.from) != partition_.count(m.to);
  if (cut || random_.Uniform(1000) < static_cast<uint64_t>(options_.drop_per_mille)) return;
  int copies = random_.Uniform(1000) < static_cast<uint64_t>(options_.dup_per_mille) ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    uint64_t at = now_ + 1 + random_.Uniform(options_.max_delay_ticks);
    network_.push_back({at, seq_++, m});
    std::push_heap(network_.begin(), network_.end(), std::greater<>());
  }
}

void SimCluster::ProcessReady(NodeId id) {
  Node& n = nodes_[id];
  while (n.replica && n.replica->HasReady()) {
    consensus::Ready ready = n.replica->TakeReady();
    // Messages that need no persist may leave first.
    for (const Message& m : ready.messages) Deliver(m);
    if (random_.Uniform(1000) < static_cast<uint64_t>(options_.crash_mid_ready_per_mille)) {
      // A crash before the fsync: nothing of this Ready is durable.
      Note(absl::StrCat("node ", id, " crashes before persisting"));
      Crash(id);
      return;
    }
    if (ready.hard_state) n.durable_hard = *ready.hard_state;
    for (const Entry& e : ready.entries) n.durable_log[e.index] = e;
    for (const Message& m : ready.messages_after_persist) Deliver(m);
    for (const Entry& e : ready.committed) {
      if (e.index != n.applied_index + 1) continue;  // replayed after restart
      n.applied_index = e.index;
      if (!e.noop) n.applied.push_back(e.command);
      n.state_hash = Mix(n.state_hash, e.noop ? std::string("\0noop", 5) : e.command);
    }
    n.replica->Advance(ready);
  }
}

Status SimCluster::Run(int ticks) {
  for (int t = 0; t < ticks; ++t) {
    ++now_;
    while (!network_.empty() && network_.front().at <= now_) {
      std::pop_heap(network_.begin(), network_.end(), std::greater<>());
      Message m = std::move(network_.back().msg);
      network_.pop_back();
      Node& n = nodes_[m.to];
      if (!n.replica) continue;
      (void)n.replica->Step(m);
      ProcessReady(m.to);
      MERIDIAN_RETURN_IF_ERROR(CheckInvariants());
    }
    for (NodeId id : ids_) {
      if (!nodes_[id].replica) continue;
      nodes_[id].replica->Tick();
      ProcessReady(id);
      MERIDIAN_RETURN_IF_ERROR(CheckInvariants());
    }
  }
  return absl::OkStatus();
}

bool SimCluster::Propose(const std::string& command) {
  auto leader = Leader();
  if (!leader) return false;
  if (!nodes_[*leader].replica->Propose(command).ok()) return false;
  Note(absl::StrCat("propose ", command, " at ", *leader));
  ProcessReady(*leader);
  return true;
}

void SimCluster::Crash(NodeId id) {
  Note(absl::StrCat("crash ", id));
  nodes_[id].replica.reset();
  checked_[id] = 0;
}

void SimCluster::Restart(NodeId id) {
  Node& n = nodes_[id];
  if (n.replica) return;
  Note(absl::StrCat("restart ", id));
  std::vector<Entry> entries;
  for (const auto& [i, e] : n.durable_log) entries.push_back(e);
  n.replica = std::make_unique<consensus::Replica>(ReplicaOptions(id, ids_), n.random.get(),
                                                   n.durable_hard, entries);
  // The state machine restarts empty and replays the committed log; the
  // replica hands committed entries out again from index 1.
  n.applied.clear();
  n.applied_index = 0;
  n.state_hash = 0;
  ProcessReady(id);
}

void SimCluster::Partition(std::set<NodeId> side) {
  Note("partition");
  partition_ = std::move(side);
}

void SimCluster::Heal() {
  Note("heal");
  partition_.clear();
}

std::optional<NodeId> SimCluster::Leader() const {
  std::optional<NodeId> best;
  consensus::Ballot best_ballot;
  for (const auto& [id, n] : nodes_) {
    if (n.replica && n.replica->is_leader() && (!best || n.replica->ballot() > best_ballot)) {
      best = id;
      best_ballot = n.replica->ballot();
    }
  }
  return best;
}

uint64_t SimCluster::CommitIndex(NodeId id) const {
  const Node& n = nodes_.at(id);
  return n.replica ? n.replica->commit_index() : n.durable_hard.commit_index;
}

uint64_t SimCluster::AppliedIndex(NodeId id) const { return nodes_.at(id).applied_index; }

Status SimCluster::CheckInvariants() {
  auto fail = [&](std::string what) { return absl::InternalError(what + "\n" + Trace()); };
  for (auto& [id, n] : nodes_) {
    if (!n.replica) continue;
    const consensus::Replica& r = *n.replica;
    if (r.is_leader()) {
      if (r.ballot().leader != id) {
        return fail(absl::StrCat("node ", id, " leads in a ballot naming ", r.ballot().leader));
      }
      auto [it, inserted] = leaders_.emplace(r.ballot(), id);
      if (!inserted && it->second != id) {
        return fail(absl::StrCat("two leaders in one ballot: ", it->second, " and ", id));
      }
    }
    if (n.applied_index > r.commit_index()) {
      return fail(absl::StrCat("node ", id, " applied ", n.applied_index, " > committed ",
                               r.commit_index()));
    }
    // Each event checks the newly committed slots; every 64th re-checks
    // whole prefixes, so a committed entry that changes later is caught too.
    uint64_t& checked = checked_[id];
    if (++checks_ % 64 == 0 || checked > r.commit_index()) checked = 0;
    for (uint64_t i = checked + 1; i <= r.commit_index(); ++i) {
      const Entry* e = r.EntryAt(i);
      if (e == nullptr) return fail(absl::StrCat("node ", id, " committed a missing slot ", i));
      auto [it, inserted] = chosen_.emplace(i, *e);
      if (!inserted && (it->second.command != e->command || it->second.noop != e->noop)) {
        return fail(absl::StrCat("slot ", i, " changed its chosen value on node ", id, ": '",
                                 it->second.command, "' became '", e->command, "'"));
      }
    }
    checked = r.commit_index();
    auto [it, inserted] = state_at_.emplace(n.applied_index, n.state_hash);
    if (!inserted && it->second != n.state_hash) {
      return fail(absl::StrCat("node ", id, " has a different state at applied index ",
                               n.applied_index));
    }
  }
  return absl::OkStatus();
}

}  // namespace meridian::sim
