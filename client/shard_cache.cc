#include "client/shard_cache.h"

#include "proto/shard_lookup.h"

namespace meridian::client::internal {

const v1::ShardGroup* ShardCache::GroupOf(const v1::ShardInfo& shard) {
  if (const v1::ShardGroup* g = GroupInSite(shard, shard.preferred_site())) return g;
  return shard.groups().empty() ? nullptr : &shard.groups(0);
}

bool ShardCache::Update(const v1::ShardsResponse& resp) {
  if (!ValidateClusterConfig(resp.config()).ok()) return false;
  absl::MutexLock l(&mu_);
  const uint64_t cached = config_ ? config_->version() : 0;
  const bool adopt = !config_ || resp.config().version() > cached;
  if (!adopt && resp.config().version() != cached) return false;
  if (adopt) {
    // Shard ids and groups may have moved: what was learned of the old map
    // does not carry over.
    config_ = resp.config();
    shards_.clear();
  }
  for (const v1::ShardLeader& l : resp.leaders()) {
    if (l.leader_address().empty()) continue;
    const v1::ShardInfo* shard = FindShardById(*config_, l.shard_id());
    if (shard == nullptr) continue;
    const v1::ShardGroup* group = GroupOf(*shard);
    if (group == nullptr || group->group_id() != l.group_id()) continue;
    std::string& leader = shards_[l.shard_id()].leader;
    if (leader.empty()) leader = l.leader_address();
  }
  return adopt;
}

bool ShardCache::has_map() const {
  absl::ReaderMutexLock l(&mu_);
  return config_.has_value();
}

uint64_t ShardCache::version() const {
  absl::ReaderMutexLock l(&mu_);
  return config_ ? config_->version() : 0;
}

std::optional<v1::ClusterConfig> ShardCache::map() const {
  absl::ReaderMutexLock l(&mu_);
  return config_;
}

std::string ShardCache::AddressOf(const v1::ShardInfo& shard) const {
  size_t next = 0;
  if (auto it = shards_.find(shard.shard_id()); it != shards_.end()) {
    if (!it->second.leader.empty()) return it->second.leader;
    next = it->second.next_replica;
  }
  const v1::ShardGroup* group = GroupOf(shard);
  if (group == nullptr || next >= static_cast<size_t>(group->replicas_size())) return "";
  return NodeAddress(*config_, group->replicas(static_cast<int>(next)));
}

std::optional<ShardRoute> ShardCache::Route(std::string_view key) const {
  absl::ReaderMutexLock l(&mu_);
  if (!config_) return std::nullopt;
  // A valid map covers every key.
  const v1::ShardInfo* shard = FindShard(*config_, key);
  if (shard == nullptr) return std::nullopt;
  return ShardRoute{.shard_id = shard->shard_id(),
                    .map_version = config_->version(),
                    .address = AddressOf(*shard)};
}

std::vector<std::string> ShardCache::Replicas(uint64_t shard_id) const {
  absl::ReaderMutexLock l(&mu_);
  std::vector<std::string> out;
  if (!config_) return out;
  const v1::ShardInfo* shard = FindShardById(*config_, shard_id);
  const v1::ShardGroup* group = shard == nullptr ? nullptr : GroupOf(*shard);
  if (group == nullptr) return out;
  for (uint64_t node : group->replicas()) {
    if (std::string address = NodeAddress(*config_, node); !address.empty()) {
      out.push_back(std::move(address));
    }
  }
  return out;
}

void ShardCache::SetLeader(uint64_t shard_id, const std::string& address) {
  absl::MutexLock l(&mu_);
  if (!config_ || FindShardById(*config_, shard_id) == nullptr) return;
  shards_[shard_id].leader = address;
}

void ShardCache::Failed(uint64_t shard_id, const std::string& address) {
  absl::MutexLock l(&mu_);
  if (!config_) return;
  const v1::ShardInfo* shard = FindShardById(*config_, shard_id);
  if (shard == nullptr) return;
  ShardState& state = shards_[shard_id];
  if (!state.leader.empty()) {
    // Another thread may have learned a newer leader since; keep that one.
    if (state.leader != address) return;
    state.leader.clear();
  }
  // Only the first of several threads that saw the same failure moves on.
  if (AddressOf(*shard) != address) return;
  const v1::ShardGroup* group = GroupOf(*shard);
  const size_t replicas = group == nullptr ? 0 : static_cast<size_t>(group->replicas_size());
  state.next_replica = (state.next_replica + 1) % (replicas + 1);
}

}  // namespace meridian::client::internal
