// meridian.v1.Txn: one-shot and interactive transactions.
#include <algorithm>

#include "meridian/v1/txn.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "server/router.h"
#include "server/txn_coordinator.h"
#include "server/server_metrics.h"
#include "server/services_internal.h"

namespace meridian::server {
namespace {

// Transaction outcomes, by path and reason: "fast" commits in one round in
// one shard, "slow" ones run two-phase commit across shards. The children
// are looked up once: With() takes the family's mutex.
struct TxnOutcomes {
  metrics::Counter* committed;
  metrics::Counter* conflict;
  metrics::Counter* expired;
  metrics::Counter* error;
  metrics::Counter* compare_failed;
  metrics::Counter* client_abort;

  static TxnOutcomes Of(const char* path) {
    auto* aborts = Metrics().txn_aborts;
    return TxnOutcomes{Metrics().txn_commits->With({path}),
                       aborts->With({path, "conflict"}),
                       aborts->With({path, "expired"}),
                       aborts->With({path, "error"}),
                       aborts->With({path, "compare_failed"}),
                       aborts->With({path, "client"})};
  }
  static const TxnOutcomes& Get() {
    static const TxnOutcomes fast = Of("fast");
    return fast;
  }
  static const TxnOutcomes& Slow() {
    static const TxnOutcomes slow = Of("slow");
    return slow;
  }
};

// Counts a transaction that did not commit, by why: "conflict" (another
// commit won), "expired" (TXN_NOT_FOUND: its deadline passed, or the id is
// unknown), "error" (any other definite failure, such as a full disk or a
// lost leadership). Not counted: COMMIT_UNKNOWN (it may have committed) and
// INVALID_ARGUMENT (a request refused before it was a transaction).
void CountFailedCommit(const Status& s, bool two_phase = false) {
  const ErrorKind kind = GetErrorKind(s);
  if (kind == ErrorKind::kCommitUnknown || kind == ErrorKind::kInvalidArgument) return;
  const TxnOutcomes& o = two_phase ? TxnOutcomes::Slow() : TxnOutcomes::Get();
  (kind == ErrorKind::kConflict      ? o.conflict
   : kind == ErrorKind::kTxnNotFound ? o.expired
                                     : o.error)
      ->Inc();
}

txn::Compare FromProto(const v1::Compare& c) {
  txn::Compare out;
  switch (c.result()) {
    case v1::Compare::NOT_EQUAL: out.op = txn::Compare::Op::kNotEqual; break;
    case v1::Compare::GREATER: out.op = txn::Compare::Op::kGreater; break;
    case v1::Compare::LESS: out.op = txn::Compare::Op::kLess; break;
    default: out.op = txn::Compare::Op::kEqual; break;
  }
  switch (c.target()) {
    case v1::Compare::VERSION: out.target = txn::Compare::Target::kVersion; break;
    case v1::Compare::EXISTS: out.target = txn::Compare::Target::kExists; break;
    default: out.target = txn::Compare::Target::kValue; break;
  }
  out.key = c.key();
  out.value = c.value();
  out.version = c.version();
  out.exists = c.exists();
  return out;
}

Result<std::vector<txn::Op>> FromProto(const google::protobuf::RepeatedPtrField<v1::Op>& ops) {
  std::vector<txn::Op> out;
  out.reserve(ops.size());
  for (const v1::Op& op : ops) {
    switch (op.op_case()) {
      case v1::Op::kGet: out.push_back({txn::Op::Kind::kGet, op.get().key(), ""}); break;
      case v1::Op::kPut:
        out.push_back({txn::Op::Kind::kPut, op.put().key(), op.put().value()});
        break;
      case v1::Op::kDelete: out.push_back({txn::Op::Kind::kDelete, op.delete_().key(), ""}); break;
      default: return InvalidArgumentError("transaction op has no get, put or delete set");
    }
  }
  return out;
}

void ToProto(const txn::OpResult& r, v1::OpResult* out) {
  switch (r.kind) {
    case txn::Op::Kind::kGet: {
      auto* g = out->mutable_get();
      g->set_found(r.found);
      if (r.found) {
        g->set_value(r.value);
        server::ToProto(r.version, g->mutable_version());
      }
      break;
    }
    case txn::Op::Kind::kPut: out->mutable_put(); break;
    case txn::Op::Kind::kDelete: out->mutable_delete_()->set_existed(r.found); break;
  }
}

class TxnService final : public v1::Txn::Service {
 public:
  explicit TxnService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::Status Execute(grpc::ServerContext* context, const v1::ExecuteRequest* req,
                       v1::ExecuteResponse* resp) override {
    MERIDIAN_BEGIN_SESSION_REQUEST(context, req->header());
    std::vector<txn::Compare> compares;
    for (const auto& c : req->compares()) compares.push_back(FromProto(c));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto success, FromProto(req->success()));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto failure, FromProto(req->failure()));
    // Routed by its first key; every key must be in that shard.
    std::vector<std::string_view> keys;
    for (const auto& c : compares) keys.push_back(c.key);
    for (const auto* ops : {&success, &failure}) {
      for (const auto& op : *ops) keys.push_back(op.key);
    }
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(
        auto shard, ctx_->router->ForKey(keys.empty() ? std::string_view() : keys[0], req->header()));
    const bool one_shard = std::all_of(keys.begin(), keys.end(), [&](std::string_view k) {
      return Router::CheckSameShard(shard, k).ok();
    });
    // Keys in one shard: one atomic step at its leader. Across shards: the
    // coordinator, at one snapshot, committing like a transaction.
    bool two_phase = false;
    Result<txn::ExecuteResult> executed =
        one_shard ? shard.store->Execute(compares, success, failure)
                  : ctx_->coordinator->Execute(compares, success, failure, &two_phase);
    if (!executed.ok()) {
      CountFailedCommit(executed.status(), two_phase);
      return ToGrpcStatus(executed.status());
    }
    txn::ExecuteResult& r = *executed;
    // A failed compare runs the else branch instead: the transaction that
    // was guarded did not commit.
    const TxnOutcomes& outcomes = two_phase ? TxnOutcomes::Slow() : TxnOutcomes::Get();
    (r.succeeded ? outcomes.committed : outcomes.compare_failed)->Inc();
    ctx_->FillHeader(resp->mutable_header(), r.snapshot_hlc, r.commit_hlc,
                     one_shard ? shard.shard_id() : 0, &req->header());
    resp->set_succeeded(r.succeeded);
    for (const auto& res : r.results) ToProto(res, resp->add_results());
    return grpc::Status::OK;
  }

  // The snapshot covers the session's token: at least its entry for this
  // site.
  grpc::Status Begin(grpc::ServerContext* context, const v1::BeginRequest* req,
                     v1::BeginResponse* resp) override {
    MERIDIAN_BEGIN_SESSION_REQUEST(context, req->header());
    if (Coordinated()) {
      MERIDIAN_GRPC_ASSIGN_OR_RETURN(
          auto b, ctx_->coordinator->Begin(req->timeout_ms(), ctx_->SessionFloor(req->header())));
      ctx_->FillHeader(resp->mutable_header(), b.snapshot_hlc, 0, 0, &req->header());
      resp->set_txn_id(b.txn_id);
      resp->set_deadline_unix_ms(b.deadline_unix_ms);
      return grpc::Status::OK;
    }
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard,
                                   ctx_->router->ForKey(req->routing_key(), req->header()));
    // On the leader: its snapshot is the visible timestamp, closed through
    // the token first if it is behind it.
    MERIDIAN_GRPC_RETURN_IF_ERROR(ctx_->CatchUpToSession(shard, req->header(), *context));
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto b, shard.store->Begin(req->timeout_ms()));
    ctx_->FillHeader(resp->mutable_header(), b.snapshot_hlc, 0, shard.shard_id(), &req->header());
    resp->set_txn_id(Router::WireTxnId(shard.shard_id(), b.txn_id));
    resp->set_deadline_unix_ms(b.deadline_unix_ms);
    return grpc::Status::OK;
  }

  grpc::Status Get(grpc::ServerContext* context, const v1::TxnGetRequest* req,
                   v1::TxnGetResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    txn::ReadResult r;
    uint64_t shard_id = 0;
    if (TxnCoordinator::IsCoordinated(req->txn_id())) {
      MERIDIAN_GRPC_ASSIGN_OR_RETURN(r, Coordinator()->Get(req->txn_id(), req->key()));
    } else {
      MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, TxnShard(req->txn_id(), req->key()));
      MERIDIAN_GRPC_ASSIGN_OR_RETURN(r, shard.store->TxnGet(Local(req->txn_id()), req->key()));
      shard_id = shard.shard_id();
    }
    ctx_->FillHeader(resp->mutable_header(), r.snapshot_hlc, 0, shard_id);
    resp->set_found(r.found);
    if (r.found) {
      resp->set_value(std::move(r.value));
      server::ToProto(r.version, resp->mutable_version());
    }
    return grpc::Status::OK;
  }

  grpc::Status Put(grpc::ServerContext* context, const v1::TxnPutRequest* req,
                   v1::TxnPutResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    if (TxnCoordinator::IsCoordinated(req->txn_id())) {
      MERIDIAN_GRPC_RETURN_IF_ERROR(
          Coordinator()->Put(req->txn_id(), req->key(), req->value()));
      ctx_->FillHeader(resp->mutable_header(), 0, 0);
      return grpc::Status::OK;
    }
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, TxnShard(req->txn_id(), req->key()));
    MERIDIAN_GRPC_RETURN_IF_ERROR(
        shard.store->TxnPut(Local(req->txn_id()), req->key(), req->value()));
    ctx_->FillHeader(resp->mutable_header(), 0, 0, shard.shard_id());
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* context, const v1::TxnDeleteRequest* req,
                      v1::TxnDeleteResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    if (TxnCoordinator::IsCoordinated(req->txn_id())) {
      MERIDIAN_GRPC_RETURN_IF_ERROR(Coordinator()->Delete(req->txn_id(), req->key()));
      ctx_->FillHeader(resp->mutable_header(), 0, 0);
      return grpc::Status::OK;
    }
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, TxnShard(req->txn_id(), req->key()));
    MERIDIAN_GRPC_RETURN_IF_ERROR(shard.store->TxnDelete(Local(req->txn_id()), req->key()));
    ctx_->FillHeader(resp->mutable_header(), 0, 0, shard.shard_id());
    return grpc::Status::OK;
  }

  grpc::Status Scan(grpc::ServerContext* context, const v1::TxnScanRequest* req,
                    v1::TxnScanResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    txn::ScanRange range{req->start(), req->end(), req->prefix(), req->limit(), false};
    if (TxnCoordinator::IsCoordinated(req->txn_id())) {
      MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto r, Coordinator()->Scan(req->txn_id(), range));
      ctx_->FillHeader(resp->mutable_header(), r.snapshot_hlc, 0);
      return ScanAnswer(std::move(r), resp);
    }
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, TxnShard(req->txn_id(), ScanFirstKey(range)));
    // The whole range must lie in the transaction's shard.
    txn::ScanRange clipped = range;
    if (!ClipScanToShard(*shard.shard, &clipped).empty()) {
      MERIDIAN_GRPC_RETURN_IF_ERROR(Router::CheckSameShard(shard, shard.shard->end_key()));
    }
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto r, shard.store->TxnScan(Local(req->txn_id()), range));
    ctx_->FillHeader(resp->mutable_header(), r.snapshot_hlc, 0, shard.shard_id());
    return ScanAnswer(std::move(r), resp);
  }

  static grpc::Status ScanAnswer(txn::ScanResult r, v1::TxnScanResponse* resp) {
    for (auto& kv : r.kvs) {
      auto* out = resp->add_kvs();
      out->set_key(std::move(kv.key));
      out->set_value(std::move(kv.value));
      server::ToProto(kv.version, out->mutable_version());
    }
    resp->set_more(r.more);
    return grpc::Status::OK;
  }

  grpc::Status Commit(grpc::ServerContext* context, const v1::CommitRequest* req,
                      v1::CommitResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    bool two_phase = false;
    uint64_t shard_id = 0;
    Result<txn::CommitInfo> c;
    if (TxnCoordinator::IsCoordinated(req->txn_id())) {
      c = Coordinator()->Commit(req->txn_id(), &two_phase);
    } else {
      MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ShardOf(req->txn_id()));
      c = shard.store->Commit(Local(req->txn_id()));
      shard_id = shard.shard_id();
    }
    if (!c.ok()) {
      CountFailedCommit(c.status(), two_phase);
      return ToGrpcStatus(c.status());
    }
    (two_phase ? TxnOutcomes::Slow() : TxnOutcomes::Get()).committed->Inc();
    ctx_->FillHeader(resp->mutable_header(), 0, c->commit_hlc, shard_id);
    return grpc::Status::OK;
  }

  grpc::Status Abort(grpc::ServerContext* context, const v1::AbortRequest* req,
                     v1::AbortResponse* resp) override {
    MERIDIAN_BEGIN_KEYED_REQUEST(context);
    if (TxnCoordinator::IsCoordinated(req->txn_id())) {
      MERIDIAN_GRPC_RETURN_IF_ERROR(Coordinator()->Abort(req->txn_id()));
      TxnOutcomes::Get().client_abort->Inc();
      ctx_->FillHeader(resp->mutable_header(), 0, 0);
      return grpc::Status::OK;
    }
    MERIDIAN_GRPC_ASSIGN_OR_RETURN(auto shard, ShardOf(req->txn_id()));
    MERIDIAN_GRPC_RETURN_IF_ERROR(shard.store->Abort(Local(req->txn_id())));
    TxnOutcomes::Get().client_abort->Inc();
    ctx_->FillHeader(resp->mutable_header(), 0, 0, shard.shard_id());
    return grpc::Status::OK;
  }

 private:
  // A sharded cluster's transactions are coordinated (they may span shards).
  bool Coordinated() const {
    return ctx_->coordinator != nullptr && ctx_->router->ShardCount() > 1;
  }
  // The coordinator, or (for an id from a node in another mode) one that
  // answers TXN_NOT_FOUND.
  TxnCoordinator* Coordinator() const { return ctx_->coordinator; }
  // The shard of transaction `wire_id` (after its group's read barrier),
  // if `key` is in it.
  Result<Router::Target> TxnShard(uint64_t wire_id, std::string_view key) {
    MERIDIAN_ASSIGN_OR_RETURN(auto shard, ShardOf(wire_id));
    MERIDIAN_RETURN_IF_ERROR(Router::CheckSameShard(shard, key));
    return shard;
  }
  // The shard transaction `wire_id` lives in.
  Result<Router::Target> ShardOf(uint64_t wire_id) {
    Result<Router::Target> shard = ctx_->router->ForShard(Router::TxnShard(wire_id));
    if (GetErrorKind(shard.status()) != ErrorKind::kTxnNotFound) return shard;
    return TxnNotFoundError(absl::StrCat("unknown transaction ", wire_id, ": it names shard ",
                                         Router::TxnShard(wire_id),
                                         ", which the shard map does not have"));
  }
  static uint64_t Local(uint64_t wire_id) { return Router::LocalTxnId(wire_id); }

  ServiceContext* ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeTxnService(ServiceContext* ctx) {
  return std::make_unique<TxnService>(ctx);
}

}  // namespace meridian::server
