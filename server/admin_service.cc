// meridian.v1.Admin, and the list of all services.
#include "meridian/v1/admin.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "server/replication.h"
#include "server/services_internal.h"

namespace meridian::server {
namespace {

class AdminService final : public v1::Admin::Service {
 public:
  explicit AdminService(const ServiceContext* ctx) : ctx_(ctx) {}

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
    auto members = ParseCluster(ctx_->config->cluster);
    if (!members.ok()) return ToGrpcStatus(members.status());
    const consensus::NodeId leader = ctx_->replication->LeaderId();
    for (const auto& [id, addr] : *members) {
      auto* m = resp->add_members();
      m->set_node_id(absl::StrCat(id));
      m->set_site_name(ctx_->config->site);
      m->set_site_id(ctx_->config->site_id);
      m->set_client_url(addr);
      m->set_is_leader(id == leader);
    }
    return grpc::Status::OK;
  }

 private:
  const ServiceContext* ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAdminService(const ServiceContext* ctx) {
  return std::make_unique<AdminService>(ctx);
}

std::vector<std::unique_ptr<grpc::Service>> MakeServices(ServiceContext* ctx) {
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(MakeKvService(ctx));
  services.push_back(MakeTxnService(ctx));
  services.push_back(MakeCsetService(ctx));
  services.push_back(MakeAdminService(ctx));
  return services;
}

}  // namespace meridian::server
