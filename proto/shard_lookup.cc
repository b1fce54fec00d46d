#include "proto/shard_lookup.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/coding.h"

namespace meridian {

bool ShardContains(const v1::ShardInfo& shard, std::string_view key) {
  return key >= std::string_view(shard.start_key()) &&
         (shard.end_key().empty() || key < std::string_view(shard.end_key()));
}

const v1::ShardInfo* FindShard(const v1::ClusterConfig& config, std::string_view key) {
  const auto& shards = config.shards();
  // The last shard starting at or before `key`.
  auto it = std::upper_bound(shards.begin(), shards.end(), key,
                             [](std::string_view k, const v1::ShardInfo& s) {
                               return k < std::string_view(s.start_key());
                             });
  if (it == shards.begin()) return nullptr;
  --it;
  return ShardContains(*it, key) ? &*it : nullptr;
}

const v1::ShardInfo* FindShardById(const v1::ClusterConfig& config, uint64_t shard_id) {
  for (const v1::ShardInfo& s : config.shards()) {
    if (s.shard_id() == shard_id) return &s;
  }
  return nullptr;
}

const v1::ShardGroup* GroupInSite(const v1::ShardInfo& shard, uint32_t site) {
  for (const v1::ShardGroup& g : shard.groups()) {
    if (g.site_id() == site) return &g;
  }
  return nullptr;
}

std::string NodeAddress(const v1::ClusterConfig& config, uint64_t id) {
  for (const v1::NodeInfo& n : config.nodes()) {
    if (n.node_id() == id) return n.address();
  }
  return "";
}

std::string PrefixEnd(std::string_view prefix) { return PrefixSuccessor(prefix); }

Status ValidateClusterConfig(const v1::ClusterConfig& config) {
  auto bad = [](auto&&... parts) {
    return InvalidArgumentError(absl::StrCat("cluster config: ", parts...));
  };
  if (config.shards().empty()) return bad("no shards");
  std::set<uint32_t> sites;
  for (const v1::SiteInfo& s : config.sites()) {
    if (!sites.insert(s.site_id()).second) return bad("site ", s.site_id(), " listed twice");
  }
  std::map<uint64_t, uint32_t> node_site;
  for (const v1::NodeInfo& n : config.nodes()) {
    if (n.node_id() == 0) return bad("node id 0");
    if (!sites.contains(n.site_id())) return bad("node ", n.node_id(), " is in unknown site ", n.site_id());
    if (!node_site.emplace(n.node_id(), n.site_id()).second) return bad("node ", n.node_id(), " listed twice");
  }
  std::set<uint64_t> shard_ids, group_ids;
  std::string expected_start;
  for (int i = 0; i < config.shards_size(); ++i) {
    const v1::ShardInfo& s = config.shards(i);
    if (s.shard_id() == 0 || !shard_ids.insert(s.shard_id()).second) {
      return bad("shard id ", s.shard_id(), " is 0 or repeated");
    }
    if (s.start_key() != expected_start) {
      return bad("shard ", s.shard_id(), " starts at '", absl::CEscape(s.start_key()),
                 "', expected '", absl::CEscape(expected_start), "' (a gap or an overlap)");
    }
    const bool last = i + 1 == config.shards_size();
    if (last != s.end_key().empty()) {
      return bad("shard ", s.shard_id(), last ? " is last but ends" : " ends the keyspace early");
    }
    if (!last && s.end_key() <= s.start_key()) return bad("shard ", s.shard_id(), " is empty");
    expected_start = s.end_key();
    if (s.groups().empty()) return bad("shard ", s.shard_id(), " has no group");
    std::set<uint32_t> group_sites;
    for (const v1::ShardGroup& g : s.groups()) {
      if (!sites.contains(g.site_id()) || !group_sites.insert(g.site_id()).second) {
        return bad("shard ", s.shard_id(), ": site ", g.site_id(), " unknown or repeated");
      }
      if (g.group_id() == 0 || !group_ids.insert(g.group_id()).second) {
        return bad("shard ", s.shard_id(), ": group id ", g.group_id(), " is 0 or repeated");
      }
      if (g.replicas().empty()) return bad("shard ", s.shard_id(), " has a group without replicas");
      std::set<uint64_t> seen;
      for (uint64_t r : g.replicas()) {
        auto it = node_site.find(r);
        if (it == node_site.end() || it->second != g.site_id() || !seen.insert(r).second) {
          return bad("shard ", s.shard_id(), ": replica ", r, " is not a node of site ",
                     g.site_id(), " or is repeated");
        }
      }
    }
    if (!sites.contains(s.preferred_site())) {
      return bad("shard ", s.shard_id(), ": preferred site ", s.preferred_site(), " unknown");
    }
  }
  return absl::OkStatus();
}

}  // namespace meridian
