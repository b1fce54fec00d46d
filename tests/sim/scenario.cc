#include "tests/sim/scenario.h"

#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace meridian::sim {

using consensus::NodeId;

namespace {

Status Bad(const std::string& what) { return absl::InvalidArgumentError(what); }

Result<uint64_t> Number(const std::string& word) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
  if (ec != std::errc() || end != word.data() + word.size()) {
    return Bad(absl::StrCat("expected a number, got '", word, "'"));
  }
  return v;
}

// "a,b,c" -> {a, b, c}; "-" -> {}.
std::vector<std::string> List(const std::string& word) {
  if (word == "-") return {};
  return absl::StrSplit(word, ',', absl::SkipEmpty());
}

std::string Show(const std::vector<std::string>& list) {
  return list.empty() ? "-" : absl::StrJoin(list, ",");
}

// The words of [begin, end) as node ids: "1 2", "1,2" or "*" (every node,
// returned as the empty set).
Result<std::set<NodeId>> Nodes(const std::vector<std::string>& words, size_t begin, size_t end,
                               int nodes) {
  std::set<NodeId> out;
  for (size_t i = begin; i < end; ++i) {
    if (words[i] == "*") return std::set<NodeId>{};
    for (const std::string& part : List(words[i])) {
      Result<uint64_t> id = Number(part);
      if (!id.ok()) return id.status();
      if (*id < 1 || *id > static_cast<uint64_t>(nodes)) {
        return Bad(absl::StrCat("no node ", *id, " (nodes are 1..", nodes, ")"));
      }
      out.insert(static_cast<NodeId>(*id));
    }
  }
  if (out.empty()) return Bad("expected node ids");
  return out;
}

// One node id at words[i].
Result<NodeId> OneNode(const std::vector<std::string>& words, size_t i, int nodes) {
  if (i >= words.size()) return Bad("expected a node id");
  Result<std::set<NodeId>> ids = Nodes(words, i, i + 1, nodes);
  if (!ids.ok()) return ids.status();
  if (ids->size() != 1) return Bad(absl::StrCat("expected one node id, got '", words[i], "'"));
  return *ids->begin();
}

// [TYPES] [from NODES] [to NODES], starting at words[begin].
Result<MessageFilter> Spec(const std::vector<std::string>& words, size_t begin, int nodes) {
  MessageFilter f;
  size_t from = words.size(), to = words.size();
  for (size_t i = begin; i < words.size(); ++i) {
    if (words[i] == "from") from = i;
    if (words[i] == "to") to = i;
  }
  const size_t types_end = std::min(from, to);
  for (size_t i = begin; i < types_end; ++i) {
    for (const std::string& name : List(words[i])) {
      if (name == "any" || name == "*") continue;
      auto type = ParseMessageType(name);
      if (!type) return Bad(absl::StrCat("unknown message type '", name, "'"));
      f.types.insert(*type);
    }
  }
  if (from < words.size()) {
    Result<std::set<NodeId>> ids = Nodes(words, from + 1, to > from ? to : words.size(), nodes);
    if (!ids.ok()) return ids.status();
    f.from = *ids;
  }
  if (to < words.size()) {
    Result<std::set<NodeId>> ids = Nodes(words, to + 1, from > to ? from : words.size(), nodes);
    if (!ids.ok()) return ids.status();
    f.to = *ids;
  }
  return f;
}

}  // namespace

Scenario::Scenario(std::string name, std::string text)
    : name_(std::move(name)), text_(std::move(text)) {}

Status Scenario::RunFile(const std::string& path, bool full_trace) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return Scenario(path, text.str()).Run(full_trace);
}

Status Scenario::Run(bool full_trace) {
  options_ = SimOptions{.max_delay_ticks = 1};
  options_.full_trace = full_trace;
  cluster_.reset();
  std::istringstream in(text_);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    if (cluster_) cluster_->Note(absl::StrCat(name_, ":", number, ": ", absl::StrJoin(words, " ")));
    Status s = Execute(words);
    if (!s.ok()) {
      std::string out = absl::StrCat(name_, ":", number, ": ", s.message());
      if (cluster_ && absl::IsFailedPrecondition(s)) absl::StrAppend(&out, "\n", cluster_->Trace());
      return absl::Status(s.code(), out);
    }
  }
  if (!cluster_) return Bad(absl::StrCat(name_, ": the scenario has no events"));
  return absl::OkStatus();
}

Status Scenario::Setup(const std::vector<std::string>& words) {
  if (words.size() != 2) return Bad(absl::StrCat("usage: ", words[0], " N"));
  Result<uint64_t> v = Number(words[1]);
  if (!v.ok()) return v.status();
  if (words[0] == "delay") {
    if (*v < 1) return Bad("delay must be >= 1");
    options_.max_delay_ticks = static_cast<int>(*v);
    if (cluster_) cluster_->set_max_delay_ticks(options_.max_delay_ticks);
    return absl::OkStatus();
  }
  if (cluster_) return Bad(absl::StrCat("'", words[0], "' must come before the first event"));
  if (words[0] == "nodes") {
    if (*v < 1 || *v > 9) return Bad("nodes must be 1..9");
    options_.nodes = static_cast<int>(*v);
  } else if (words[0] == "seed") {
    options_.seed = *v;
  } else if (words[0] == "spares") {
    if (*v > 4) return Bad("spares must be 0..4");
    options_.spares = static_cast<int>(*v);
  } else if (words[0] == "loss") {
    options_.drop_per_mille = static_cast<int>(*v);
  } else {
    options_.dup_per_mille = static_cast<int>(*v);
  }
  return absl::OkStatus();
}

Status Scenario::Cluster() {
  if (!cluster_) cluster_ = std::make_unique<SimCluster>(options_);
  return absl::OkStatus();
}

Status Scenario::Execute(const std::vector<std::string>& words) {
  const std::string& op = words[0];
  const int n = options_.nodes + options_.spares;
  if (op == "nodes" || op == "seed" || op == "delay" || op == "loss" || op == "dup" ||
      op == "spares") {
    return Setup(words);
  }
  MERIDIAN_RETURN_IF_ERROR(Cluster());
  SimCluster& c = *cluster_;
  // Invariant violations come back as Internal, with the trace.
  auto checked = [&]() { return c.CheckInvariants(); };

  if (op == "run") {
    if (words.size() != 2) return Bad("usage: run TICKS");
    Result<uint64_t> ticks = Number(words[1]);
    if (!ticks.ok()) return ticks.status();
    return c.Run(static_cast<int>(*ticks));
  }
  if (op == "propose" || op == "propose-at") {
    const bool at = op == "propose-at";
    NodeId id;
    if (at) {
      Result<NodeId> r = OneNode(words, 1, n);
      if (!r.ok()) return r.status();
      id = *r;
    } else {
      auto leader = c.Leader();
      if (!leader) return absl::FailedPreconditionError("propose: there is no leader");
      id = *leader;
    }
    std::vector<std::string> commands(words.begin() + (at ? 2 : 1), words.end());
    if (commands.empty()) return Bad(absl::StrCat("usage: ", op, at ? " N" : "", " CMD..."));
    Status s = c.ProposeAt(id, commands);
    if (!s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("node ", id, " refused the proposal: ", s.message()));
    }
    return checked();
  }
  if (op == "transfer") {
    Result<NodeId> to = OneNode(words, 1, n);
    if (!to.ok()) return to.status();
    auto leader = c.Leader();
    if (!leader) return absl::FailedPreconditionError("transfer: there is no leader");
    if (*leader == *to) return checked();
    Status s = c.Transfer(*leader, *to);
    if (!s.ok()) return absl::FailedPreconditionError(absl::StrCat("transfer: ", s.message()));
    return checked();
  }
  if (op == "crash" || op == "restart") {
    Result<std::set<NodeId>> ids = Nodes(words, 1, words.size(), n);
    if (!ids.ok()) return ids.status();
    std::set<NodeId> all = ids->empty() ? std::set<NodeId>(c.ids().begin(), c.ids().end()) : *ids;
    for (NodeId id : all) {
      if (op == "crash") {
        c.Crash(id);
      } else {
        c.Restart(id);
      }
      MERIDIAN_RETURN_IF_ERROR(checked());
    }
    return absl::OkStatus();
  }
  if (op == "join" || op == "add-learner" || op == "promote" || op == "remove" || op == "read") {
    Result<NodeId> id = OneNode(words, 1, n);
    if (!id.ok() || words.size() != 2) return Bad(absl::StrCat("usage: ", op, " N"));
    Status s = op == "join"          ? c.Join(*id)
               : op == "add-learner" ? c.AddLearner(*id)
               : op == "promote"     ? c.Promote(*id)
               : op == "remove"      ? c.Remove(*id)
                                     : c.Read(*id);
    if (!s.ok()) return absl::FailedPreconditionError(absl::StrCat(op, " ", *id, ": ", s.message()));
    return checked();
  }
  if (op == "compact") {
    Result<std::set<NodeId>> ids = Nodes(words, 1, words.size(), n);
    if (!ids.ok()) return ids.status();
    for (NodeId id : c.ids()) {
      if ((ids->empty() && c.Alive(id)) || ids->count(id)) c.Compact(id);
      MERIDIAN_RETURN_IF_ERROR(checked());
    }
    return absl::OkStatus();
  }
  if (op == "crash-in-ready") {
    static const std::map<std::string, SimCluster::CrashPoint> kPoints = {
        {"before-persist", SimCluster::CrashPoint::kBeforePersist},
        {"before-send", SimCluster::CrashPoint::kBeforeSend},
        {"before-advance", SimCluster::CrashPoint::kBeforeAdvance}};
    Result<NodeId> id = OneNode(words, 1, n);
    auto point = words.size() == 3 ? kPoints.find(words[2]) : kPoints.end();
    if (!id.ok() || point == kPoints.end()) {
      return Bad("usage: crash-in-ready N before-persist|before-send|before-advance");
    }
    c.CrashInNextReady(*id, point->second);
    return absl::OkStatus();
  }
  if (op == "partition") {
    std::vector<std::set<NodeId>> groups;
    size_t begin = 1;
    for (size_t i = 1; i <= words.size(); ++i) {
      if (i == words.size() || words[i] == "|") {
        Result<std::set<NodeId>> ids = Nodes(words, begin, i, n);
        if (!ids.ok() || ids->empty()) return Bad("usage: partition 1 2 | 3 4 5");
        groups.push_back(*ids);
        begin = i + 1;
      }
    }
    c.PartitionGroups(groups);
    return absl::OkStatus();
  }
  if (op == "heal" || op == "clear") {
    if (words.size() != 1) return Bad(absl::StrCat("usage: ", op));
    if (op == "heal") {
      c.Heal();
    } else {
      c.ClearRules();
    }
    return absl::OkStatus();
  }
  if (op == "drop" || op == "hold" || op == "release" || op == "discard") {
    Result<MessageFilter> f = Spec(words, 1, n);
    if (!f.ok()) return f.status();
    if (op == "drop") {
      c.Drop(*f);
    } else if (op == "hold") {
      c.Hold(*f);
    } else if (op == "release") {
      c.Release(*f);
    } else {
      c.Discard(*f);
    }
    return checked();
  }
  if (op == "expect" || op == "await") {
    size_t end = words.size();
    uint64_t within = 0;
    if (op == "await") {
      if (words.size() < 4 || words[words.size() - 2] != "within") {
        return Bad("usage: await CONDITION within TICKS");
      }
      Result<uint64_t> t = Number(words.back());
      if (!t.ok()) return t.status();
      within = *t;
      end -= 2;
    }
    std::vector<std::string> cond(words.begin() + 1, words.begin() + end);
    if (cond.empty()) return Bad(absl::StrCat("usage: ", op, " CONDITION"));
    for (uint64_t waited = 0;; ++waited) {
      bool holds = false;
      std::string actual;
      MERIDIAN_RETURN_IF_ERROR(Check(cond, 0, &holds, &actual));
      if (holds) return absl::OkStatus();
      if (waited == within) {
        return absl::FailedPreconditionError(absl::StrCat(
            "expected ", absl::StrJoin(cond, " "),
            op == "await" ? absl::StrCat(" within ", within, " ticks") : "", "; actual: ", actual));
      }
      MERIDIAN_RETURN_IF_ERROR(c.Run(1));
    }
  }
  return Bad(absl::StrCat("unknown command '", op, "'"));
}

// Evaluates the condition in words[first..]: sets *holds, and *actual to
// what was found (for the failure message). Errors only for a bad condition.
Status Scenario::Check(const std::vector<std::string>& words, size_t first, bool* holds,
                       std::string* actual) {
  SimCluster& c = *cluster_;
  const int n = options_.nodes + options_.spares;
  const std::string& what = words[first];
  const size_t args = words.size() - first - 1;
  auto leader_name = [&]() {
    auto l = c.Leader();
    return l ? absl::StrCat("leader ", *l) : std::string("no leader");
  };
  auto usage = [&](const char* u) { return Bad(absl::StrCat("usage: expect ", u)); };

  if (what == "leader" || what == "leader-not" || what == "leader-in") {
    if (args < 1) return usage("leader N|none, leader-not N, leader-in N...");
    *actual = leader_name();
    auto l = c.Leader();
    if (what == "leader" && words[first + 1] == "none") {
      *holds = !l.has_value();
      return absl::OkStatus();
    }
    Result<std::set<NodeId>> ids = Nodes(words, first + 1, words.size(), n);
    if (!ids.ok()) return ids.status();
    if (what != "leader-in" && ids->size() != 1) return usage("leader N");
    const bool in = l && (ids->empty() || ids->count(*l));
    *holds = what == "leader-not" ? !in : in;
    return absl::OkStatus();
  }
  if (what == "leaders") {
    // Exactly these nodes think they lead (stale leaders included).
    if (args < 1) return usage("leaders N...|none");
    std::vector<NodeId> leaders = c.Leaders();
    *actual = leaders.empty() ? "none" : absl::StrJoin(leaders, " ");
    if (words[first + 1] == "none") {
      *holds = leaders.empty();
      return absl::OkStatus();
    }
    Result<std::set<NodeId>> ids = Nodes(words, first + 1, words.size(), n);
    if (!ids.ok()) return ids.status();
    *holds = std::set<NodeId>(leaders.begin(), leaders.end()) == *ids;
    return absl::OkStatus();
  }
  if (what == "applied" || what == "log") {
    if (args != 2) return usage(what == "log" ? "log N LIST" : "applied N|* LIST");
    Result<std::set<NodeId>> ids = Nodes(words, first + 1, first + 2, n);
    if (!ids.ok()) return ids.status();
    const std::vector<std::string> want = List(words[first + 2]);
    *holds = true;
    for (NodeId id : c.ids()) {
      if (ids->empty() ? !c.Alive(id) : !ids->count(id)) continue;
      std::vector<std::string> got;
      if (what == "applied") {
        got = c.Applied(id);
      } else {
        const consensus::Replica* r = c.replica(id);
        if (r == nullptr)
          return absl::FailedPreconditionError(absl::StrCat("node ", id, " is down"));
        // The log up to its last entry: _ is a no-op, ? a slot the node
        // holds nothing for (or compacted away), config a config entry.
        uint64_t last = 0;
        for (uint64_t i = 1; i <= last + 64; ++i) {
          if (r->EntryAt(i)) last = i;
        }
        for (uint64_t i = 1; i <= last; ++i) {
          const consensus::Entry* e = r->EntryAt(i);
          got.push_back(e == nullptr ? "?" : e->noop ? "_" : e->config ? "config" : e->command);
        }
      }
      absl::StrAppend(actual, actual->empty() ? "" : "; ", "node ", id, ": ", Show(got));
      if (got != want) *holds = false;
    }
    return absl::OkStatus();
  }
  if (what == "voters" || what == "learners") {
    if (args != 2) return usage("voters|learners N|* LIST");
    Result<std::set<NodeId>> ids = Nodes(words, first + 1, first + 2, n);
    if (!ids.ok()) return ids.status();
    const std::vector<std::string> want = List(words[first + 2]);
    *holds = true;
    for (NodeId id : c.ids()) {
      if (ids->empty() ? !c.Alive(id) : !ids->count(id)) continue;
      const consensus::Membership m = c.Config(id);
      std::vector<std::string> got;
      for (const auto& [member, address] : what == "voters" ? m.voters : m.learners) {
        got.push_back(absl::StrCat(member));
      }
      absl::StrAppend(actual, actual->empty() ? "" : "; ", "node ", id, ": ", Show(got));
      if (got != want) *holds = false;
    }
    return absl::OkStatus();
  }
  if (what == "compacted-at-least" || what == "installed") {
    if (args != 2) return usage("compacted-at-least|installed N|* K");
    Result<std::set<NodeId>> ids = Nodes(words, first + 1, first + 2, n);
    if (!ids.ok()) return ids.status();
    Result<uint64_t> k = Number(words[first + 2]);
    if (!k.ok()) return k.status();
    *holds = true;
    for (NodeId id : c.ids()) {
      if (ids->empty() ? !c.Alive(id) : !ids->count(id)) continue;
      const consensus::Replica* r = c.replica(id);
      if (r == nullptr) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is down"));
      const uint64_t got = what == "installed" ? c.SnapshotsInstalled(id) : r->compacted_through();
      absl::StrAppend(actual, actual->empty() ? "" : "; ", "node ", id, " ", what, " ", got);
      if (what == "installed" ? got != *k : got < *k) *holds = false;
    }
    return absl::OkStatus();
  }
  if (what == "committed" || what == "committed-at-least") {
    if (args != 2) return usage("committed[-at-least] N|* INDEX");
    Result<std::set<NodeId>> ids = Nodes(words, first + 1, first + 2, n);
    if (!ids.ok()) return ids.status();
    Result<uint64_t> index = Number(words[first + 2]);
    if (!index.ok()) return index.status();
    *holds = true;
    for (NodeId id : c.ids()) {
      if (ids->empty() ? !c.Alive(id) : !ids->count(id)) continue;
      const uint64_t ci = c.CommitIndex(id);
      absl::StrAppend(actual, actual->empty() ? "" : "; ", "node ", id, " committed ", ci);
      if (what == "committed" ? ci != *index : ci < *index) *holds = false;
    }
    return absl::OkStatus();
  }
  if (what == "chosen") {
    if (args != 1) return usage("chosen LIST");
    std::vector<std::string> got;
    for (const auto& [i, e] : c.chosen()) {
      if (!e.noop) got.push_back(e.command);
    }
    *actual = Show(got);
    *holds = got == List(words[first + 1]);
    return absl::OkStatus();
  }
  if (what == "not-chosen" || what == "not-applied") {
    if (args < 1) return usage("not-chosen|not-applied CMD...");
    *holds = true;
    for (size_t i = first + 1; i < words.size(); ++i) {
      const std::string& cmd = words[i];
      if (what == "not-chosen") {
        for (const auto& [slot, e] : c.chosen()) {
          if (!e.noop && e.command == cmd) {
            *holds = false;
            absl::StrAppend(actual, cmd, " chosen at slot ", slot, "; ");
          }
        }
      } else {
        for (NodeId id : c.ids()) {
          for (const std::string& a : c.Applied(id)) {
            if (a == cmd) {
              *holds = false;
              absl::StrAppend(actual, cmd, " applied on node ", id, "; ");
            }
          }
        }
      }
    }
    return absl::OkStatus();
  }
  if (what == "converged") {
    if (args != 0) return usage("converged");
    // Every live member (of the leader's config, if there is a leader) has
    // applied everything the others committed, and they agree on it.
    *holds = true;
    std::optional<NodeId> first_live;
    auto leader = c.Leader();
    for (NodeId id : c.ids()) {
      if (!c.Alive(id)) continue;
      if (leader && !c.Config(*leader).Contains(id)) continue;
      absl::StrAppend(actual, actual->empty() ? "" : "; ", "node ", id, " committed ",
                      c.CommitIndex(id), " applied ", c.AppliedIndex(id), " ", Show(c.Applied(id)));
      if (!first_live) first_live = id;
      if (c.AppliedIndex(id) != c.CommitIndex(id) ||
          c.CommitIndex(id) != c.CommitIndex(*first_live) ||
          c.Applied(id) != c.Applied(*first_live)) {
        *holds = false;
      }
    }
    return absl::OkStatus();
  }
  if (what == "held") {
    if (args != 1) return usage("held COUNT");
    Result<uint64_t> count = Number(words[first + 1]);
    if (!count.ok()) return count.status();
    *actual = absl::StrCat(c.held(), " held");
    *holds = c.held() == *count;
    return absl::OkStatus();
  }
  return Bad(absl::StrCat("unknown condition '", what, "'"));
}

}  // namespace meridian::sim
