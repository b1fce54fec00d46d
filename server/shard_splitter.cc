#include "server/shard_splitter.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "meridian/v1/admin.grpc.pb.h"
#include "proto/grpc_status.h"
#include "proto/shard_lookup.h"
#include "server/log.h"
#include "server/replication.h"

namespace meridian::server {
namespace {

constexpr auto kForwardDeadline = std::chrono::seconds(30);

std::string Printable(std::string_view key) {
  return absl::CHexEscape(absl::string_view(key.data(), std::min<size_t>(key.size(), 64)));
}

// The pending split of `shard`, if any.
const v1::PendingSplit* PendingOf(const v1::ClusterConfig& config, uint64_t shard) {
  for (const v1::PendingSplit& p : config.pending_splits()) {
    if (p.shard_id() == shard) return &p;
  }
  return nullptr;
}

}  // namespace

ShardSplitter::ShardSplitter(ConfigGroup* config, ShardDirectory* directory, ShardCaller* caller,
                             Router* router, const Options& options)
    : config_(config), directory_(directory), caller_(caller), router_(router),
      options_(options) {}

Result<v1::SplitShardResponse> ShardSplitter::Split(const std::string& split_key,
                                                    const std::string& reason, bool may_forward) {
  if (split_key.empty()) {
    return InvalidArgumentError("split: give the key the new shard starts at");
  }
  if (!config_->replication()->IsLeaderReady()) {
    const std::string leader = config_->replication()->LeaderAddress();
    if (!may_forward || leader.empty()) {
      return NotLeaderError(leader, "splits are made by the config group's leader");
    }
    v1::SplitShardRequest req;
    req.set_split_key(split_key);
    v1::SplitShardResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kForwardDeadline);
    ctx.AddMetadata("meridian-forwarded", "1");
    auto stub =
        v1::Admin::NewStub(grpc::CreateChannel(leader, grpc::InsecureChannelCredentials()));
    MERIDIAN_RETURN_IF_ERROR(FromGrpcStatus(stub->SplitShard(&ctx, req, &resp)));
    return resp;
  }
  std::lock_guard<std::mutex> lock(mu_);
  {
    // A repeat of a split that is done (a client retrying after a timeout)
    // is answered with it.
    const ShardDirectory::View view = directory_->Current();
    const v1::ShardInfo* shard = FindShard(*view.config, split_key);
    if (shard != nullptr && shard->start_key() == split_key && shard->parent_shard_id() != 0) {
      v1::SplitShardResponse resp;
      resp.set_shard_id(shard->parent_shard_id());
      resp.set_child_shard_id(shard->shard_id());
      resp.set_map_version(view.config->version());
      return resp;
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(v1::PendingSplit pending, Accept(split_key, reason));
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t version, Finish(pending));
  v1::SplitShardResponse resp;
  resp.set_shard_id(pending.shard_id());
  resp.set_child_shard_id(pending.child_shard_id());
  resp.set_map_version(version);
  return resp;
}

Result<v1::PendingSplit> ShardSplitter::Accept(const std::string& split_key,
                                               const std::string& reason) {
  v1::PendingSplit out;
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::ClusterConfig committed, config_->Update([&](v1::ClusterConfig* c) -> Result<bool> {
        const v1::ShardInfo* shard = FindShard(*c, split_key);
        if (shard == nullptr) return absl::InternalError("the shard map covers no such key");
        if (shard->start_key() == split_key) {
          return InvalidArgumentError(absl::StrCat("split: \"", Printable(split_key),
                                                   "\" already starts shard ", shard->shard_id()));
        }
        if (const v1::PendingSplit* p = PendingOf(*c, shard->shard_id()); p != nullptr) {
          if (p->split_key() != split_key) {
            return absl::FailedPreconditionError(absl::StrCat(
                "split: shard ", shard->shard_id(), " has a split at \"",
                Printable(p->split_key()), "\" pending; retry once it is done"));
          }
          out = *p;
          return false;  // already pending
        }
        v1::PendingSplit* p = c->add_pending_splits();
        p->set_shard_id(shard->shard_id());
        p->set_split_key(split_key);
        p->set_child_shard_id(std::max<uint64_t>(c->next_shard_id(), 1));
        p->set_requested_unix_ms(SystemClock()->NowUnixMillis());
        p->set_reason(reason);
        c->set_next_shard_id(p->child_shard_id() + 1);
        out = *p;
        return true;
      }));
  Log(Level::kInfo, "split accepted",
      {{"shard", absl::StrCat(out.shard_id())},
       {"split_key", Printable(out.split_key())},
       {"child_shard", absl::StrCat(out.child_shard_id())},
       {"reason", out.reason()}});
  Publish(committed);
  return out;
}

Result<uint64_t> ShardSplitter::Finish(const v1::PendingSplit& pending) {
  const txn::SplitSpec spec{pending.split_key(), pending.child_shard_id(),
                            pending.child_shard_id()};
  MERIDIAN_RETURN_IF_ERROR(caller_->Split(pending.shard_id(), spec));
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::ClusterConfig committed, config_->Update([&](v1::ClusterConfig* c) -> Result<bool> {
        auto* splits = c->mutable_pending_splits();
        auto it = std::find_if(splits->begin(), splits->end(), [&](const v1::PendingSplit& p) {
          return p.child_shard_id() == pending.child_shard_id();
        });
        if (it == splits->end()) return false;  // published already
        splits->erase(it);
        auto* shards = c->mutable_shards();
        auto parent = std::find_if(shards->begin(), shards->end(), [&](const v1::ShardInfo& s) {
          return s.shard_id() == pending.shard_id();
        });
        if (parent == shards->end()) {
          return absl::InternalError(absl::StrCat("split: shard ", pending.shard_id(),
                                                  " is gone from the map"));
        }
        v1::ShardInfo child = *parent;
        child.set_shard_id(pending.child_shard_id());
        child.set_start_key(pending.split_key());
        child.set_parent_shard_id(pending.shard_id());
        for (v1::ShardGroup& g : *child.mutable_groups()) g.set_group_id(pending.child_shard_id());
        parent->set_end_key(pending.split_key());
        shards->Add(std::move(child));
        std::sort(shards->begin(), shards->end(),
                  [](const v1::ShardInfo& a, const v1::ShardInfo& b) {
                    return a.start_key() < b.start_key();
                  });
        return true;
      }));
  Log(Level::kInfo, "split done",
      {{"shard", absl::StrCat(pending.shard_id())},
       {"split_key", Printable(pending.split_key())},
       {"child_shard", absl::StrCat(pending.child_shard_id())},
       {"map_version", absl::StrCat(committed.version())}});
  Publish(committed);
  return committed.version();
}

void ShardSplitter::Publish(const v1::ClusterConfig& config) {
  directory_->Set(config, "committed");
}

void ShardSplitter::FinishPending() {
  if (!config_->replication()->IsLeaderReady()) return;
  const ShardDirectory::View view = directory_->Current();
  if (view.config->pending_splits().empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (const v1::PendingSplit& pending : view.config->pending_splits()) {
    Result<uint64_t> done = Finish(pending);
    if (!done.ok()) {
      Log(Level::kWarn, "a pending split could not finish yet; retrying",
          {{"shard", absl::StrCat(pending.shard_id())},
           {"child_shard", absl::StrCat(pending.child_shard_id())},
           {"error", std::string(done.status().message())}});
    }
  }
}

void ShardSplitter::CheckSizes() {
  if (options_.split_size_bytes == 0) return;
  const ShardDirectory::View view = directory_->Current();
  for (const v1::ShardInfo& shard : view.config->shards()) {
    if (PendingOf(*view.config, shard.shard_id()) != nullptr) continue;
    const v1::ShardGroup* g = GroupInSite(shard, options_.site_id);
    if (g == nullptr) continue;
    std::optional<Router::LocalGroup> local = router_->Local(g->group_id());
    if (!local || local->replication == nullptr || !local->replication->IsLeaderReady()) continue;
    // The scan below reads the whole shard; skip shards whose files are far
    // smaller than the threshold (allowing 2x for compression).
    if (local->store->FootprintBytes() * 2 < options_.split_size_bytes) continue;
    Result<txn::RangeSize> size = local->store->MeasureRange();
    if (!size.ok() || size->live_bytes <= options_.split_size_bytes || size->middle_key.empty()) {
      continue;
    }
    Result<v1::SplitShardResponse> done =
        Split(size->middle_key, absl::StrCat("size: ", size->live_bytes, " bytes"), true);
    if (!done.ok()) {
      Log(Level::kWarn, "a shard over --split-size could not split yet",
          {{"shard", absl::StrCat(shard.shard_id())},
           {"live_bytes", absl::StrCat(size->live_bytes)},
           {"error", std::string(done.status().message())}});
    }
  }
}

void ShardSplitter::Start(uint64_t check_interval_ms) {
  thread_ = std::thread([this, check_interval_ms] {
    const auto check_every = std::chrono::milliseconds(std::max<uint64_t>(check_interval_ms, 1));
    auto next_check = std::chrono::steady_clock::now() + check_every;
    std::unique_lock<std::mutex> lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stop_; })) {
      lock.unlock();
      FinishPending();
      if (std::chrono::steady_clock::now() >= next_check) {
        CheckSizes();
        next_check = std::chrono::steady_clock::now() + check_every;
      }
      lock.lock();
    }
  });
}

void ShardSplitter::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace meridian::server
