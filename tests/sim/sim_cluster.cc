#include "tests/sim/sim_cluster.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <utility>

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

std::string BallotString(const consensus::Ballot& b) {
  return absl::StrCat(b.round, ".", b.leader);
}

}  // namespace

bool MessageFilter::Matches(const Message& m) const {
  return (types.empty() || types.count(m.type)) && (from.empty() || from.count(m.from)) &&
         (to.empty() || to.count(m.to));
}

namespace {
constexpr std::pair<consensus::MessageType, const char*> kTypeNames[] = {
    {consensus::MessageType::kPrepare, "prepare"},
    {consensus::MessageType::kPromise, "promise"},
    {consensus::MessageType::kAccept, "accept"},
    {consensus::MessageType::kAccepted, "accepted"},
    {consensus::MessageType::kCommit, "commit"},
    {consensus::MessageType::kCommitAck, "commitack"},
    {consensus::MessageType::kTimeoutNow, "timeoutnow"},
    {consensus::MessageType::kProbe, "probe"},
    {consensus::MessageType::kProbeReply, "probereply"},
};
}  // namespace

std::string MessageTypeName(consensus::MessageType type) {
  for (const auto& [t, name] : kTypeNames) {
    if (t == type) return name;
  }
  return "unknown";
}

std::optional<consensus::MessageType> ParseMessageType(const std::string& name) {
  for (const auto& [t, n] : kTypeNames) {
    if (name == n) return t;
  }
  return std::nullopt;
}

std::string Describe(const Message& m) {
  std::string out =
      absl::StrCat(m.from, "->", m.to, " ", MessageTypeName(m.type), " b=", BallotString(m.ballot));
  if (m.reject) absl::StrAppend(&out, " reject");
  switch (m.type) {
    case consensus::MessageType::kAccepted:
      if (!m.reject) absl::StrAppend(&out, " [", m.index, "..", m.last_index, "]");
      break;
    case consensus::MessageType::kCommit:
      absl::StrAppend(&out, " ci=", m.commit_index, " seq=", m.seq);
      break;
    case consensus::MessageType::kCommitAck:
      absl::StrAppend(&out, " ci=", m.index);
      break;
    case consensus::MessageType::kPrepare:
      absl::StrAppend(&out, " from=", m.index, m.force ? " force" : "");
      break;
    case consensus::MessageType::kAccept:
      absl::StrAppend(&out, " ci=", m.commit_index);
      break;
    default:
      break;
  }
  if (!m.entries.empty()) {
    absl::StrAppend(&out, " {");
    for (const Entry& e : m.entries) {
      absl::StrAppend(&out, &e == &m.entries.front() ? "" : " ", e.index, ":",
                      e.noop ? "_" : e.command, "@", BallotString(e.ballot));
    }
    absl::StrAppend(&out, "}");
  }
  return out;
}

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
  if (!options_.full_trace && trace_.size() > 40) trace_.erase(trace_.begin());
}

std::string SimCluster::Trace() const {
  std::string out = absl::StrCat("seed ", options_.seed,
                                 options_.full_trace ? "; events:\n" : "; last events:\n");
  for (const auto& e : trace_) absl::StrAppend(&out, "  ", e, "\n");
  return out;
}

bool SimCluster::Cut(NodeId a, NodeId b) const {
  auto group = [&](NodeId id) {
    auto it = group_.find(id);
    return it == group_.end() ? 0 : it->second;
  };
  return group(a) != group(b);
}

void SimCluster::Deliver(Message m) {
  auto lose = [&](const char* why) {
    if (options_.full_trace) Note(absl::StrCat("lose (", why, ") ", Describe(m)));
  };
  if (Cut(m.from, m.to)) return lose("partition");
  for (const MessageFilter& f : drop_rules_) {
    if (f.Matches(m)) return lose("drop rule");
  }
  for (const MessageFilter& f : hold_rules_) {
    if (f.Matches(m)) {
      if (options_.full_trace) Note(absl::StrCat("hold ", Describe(m)));
      held_.push_back(std::move(m));
      return;
    }
  }
  if (random_.Uniform(1000) < static_cast<uint64_t>(options_.drop_per_mille)) return lose("loss");
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
    if (options_.full_trace) {
      std::string what = absl::StrCat("node ", id, " ready:");
      if (ready.hard_state) {
        absl::StrAppend(&what, " promised=", BallotString(ready.hard_state->promised),
                        " ci=", ready.hard_state->commit_index);
      }
      for (const Entry& e : ready.entries) {
        absl::StrAppend(&what, " ", e.index, ":", e.noop ? "_" : e.command, "@",
                        BallotString(e.ballot));
      }
      if (!ready.committed.empty()) {
        absl::StrAppend(&what, " apply ", ready.committed.front().index, "..",
                        ready.committed.back().index);
      }
      Note(std::move(what));
    }
    // Where (if at all) a crash hits this Ready: 0 none, else a CrashPoint.
    int crash_at = 0;
    if (random_.Uniform(1000) < static_cast<uint64_t>(options_.crash_mid_ready_per_mille)) {
      crash_at = 1 + static_cast<int>(random_.Uniform(3));
    }
    if (auto it = armed_crash_.find(id); it != armed_crash_.end()) {
      crash_at = static_cast<int>(it->second);
      armed_crash_.erase(it);
    }
    // Messages that need no persist may leave first.
    for (const Message& m : ready.messages) Deliver(m);
    if (crash_at == 1) {
      Note(absl::StrCat("node ", id, " crashes before persisting"));
      Crash(id);
      return;
    }
    if (ready.hard_state) n.durable_hard = *ready.hard_state;
    for (const Entry& e : ready.entries) n.durable_log[e.index] = e;
    if (crash_at == 2) {
      Note(absl::StrCat("node ", id, " crashes after persisting, before sending"));
      Crash(id);
      return;
    }
    for (const Message& m : ready.messages_after_persist) Deliver(m);
    for (const Entry& e : ready.committed) {
      if (e.index != n.applied_index + 1) continue;  // replayed after restart
      n.applied_index = e.index;
      if (!e.noop) n.applied.push_back(e.command);
      n.state_hash = Mix(n.state_hash, e.noop ? std::string("\0noop", 5) : e.command);
    }
    if (crash_at == 3) {
      Note(absl::StrCat("node ", id, " crashes before Advance"));
      Crash(id);
      return;
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
      if (options_.full_trace) Note(absl::StrCat("deliver ", Describe(m)));
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
  return leader && ProposeAt(*leader, {command}).ok();
}

Status SimCluster::ProposeAt(NodeId id, const std::vector<std::string>& commands) {
  Node& n = nodes_.at(id);
  if (!n.replica) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is down"));
  Status status;
  for (const std::string& command : commands) {
    Result<uint64_t> slot = n.replica->Propose(command);
    if (!slot.ok()) {
      status = slot.status();
      break;
    }
    Note(absl::StrCat("propose ", command, " at ", id, " slot ", *slot));
  }
  ProcessReady(id);
  return status;
}

Status SimCluster::Transfer(NodeId from, NodeId to) {
  Node& n = nodes_.at(from);
  if (!n.replica) return absl::FailedPreconditionError(absl::StrCat("node ", from, " is down"));
  MERIDIAN_RETURN_IF_ERROR(n.replica->TransferLeadership(to));
  Note(absl::StrCat("transfer ", from, " -> ", to));
  ProcessReady(from);
  return absl::OkStatus();
}

void SimCluster::Crash(NodeId id) {
  if (!nodes_[id].replica) return;
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

void SimCluster::Partition(std::set<NodeId> side) { PartitionGroups({std::move(side)}); }

void SimCluster::PartitionGroups(const std::vector<std::set<NodeId>>& groups) {
  std::string what = "partition";
  group_.clear();
  for (size_t g = 0; g < groups.size(); ++g) {
    absl::StrAppend(&what, g ? " |" : "");
    for (NodeId id : groups[g]) {
      group_[id] = static_cast<int>(g) + 1;
      absl::StrAppend(&what, " ", id);
    }
  }
  Note(std::move(what));
}

void SimCluster::Heal() {
  Note("heal");
  group_.clear();
}

void SimCluster::Drop(const MessageFilter& filter) {
  Note("drop rule");
  drop_rules_.push_back(filter);
}

void SimCluster::Hold(const MessageFilter& filter) {
  Note("hold rule");
  hold_rules_.push_back(filter);
}

size_t SimCluster::Release(const MessageFilter& filter) {
  std::vector<Message> out;
  auto keep = std::stable_partition(held_.begin(), held_.end(),
                                    [&](const Message& m) { return !filter.Matches(m); });
  out.assign(std::make_move_iterator(keep), std::make_move_iterator(held_.end()));
  held_.erase(keep, held_.end());
  Note(absl::StrCat("release ", out.size(), " held messages"));
  // Released messages are not held again by the rule that caught them.
  std::vector<MessageFilter> rules = std::move(hold_rules_);
  hold_rules_.clear();
  for (Message& m : out) Deliver(std::move(m));
  hold_rules_ = std::move(rules);
  return out.size();
}

size_t SimCluster::Discard(const MessageFilter& filter) {
  auto keep = std::stable_partition(held_.begin(), held_.end(),
                                    [&](const Message& m) { return !filter.Matches(m); });
  const size_t n = static_cast<size_t>(held_.end() - keep);
  held_.erase(keep, held_.end());
  Note(absl::StrCat("discard ", n, " held messages"));
  return n;
}

void SimCluster::ClearRules() {
  Note("clear rules");
  drop_rules_.clear();
  hold_rules_.clear();
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

std::vector<NodeId> SimCluster::Leaders() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) {
    if (n.replica && n.replica->is_leader()) out.push_back(id);
  }
  return out;
}

uint64_t SimCluster::CommitIndex(NodeId id) const {
  const Node& n = nodes_.at(id);
  return n.replica ? n.replica->commit_index() : n.durable_hard.commit_index;
}

uint64_t SimCluster::AppliedIndex(NodeId id) const { return nodes_.at(id).applied_index; }

Status SimCluster::CheckInvariants() {
  auto fail = [&](std::string what) {
    Note(absl::StrCat("INVARIANT VIOLATED: ", what));
    return absl::InternalError(what + "\n" + Trace());
  };
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
      if (inserted) Note(absl::StrCat("node ", id, " leads ballot ", BallotString(r.ballot())));
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
                                 it->second.noop ? "(no-op)" : it->second.command, "' became '",
                                 e->noop ? "(no-op)" : e->command, "'"));
      }
    }
    checked = r.commit_index();
    auto [it, inserted] = state_at_.emplace(n.applied_index, n.state_hash);
    if (!inserted && it->second != n.state_hash) {
      return fail(
          absl::StrCat("node ", id, " has a different state at applied index ", n.applied_index));
    }
  }
  return absl::OkStatus();
}

}  // namespace meridian::sim
