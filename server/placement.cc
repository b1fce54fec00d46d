#include "server/placement.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "proto/shard_lookup.h"

namespace meridian::server {
namespace {

// splitmix64's finalizer: a fixed, well-mixed 64-bit hash.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

std::vector<uint64_t> PlaceReplicas(uint64_t shard_id, const std::vector<uint64_t>& nodes,
                                    uint32_t replication_factor) {
  std::vector<std::pair<uint64_t, uint64_t>> scored;  // (score, node)
  scored.reserve(nodes.size());
  for (uint64_t n : nodes) scored.emplace_back(Mix(Mix(shard_id) ^ n), n);
  std::sort(scored.begin(), scored.end(), std::greater<>());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < scored.size() && i < replication_factor; ++i) out.push_back(scored[i].second);
  return out;
}

std::vector<std::string> EvenSplitPoints(uint64_t shards) {
  std::vector<std::string> points;
  for (uint64_t i = 1; i < shards; ++i) {
    const uint64_t byte = i * 256 / shards;
    std::string p(1, static_cast<char>(byte));
    if (points.empty() || points.back() != p) points.push_back(std::move(p));
  }
  return points;
}

Result<v1::ClusterConfig> BootstrapConfig(const BootstrapSpec& spec) {
  if (spec.nodes.empty()) return InvalidArgumentError("a cluster needs at least one node");
  if (spec.replication_factor == 0) return InvalidArgumentError("replication factor must be >= 1");
  for (size_t i = 0; i < spec.split_points.size(); ++i) {
    if (spec.split_points[i].empty()) return InvalidArgumentError("a split point is empty");
    if (i > 0 && spec.split_points[i] <= spec.split_points[i - 1]) {
      return InvalidArgumentError(absl::StrCat("split points must be sorted and distinct; '",
                                               absl::CEscape(spec.split_points[i]), "' follows '",
                                               absl::CEscape(spec.split_points[i - 1]), "'"));
    }
  }
  v1::ClusterConfig c;
  c.set_version(1);
  c.set_replication_factor(spec.replication_factor);
  auto* site = c.add_sites();
  site->set_site_id(spec.site_id);
  site->set_name(spec.site_name);
  std::vector<uint64_t> ids;
  for (const auto& [id, address] : spec.nodes) {
    auto* n = c.add_nodes();
    n->set_node_id(id);
    n->set_address(address);
    n->set_site_id(spec.site_id);
    ids.push_back(id);
  }
  const size_t shards = spec.split_points.size() + 1;
  for (size_t i = 0; i < shards; ++i) {
    auto* s = c.add_shards();
    s->set_shard_id(i + 1);
    if (i > 0) s->set_start_key(spec.split_points[i - 1]);
    if (i + 1 < shards) s->set_end_key(spec.split_points[i]);
    s->set_preferred_site(spec.site_id);
    auto* g = s->add_groups();
    g->set_site_id(spec.site_id);
    g->set_group_id(i + 1);
    for (uint64_t r : PlaceReplicas(i + 1, ids, spec.replication_factor)) g->add_replicas(r);
  }
  c.set_next_shard_id(shards + 1);
  MERIDIAN_RETURN_IF_ERROR(ValidateClusterConfig(c));
  return c;
}

}  // namespace meridian::server
