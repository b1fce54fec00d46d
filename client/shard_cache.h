// The SDK's view of a sharded cluster: the newest shard map
// (meridian.v1.ClusterConfig) it has seen and, per shard, where that shard's
// leader is believed to be. It decides where a keyed request goes and learns
// from the answers; it does no I/O. Internal to client/.
//
// A shard is served by one group per site; the SDK talks to the group in
// the shard's preferred site (the one that conflict-checks its writes).
//
// Invariant: the cached map only moves to a higher version.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "meridian/v1/admin.pb.h"
#include "meridian/v1/cluster.pb.h"

namespace meridian::client::internal {

// Where one keyed request goes, and what it tells the server it routed by
// (RequestHeader.shard_map_version and shard_id).
struct ShardRoute {
  uint64_t shard_id = 0;
  uint64_t map_version = 0;
  // host:port of the shard's leader as last learned, else of one of its
  // replicas. "" when the map names none to try: the caller's own endpoint
  // choice applies.
  std::string address;
};

class ShardCache {
 public:
  // Adopts the config of `resp` if it is valid (ValidateClusterConfig) and
  // newer than the cached one, with the leaders `resp` reports for it.
  // Returns whether it was adopted. An answer with the cached version only
  // fills in leaders not known yet; an older one changes nothing.
  bool Update(const v1::ShardsResponse& resp);

  bool has_map() const;
  // The cached map's version; 0 without a map.
  uint64_t version() const;
  // A copy of the cached map, if any.
  std::optional<v1::ClusterConfig> map() const;

  // Where a request for `key` goes; nullopt without a map.
  std::optional<ShardRoute> Route(std::string_view key) const;

  // host:port of every replica of `shard_id`'s group (the one Route's
  // leader belongs to), in the map's order; empty without a map, for an
  // unknown shard, or when the map names no addresses.
  std::vector<std::string> Replicas(uint64_t shard_id) const;

  // The leader of `shard_id`'s group is at `address` (a NOT_LEADER hint).
  void SetLeader(uint64_t shard_id, const std::string& address);

  // The route's `address` ("" if the caller used its own endpoints) could
  // not serve `shard_id` (unreachable, unavailable, or not the leader and
  // no hint): it is no longer taken for the leader, and the next Route
  // tries the next replica. After the last replica Route gives "" once
  // (the caller's endpoints), then starts over.
  void Failed(uint64_t shard_id, const std::string& address);

 private:
  struct ShardState {
    std::string leader;       // "" = not known
    size_t next_replica = 0;  // in [0, replicas]; == replicas: none
  };

  // The group the SDK talks to: the preferred site's, else the first.
  static const v1::ShardGroup* GroupOf(const v1::ShardInfo& shard);
  // The address Route picks for `shard`, as Route does.
  std::string AddressOf(const v1::ShardInfo& shard) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::optional<v1::ClusterConfig> config_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, ShardState> shards_ ABSL_GUARDED_BY(mu_);  // by shard id
};

}  // namespace meridian::client::internal
