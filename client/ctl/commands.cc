#include "client/ctl/commands.h"

#include <cstdio>
#include <istream>
#include <iterator>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "client/ctl/txn_script.h"
#include "common/clock.h"

namespace meridian::ctl {
namespace {

void Write(std::ostream& out, std::string_view bytes) {
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string SiteText(const v1::ResponseHeader& h) {
  return h.site_name().empty() ? absl::StrCat(h.site_id()) : h.site_name();
}

std::string TookText(uint64_t micros) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fms", static_cast<double>(micros) / 1000.0);
  return buf;
}

std::string_view OpName(const v1::Op& op) {
  if (op.has_put()) return "put";
  if (op.has_delete_()) return "del";
  return "get";
}

const std::string& OpKey(const v1::Op& op) {
  if (op.has_put()) return op.put().key();
  if (op.has_delete_()) return op.delete_().key();
  return op.get().key();
}

}  // namespace

Commands::Commands(GlobalOptions options, Io io) : options_(std::move(options)), io_(io) {}

Result<client::Client*> Commands::Cluster() {
  if (cluster_ == nullptr) {
    client::ClientOptions o;
    o.endpoints = options_.endpoints;
    o.rpc_timeout = options_.timeout;
    MERIDIAN_ASSIGN_OR_RETURN(cluster_, client::Client::Connect(o));
  }
  return cluster_.get();
}

Result<std::unique_ptr<client::Client>> Commands::Single(const std::string& endpoint) {
  client::ClientOptions o;
  o.endpoints = {endpoint};
  o.rpc_timeout = options_.timeout;
  return client::Client::Connect(o);
}

int Commands::Fail(const Status& s) {
  io_.err << ErrorLine(s) << "\n";
  io_.err.flush();
  return ExitCodeFor(s);
}

int Commands::Usage(const Status& s) {
  io_.err << ErrorLine(s) << "\n";
  io_.err.flush();
  return kExitUsage;
}

void Commands::Emit(const JsonWriter& w) {
  io_.out << w.str() << "\n";
  io_.out.flush();
}

void Commands::PrintOk(std::string_view what, std::string_view key, uint64_t commit_hlc) {
  if (options_.format == OutputFormat::kJson) {
    JsonWriter w;
    w.BeginObject().Key("op").String(what).Key("key").String(key);
    if (commit_hlc != 0) w.Key("commit_hlc").Uint(commit_hlc);
    Emit(w.EndObject());
    return;
  }
  io_.out << "OK\n";
}

// ---------------------------------------------------------------------------
// KV

int Commands::Put(const std::string& key, const std::optional<std::string>& value) {
  std::string from_stdin;
  if (!value) {
    from_stdin.assign(std::istreambuf_iterator<char>(io_.in), std::istreambuf_iterator<char>());
  }
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<client::WriteResult> r = (*c)->Put(key, value ? *value : from_stdin);
  if (!r.ok()) return Fail(r.status());
  PrintOk("put", key, r->commit_hlc);
  return kExitOk;
}

void Commands::PrintGet(const std::string& key, const std::optional<client::GetResult>& r) {
  switch (options_.format) {
    case OutputFormat::kSimple:
      if (r) {
        Write(io_.out, r->value);
        io_.out << "\n";
      }
      break;
    case OutputFormat::kJson: {
      JsonWriter w;
      w.BeginObject().Key("key").String(key).Key("found").Bool(r.has_value());
      if (r) {
        w.Key("value").String(r->value);
        // A transaction's own uncommitted write has no version yet.
        if (r->version.hlc != 0) {
          w.Key("version");
          WriteVersion(r->version, w);
        }
      }
      Emit(w.EndObject());
      break;
    }
    case OutputFormat::kTable: {
      Table t({"KEY", "VALUE", "VERSION"});
      if (r) t.AddRow({key, r->value, r->version.hlc != 0 ? VersionText(r->version) : ""});
      io_.out << t.Render();
      break;
    }
  }
}

int Commands::Get(const std::string& key, bool require_exists, const client::ReadOptions& read) {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<std::optional<client::GetResult>> r = (*c)->Get(key, read);
  if (!r.ok()) return Fail(r.status());
  PrintGet(key, *r);
  if (!r->has_value() && require_exists) {
    io_.err << "Error: NOT_FOUND: key \"" << Printable(key) << "\" does not exist\n";
    return kExitNotFound;
  }
  return kExitOk;
}

int Commands::Delete(const std::string& key) {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<bool> r = (*c)->Delete(key);
  if (!r.ok()) return Fail(r.status());
  if (options_.format == OutputFormat::kJson) {
    JsonWriter w;
    Emit(w.BeginObject().Key("key").String(key).Key("deleted").Int(*r ? 1 : 0).EndObject());
  } else {
    io_.out << (*r ? "1" : "0") << "\n";
  }
  return kExitOk;
}

void Commands::PrintScan(const client::ScanResult& r, bool keys_only) {
  switch (options_.format) {
    case OutputFormat::kSimple:
      for (const auto& kv : r.kvs) {
        Write(io_.out, kv.key);
        io_.out << "\n";
        if (!keys_only) {
          Write(io_.out, kv.value);
          io_.out << "\n";
        }
      }
      break;
    case OutputFormat::kJson: {
      JsonWriter w;
      w.BeginObject().Key("kvs").BeginArray();
      for (const auto& kv : r.kvs) {
        w.BeginObject().Key("key").String(kv.key);
        if (!keys_only) w.Key("value").String(kv.value);
        w.Key("version");
        WriteVersion(kv.version, w);
        w.EndObject();
      }
      w.EndArray().Key("count").Uint(r.kvs.size()).Key("more").Bool(r.more);
      Emit(w.EndObject());
      break;
    }
    case OutputFormat::kTable: {
      Table t = keys_only ? Table({"KEY", "VERSION"}) : Table({"KEY", "VALUE", "VERSION"});
      for (const auto& kv : r.kvs) {
        if (keys_only) {
          t.AddRow({kv.key, VersionText(kv.version)});
        } else {
          t.AddRow({kv.key, kv.value, VersionText(kv.version)});
        }
      }
      io_.out << t.Render();
      break;
    }
  }
}

int Commands::Scan(const client::ScanSpec& spec, const client::ReadOptions& read) {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<client::ScanResult> r = (*c)->Scan(spec, read);
  if (!r.ok()) return Fail(r.status());
  PrintScan(*r, spec.keys_only);
  return kExitOk;
}

// ---------------------------------------------------------------------------
// One-shot transactions

int Commands::Txn() {
  if (io_.in_is_tty) {
    io_.err << "reading a transaction: compares, a blank line, success ops, a blank line, "
               "failure ops; end with Ctrl-D\n";
  }
  const std::string text((std::istreambuf_iterator<char>(io_.in)),
                         std::istreambuf_iterator<char>());
  Result<TxnScript> script = ParseTxnScript(text);
  if (!script.ok()) return Usage(script.status());
  v1::ExecuteRequest req;
  for (auto& cmp : script->compares) *req.add_compares() = std::move(cmp);
  for (auto& op : script->success) *req.add_success() = std::move(op);
  for (auto& op : script->failure) *req.add_failure() = std::move(op);

  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<client::ExecuteResult> r = (*c)->Execute(req);
  if (!r.ok()) return Fail(r.status());

  const auto& ops = r->succeeded ? req.success() : req.failure();
  const size_t n = std::min<size_t>(ops.size(), r->results.size());
  const char* verdict = r->succeeded ? "SUCCESS" : "FAILURE";
  switch (options_.format) {
    case OutputFormat::kSimple:
      // etcdctl's layout: the verdict, then each op's result after a blank line.
      io_.out << verdict << "\n";
      for (size_t i = 0; i < n; ++i) {
        const v1::OpResult& res = r->results[i];
        io_.out << "\n";
        if (res.has_put()) {
          io_.out << "OK\n";
        } else if (res.has_delete_()) {
          io_.out << (res.delete_().existed() ? "1" : "0") << "\n";
        } else if (res.get().found()) {
          Write(io_.out, OpKey(ops[static_cast<int>(i)]));
          io_.out << "\n";
          Write(io_.out, res.get().value());
          io_.out << "\n";
        }
      }
      break;
    case OutputFormat::kJson: {
      JsonWriter w;
      w.BeginObject().Key("succeeded").Bool(r->succeeded);
      if (r->commit_hlc != 0) w.Key("commit_hlc").Uint(r->commit_hlc);
      w.Key("results").BeginArray();
      for (size_t i = 0; i < n; ++i) {
        const v1::Op& op = ops[static_cast<int>(i)];
        const v1::OpResult& res = r->results[i];
        w.BeginObject().Key("op").String(OpName(op)).Key("key").String(OpKey(op));
        if (res.has_delete_()) {
          w.Key("deleted").Int(res.delete_().existed() ? 1 : 0);
        } else if (res.has_get()) {
          w.Key("found").Bool(res.get().found());
          if (res.get().found()) {
            w.Key("value").String(res.get().value()).Key("version");
            WriteVersion({res.get().version().hlc(), res.get().version().site_id()}, w);
          }
        }
        w.EndObject();
      }
      Emit(w.EndArray().EndObject());
      break;
    }
    case OutputFormat::kTable: {
      io_.out << verdict << "\n";
      Table t({"OP", "KEY", "RESULT"});
      for (size_t i = 0; i < n; ++i) {
        const v1::Op& op = ops[static_cast<int>(i)];
        const v1::OpResult& res = r->results[i];
        std::string result = "OK";
        if (res.has_delete_()) {
          result = res.delete_().existed() ? "1" : "0";
        } else if (res.has_get()) {
          result = res.get().found() ? res.get().value() : "(not found)";
        }
        t.AddRow({std::string(OpName(op)), OpKey(op), result});
      }
      if (n > 0) io_.out << t.Render();
      break;
    }
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------
// Csets

int Commands::CsetAdd(const std::string& key, const std::string& element) {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  if (Status s = (*c)->CsetAdd(key, element); !s.ok()) return Fail(s);
  PrintOk("cset add", key, 0);
  return kExitOk;
}

int Commands::CsetRemove(const std::string& key, const std::string& element) {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  if (Status s = (*c)->CsetRemove(key, element); !s.ok()) return Fail(s);
  PrintOk("cset rm", key, 0);
  return kExitOk;
}

int Commands::CsetRead(const std::string& key) {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<std::map<std::string, int64_t>> r = (*c)->CsetRead(key);
  if (!r.ok()) return Fail(r.status());
  switch (options_.format) {
    case OutputFormat::kSimple:
      for (const auto& [element, count] : *r) {
        Write(io_.out, element);
        io_.out << "\t" << count << "\n";
      }
      break;
    case OutputFormat::kJson: {
      JsonWriter w;
      w.BeginObject().Key("key").String(key).Key("elements").BeginArray();
      for (const auto& [element, count] : *r) {
        w.BeginObject().Key("element").String(element).Key("count").Int(count).EndObject();
      }
      Emit(w.EndArray().EndObject());
      break;
    }
    case OutputFormat::kTable: {
      Table t({"ELEMENT", "COUNT"});
      for (const auto& [element, count] : *r) t.AddRow({element, absl::StrCat(count)});
      io_.out << t.Render();
      break;
    }
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------
// Cluster

Result<v1::StatusResponse> Commands::StatusOrReport(const std::string& ep, int* code,
                                                    JsonWriter* w) {
  Result<std::unique_ptr<client::Client>> c = Single(ep);
  Result<v1::StatusResponse> st = c.ok() ? (*c)->NodeStatus() : c.status();
  if (!st.ok()) {
    // Every endpoint is reported; the first failure decides the exit code.
    io_.err << ErrorLine(st.status()) << " (endpoint " << ep << ")\n";
    if (*code == kExitOk) *code = ExitCodeFor(st.status());
    if (options_.format == OutputFormat::kJson) {
      w->BeginObject().Key("endpoint").String(ep).Key("error").String(ErrorLine(st.status()));
      w->EndObject();
    }
  }
  return st;
}

int Commands::EndpointStatus() {
  int code = kExitOk;
  JsonWriter w;
  w.BeginArray();
  Table t({"ENDPOINT", "NODE ID", "SITE", "VERSION", "ENGINE", "APPLIED INDEX", "DB SIZE",
           "IS LEADER"});
  for (const std::string& ep : options_.endpoints) {
    Result<v1::StatusResponse> st = StatusOrReport(ep, &code, &w);
    if (!st.ok()) continue;
    const v1::ResponseHeader& h = st->header();
    const std::string leader = st->is_leader() ? "true" : "false";
    switch (options_.format) {
      case OutputFormat::kSimple:
        io_.out << ep << ", " << h.node_id() << ", " << SiteText(h) << ", " << st->version() << ", "
                << st->engine() << ", " << st->applied_index() << ", "
                << HumanBytes(st->db_size_bytes()) << ", " << leader << "\n";
        break;
      case OutputFormat::kJson:
        // clang-format off
        w.BeginObject()
            .Key("endpoint").String(ep)
            .Key("node_id").String(h.node_id())
            .Key("site_id").Uint(h.site_id())
            .Key("site_name").String(h.site_name())
            .Key("version").String(st->version())
            .Key("engine").String(st->engine())
            .Key("applied_index").Uint(st->applied_index())
            .Key("durable_index").Uint(st->durable_index())
            .Key("db_size_bytes").Uint(st->db_size_bytes())
            .Key("is_leader").Bool(st->is_leader())
            .Key("open_txns").Uint(st->open_txns())
            .Key("uptime_ms").Uint(st->uptime_ms())
            .Key("now_hlc").Uint(st->now_hlc())
            .Key("data_dir").String(st->data_dir())
            .EndObject();
        // clang-format on
        break;
      case OutputFormat::kTable:
        t.AddRow({ep, h.node_id(), SiteText(h), st->version(), st->engine(),
                  absl::StrCat(st->applied_index()), HumanBytes(st->db_size_bytes()), leader});
        break;
    }
  }
  if (options_.format == OutputFormat::kJson) Emit(w.EndArray());
  if (options_.format == OutputFormat::kTable) io_.out << t.Render();
  return code;
}

int Commands::EndpointHealth() {
  int code = kExitOk;
  JsonWriter w;
  w.BeginArray();
  Table t({"ENDPOINT", "HEALTH", "TOOK", "ERROR"});
  Clock* clock = SystemClock();
  for (const std::string& ep : options_.endpoints) {
    const uint64_t start = clock->NowMonotonicMicros();
    Result<std::unique_ptr<client::Client>> c = Single(ep);
    Result<bool> healthy = c.ok() ? (*c)->Healthy() : c.status();
    const uint64_t took = clock->NowMonotonicMicros() - start;
    std::string error;
    if (!healthy.ok()) {
      error = ErrorLine(healthy.status());
      if (code == kExitOk) code = ExitCodeFor(healthy.status());
    } else if (!*healthy) {
      error = "Error: UNAVAILABLE: the node reports NOT_SERVING";
      if (code == kExitOk) code = kExitUnavailable;
    }
    const bool ok = error.empty();
    switch (options_.format) {
      case OutputFormat::kSimple:
        // As etcdctl: healthy endpoints on stdout, unhealthy ones on stderr.
        if (ok) {
          io_.out << ep << " is healthy: took = " << TookText(took) << "\n";
        } else {
          io_.err << ep << " is unhealthy: took = " << TookText(took) << ": " << error << "\n";
        }
        break;
      case OutputFormat::kJson:
        // clang-format off
        w.BeginObject()
            .Key("endpoint").String(ep)
            .Key("health").Bool(ok)
            .Key("took_us").Uint(took)
            .Key("error").String(error)
            .EndObject();
        // clang-format on
        break;
      case OutputFormat::kTable:
        t.AddRow({ep, ok ? "true" : "false", TookText(took), error});
        break;
    }
  }
  if (options_.format == OutputFormat::kJson) Emit(w.EndArray());
  if (options_.format == OutputFormat::kTable) io_.out << t.Render();
  return code;
}

int Commands::GroupList() {
  int code = kExitOk;
  JsonWriter w;
  w.BeginArray();
  Table t({"ENDPOINT", "GROUP", "LEADER", "IS LEADER", "BALLOT", "COMMIT INDEX", "APPLIED INDEX",
           "VOTERS", "LEARNERS"});
  // Table format: the endpoints without groups, said below the table.
  std::vector<std::string> no_groups;
  const auto no_groups_line = [](const std::string& ep) {
    return absl::StrCat(ep, ": runs no consensus groups (not in replicated mode)");
  };
  const auto leader_text = [](const v1::GroupStatus& g) {
    return g.leader_id() == 0 ? std::string("none") : absl::StrCat(g.leader_id());
  };
  const auto yes_no = [](bool b) { return b ? "true" : "false"; };
  for (const std::string& ep : options_.endpoints) {
    Result<v1::StatusResponse> st = StatusOrReport(ep, &code, &w);
    if (!st.ok()) continue;
    switch (options_.format) {
      case OutputFormat::kSimple:
        if (st->groups().empty()) io_.out << no_groups_line(ep) << "\n";
        for (const v1::GroupStatus& g : st->groups()) {
          io_.out << ep << ", " << g.group() << ", " << leader_text(g) << ", "
                  << yes_no(g.is_leader()) << ", " << g.ballot_round() << ", " << g.commit_index()
                  << ", " << g.applied_index() << ", " << g.voters() << ", " << g.learners()
                  << "\n";
        }
        break;
      case OutputFormat::kJson:
        // clang-format off
        w.BeginObject()
            .Key("endpoint").String(ep)
            .Key("node_id").String(st->header().node_id())
            .Key("peer_batches_sent").Uint(st->peer_batches_sent())
            .Key("peer_messages_sent").Uint(st->peer_messages_sent())
            .Key("groups").BeginArray();
        for (const v1::GroupStatus& g : st->groups()) {
          w.BeginObject()
              .Key("group").Uint(g.group())
              .Key("leader_id").Uint(g.leader_id())
              .Key("is_leader").Bool(g.is_leader())
              .Key("ballot_round").Uint(g.ballot_round())
              .Key("commit_index").Uint(g.commit_index())
              .Key("applied_index").Uint(g.applied_index())
              .Key("voters").Uint(g.voters())
              .Key("learners").Uint(g.learners())
              .EndObject();
        }
        w.EndArray().EndObject();
        // clang-format on
        break;
      case OutputFormat::kTable:
        if (st->groups().empty()) no_groups.push_back(no_groups_line(ep));
        for (const v1::GroupStatus& g : st->groups()) {
          t.AddRow({ep, absl::StrCat(g.group()), leader_text(g), yes_no(g.is_leader()),
                    absl::StrCat(g.ballot_round()), absl::StrCat(g.commit_index()),
                    absl::StrCat(g.applied_index()), absl::StrCat(g.voters()),
                    absl::StrCat(g.learners())});
        }
        break;
    }
  }
  if (options_.format == OutputFormat::kJson) Emit(w.EndArray());
  if (options_.format == OutputFormat::kTable) {
    io_.out << t.Render();
    for (const std::string& line : no_groups) io_.out << line << "\n";
  }
  return code;
}

void Commands::PrintMembers(const v1::MembersResponse& r) {
  const auto role = [](const v1::Member& m) { return m.is_learner() ? "learner" : "voter"; };
  const auto yes_no = [](bool b) { return b ? "true" : "false"; };
  switch (options_.format) {
    case OutputFormat::kSimple:
      for (const auto& m : r.members()) {
        io_.out << m.member_id() << ", " << m.node_id() << ", " << m.site_name() << ", "
                << m.site_id() << ", " << m.client_url() << ", " << role(m) << ", "
                << yes_no(m.is_leader()) << "\n";
      }
      break;
    case OutputFormat::kJson: {
      JsonWriter w;
      w.BeginObject().Key("config_index").Uint(r.config_index()).Key("members").BeginArray();
      for (const auto& m : r.members()) {
        // clang-format off
        w.BeginObject()
            .Key("member_id").Uint(m.member_id())
            .Key("node_id").String(m.node_id())
            .Key("site_name").String(m.site_name())
            .Key("site_id").Uint(m.site_id())
            .Key("client_url").String(m.client_url())
            .Key("role").String(role(m))
            .Key("is_leader").Bool(m.is_leader())
            .Key("is_learner").Bool(m.is_learner())
            .EndObject();
        // clang-format on
      }
      Emit(w.EndArray().EndObject());
      break;
    }
    case OutputFormat::kTable: {
      Table t({"MEMBER ID", "NODE ID", "SITE", "SITE ID", "CLIENT URL", "ROLE", "IS LEADER"});
      for (const auto& m : r.members()) {
        t.AddRow({absl::StrCat(m.member_id()), m.node_id(), m.site_name(),
                  absl::StrCat(m.site_id()), m.client_url(), role(m), yes_no(m.is_leader())});
      }
      io_.out << t.Render();
      break;
    }
  }
}

int Commands::MemberList() {
  return RunMembers([](client::Client& c) { return c.Members(); });
}

int Commands::RunMembers(const std::function<Result<v1::MembersResponse>(client::Client&)>& call) {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<v1::MembersResponse> r = call(**c);
  if (!r.ok()) return Fail(r.status());
  PrintMembers(*r);
  return kExitOk;
}

int Commands::MemberAdd(const std::string& id, const std::string& address, bool as_voter) {
  Result<uint32_t> n = ParseMemberId(id);
  if (!n.ok()) return Usage(n.status());
  if (Status s = CheckHostPort(address); !s.ok()) return Usage(s);
  return RunMembers([&](client::Client& c) { return c.MemberAdd(*n, address, as_voter); });
}

int Commands::MemberPromote(const std::string& id) {
  Result<uint32_t> n = ParseMemberId(id);
  if (!n.ok()) return Usage(n.status());
  return RunMembers([&](client::Client& c) { return c.MemberPromote(*n); });
}

int Commands::MemberRemove(const std::string& id) {
  Result<uint32_t> n = ParseMemberId(id);
  if (!n.ok()) return Usage(n.status());
  return RunMembers([&](client::Client& c) { return c.MemberRemove(*n); });
}

}  // namespace meridian::ctl
