// meridian.v1.KV and meridian.v1.Cset.
#include "meridian/v1/cset.grpc.pb.h"
#include "meridian/v1/kv.grpc.pb.h"
#include "proto/grpc_status.h"
#include "server/services.h"
#include "server/services_internal.h"

namespace meridian::server {
namespace {

// Scan results are streamed in chunks of at most this many keys or bytes.
constexpr size_t kScanChunkKeys = 512;
constexpr size_t kScanChunkBytes = 1 << 20;

class KvService final : public v1::KV::Service {
 public:
  explicit KvService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::Status Get(grpc::ServerContext* context, const v1::GetRequest* req,
                   v1::GetResponse* resp) override {
    MERIDIAN_BEGIN_SESSION_REQUEST(context, req->header());
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto snap, ctx_->SnapshotFrom(req->snapshot()));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard,
                                   ctx_->RouteRead(req->key(), req->header(), snap, *context));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto r, shard.store->Get(req->key(), snap));
    ctx_->FillHeader(resp->mutable_header(), r.snapshot_hlc, 0, shard.shard_id(),
                     &req->header());
    resp->set_found(r.found);
    if (r.found) {
      resp->set_value(std::move(r.value));
      ToProto(r.version, resp->mutable_version());
    }
    return grpc::Status::OK;
  }

  grpc::Status Put(grpc::ServerContext* context, const v1::PutRequest* req,
                   v1::PutResponse* resp) override {
    MERIDIAN_BEGIN_SESSION_REQUEST(context, req->header());
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForKey(req->key(), req->header()));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto c, shard.store->Put(req->key(), req->value()));
    ctx_->FillHeader(resp->mutable_header(), 0, c.commit_hlc, shard.shard_id(),
                     &req->header());
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* context, const v1::DeleteRequest* req,
                      v1::DeleteResponse* resp) override {
    MERIDIAN_BEGIN_SESSION_REQUEST(context, req->header());
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForKey(req->key(), req->header()));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto d, shard.store->Delete(req->key()));
    ctx_->FillHeader(resp->mutable_header(), 0, d.commit_hlc, shard.shard_id(),
                     &req->header());
    resp->set_existed(d.existed);
    return grpc::Status::OK;
  }

  grpc::Status Scan(grpc::ServerContext* context, const v1::ScanRequest* req,
                    grpc::ServerWriter<v1::ScanResponse>* writer) override {
    MERIDIAN_BEGIN_SESSION_REQUEST(context, req->header());
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto snap, ctx_->SnapshotFrom(req->snapshot()));
    txn::ScanRange range{req->start(), req->end(), req->prefix(), req->limit(), req->keys_only()};
    ResumePrefixScan(&range);
    // The shard holding the range's first key serves the part of the range
    // inside it; resume_key tells the client where the rest starts.
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(
        auto shard, ctx_->RouteRead(ScanFirstKey(range), req->header(), snap, *context));
    const std::string resume_key = ClipScanToShard(*shard.shard, &range);
    v1::ScanResponse chunk;
    size_t chunk_bytes = 0;
    bool first = true, broken = false;
    uint64_t snapshot_used = 0;
    auto flush = [&](bool last) {
      if (first) {
        ctx_->FillHeader(chunk.mutable_header(), snapshot_used, 0, shard.shard_id(),
                         &req->header());
      }
      first = false;
      if (!writer->Write(chunk, last ? grpc::WriteOptions().set_last_message()
                                     : grpc::WriteOptions())) {
        broken = true;  // the client went away
      }
      chunk.Clear();
      chunk_bytes = 0;
    };
    bool more = false;
    Status s = shard.store->Scan(
        range, snap,
        [&](const txn::KeyValue& kv) {
          if (context->IsCancelled()) return false;
          auto* out = chunk.add_kvs();
          out->set_key(kv.key);
          out->set_value(kv.value);
          ToProto(kv.version, out->mutable_version());
          chunk_bytes += kv.key.size() + kv.value.size();
          if (chunk.kvs_size() >= static_cast<int>(kScanChunkKeys) ||
              chunk_bytes >= kScanChunkBytes) {
            flush(false);
          }
          return !broken;
        },
        &more, &snapshot_used);
    if (!s.ok()) return ToGrpcStatus(s);
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "scan cancelled");
    chunk.set_more(more);
    if (!more) chunk.set_resume_key(resume_key);
    flush(true);
    return grpc::Status::OK;
  }

 private:
  ServiceContext* ctx_;
};

class CsetService final : public v1::Cset::Service {
 public:
  explicit CsetService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::Status Add(grpc::ServerContext* context, const v1::CsetAddRequest* req,
                   v1::CsetAddResponse* resp) override {
    MERIDIAN_BEGIN_SESSION_REQUEST(context, req->header());
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForKey(req->key(), req->header()));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto c, shard.store->CsetAdd(req->key(), req->element()));
    ctx_->FillHeader(resp->mutable_header(), 0, c.commit_hlc, shard.shard_id(),
                     &req->header());
    return grpc::Status::OK;
  }

  grpc::Status Remove(grpc::ServerContext* context, const v1::CsetRemoveRequest* req,
                      v1::CsetRemoveResponse* resp) override {
    MERIDIAN_BEGIN_SESSION_REQUEST(context, req->header());
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForKey(req->key(), req->header()));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto c, shard.store->CsetRemove(req->key(), req->element()));
    ctx_->FillHeader(resp->mutable_header(), 0, c.commit_hlc, shard.shard_id(),
                     &req->header());
    return grpc::Status::OK;
  }

  grpc::Status Read(grpc::ServerContext* context, const v1::CsetReadRequest* req,
                    v1::CsetReadResponse* resp) override {
    MERIDIAN_BEGIN_SESSION_REQUEST(context, req->header());
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ctx_->router->ForKey(req->key(), req->header()));
    uint64_t snap = 0;
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto entries, shard.store->CsetRead(req->key(), &snap));
    ctx_->FillHeader(resp->mutable_header(), snap, 0, shard.shard_id(),
                     &req->header());
    for (auto& e : entries) {
      auto* out = resp->add_entries();
      out->set_element(std::move(e.element));
      out->set_count(e.count);
    }
    return grpc::Status::OK;
  }

 private:
  ServiceContext* ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeKvService(ServiceContext* ctx) {
  return std::make_unique<KvService>(ctx);
}
std::unique_ptr<grpc::Service> MakeCsetService(ServiceContext* ctx) {
  return std::make_unique<CsetService>(ctx);
}

}  // namespace meridian::server
