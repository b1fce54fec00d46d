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
  for (int i = 1; i <= options.nodes + options.spares; ++i) ids_.push_back(static_cast<NodeId>(i));
  initial_.assign(ids_.begin(), ids_.begin() + options.nodes);
  for (NodeId id : ids_) {
    Node& n = nodes_[id];
    n.random = std::make_unique<Random>(options.seed * 1000 + id);
    n.bootstrap = id <= static_cast<NodeId>(options.nodes);
    if (n.bootstrap) StartReplica(id);
  }
}

// A replica from the node's durable state: the state machine image, and
// the log after the durable trim point.
void SimCluster::StartReplica(NodeId id) {
  Node& n = nodes_[id];
  consensus::Replica::Options o = ReplicaOptions(id, n.bootstrap ? initial_ : std::vector<NodeId>{});
  o.config = n.durable_sm.config;
  o.config_index = n.durable_sm.config_index;
  std::vector<Entry> entries;
  for (const auto& [i, e] : n.durable_log) {
    if (i > n.durable_trim) entries.push_back(e);
  }
  n.sm = n.durable_sm;
  n.replica = std::make_unique<consensus::Replica>(o, n.random.get(), n.durable_hard, entries,
                                                   n.durable_sm.index);
  n.started = true;
  n.born = now_;
  if (options_.compact_max > 0) {
    n.compact_at = options_.compact_min +
                   random_.Uniform(options_.compact_max - options_.compact_min + 1);
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

void SimCluster::Apply(Node& n, NodeId id, const Entry& e) {
  if (e.index <= n.sm.index) return;  // replayed
  if (e.index != n.sm.index + 1 && violation_.empty()) {
    violation_ = absl::StrCat("node ", id, " applied slot ", e.index, " after ", n.sm.index);
  }
  n.sm.index = e.index;
  if (e.config) {
    consensus::Membership m;
    if (consensus::DecodeMembership(e.command, &m)) {
      n.sm.config = std::move(m);
      n.sm.config_index = e.index;
      ++stats_.configs_committed;
    }
    n.sm.hash = Mix(n.sm.hash, "\0config" + e.command);
  } else if (e.noop) {
    n.sm.hash = Mix(n.sm.hash, std::string("\0noop", 5));
  } else {
    n.sm.applied.push_back(e.command);
    n.sm.hash = Mix(n.sm.hash, e.command);
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
      if (ready.compacted_through) absl::StrAppend(&what, " trim<=", ready.compacted_through);
      for (const Entry& e : ready.entries) {
        absl::StrAppend(&what, " ", e.index, ":", e.noop ? "_" : e.config ? "config" : e.command,
                        "@", BallotString(e.ballot));
      }
      if (!ready.committed.empty()) {
        absl::StrAppend(&what, " apply ", ready.committed.front().index, "..",
                        ready.committed.back().index);
      }
      for (const consensus::SnapshotRequest& r : ready.snapshots) {
        absl::StrAppend(&what, " snapshot-for ", r.to, ">=", r.min_index);
      }
      for (const consensus::ReadState& r : ready.reads) {
        absl::StrAppend(&what, " read ", r.id, r.ok ? absl::StrCat("@", r.index) : " failed");
      }
      Note(std::move(what));
    }
    // Where (if at all) a crash hits this Ready: 0 none, else a CrashPoint.
    int crash_at = 0;
    bool restart = false;
    if (random_.Uniform(1000) < static_cast<uint64_t>(options_.crash_mid_ready_per_mille)) {
      crash_at = 1 + static_cast<int>(random_.Uniform(3));
    }
    if (auto it = armed_crash_.find(id); it != armed_crash_.end()) {
      crash_at = static_cast<int>(it->second);
      armed_crash_.erase(it);
    }
    const bool raises_promise =
        ready.hard_state && ready.hard_state->promised > n.durable_hard.promised;
    if (raises_promise) {
      if (auto it = armed_promise_crash_.find(id); it != armed_promise_crash_.end()) {
        crash_at = 1;
        restart = it->second;
        armed_promise_crash_.erase(it);
      } else if (random_.Uniform(1000) <
                 static_cast<uint64_t>(options_.crash_on_promise_per_mille)) {
        crash_at = 1;
        restart = true;
      }
      if (crash_at == 1 && restart) ++stats_.promise_crashes;
    }
    // Messages that need no persist may leave first.
    for (const Message& m : ready.messages) Deliver(m);
    if (crash_at == 1) {
      Note(absl::StrCat("node ", id, " crashes before persisting"));
      Crash(id);
      if (restart) Restart(id);
      return;
    }
    if (ready.hard_state) n.durable_hard = *ready.hard_state;
    for (const Entry& e : ready.entries) n.durable_log[e.index] = e;
    if (ready.compacted_through > n.durable_trim) {
      n.durable_trim = ready.compacted_through;
      n.durable_log.erase(n.durable_log.begin(), n.durable_log.upper_bound(n.durable_trim));
    }
    if (crash_at == 2) {
      Note(absl::StrCat("node ", id, " crashes after persisting, before sending"));
      Crash(id);
      return;
    }
    for (const Message& m : ready.messages_after_persist) Deliver(m);
    for (const Entry& e : ready.committed) Apply(n, id, e);
    // Snapshots leave from the state machine as it is now (at least what
    // was asked for, since the log was compacted only below the applied
    // index), and arrive after a random delay, or never.
    for (const consensus::SnapshotRequest& r : ready.snapshots) {
      ++stats_.snapshots_sent;
      if (n.sm.index < r.min_index && violation_.empty()) {
        violation_ = absl::StrCat("node ", id, " asked for a snapshot at >= ", r.min_index,
                                  " but applied only ", n.sm.index);
      }
      if (Cut(id, r.to) ||
          random_.Uniform(1000) < static_cast<uint64_t>(options_.drop_per_mille)) {
        ++stats_.snapshots_lost;
        Note(absl::StrCat("snapshot ", id, "->", r.to, " at ", n.sm.index, " lost"));
        continue;
      }
      const uint64_t at = now_ + 1 + random_.Uniform(2 * options_.max_delay_ticks);
      snapshots_.push_back({at, id, r.to, n.sm});
      Note(absl::StrCat("snapshot ", id, "->", r.to, " at ", n.sm.index, " due t=", at));
    }
    // Read-index results: an ok read is served once its index is applied;
    // that index must cover every commit known anywhere at the call.
    for (const consensus::ReadState& r : ready.reads) {
      auto it = reads_.find(r.id);
      if (it == reads_.end()) {
        if (violation_.empty()) violation_ = absl::StrCat("node ", id, " answered unknown read ", r.id);
        continue;
      }
      if (!r.ok) {
        ++stats_.reads_failed;
      } else {
        ++stats_.reads_ok;
        if (r.index < it->second.required && violation_.empty()) {
          violation_ = absl::StrCat("node ", id, " answered read ", r.id, " at index ", r.index,
                                    ", but slot ", it->second.required,
                                    " was known committed before the read was asked");
        }
        if (n.sm.index >= r.index) ++stats_.reads_served;
      }
      reads_.erase(it);
    }
    if (crash_at == 3) {
      Note(absl::StrCat("node ", id, " crashes before Advance"));
      Crash(id);
      return;
    }
    n.replica->Advance(ready);
  }
}

void SimCluster::MaybeCompact(NodeId id) {
  Node& n = nodes_[id];
  if (options_.compact_max <= 0 || !n.replica) return;
  const consensus::Replica& r = *n.replica;
  if (n.sm.index < r.compacted_through() + n.compact_at) return;
  uint64_t through = n.sm.index;
  if (r.is_leader() && random_.OneIn(2)) through = std::min(through, r.LowestPeerCommit());
  n.compact_at =
      options_.compact_min + random_.Uniform(options_.compact_max - options_.compact_min + 1);
  if (through <= r.compacted_through()) return;
  Compact(id, through);
}

void SimCluster::Compact(NodeId id) {
  Node& n = nodes_.at(id);
  if (n.replica) Compact(id, n.sm.index);
}

void SimCluster::Compact(NodeId id, uint64_t through) {
  Node& n = nodes_[id];
  // The state machine is made durable first: a restart resumes from it.
  n.durable_sm = n.sm;
  n.replica->Compact(through);
  ++stats_.compactions;
  Note(absl::StrCat("node ", id, " compacts through ", through));
  ProcessReady(id);
}

void SimCluster::InstallSnapshot(const SnapshotInFlight& s) {
  Node& n = nodes_[s.to];
  if (!n.replica || s.sm.index <= n.sm.index || Cut(s.from, s.to)) return;
  Note(absl::StrCat("node ", s.to, " installs a snapshot from ", s.from, " at ", s.sm.index));
  n.sm = s.sm;
  n.durable_sm = s.sm;  // installing writes the state machine durably
  ++n.installed;
  ++stats_.snapshots_installed;
  n.replica->InstallSnapshot(s.sm.index, s.sm.config, s.sm.config_index);
  ProcessReady(s.to);
}

Status SimCluster::Run(int ticks) {
  for (int t = 0; t < ticks; ++t) {
    ++now_;
    for (size_t i = 0; i < snapshots_.size();) {
      if (snapshots_[i].at > now_) {
        ++i;
        continue;
      }
      SnapshotInFlight snap = std::move(snapshots_[i]);
      snapshots_.erase(snapshots_.begin() + static_cast<ptrdiff_t>(i));
      InstallSnapshot(snap);
      MERIDIAN_RETURN_IF_ERROR(CheckInvariants());
    }
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
      MaybeCompact(id);
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
  if (n.replica || !n.started) return;
  Note(absl::StrCat("restart ", id, " (state machine at ", n.durable_sm.index, ")"));
  StartReplica(id);
  ProcessReady(id);
}

Status SimCluster::Join(NodeId id) {
  Node& n = nodes_.at(id);
  if (n.started) return absl::FailedPreconditionError(absl::StrCat("node ", id, " already ran"));
  n.bootstrap = false;
  Note(absl::StrCat("node ", id, " joins"));
  StartReplica(id);
  ProcessReady(id);
  return absl::OkStatus();
}

Status SimCluster::ChangeConfig(const char* what, NodeId id,
                                void (*change)(consensus::Membership&, NodeId)) {
  auto leader = Leader();
  if (!leader) return absl::UnavailableError("no leader");
  Node& n = nodes_[*leader];
  consensus::Membership next = n.replica->config();
  change(next, id);
  Result<uint64_t> slot = n.replica->ProposeConfig(next);
  if (!slot.ok()) return slot.status();
  Note(absl::StrCat(what, " ", id, " at ", *leader, " slot ", *slot));
  ProcessReady(*leader);
  return absl::OkStatus();
}

Status SimCluster::AddLearner(NodeId id) {
  if (!nodes_.at(id).started) MERIDIAN_RETURN_IF_ERROR(Join(id));
  return ChangeConfig("add learner", id, [](consensus::Membership& m, NodeId id) {
    m.voters.erase(id);
    m.learners[id] = "";
  });
}

Status SimCluster::Promote(NodeId id) {
  return ChangeConfig("promote", id, [](consensus::Membership& m, NodeId id) {
    m.learners.erase(id);
    m.voters[id] = "";
  });
}

Status SimCluster::Remove(NodeId id) {
  return ChangeConfig("remove", id, [](consensus::Membership& m, NodeId id) {
    m.learners.erase(id);
    m.voters.erase(id);
  });
}

uint64_t SimCluster::KnownCommit() {
  for (const auto& [id, n] : nodes_) {
    if (n.replica) known_commit_ = std::max(known_commit_, n.replica->commit_index());
  }
  return known_commit_;
}

Status SimCluster::Read(NodeId id) {
  Node& n = nodes_.at(id);
  if (!n.replica) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is down"));
  const uint64_t read = next_read_++;
  MERIDIAN_RETURN_IF_ERROR(n.replica->ReadIndex(read));
  reads_[read] = {id, KnownCommit()};
  Note(absl::StrCat("read ", read, " at ", id, " must see ", reads_[read].required));
  ProcessReady(id);
  return absl::OkStatus();
}

consensus::Membership SimCluster::Config(NodeId id) const {
  const Node& n = nodes_.at(id);
  if (n.replica) return n.replica->config();
  if (!n.durable_sm.config.voters.empty() || !n.bootstrap) return n.durable_sm.config;
  consensus::Membership m;
  for (NodeId v : initial_) m.voters[v] = "";
  return m;
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

uint64_t SimCluster::AppliedIndex(NodeId id) const { return nodes_.at(id).sm.index; }

Status SimCluster::CheckInvariants() {
  auto fail = [&](std::string what) {
    Note(absl::StrCat("INVARIANT VIOLATED: ", what));
    return absl::InternalError(what + "\n" + Trace());
  };
  if (!violation_.empty()) return fail(violation_);
  for (auto& [id, n] : nodes_) {
    if (!n.replica) continue;
    const consensus::Replica& r = *n.replica;
    if (r.is_leader()) {
      if (r.ballot().leader != id) {
        return fail(absl::StrCat("node ", id, " leads in a ballot naming ", r.ballot().leader));
      }
      // While a config change is pending a leader may be a voter of only
      // one side of it, or of neither (its merge adopted a chosen change
      // that removed it, or replaced the one that promoted it). Once none
      // is pending and its first entry is applied, it must be a voter.
      if (!r.config_pending() && AppliedIndex(id) >= r.leader_start_index() &&
          !r.config().IsVoter(id)) {
        return fail(absl::StrCat("node ", id, " leads but is no voter of its config"));
      }
      auto [it, inserted] = leaders_.emplace(r.ballot(), id);
      if (!inserted && it->second != id) {
        return fail(absl::StrCat("two leaders in one ballot: ", it->second, " and ", id));
      }
      if (inserted) Note(absl::StrCat("node ", id, " leads ballot ", BallotString(r.ballot())));
      if (r.commit_index() >= r.leader_start_index() && r.ballot() > committed_ballot_) {
        committed_ballot_ = r.ballot();
        committed_ballot_at_ = now_;
      }
    }
    if (n.sm.index > r.commit_index()) {
      return fail(
          absl::StrCat("node ", id, " applied ", n.sm.index, " > committed ", r.commit_index()));
    }
    known_commit_ = std::max(known_commit_, r.commit_index());
    // Each event checks the newly committed slots; every 64th re-checks
    // whole prefixes (what the node still holds), so a committed entry that
    // changes later is caught too.
    uint64_t& checked = checked_[id];
    if (++checks_ % 64 == 0 || checked > r.commit_index()) checked = 0;
    checked = std::max(checked, r.compacted_through());
    for (uint64_t i = checked + 1; i <= r.commit_index(); ++i) {
      const Entry* e = r.EntryAt(i);
      if (e == nullptr) return fail(absl::StrCat("node ", id, " committed a missing slot ", i));
      auto [it, inserted] = chosen_.emplace(i, *e);
      if (!inserted && (it->second.command != e->command || it->second.noop != e->noop ||
                        it->second.config != e->config)) {
        return fail(absl::StrCat("slot ", i, " changed its chosen value on node ", id, ": '",
                                 it->second.noop ? "(no-op)" : it->second.command, "' became '",
                                 e->noop ? "(no-op)" : e->command, "'"));
      }
    }
    checked = r.commit_index();
    auto [it, inserted] = state_at_.emplace(n.sm.index, n.sm.hash);
    if (!inserted && it->second != n.sm.hash) {
      return fail(absl::StrCat("node ", id, " has a different state at applied index ", n.sm.index));
    }
  }
  // Leases, after every leader has been looked at: a lease holder's ballot
  // must be the highest that committed anything.
  for (auto& [id, n] : nodes_) {
    if (!n.replica || !n.replica->HasLease()) continue;
    ++stats_.leases_checked;
    if (committed_ballot_ > n.replica->ballot()) {
      return fail(absl::StrCat(
          "node ", id, " holds a lease in ballot ", BallotString(n.replica->ballot()),
          " until t=", n.born + n.replica->lease_expiry_tick(), ", but ballot ",
          BallotString(committed_ballot_), " committed at t=", committed_ballot_at_));
    }
  }
  return absl::OkStatus();
}

}  // namespace meridian::sim
