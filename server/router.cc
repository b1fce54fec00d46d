#include "server/router.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "proto/shard_lookup.h"
#include "server/replication.h"

namespace meridian::server {
namespace {

std::string Printable(std::string_view key) {
  constexpr size_t kMax = 64;
  const std::string_view head = key.substr(0, kMax);
  std::string out = absl::CHexEscape(absl::string_view(head.data(), head.size()));
  if (key.size() > kMax) out += "...";
  return out;
}

}  // namespace

Status GroupReadBarrier(Replication* r) {
  if (r == nullptr) return absl::OkStatus();
  Status s = r->ReadBarrier();
  if (GetErrorKind(s) != ErrorKind::kNotLeader) return s;
  const std::string leader = r->LeaderAddress();
  return NotLeaderError(leader, leader.empty()
                                    ? "this node is not the leader and no leader is known yet"
                                    : absl::StrCat("this node is not the leader; the leader is ",
                                                   leader));
}

std::string_view ScanFirstKey(const txn::ScanRange& range) {
  return range.prefix.empty() ? std::string_view(range.start) : std::string_view(range.prefix);
}

void ResumePrefixScan(txn::ScanRange* range) {
  if (range->prefix.empty() || range->start.empty() || !range->end.empty()) return;
  range->start = std::max(range->start, range->prefix);
  range->end = PrefixEnd(range->prefix);
  range->prefix.clear();
}

std::string ClipScanToShard(const v1::ShardInfo& shard, txn::ScanRange* range) {
  if (shard.end_key().empty()) return "";
  const bool by_prefix = !range->prefix.empty() && range->start.empty() && range->end.empty();
  const std::string end = by_prefix ? PrefixEnd(range->prefix) : range->end;
  if (!end.empty() && end <= shard.end_key()) return "";
  if (by_prefix) {
    range->start = std::move(range->prefix);
    range->prefix.clear();
  }
  range->end = shard.end_key();
  return shard.end_key();
}

Router::Router(const ShardDirectory* directory, uint32_t site_id,
               std::map<uint64_t, LocalGroup> local)
    : directory_(directory), site_id_(site_id), local_(std::move(local)) {}

Result<Router::Target> Router::ForKey(std::string_view key, const v1::RequestHeader& header) const {
  return ForSnapshotRead(key, header, 0);
}

Result<std::pair<std::shared_ptr<const v1::ClusterConfig>, const v1::ShardInfo*>>
Router::ShardOfKey(std::string_view key, const v1::RequestHeader& header) const {
  ShardDirectory::View view = directory_->Current();
  const v1::ShardInfo* shard = FindShard(*view.config, key);
  if (shard == nullptr) return absl::InternalError("the shard map covers no shard for this key");
  if (header.shard_id() != 0 && header.shard_id() != shard->shard_id()) {
    return WrongShardError(
        "", view.config->version(),
        absl::StrCat("key '", Printable(key), "' is in shard ", shard->shard_id(), " (map version ",
                     view.config->version(), "), not in shard ", header.shard_id(),
                     " (the client's map, version ", header.shard_map_version(),
                     "); refresh the shard map"));
  }
  return std::make_pair(std::move(view.config), shard);
}

Result<Router::Target> Router::ForSnapshotRead(std::string_view key,
                                               const v1::RequestHeader& header,
                                               uint64_t snapshot_hlc) const {
  MERIDIAN_ASSIGN_OR_RETURN(auto found, ShardOfKey(key, header));
  return Serve(std::move(found.first), found.second, {.follower_read_at = snapshot_hlc});
}

Result<Router::Target> Router::ForSessionRead(std::string_view key,
                                              const v1::RequestHeader& header) const {
  MERIDIAN_ASSIGN_OR_RETURN(auto found, ShardOfKey(key, header));
  return Serve(std::move(found.first), found.second, {.any_replica = true});
}

Result<Router::Target> Router::ForShard(uint64_t shard_id) const {
  return ForShardSnapshotRead(shard_id, 0);
}

Result<Router::Target> Router::ForShardSnapshotRead(uint64_t shard_id,
                                                    uint64_t snapshot_hlc) const {
  ShardDirectory::View view = directory_->Current();
  const v1::ShardInfo* shard = FindShardById(*view.config, shard_id);
  if (shard == nullptr) {
    return TxnNotFoundError(absl::StrCat("no shard ", shard_id,
                                         " in the shard map: unknown or malformed transaction id"));
  }
  return Serve(std::move(view.config), shard, {.follower_read_at = snapshot_hlc});
}

Result<Router::Target> Router::Serve(std::shared_ptr<const v1::ClusterConfig> config,
                                     const v1::ShardInfo* shard, Serving serving) const {
  const v1::ShardGroup* group = GroupInSite(*shard, site_id_);
  const std::optional<LocalGroup> local =
      group == nullptr ? std::nullopt : Local(group->group_id());
  if (!local) {
    const std::string hint =
        group == nullptr || group->replicas().empty() ? "" : NodeAddress(*config, group->replicas(0));
    return WrongShardError(hint, config->version(),
                           absl::StrCat("this node hosts no replica of shard ", shard->shard_id(),
                                        hint.empty() ? "" : absl::StrCat("; try ", hint)));
  }
  Target target{std::move(config), shard, local->store, local->replication};
  if (serving.any_replica) return target;
  if (serving.follower_read_at != 0 && local->store->VisibleHlc() >= serving.follower_read_at) {
    // Every commit at or below the snapshot is applied here, and every
    // later one in the log is stamped above it: a follower may serve it.
    return target;
  }
  MERIDIAN_RETURN_IF_ERROR(GroupReadBarrier(local->replication));
  return target;
}

Status Router::CheckSameShard(const Target& target, std::string_view key) {
  if (ShardContains(*target.shard, key)) return absl::OkStatus();
  const v1::ShardInfo* other = FindShard(*target.config, key);
  return InvalidArgumentError(absl::StrCat(
      "key '", Printable(key), "' is in shard ", other ? other->shard_id() : 0,
      ", but this transaction lives in shard ", target.shard_id(),
      ": cross-shard transactions are not supported yet; keep a transaction's keys in one shard "
      "(meridianctl shard list) and pick it with the routing key"));
}

void Router::AddLocal(uint64_t group, LocalGroup local) {
  std::lock_guard<std::mutex> lock(mu_);
  local_[group] = local;
}

std::optional<Router::LocalGroup> Router::Local(uint64_t group) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = local_.find(group);
  if (it == local_.end()) return std::nullopt;
  return it->second;
}

std::vector<txn::TxnStore*> Router::LedStores() const {
  std::vector<txn::TxnStore*> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [group, g] : local_) {
    if (g.replication != nullptr && g.replication->IsLeaderReady()) out.push_back(g.store);
  }
  return out;
}

size_t Router::ShardCount() const { return directory_->Current().config->shards_size(); }

std::pair<uint64_t, std::string> Router::LeaderOf(uint64_t group) const {
  const std::optional<LocalGroup> local = Local(group);
  if (!local || local->replication == nullptr) return {0, ""};
  return {local->replication->LeaderId(), local->replication->LeaderAddress()};
}

}  // namespace meridian::server
