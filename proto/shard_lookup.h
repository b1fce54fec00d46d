// Reading a meridian.v1.ClusterConfig: which shard holds a key, which group
// replicates it in a site, where a node is. Shared by the server (routing)
// and the SDK (routing by its cached map), so both answer the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "meridian/v1/cluster.pb.h"

namespace meridian {

// Whether `key` is in [shard.start_key, shard.end_key).
bool ShardContains(const v1::ShardInfo& shard, std::string_view key);
// The shard holding `key`, or null if the config covers no such key (a
// config that passed ValidateClusterConfig covers every key).
const v1::ShardInfo* FindShard(const v1::ClusterConfig& config, std::string_view key);
const v1::ShardInfo* FindShardById(const v1::ClusterConfig& config, uint64_t shard_id);
// The shard's group in `site`, or null.
const v1::ShardGroup* GroupInSite(const v1::ShardInfo& shard, uint32_t site);
// host:port of node `id`, or "" if the config does not list it.
std::string NodeAddress(const v1::ClusterConfig& config, uint64_t id);
// The smallest key above every key that starts with `prefix`; "" if there
// is none (the prefix is empty or all 0xff bytes). A prefix scan continued
// at a resume key covers [resume_key, PrefixEnd(prefix)).
std::string PrefixEnd(std::string_view prefix);
// OK if the shards are sorted, contiguous from "" to the end of the
// keyspace, each with one group per site whose replicas are listed nodes of
// that site, and ids are unique; else INVALID_ARGUMENT saying what is wrong.
Status ValidateClusterConfig(const v1::ClusterConfig& config);

}  // namespace meridian
