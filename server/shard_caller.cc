#include "server/shard_caller.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "meridian/v1/kv.grpc.pb.h"
#include "meridian/v1/participant.grpc.pb.h"
#include "proto/grpc_status.h"
#include "proto/shard_lookup.h"
#include "server/participant_proto.h"
#include "txn/txn_store.h"

namespace meridian::server {
namespace {

constexpr int kAttempts = 8;
constexpr auto kCallDeadline = std::chrono::seconds(10);

std::unique_ptr<grpc::ClientContext> Context(std::chrono::system_clock::time_point deadline =
                                                 std::chrono::system_clock::now() + kCallDeadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(deadline);
  return ctx;
}

// A refusal that proves the call did nothing: safe to send elsewhere.
bool Refused(const Status& s) {
  const ErrorKind kind = GetErrorKind(s);
  return kind == ErrorKind::kNotLeader || kind == ErrorKind::kWrongShard;
}

// A transport failure (no Meridian detail): the call may or may not have
// been done.
bool Transient(const Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

txn::ReadResult FromProto(const v1::GetResponse& r, uint64_t snapshot_hlc) {
  txn::ReadResult out;
  out.found = r.found();
  out.value = r.value();
  out.version = {r.version().hlc(), r.version().site_id()};
  out.snapshot_hlc = snapshot_hlc;
  return out;
}

}  // namespace

ShardCaller::ShardCaller(Router* router, const ShardDirectory* shards, uint32_t site_id)
    : router_(router), shards_(shards), site_id_(site_id) {}

std::shared_ptr<grpc::Channel> ShardCaller::Channel(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& c = channels_[address];
  if (!c) c = NewPeerChannel(address, caller_clock_);
  return c;
}

void ShardCaller::Learn(uint64_t shard, const std::string& leader) {
  std::lock_guard<std::mutex> lock(mu_);
  if (leader.empty()) {
    leaders_.erase(shard);
  } else {
    leaders_[shard] = leader;
  }
}

std::string ShardCaller::Target(uint64_t shard, size_t skip) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = leaders_.find(shard); it != leaders_.end() && skip == 0) return it->second;
  }
  ShardDirectory::View view = shards_->Current();
  const v1::ShardInfo* info = FindShardById(*view.config, shard);
  const v1::ShardGroup* group = info ? GroupInSite(*info, site_id_) : nullptr;
  if (group == nullptr || group->replicas().empty()) return "";
  return NodeAddress(*view.config, group->replicas(skip % group->replicas_size()));
}

template <typename T>
Result<T> ShardCaller::Call(uint64_t shard, bool idempotent, const Local<T>& local,
                            const Remote<T>& remote, uint64_t follower_read_at,
                            std::chrono::system_clock::time_point give_up_at) {
  Status last = UnavailableError(absl::StrCat("no leader of shard ", shard, " answered"));
  size_t skip = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) {
      const auto pause = std::chrono::milliseconds(5 << std::min(attempt, 6));
      if (std::chrono::system_clock::now() + pause >= give_up_at) return last;
      std::this_thread::sleep_for(pause);
    }
    Result<Router::Target> here = router_->ForShardSnapshotRead(shard, follower_read_at);
    if (here.ok()) {
      Result<T> r = local(here->store);
      if (r.ok() || !Refused(r.status())) return r;
      last = r.status();  // leadership moved under the call
      Learn(shard, GetErrorInfo(last).leader_hint);
      continue;
    }
    if (!Refused(here.status())) return here.status();
    std::string address = GetErrorInfo(here.status()).leader_hint;
    if (address.empty()) address = Target(shard, skip);
    if (address.empty()) return here.status();
    const uint64_t version = shards_->Current().config->version();
    Result<T> r = remote(Channel(address), version);
    if (r.ok()) {
      Learn(shard, address);
      return r;
    }
    last = r.status();
    if (Refused(last)) {
      Learn(shard, GetErrorInfo(last).leader_hint);
      if (GetErrorInfo(last).leader_hint.empty()) ++skip;
      continue;
    }
    if (idempotent && Transient(last)) {
      Learn(shard, "");
      ++skip;
      continue;
    }
    if (!idempotent && Transient(last)) {
      return CommitUnknownError(absl::StrCat("shard ", shard, " at ", address,
                                             " did not answer the commit: ", last.message()));
    }
    return last;
  }
  return last;
}

Result<txn::ReadResult> ShardCaller::Get(uint64_t shard, std::string_view key,
                                         uint64_t snapshot_hlc) {
  return Call<txn::ReadResult>(
      shard, true, [&](txn::TxnStore* s) { return s->Get(key, snapshot_hlc); },
      [&](const std::shared_ptr<grpc::Channel>& ch, uint64_t version) -> Result<txn::ReadResult> {
        v1::GetRequest req;
        req.mutable_header()->set_shard_id(shard);
        req.mutable_header()->set_shard_map_version(version);
        req.set_key(std::string(key));
        auto* e = req.mutable_snapshot()->add_entries();
        e->set_site_id(site_id_);
        e->set_hlc(snapshot_hlc);
        v1::GetResponse resp;
        auto ctx = Context();
        MERIDIAN_RETURN_IF_ERROR(FromGrpcStatus(v1::KV::NewStub(
            ch)->Get(ctx.get(), req, &resp)));
        return FromProto(resp, snapshot_hlc);
      },
      snapshot_hlc);
}

Result<std::vector<txn::KeyValue>> ShardCaller::Scan(uint64_t shard, const txn::ScanRange& range,
                                                     uint64_t snapshot_hlc, bool* more) {
  using Out = std::vector<txn::KeyValue>;
  return Call<Out>(
      shard, true,
      [&](txn::TxnStore* s) -> Result<Out> { return s->ScanCollect(range, snapshot_hlc, more); },
      [&](const std::shared_ptr<grpc::Channel>& ch, uint64_t version) -> Result<Out> {
        v1::ScanRequest req;
        req.mutable_header()->set_shard_id(shard);
        req.mutable_header()->set_shard_map_version(version);
        req.set_start(range.start);
        req.set_end(range.end);
        req.set_limit(range.limit);
        req.set_keys_only(range.keys_only);
        auto* e = req.mutable_snapshot()->add_entries();
        e->set_site_id(site_id_);
        e->set_hlc(snapshot_hlc);
        auto ctx = Context();
        auto reader = v1::KV::NewStub(ch)
                          ->Scan(ctx.get(), req);
        Out out;
        v1::ScanResponse chunk;
        *more = false;
        while (reader->Read(&chunk)) {
          for (const auto& kv : chunk.kvs()) {
            out.push_back({kv.key(), kv.value(), {kv.version().hlc(), kv.version().site_id()}});
          }
          *more = chunk.more();
        }
        MERIDIAN_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
        return out;
      },
      snapshot_hlc);
}

Result<txn::CommitInfo> ShardCaller::CommitWrites(uint64_t shard, uint64_t snapshot_hlc,
                                                  const txn::TxnWrites& writes) {
  return Call<txn::CommitInfo>(
      shard, false, [&](txn::TxnStore* s) { return s->CommitWrites(snapshot_hlc, writes); },
      [&](const std::shared_ptr<grpc::Channel>& ch, uint64_t) -> Result<txn::CommitInfo> {
        v1::CommitWritesRequest req;
        req.set_shard_id(shard);
        req.set_snapshot_hlc(snapshot_hlc);
        ToProto(writes, req.mutable_writes());
        v1::CommitWritesResponse resp;
        auto ctx = Context();
        MERIDIAN_RETURN_IF_ERROR(FromGrpcStatus(
            v1::Participant::NewStub(ch)
                ->CommitWrites(ctx.get(), req, &resp)));
        return txn::CommitInfo{resp.commit_hlc()};
      });
}

Result<uint64_t> ShardCaller::Prepare(uint64_t shard, const txn::PrepareArgs& args) {
  return Call<uint64_t>(
      shard, true, [&](txn::TxnStore* s) { return s->Prepare(args); },
      [&](const std::shared_ptr<grpc::Channel>& ch, uint64_t) -> Result<uint64_t> {
        v1::PrepareRequest req;
        req.set_shard_id(shard);
        req.set_txn(args.txn);
        req.set_snapshot_hlc(args.snapshot_hlc);
        req.set_deadline_unix_ms(args.deadline_unix_ms);
        req.set_record_shard(args.record_shard);
        ToProto(args.writes, req.mutable_writes());
        v1::PrepareResponse resp;
        auto ctx = Context();
        MERIDIAN_RETURN_IF_ERROR(FromGrpcStatus(
            v1::Participant::NewStub(ch)
                ->Prepare(ctx.get(), req, &resp)));
        return resp.prepare_hlc();
      });
}

Result<txn::TxnOutcome> ShardCaller::Decide(uint64_t shard, const std::string& txn,
                                            const txn::TxnOutcome& proposal) {
  return Call<txn::TxnOutcome>(
      shard, true, [&](txn::TxnStore* s) { return s->Decide(txn, proposal); },
      [&](const std::shared_ptr<grpc::Channel>& ch, uint64_t) -> Result<txn::TxnOutcome> {
        v1::DecideRequest req;
        req.set_shard_id(shard);
        req.set_txn(txn);
        ToProto(proposal, req.mutable_proposal());
        v1::DecideResponse resp;
        auto ctx = Context();
        MERIDIAN_RETURN_IF_ERROR(FromGrpcStatus(
            v1::Participant::NewStub(ch)
                ->Decide(ctx.get(), req, &resp)));
        return FromProto(resp.outcome());
      });
}

Status ShardCaller::Resolve(uint64_t shard, const std::string& txn, const txn::TxnOutcome& outcome,
                            const std::vector<std::string>& keys) {
  return Call<bool>(
             shard, true,
             [&](txn::TxnStore* s) -> Result<bool> {
               MERIDIAN_RETURN_IF_ERROR(s->Resolve(txn, outcome, keys));
               return true;
             },
             [&](const std::shared_ptr<grpc::Channel>& ch, uint64_t) -> Result<bool> {
               v1::ResolveRequest req;
               req.set_shard_id(shard);
               req.set_txn(txn);
               ToProto(outcome, req.mutable_outcome());
               for (const std::string& k : keys) req.add_keys(k);
               v1::ResolveResponse resp;
               auto ctx = Context();
               MERIDIAN_RETURN_IF_ERROR(FromGrpcStatus(
                   v1::Participant::NewStub(ch)
                       ->Resolve(ctx.get(), req, &resp)));
               return true;
             })
      .status();
}

Status ShardCaller::Split(uint64_t shard, const txn::SplitSpec& spec) {
  return Call<bool>(
             shard, true,
             [&](txn::TxnStore* s) -> Result<bool> {
               MERIDIAN_RETURN_IF_ERROR(s->Split(spec));
               return true;
             },
             [&](const std::shared_ptr<grpc::Channel>& ch, uint64_t) -> Result<bool> {
               v1::SplitRequest req;
               req.set_shard_id(shard);
               req.set_split_key(spec.split_key);
               req.set_child_shard_id(spec.child_shard);
               req.set_child_group_id(spec.child_group);
               v1::SplitResponse resp;
               auto ctx = Context();
               MERIDIAN_RETURN_IF_ERROR(
                   FromGrpcStatus(v1::Participant::NewStub(ch)->Split(ctx.get(), req, &resp)));
               return true;
             })
      .status();
}

Result<uint64_t> ShardCaller::CloseThrough(uint64_t shard, uint64_t through_hlc,
                                           uint64_t timeout_ms) {
  const auto give_up_at = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  return Call<uint64_t>(
      shard, true,
      [&](txn::TxnStore* s) -> Result<uint64_t> {
        // Led here: the timestamp is this node's own to trust (the store
        // still refuses one beyond its clock bound).
        MERIDIAN_RETURN_IF_ERROR(s->CloseThrough(through_hlc));
        return s->VisibleHlc();
      },
      [&](const std::shared_ptr<grpc::Channel>& ch, uint64_t) -> Result<uint64_t> {
        v1::CloseThroughRequest req;
        req.set_shard_id(shard);
        req.set_through_hlc(through_hlc);
        v1::CloseThroughResponse resp;
        auto ctx = Context(give_up_at);
        MERIDIAN_RETURN_IF_ERROR(
            FromGrpcStatus(v1::Participant::NewStub(ch)->CloseThrough(ctx.get(), req, &resp)));
        return resp.closed_hlc();
      },
      0, give_up_at);
}

}  // namespace meridian::server
