// Several FakeServers forming one sharded cluster (FakeServer::JoinCluster),
// for tests of routing: each shard has its own replicas and leader, every
// node checks keyed requests against its own copy of the shard map, and a
// test can move leaders or reshard, on every node or on some only (nodes
// that have not caught up yet). Test-only.
//
// Not thread-safe: set it up from the test's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/testing/fake_server.h"
#include "meridian/v1/cluster.pb.h"

namespace meridian::client::testing {

class FakeCluster {
 public:
  struct Shard {
    uint64_t id = 0;  // > 0; its group is 100 + id
    // The first shard starts at ""; each ends where the next starts.
    std::string start_key;
    std::vector<uint64_t> replicas;  // node ids
    uint64_t leader = 0;             // one of `replicas`
  };

  // Starts `nodes` fakes (node ids 1..nodes, one site) serving `shards`
  // (sorted by start_key) as map version 1.
  FakeCluster(int nodes, std::vector<Shard> shards);

  // REQUIRES: 1 <= id <= the number of nodes.
  FakeServer& node(uint64_t id) { return *nodes_.at(id - 1); }
  // Every node's address, node 1 first.
  std::vector<std::string> addresses() const;
  const v1::ClusterConfig& config() const { return config_; }

  // Installs `shards` as the next map version on the nodes in `only` (all
  // nodes if empty); the others keep the map they had.
  void Reshard(std::vector<Shard> shards, const std::vector<uint64_t>& only = {});
  // Moves the leadership of shard `shard_id` to `node`: installs the current
  // map (its version unchanged: leadership is not part of it) and leaders on
  // every node.
  void MoveLeader(uint64_t shard_id, uint64_t node);

 private:
  void Install(const std::vector<uint64_t>& only);

  std::vector<std::unique_ptr<FakeServer>> nodes_;
  std::vector<Shard> shards_;
  v1::ClusterConfig config_;
};

}  // namespace meridian::client::testing
