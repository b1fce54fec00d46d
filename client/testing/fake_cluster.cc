#include "client/testing/fake_cluster.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>

#include "proto/shard_lookup.h"

namespace meridian::client::testing {
namespace {

constexpr uint32_t kSite = 1;

v1::ClusterConfig MakeConfig(const std::vector<std::string>& addresses,
                             const std::vector<FakeCluster::Shard>& shards, uint64_t version) {
  v1::ClusterConfig c;
  c.set_version(version);
  c.set_cluster_id("fake");
  c.add_sites()->set_site_id(kSite);
  for (size_t i = 0; i < addresses.size(); ++i) {
    v1::NodeInfo* n = c.add_nodes();
    n->set_node_id(i + 1);
    n->set_address(addresses[i]);
    n->set_site_id(kSite);
  }
  uint64_t next_id = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    v1::ShardInfo* s = c.add_shards();
    s->set_shard_id(shards[i].id);
    s->set_start_key(shards[i].start_key);
    if (i + 1 < shards.size()) s->set_end_key(shards[i + 1].start_key);
    s->set_preferred_site(kSite);
    v1::ShardGroup* g = s->add_groups();
    g->set_site_id(kSite);
    g->set_group_id(100 + shards[i].id);
    for (uint64_t r : shards[i].replicas) g->add_replicas(r);
    next_id = std::max(next_id, shards[i].id + 1);
  }
  c.set_next_shard_id(next_id);
  if (Status s = ValidateClusterConfig(c); !s.ok()) {
    std::cerr << "FakeCluster: " << s << "\n";
    std::abort();
  }
  return c;
}

}  // namespace

FakeCluster::FakeCluster(int nodes, std::vector<Shard> shards) : shards_(std::move(shards)) {
  for (int i = 0; i < nodes; ++i) nodes_.push_back(std::make_unique<FakeServer>());
  config_ = MakeConfig(addresses(), shards_, 1);
  Install({});
}

std::vector<std::string> FakeCluster::addresses() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n->address());
  return out;
}

void FakeCluster::Reshard(std::vector<Shard> shards, const std::vector<uint64_t>& only) {
  shards_ = std::move(shards);
  config_ = MakeConfig(addresses(), shards_, config_.version() + 1);
  Install(only);
}

void FakeCluster::MoveLeader(uint64_t shard_id, uint64_t node) {
  for (Shard& s : shards_) {
    if (s.id == shard_id) s.leader = node;
  }
  Install({});
}

void FakeCluster::Install(const std::vector<uint64_t>& only) {
  std::map<uint64_t, uint64_t> leaders;
  for (const Shard& s : shards_) leaders[100 + s.id] = s.leader;
  for (uint64_t id = 1; id <= nodes_.size(); ++id) {
    if (!only.empty() && std::find(only.begin(), only.end(), id) == only.end()) continue;
    node(id).JoinCluster(config_, id, leaders);
  }
}

}  // namespace meridian::client::testing
