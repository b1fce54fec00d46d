// meridianctl shard list, shard split and leader transfer (commands.h).
#include <ostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/ctl/commands.h"

namespace meridian::ctl {
namespace {

// A shard bound for simple and table output: printable, with the ends of
// the keyspace (the empty key) as -inf and +inf.
std::string Bound(const std::string& key, bool is_end) {
  if (key.empty()) return is_end ? "+inf" : "-inf";
  return Printable(key);
}

// The leader the answering node reports for a shard's group, or null.
const v1::ShardLeader* LeaderOf(const v1::ShardsResponse& r, uint64_t shard, uint64_t group) {
  for (const v1::ShardLeader& l : r.leaders()) {
    if (l.shard_id() == shard && l.group_id() == group && l.leader_id() != 0) return &l;
  }
  return nullptr;
}

std::string LeaderText(const v1::ShardLeader* l) {
  if (l == nullptr) return "none";
  return l->leader_address().empty() ? absl::StrCat(l->leader_id())
                                     : absl::StrCat(l->leader_id(), "@", l->leader_address());
}

std::string SiteText(const v1::ClusterConfig& c, uint32_t site) {
  for (const v1::SiteInfo& s : c.sites()) {
    if (s.site_id() == site && !s.name().empty()) return absl::StrCat(site, " (", s.name(), ")");
  }
  return absl::StrCat(site);
}

std::string MapLine(const v1::ShardsResponse& r) {
  std::string out = absl::StrCat("shard map version ", r.config().version(), ", source ",
                                 r.source().empty() ? "unknown" : r.source());
  for (const v1::PendingSplit& p : r.config().pending_splits()) {
    absl::StrAppend(&out, "\npending split: shard ", p.shard_id(), " at ",
                    Printable(p.split_key()), " -> shard ", p.child_shard_id(), " (", p.reason(),
                    ")");
  }
  return out;
}

}  // namespace

int Commands::ShardList() {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<v1::ShardsResponse> r = (*c)->Shards();
  if (!r.ok()) return Fail(r.status());
  const v1::ClusterConfig& config = r->config();
  JsonWriter w;
  Table t({"SHARD", "START", "END", "SITE", "GROUP", "REPLICAS", "LEADER", "PREFERRED SITE"});
  if (options_.format == OutputFormat::kJson) {
    // clang-format off
    w.BeginObject()
        .Key("version").Uint(config.version())
        .Key("source").String(r->source())
        .Key("cluster_id").String(config.cluster_id())
        .Key("shards").BeginArray();
    // clang-format on
  }
  for (const v1::ShardInfo& s : config.shards()) {
    if (options_.format == OutputFormat::kJson) {
      // clang-format off
      w.BeginObject()
          .Key("shard_id").Uint(s.shard_id())
          .Key("start_key").String(s.start_key())
          .Key("end_key").String(s.end_key())
          .Key("preferred_site").Uint(s.preferred_site())
          .Key("groups").BeginArray();
      // clang-format on
    }
    // One row per site's group: one per shard with a single site.
    for (const v1::ShardGroup& g : s.groups()) {
      const v1::ShardLeader* leader = LeaderOf(*r, s.shard_id(), g.group_id());
      switch (options_.format) {
        case OutputFormat::kSimple:
          io_.out << s.shard_id() << ", " << Bound(s.start_key(), false) << ", "
                  << Bound(s.end_key(), true) << ", " << g.site_id() << ", " << g.group_id() << ", "
                  << absl::StrJoin(g.replicas(), " ") << ", " << LeaderText(leader) << ", "
                  << s.preferred_site() << "\n";
          break;
        case OutputFormat::kTable:
          t.AddRow({absl::StrCat(s.shard_id()), Bound(s.start_key(), false),
                    Bound(s.end_key(), true), SiteText(config, g.site_id()),
                    absl::StrCat(g.group_id()), absl::StrJoin(g.replicas(), " "),
                    LeaderText(leader), SiteText(config, s.preferred_site())});
          break;
        case OutputFormat::kJson:
          // clang-format off
          w.BeginObject()
              .Key("site_id").Uint(g.site_id())
              .Key("group_id").Uint(g.group_id())
              .Key("replicas").BeginArray();
          for (uint64_t id : g.replicas()) w.Uint(id);
          w.EndArray()
              .Key("leader_id").Uint(leader == nullptr ? 0 : leader->leader_id())
              .Key("leader_address").String(leader == nullptr ? "" : leader->leader_address())
              .EndObject();
          // clang-format on
          break;
      }
    }
    if (options_.format == OutputFormat::kJson) w.EndArray().EndObject();
  }
  switch (options_.format) {
    case OutputFormat::kSimple:
      io_.out << MapLine(*r) << "\n";
      break;
    case OutputFormat::kTable:
      io_.out << t.Render() << MapLine(*r) << "\n";
      break;
    case OutputFormat::kJson:
      Emit(w.EndArray().EndObject());
      break;
  }
  return kExitOk;
}

int Commands::ShardSplit(const std::string& key) {
  if (key.empty()) return Usage(InvalidArgumentError("KEY: give the first key of the new shard"));
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<v1::SplitShardResponse> r = (*c)->SplitShard(key);
  if (!r.ok()) return Fail(r.status());
  switch (options_.format) {
    case OutputFormat::kJson: {
      JsonWriter w;
      // clang-format off
      Emit(w.BeginObject()
               .Key("shard_id").Uint(r->shard_id())
               .Key("child_shard_id").Uint(r->child_shard_id())
               .Key("split_key").String(key)
               .Key("map_version").Uint(r->map_version())
               .EndObject());
      // clang-format on
      break;
    }
    default:
      io_.out << "shard " << r->shard_id() << " split at " << Printable(key) << ": keys from there on are in shard "
              << r->child_shard_id() << " (shard map version " << r->map_version() << ")\n";
      break;
  }
  return kExitOk;
}

int Commands::LeaderTransfer(const std::string& shard, const std::string& id) {
  uint64_t shard_id = 0;
  if (!absl::SimpleAtoi(shard, &shard_id)) {
    return Usage(InvalidArgumentError(
        absl::StrCat("--shard: '", shard, "' is not a shard id (0: the config group)")));
  }
  Result<uint32_t> member = ParseMemberId(id);
  if (!member.ok()) return Usage(member.status());
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<v1::ShardLeader> r = (*c)->LeaderTransfer(shard_id, *member);
  if (!r.ok()) return Fail(r.status());
  switch (options_.format) {
    case OutputFormat::kJson: {
      JsonWriter w;
      // clang-format off
      Emit(w.BeginObject()
               .Key("shard_id").Uint(r->shard_id())
               .Key("group_id").Uint(r->group_id())
               .Key("leader_id").Uint(r->leader_id())
               .Key("leader_address").String(r->leader_address())
               .EndObject());
      // clang-format on
      break;
    }
    default:
      io_.out << "shard " << r->shard_id() << " (group " << r->group_id() << ") is led by member "
              << r->leader_id() << " at " << r->leader_address() << "\n";
      break;
  }
  return kExitOk;
}

}  // namespace meridian::ctl
