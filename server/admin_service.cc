// meridian.v1.Admin, and the list of all services.
#include "meridian/v1/admin.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include <thread>

#include "server/group_host.h"
#include "server/placement.h"
#include "proto/shard_lookup.h"
#include "server/replication.h"
#include "server/router.h"
#include "server/shard_directory.h"
#include "server/services_internal.h"
#include "server/session_keys.h"
#include "server/shard_splitter.h"

namespace meridian::server {
namespace {

class AdminService final : public v1::Admin::Service {
 public:
  explicit AdminService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                      v1::StatusResponse* resp) override {
    ctx_->FillHeader(resp->mutable_header(), ctx_->store->VisibleHlc(), 0);
    storage::EngineStats stats = ctx_->engine->Stats();
    resp->set_version(MERIDIAN_VERSION);
    resp->set_engine(std::string(ctx_->engine->Name()));
    resp->set_applied_index(stats.applied_index);
    resp->set_durable_index(stats.durable_index);
    resp->set_now_hlc(ctx_->hlc->Now());
    resp->set_uptime_ms((ctx_->clock->NowMonotonicMicros() - ctx_->start_mono_us) / 1000);
    resp->set_db_size_bytes(stats.approximate_size_bytes);
    resp->set_data_dir(ctx_->config->data_dir);
    resp->set_open_txns(ctx_->store->OpenTxnCount());
    resp->set_is_leader(ctx_->CheckLeader().ok());
    auto* limits = resp->mutable_limits();
    limits->set_max_key_bytes(ctx_->config->limits.max_key_bytes);
    limits->set_max_value_bytes(ctx_->config->limits.max_value_bytes);
    limits->set_max_txn_ops(ctx_->config->limits.max_txn_ops);
    limits->set_max_txn_bytes(ctx_->config->limits.max_txn_bytes);
    if (ctx_->groups != nullptr) FillGroups(resp);
    return grpc::Status::OK;
  }

  void FillGroups(v1::StatusResponse* resp) {
    for (Replication* r : ctx_->groups->groups()) {
      const Replication::Snapshot d = r->Describe();
      v1::GroupStatus* g = resp->add_groups();
      g->set_group(r->group());
      g->set_leader_id(d.leader);
      g->set_is_leader(d.is_leader);
      g->set_ballot_round(d.ballot_round);
      g->set_commit_index(d.commit_index);
      g->set_applied_index(d.applied_index);
      g->set_voters(static_cast<uint32_t>(d.voters));
      g->set_learners(static_cast<uint32_t>(d.learners));
    }
    const GroupHost::TransportStats t = ctx_->groups->transport_stats();
    resp->set_peer_batches_sent(t.batches_sent);
    resp->set_peer_messages_sent(t.messages_sent);
  }

  grpc::Status Shards(grpc::ServerContext*, const v1::ShardsRequest*,
                      v1::ShardsResponse* resp) override {
    ctx_->FillHeader(resp->mutable_header(), 0, 0);
    ShardDirectory::View view = ctx_->shards->Current();
    *resp->mutable_config() = *view.config;
    for (v1::SigningKey& k : *resp->mutable_config()->mutable_signing_keys()) k.clear_secret();
    resp->set_source(view.source);
    for (const v1::ShardInfo& shard : view.config->shards()) {
      const v1::ShardGroup* g = GroupInSite(shard, ctx_->config->site_id);
      if (g == nullptr) continue;
      v1::ShardLeader* l = resp->add_leaders();
      l->set_shard_id(shard.shard_id());
      l->set_group_id(g->group_id());
      if (ctx_->groups == nullptr) {  // a single node leads its one shard
        l->set_leader_id(ctx_->config->member_id == 0 ? 1 : ctx_->config->member_id);
        l->set_leader_address(ctx_->ClientUrl());
        continue;
      }
      const auto [id, address] = ctx_->router->LeaderOf(g->group_id());
      l->set_leader_id(id);
      l->set_leader_address(address);
    }
    return grpc::Status::OK;
  }

  grpc::Status SplitShard(grpc::ServerContext* context, const v1::SplitShardRequest* req,
                          v1::SplitShardResponse* resp) override {
    if (ctx_->splitter == nullptr) {
      return ToGrpcStatus(MakeError({.kind = ErrorKind::kInvalidArgument},
                                    "a single node (--dev) has one shard and does not split"));
    }
    // One hop at most: a forwarded request is served or refused.
    const bool forwarded = context->client_metadata().count("meridian-forwarded") > 0;
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(*resp,
                                   ctx_->splitter->Split(req->split_key(), "manual", !forwarded));
    ctx_->FillHeader(resp->mutable_header(), 0, 0, resp->child_shard_id());
    return grpc::Status::OK;
  }

  grpc::Status RotateSigningKey(grpc::ServerContext* context, const v1::RotateSigningKeyRequest*,
                                v1::RotateSigningKeyResponse* resp) override {
    if (ctx_->config_group == nullptr) {
      return ToGrpcStatus(MakeError(
          {.kind = ErrorKind::kInvalidArgument},
          "a single node (--dev) signs session tokens with its one key "
          "(<data_dir>/session-signing-key) and does not rotate it; rotation needs a cluster"));
    }
    const bool forwarded = context->client_metadata().count("meridian-forwarded") > 0;
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(*resp,
                                   server::RotateSigningKey(ctx_->config_group, !forwarded));
    // This node signs with the new key from now on, even if it only
    // forwarded the request (once its replica applied the change).
    if (ctx_->reload_cluster_config) ctx_->reload_cluster_config();
    ctx_->FillHeader(resp->mutable_header(), 0, 0);
    return grpc::Status::OK;
  }

  grpc::Status LeaderTransfer(grpc::ServerContext*, const v1::LeaderTransferRequest* req,
                              v1::LeaderTransferResponse* resp) override {
    if (ctx_->groups == nullptr) {
      return ToGrpcStatus(MakeError({.kind = ErrorKind::kInvalidArgument},
                                    "a single node (--dev) has no leadership to transfer"));
    }
    uint64_t group = kConfigGroupId;
    std::string hint;
    if (req->shard_id() != 0) {
      ShardDirectory::View view = ctx_->shards->Current();
      const v1::ShardInfo* shard = FindShardById(*view.config, req->shard_id());
      const v1::ShardGroup* g = shard ? GroupInSite(*shard, ctx_->config->site_id) : nullptr;
      if (g == nullptr) {
        return ToGrpcStatus(MakeError({.kind = ErrorKind::kInvalidArgument},
                                      absl::StrCat("no shard ", req->shard_id(), " in this site")));
      }
      group = g->group_id();
      if (!g->replicas().empty()) hint = NodeAddress(*view.config, g->replicas(0));
    }
    Replication* r = ctx_->groups->group(group);
    if (r == nullptr) {
      return ToGrpcStatus(WrongShardError(hint, ctx_->shards->Current().config->version(),
                                          absl::StrCat("this node hosts no replica of shard ",
                                                       req->shard_id())));
    }
    MERIDIAN_GRPC_RETURN_IF_ERROR(r->TransferLeadership(req->to_member_id()));
    const uint64_t until = ctx_->clock->NowMonotonicMicros() + 5'000'000;
    while (r->LeaderId() != req->to_member_id() && ctx_->clock->NowMonotonicMicros() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (r->LeaderId() != req->to_member_id()) {
      return ToGrpcStatus(UnavailableError(absl::StrCat(
          "leadership of shard ", req->shard_id(), " did not move to member ",
          req->to_member_id(), " within 5 s (is it caught up and reachable?)")));
    }
    ctx_->FillHeader(resp->mutable_header(), 0, 0, req->shard_id());
    v1::ShardLeader* l = resp->mutable_leader();
    l->set_shard_id(req->shard_id());
    l->set_group_id(group);
    l->set_leader_id(r->LeaderId());
    l->set_leader_address(r->LeaderAddress());
    return grpc::Status::OK;
  }

  grpc::Status Members(grpc::ServerContext*, const v1::MembersRequest*,
                       v1::MembersResponse* resp) override {
    ctx_->FillHeader(resp->mutable_header(), 0, 0);
    if (ctx_->replication == nullptr) {
      auto* m = resp->add_members();
      m->set_node_id(ctx_->config->node_id);
      m->set_site_name(ctx_->config->site);
      m->set_site_id(ctx_->config->site_id);
      m->set_client_url(ctx_->ClientUrl());
      m->set_is_leader(true);
      return grpc::Status::OK;
    }
    FillMembers(resp);
    return grpc::Status::OK;
  }

  grpc::Status MemberAdd(grpc::ServerContext*, const v1::MemberAddRequest* req,
                         v1::MemberChangeResponse* resp) override {
    const consensus::NodeId id = req->member_id();
    const std::string address = req->address();
    const bool voter = req->as_voter();
    return Change(resp, [=](const consensus::Membership& current) -> Result<consensus::Membership> {
      if (id == consensus::kNoNode || id > consensus::kMaxNodeId) {
        return InvalidArgumentError("member_id must be in [1, 65535]");
      }
      if (address.empty() || address.rfind(':') == std::string::npos) {
        return InvalidArgumentError("address must be host:port");
      }
      if (current.Contains(id)) {
        return InvalidArgumentError(absl::StrCat("member ", id, " is already in the group"));
      }
      consensus::Membership next = current;
      (voter ? next.voters : next.learners)[id] = address;
      return next;
    });
  }

  grpc::Status MemberPromote(grpc::ServerContext*, const v1::MemberPromoteRequest* req,
                             v1::MemberChangeResponse* resp) override {
    const consensus::NodeId id = req->member_id();
    return Change(resp, [=](const consensus::Membership& current) -> Result<consensus::Membership> {
      auto it = current.learners.find(id);
      if (it == current.learners.end()) {
        return InvalidArgumentError(absl::StrCat("member ", id, " is not a learner"));
      }
      consensus::Membership next = current;
      next.voters[id] = it->second;
      next.learners.erase(id);
      return next;
    });
  }

  // Backup and restore of group 1 (admin.proto). Operator requests: exempt
  // from admission control, but only the leader serves them.
  grpc::Status Backup(grpc::ServerContext* context, const v1::BackupRequest*,
                      grpc::ServerWriter<v1::BackupChunk>* writer) override {
    MERIDIAN_BEGIN_REQUEST(nullptr);  // confirms leadership, as a linearizable read does
    MERIDIAN_GRPC_RETURN_IF_ERROR(CheckOneShard("backup"));
    v1::BackupChunk chunk;
    uint64_t chunk_bytes = 0;
    uint64_t total = 0;
    const auto send = [&]() -> meridian::Status {
      // Once per chunk, not per record: IsCancelled takes a lock that the
      // completion queue's thread contends for.
      if (context->IsCancelled()) return absl::CancelledError("the client cancelled the backup");
      if (!writer->Write(chunk)) return UnavailableError("the client went away during the backup");
      chunk.Clear();
      chunk_bytes = 0;
      return absl::OkStatus();
    };
    meridian::Status s = ctx_->store->ExportBackup(
        [&](const txn::BackupSnapshot& snap) -> meridian::Status {
          // The header goes out at once: the client learns the snapshot
          // before the first records.
          ctx_->FillHeader(chunk.mutable_header(), snap.snapshot_hlc, 0);
          v1::BackupHeader* h = chunk.mutable_backup();
          h->set_snapshot_hlc(snap.snapshot_hlc);
          h->set_site_id(ctx_->config->site_id);
          h->set_group(1);
          h->set_applied_index(snap.applied_index);
          h->set_source_member_id(ctx_->config->member_id);
          h->set_source_node_id(ctx_->config->node_id);
          h->set_server_version(MERIDIAN_VERSION);
          h->set_created_unix_ms(ctx_->clock->NowUnixMillis());
          return send();
        },
        [&](const txn::BackupRecord& r) -> meridian::Status {
          const uint64_t bytes = r.key.size() + r.value.size() + r.element.size();
          // Chunks stay within the restore's limit, so that each one can
          // be restored as it was saved.
          if (chunk.records_size() > 0 &&
              chunk_bytes + bytes > txn::TxnStore::kMaxRestoreChunkBytes) {
            MERIDIAN_RETURN_IF_ERROR(send());
          }
          ToProto(r, chunk.add_records());
          chunk_bytes += bytes;
          ++total;
          return absl::OkStatus();
        });
    if (!s.ok()) return ToGrpcStatus(s);
    if (chunk.records_size() > 0) MERIDIAN_GRPC_RETURN_IF_ERROR(send());
    chunk.set_done(true);
    chunk.set_total_records(total);
    if (!writer->Write(chunk, grpc::WriteOptions().set_last_message())) {
      return ToGrpcStatus(UnavailableError("the client went away during the backup"));
    }
    return grpc::Status::OK;
  }

  grpc::Status RestoreBegin(grpc::ServerContext*, const v1::RestoreBeginRequest* req,
                            v1::RestoreBeginResponse* resp) override {
    MERIDIAN_BEGIN_REQUEST(nullptr);
    MERIDIAN_GRPC_RETURN_IF_ERROR(CheckOneShard("restore"));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(txn::RestoreProgress p,
                                   ctx_->store->RestoreBegin(FromProto(req->backup())));
    return Answer(p, resp);
  }

  grpc::Status RestoreChunk(grpc::ServerContext*, const v1::RestoreChunkRequest* req,
                            v1::RestoreChunkResponse* resp) override {
    MERIDIAN_BEGIN_REQUEST(nullptr);
    MERIDIAN_GRPC_RETURN_IF_ERROR(CheckOneShard("restore"));
    std::vector<txn::BackupRecord> records;
    records.reserve(req->records_size());
    for (const v1::BackupRecord& r : req->records()) {
      if (r.kind() != v1::BackupRecord::KV && r.kind() != v1::BackupRecord::CSET_ELEMENT) {
        return ToGrpcStatus(InvalidArgumentError(
            absl::StrCat("restore: block ", req->block(), ": unknown record kind ", r.kind())));
      }
      records.push_back(FromProto(r));
    }
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(
        txn::RestoreProgress p,
        ctx_->store->RestoreChunk(FromProto(req->backup()), req->block(), records));
    return Answer(p, resp);
  }

  grpc::Status RestoreFinish(grpc::ServerContext*, const v1::RestoreFinishRequest* req,
                             v1::RestoreFinishResponse* resp) override {
    MERIDIAN_BEGIN_REQUEST(nullptr);
    MERIDIAN_GRPC_RETURN_IF_ERROR(CheckOneShard("restore"));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(txn::RestoreProgress p,
                                   ctx_->store->RestoreFinish(FromProto(req->backup())));
    return Answer(p, resp);
  }

  grpc::Status MemberRemove(grpc::ServerContext*, const v1::MemberRemoveRequest* req,
                            v1::MemberChangeResponse* resp) override {
    const consensus::NodeId id = req->member_id();
    return Change(resp, [=](const consensus::Membership& current) -> Result<consensus::Membership> {
      if (!current.Contains(id)) {
        return InvalidArgumentError(absl::StrCat("member ", id, " is not in the group"));
      }
      consensus::Membership next = current;
      next.voters.erase(id);
      next.learners.erase(id);
      return next;
    });
  }

 private:
  static void ToProto(const txn::BackupRecord& r, v1::BackupRecord* out) {
    if (r.kind == txn::BackupRecord::Kind::kKv) {
      out->set_key(r.key);
      out->set_value(r.value);
    } else {
      out->set_kind(v1::BackupRecord::CSET_ELEMENT);
      out->set_key(r.key);
      out->set_element(r.element);
      out->set_count(r.count);
    }
    server::ToProto(r.version, out->mutable_version());
  }
  static txn::BackupRecord FromProto(const v1::BackupRecord& r) {
    txn::BackupRecord out;
    out.kind = r.kind() == v1::BackupRecord::CSET_ELEMENT ? txn::BackupRecord::Kind::kCsetElement
                                                           : txn::BackupRecord::Kind::kKv;
    out.key = r.key();
    out.value = r.value();
    out.element = r.element();
    out.count = r.count();
    out.version = {r.version().hlc(), r.version().site_id()};
    return out;
  }
  static txn::RestoreIdentity FromProto(const v1::RestoreIdentity& id) {
    return {.snapshot_hlc = id.snapshot_hlc(),
            .site_id = id.site_id(),
            .record_count = id.record_count(),
            .block_count = id.block_count(),
            .checksum = id.checksum()};
  }
  // Backups cover group 1's store: the whole keyspace only while there is
  // one shard.
  meridian::Status CheckOneShard(const char* what) const {
    const size_t shards = ctx_->router->ShardCount();
    if (shards == 1) return absl::OkStatus();
    return MakeError({.kind = ErrorKind::kInvalidArgument},
                     absl::StrCat(what, " covers one shard, and this cluster has ", shards,
                                  "; backup and restore of a sharded cluster are not supported "
                                  "yet"));
  }

  template <typename Response>
  grpc::Status Answer(const txn::RestoreProgress& p, Response* resp) {
    ctx_->FillHeader(resp->mutable_header(), 0, 0);
    resp->mutable_progress()->set_next_block(p.next_block);
    resp->mutable_progress()->set_records_applied(p.records_applied);
    return grpc::Status::OK;
  }

  // Fills the membership as this node knows it (committed).
  void FillMembers(v1::MembersResponse* resp) const {
    ctx_->FillHeader(resp->mutable_header(), 0, 0);
    const auto [membership, index] = ctx_->replication->Membership();
    const consensus::NodeId leader = ctx_->replication->LeaderId();
    resp->set_config_index(index);
    auto add = [&](consensus::NodeId id, const std::string& address, bool learner) {
      auto* m = resp->add_members();
      m->set_node_id(absl::StrCat(id));
      m->set_member_id(id);
      m->set_site_name(ctx_->config->site);
      m->set_site_id(ctx_->config->site_id);
      m->set_client_url(address);
      m->set_is_leader(id == leader);
      m->set_is_learner(learner);
    };
    for (const auto& [id, address] : membership.voters) add(id, address, false);
    for (const auto& [id, address] : membership.learners) add(id, address, true);
  }

  grpc::Status Change(v1::MemberChangeResponse* resp, Replication::MembershipEdit edit) {
    if (ctx_->replication == nullptr) {
      return ToGrpcStatus(InvalidArgumentError(
          "this node runs unreplicated (no --cluster); membership cannot change"));
    }
    MERIDIAN_BEGIN_REQUEST(nullptr);  // operators act even under overload
    Result<consensus::Membership> changed = ctx_->replication->ChangeMembership(std::move(edit));
    if (!changed.ok()) {
      meridian::Status s = changed.status();
      if (GetErrorKind(s) == ErrorKind::kNotLeader) s = ctx_->CheckLeader();
      if (s.ok()) s = UnavailableError("leadership changed during the membership change; retry");
      return ToGrpcStatus(s);
    }
    FillMembers(resp->mutable_membership());
    ctx_->FillHeader(resp->mutable_header(), 0, 0);
    return grpc::Status::OK;
  }

  ServiceContext* ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAdminService(ServiceContext* ctx) {
  return std::make_unique<AdminService>(ctx);
}

std::vector<std::unique_ptr<grpc::Service>> MakeServices(ServiceContext* ctx) {
  if (ctx->admission == nullptr) {
    ctx->admission = std::make_unique<Admission>(
        AdmissionOptions{.max_inflight = ctx->config->max_inflight,
                         .client_rate_limit = ctx->config->client_rate_limit,
                         .client_rate_burst = ctx->config->client_rate_burst},
        ctx->clock);
  }
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(MakeKvService(ctx));
  services.push_back(MakeTxnService(ctx));
  services.push_back(MakeCsetService(ctx));
  services.push_back(MakeAdminService(ctx));
  services.push_back(MakeParticipantService(ctx));
  return services;
}

}  // namespace meridian::server
