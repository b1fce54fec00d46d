// Shard placement and the bootstrap cluster config.
//
// Replicas are placed by rendezvous (highest-random-weight) hashing: every
// node of the site gets a pseudo-random score for the shard, and the
// `replication_factor` highest scores win. It is consistent hashing: adding
// or removing a node moves only the replicas that node wins or held (about
// rf/n of them), and every node computes the same answer from the same
// inputs, with no table to agree on. (Chosen over jump hashing, which
// needs nodes numbered 0..n-1 and moves replicas when a middle node leaves.)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "meridian/v1/cluster.pb.h"

namespace meridian::server {

// The config group's consensus group id. Shard groups take ids below 2^32;
// 0 is the WAL's own (seal records).
constexpr uint64_t kConfigGroupId = 1ull << 32;

// The `replication_factor` nodes of `nodes` that replicate `shard_id`
// (all of them if there are fewer), in descending score order.
std::vector<uint64_t> PlaceReplicas(uint64_t shard_id, const std::vector<uint64_t>& nodes,
                                    uint32_t replication_factor);

// `shards` - 1 split points spread evenly over the first key byte (for
// keys of unknown shape; pass real split points for skewed keys).
std::vector<std::string> EvenSplitPoints(uint64_t shards);

struct BootstrapSpec {
  std::map<uint64_t, std::string> nodes;  // id -> host:port, all in one site
  uint32_t site_id = 1;
  std::string site_name;
  uint32_t replication_factor = 3;
  // Sorted, distinct, non-empty; shard i covers [points[i-1], points[i]).
  std::vector<std::string> split_points;
};

// The first cluster config (version 1): one shard per range between split
// points (shard i+1 is group i+1 in the site), replicas placed as above.
// Deterministic: every node computes the same one from the same flags. No
// cluster id and no signing keys (the config group's leader adds them when
// it commits it). INVALID_ARGUMENT for unsorted or repeated split points.
Result<v1::ClusterConfig> BootstrapConfig(const BootstrapSpec& spec);

}  // namespace meridian::server
