#include "server/services.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/fence.h"
#include "server/replication.h"
#include "server/router.h"
#include "server/session_token.h"

namespace meridian::server {

void ServiceContext::FillHeader(v1::ResponseHeader* header, uint64_t snapshot_hlc,
                                uint64_t commit_hlc, uint64_t shard_id,
                                const v1::RequestHeader* request) const {
  header->set_node_id(config->node_id);
  header->set_site_id(config->site_id);
  header->set_site_name(config->site);
  header->set_shard_id(shard_id);
  if (snapshot_hlc) {
    auto* e = header->mutable_snapshot()->add_entries();
    e->set_site_id(config->site_id);
    e->set_hlc(snapshot_hlc);
  }
  header->set_commit_hlc(commit_hlc);
  const std::shared_ptr<const v1::ClusterConfig> current = shards->Current().config;
  const v1::SigningKey* key = NewestKey(current->signing_keys());
  // Until this node learns a key it gives no token: one it could not sign
  // would be refused when it came back. Nor does a fenced node: its clock is
  // beyond the max offset from most peers, so its cluster time would be
  // refused by them as too far ahead, and the session with it.
  if (key == nullptr || (fence != nullptr && fence->fenced())) return;
  v1::SessionToken* token = header->mutable_session_token();
  if (request != nullptr) *token->mutable_observed() = request->session_token().observed();
  MergeObserved(config->site_id, std::max(snapshot_hlc, commit_hlc), token->mutable_observed());
  token->set_cluster_time(hlc->Now());
  SignToken(*key, token);
}

std::string ClientKey(const grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("meridian-client-id"); it != metadata.end() && !it->second.empty()) {
    return std::string(it->second.data(), std::min<size_t>(it->second.size(), 128));
  }
  // "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555", "unix:/path".
  std::string peer = context.peer();
  if (peer.starts_with("ipv4:") || peer.starts_with("ipv6:")) {
    const size_t colon = peer.rfind(':');
    if (colon != std::string::npos && colon > 4) peer.resize(colon);
  }
  return peer;
}

RequestGuard::RequestGuard(ServiceContext* ctx, const grpc::ServerContext* context,
                           bool route_by_key)
    : ctx_(ctx) {
  ++ctx_->in_flight;
  if (ctx_->draining) {
    status_ = UnavailableError("this node is shutting down; retry another node");
    return;
  }
  // Operator requests (membership changes) are not held back: removing or
  // fixing a fenced node must stay possible.
  if (context != nullptr && ctx_->fence != nullptr) {
    status_ = ctx_->fence->Check();
    if (!status_.ok()) return;
  }
  if (context != nullptr && ctx_->admission != nullptr) {
    // The client's key is only needed for its rate limit.
    status_ = ctx_->admission->Admit(ctx_->admission->rate_limited() ? ClientKey(*context)
                                                                     : std::string());
    if (!status_.ok()) return;
    admitted_ = true;
  }
  if (!route_by_key) status_ = ctx_->ReadBarrier();
}

RequestGuard::~RequestGuard() {
  if (admitted_) ctx_->admission->Release();
  --ctx_->in_flight;
}

Status ServiceContext::CheckLeader() const {
  if (replication == nullptr || replication->IsLeaderReady()) return absl::OkStatus();
  const std::string leader = replication->LeaderAddress();
  return NotLeaderError(leader, leader.empty()
                                    ? "this node is not the leader and no leader is known yet"
                                    : absl::StrCat("this node is not the leader; the leader is ",
                                                   leader));
}

Status ServiceContext::ReadBarrier() const { return GroupReadBarrier(replication); }

std::string ServiceContext::ClientUrl() const {
  std::string host = config->listen.substr(0, config->listen.rfind(':'));
  return absl::StrCat(host, ":", bound_port.load());
}

Result<std::optional<uint64_t>> ServiceContext::SnapshotFrom(const v1::VectorTimestamp& v) const {
  if (v.entries().empty()) return std::optional<uint64_t>();
  std::optional<uint64_t> out;
  for (const auto& e : v.entries()) {
    if (e.site_id() != config->site_id) {
      if (e.hlc() == 0) continue;
      return InvalidArgumentError(absl::StrCat("snapshot names site ", e.site_id(),
                                               ", which this cluster does not have"));
    }
    out = e.hlc();
  }
  return out;
}

}  // namespace meridian::server
