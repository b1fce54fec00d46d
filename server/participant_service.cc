// meridian.v1.Participant: a shard's side of a transaction whose
// coordinator is another node, and of a follower's session read waiting on
// an idle shard (ShardCaller calls it). Each call names its shard and is
// served by the shard's leader.
#include "meridian/v1/participant.grpc.pb.h"
#include "server/close_request.h"
#include "server/cluster_clock.h"
#include "server/participant_proto.h"
#include "server/services_internal.h"

namespace meridian::server {
namespace {

class ParticipantService final : public v1::Participant::Service {
 public:
  explicit ParticipantService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::Status CommitWrites(grpc::ServerContext* context, const v1::CommitWritesRequest* req,
                            v1::CommitWritesResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForShard(req->shard_id()));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(
        auto c, shard.store->CommitWrites(req->snapshot_hlc(), FromProto(req->writes())));
    resp->set_commit_hlc(c.commit_hlc);
    return grpc::Status::OK;
  }

  grpc::Status Prepare(grpc::ServerContext* context, const v1::PrepareRequest* req,
                       v1::PrepareResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForShard(req->shard_id()));
    txn::PrepareArgs args;
    args.txn = req->txn();
    args.snapshot_hlc = req->snapshot_hlc();
    args.deadline_unix_ms = req->deadline_unix_ms();
    args.record_shard = req->record_shard();
    args.writes = FromProto(req->writes());
    for (const auto& [key, value] : args.writes) {
      MERIDIAN_GRPC_RETURN_IF_ERROR(Router::CheckSameShard(shard, key));
    }
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(uint64_t p, shard.store->Prepare(args));
    resp->set_prepare_hlc(p);
    return grpc::Status::OK;
  }

  grpc::Status Decide(grpc::ServerContext* context, const v1::DecideRequest* req,
                      v1::DecideResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForShard(req->shard_id()));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto o,
                                   shard.store->Decide(req->txn(), FromProto(req->proposal())));
    ToProto(o, resp->mutable_outcome());
    return grpc::Status::OK;
  }

  // About this node, not a shard: answered without admission control or
  // the fence (a coordinator counts a node that does not answer as far
  // ahead as a clock may be), and while draining.
  grpc::Status NodeClock(grpc::ServerContext*, const v1::NodeClockRequest* req,
                         v1::NodeClockResponse* resp) override {
    if (ctx_->cluster_clock == nullptr) {
      return ToGrpcStatus(UnavailableError("this node is starting"));
    }
    *resp = ctx_->cluster_clock->Answer(req->hlc());
    return grpc::Status::OK;
  }

  grpc::Status Resolve(grpc::ServerContext* context, const v1::ResolveRequest* req,
                       v1::ResolveResponse*) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForShard(req->shard_id()));
    std::vector<std::string> keys(req->keys().begin(), req->keys().end());
    MERIDIAN_GRPC_RETURN_IF_ERROR(
        shard.store->Resolve(req->txn(), FromProto(req->outcome()), keys));
    return grpc::Status::OK;
  }

  grpc::Status CloseThrough(grpc::ServerContext* context, const v1::CloseThroughRequest* req,
                            v1::CloseThroughResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForShard(req->shard_id()));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(
        uint64_t closed, ServeCloseRequest(shard.store, req->through_hlc(), ctx_->hlc, ctx_->clock,
                                           ctx_->config->max_clock_offset_ms));
    resp->set_closed_hlc(closed);
    return grpc::Status::OK;
  }

  grpc::Status Split(grpc::ServerContext* context, const v1::SplitRequest* req,
                     v1::SplitResponse*) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForShard(req->shard_id()));
    txn::SplitSpec spec{req->split_key(), req->child_shard_id(), req->child_group_id()};
    MERIDIAN_GRPC_RETURN_IF_ERROR(shard.store->Split(spec));
    return grpc::Status::OK;
  }

 private:
  ServiceContext* ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeParticipantService(ServiceContext* ctx) {
  return std::make_unique<ParticipantService>(ctx);
}

}  // namespace meridian::server
