#include "meridian/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/client_impl.h"
#include "client/retry_policy.h"
#include "common/clock.h"

namespace meridian::client {
namespace {

using internal::CallKind;
using internal::Endpoint;
using internal::ScanPart;
using internal::ShardRoute;
using internal::ToGetResult;
using internal::ToVersionInfo;

KeyValue ToKeyValue(const v1::KeyValue& kv) {
  return KeyValue{.key = kv.key(), .value = kv.value(), .version = ToVersionInfo(kv.version())};
}

// The transaction's snapshot at the serving site (the vector has one entry
// per site; a transaction reads at one site).
uint64_t SiteSnapshot(const v1::ResponseHeader& h) {
  for (const auto& e : h.snapshot().entries()) {
    if (e.site_id() == h.site_id()) return e.hlc();
  }
  return h.snapshot().entries_size() > 0 ? h.snapshot().entries(0).hlc() : 0;
}

Status ValidateScanSpec(const ScanSpec& spec) {
  if (!spec.prefix.empty() && (!spec.start.empty() || !spec.end.empty())) {
    return InvalidArgumentError("scan: prefix cannot be combined with start/end");
  }
  if (!spec.end.empty() && spec.end < spec.start) {
    return InvalidArgumentError("scan: end is before start");
  }
  return absl::OkStatus();
}

bool HasWrites(const google::protobuf::RepeatedPtrField<v1::Op>& ops) {
  return std::any_of(ops.begin(), ops.end(), [](const v1::Op& op) { return !op.has_get(); });
}

const std::string& OpKey(const v1::Op& op) {
  if (op.has_put()) return op.put().key();
  if (op.has_delete_()) return op.delete_().key();
  return op.get().key();
}

// The key an Execute is routed by: its first, in the order compares,
// success ops, failure ops. nullopt if it has none.
std::optional<std::string_view> FirstKey(const v1::ExecuteRequest& r) {
  if (!r.compares().empty()) return r.compares(0).key();
  if (!r.success().empty()) return OpKey(r.success(0));
  if (!r.failure().empty()) return OpKey(r.failure(0));
  return std::nullopt;
}

// The smallest key after every key starting with `prefix`; "" (the end of
// the keyspace) if there is none.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

// Cancels a call when Touch() has not been called for `idle`: a stream
// that stops moving fails instead of hanging.
class IdleWatchdog {
 public:
  IdleWatchdog(grpc::ClientContext* ctx, Clock* clock, std::chrono::milliseconds idle)
      : ctx_(ctx), clock_(clock), idle_us_(static_cast<uint64_t>(idle.count()) * 1000),
        last_us_(clock->NowMonotonicMicros()), thread_([this] { Run(); }) {}
  ~IdleWatchdog() {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  void Touch() {
    absl::MutexLock l(&mu_);
    last_us_ = clock_->NowMonotonicMicros();
  }
  bool fired() {
    absl::MutexLock l(&mu_);
    return fired_;
  }

 private:
  void Run() {
    absl::MutexLock l(&mu_);
    while (!stop_) {
      const uint64_t now = clock_->NowMonotonicMicros();
      const uint64_t deadline = last_us_ + idle_us_;
      if (now >= deadline) {
        fired_ = true;
        ctx_->TryCancel();
        return;
      }
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Microseconds(deadline - now));
    }
  }

  grpc::ClientContext* const ctx_;
  Clock* const clock_;
  const uint64_t idle_us_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool fired_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_us_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts once the rest is set
};

}  // namespace

// ---------------------------------------------------------------------------
// Client

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  if (options.endpoints.empty()) return InvalidArgumentError("no endpoints");
  for (const auto& e : options.endpoints) {
    if (e.empty()) return InvalidArgumentError("empty endpoint");
  }
  if (options.rpc_timeout.count() <= 0) return InvalidArgumentError("rpc_timeout must be > 0");
  if (options.max_retries < 0) return InvalidArgumentError("max_retries must be >= 0");
  if (options.initial_backoff.count() <= 0 || options.max_backoff < options.initial_backoff) {
    return InvalidArgumentError("need 0 < initial_backoff <= max_backoff");
  }
  // Channels connect lazily: an unreachable cluster shows up on the first call.
  return std::unique_ptr<Client>(new Client(std::make_unique<Impl>(options)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::optional<GetResult>> Client::Get(std::string_view key) {
  v1::GetRequest req;
  req.set_key(std::string(key));
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::GetResponse resp,
      impl_->Unary({.kind = CallKind::kRead, .key = key}, &v1::KV::Stub::Get, std::move(req)));
  return ToGetResult(std::move(resp));
}

Result<WriteResult> Client::Put(std::string_view key, std::string_view value) {
  v1::PutRequest req;
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::PutResponse resp,
      impl_->Unary({.kind = CallKind::kWrite, .key = key}, &v1::KV::Stub::Put, std::move(req)));
  return WriteResult{.commit_hlc = resp.header().commit_hlc()};
}

Result<bool> Client::Delete(std::string_view key) {
  v1::DeleteRequest req;
  req.set_key(std::string(key));
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::DeleteResponse resp,
      impl_->Unary({.kind = CallKind::kWrite, .key = key}, &v1::KV::Stub::Delete, std::move(req)));
  return resp.existed();
}

Result<ScanPart> Client::Impl::ScanShard(v1::ScanRequest req, std::string_view from) {
  Stamp(req.mutable_header());
  ScanPart part;
  v1::ResponseHeader header;
  MERIDIAN_RETURN_IF_ERROR(Invoke(
      {.kind = CallKind::kRead, .key = from},
      [&](Endpoint& ep, grpc::ClientContext* ctx, const ShardRoute& route) {
        part = ScanPart();
        header.Clear();
        req.mutable_header()->set_shard_map_version(route.map_version);
        req.mutable_header()->set_shard_id(route.shard_id);
        std::unique_ptr<grpc::ClientReader<v1::ScanResponse>> reader = ep.kv->Scan(ctx, req);
        v1::ScanResponse chunk;
        bool first = true;
        while (reader->Read(&chunk)) {
          if (first) header = chunk.header();
          first = false;
          for (const auto& kv : chunk.kvs()) part.kvs.push_back(ToKeyValue(kv));
          part.more = chunk.more();
          part.resume_key = chunk.resume_key();
        }
        return reader->Finish();
      }));
  Observe(header);
  return part;
}

Result<ScanResult> Client::Scan(const ScanSpec& spec) {
  MERIDIAN_RETURN_IF_ERROR(ValidateScanSpec(spec));
  v1::ScanRequest req;
  req.set_start(spec.start);
  req.set_end(spec.end);
  req.set_prefix(spec.prefix);
  req.set_limit(spec.limit);
  req.set_keys_only(spec.keys_only);
  std::string from = spec.prefix.empty() ? spec.start : spec.prefix;
  ScanResult result;
  // Set once the limit is used up exactly where a shard ends: the next
  // shards are read one key at a time only to learn whether keys are left.
  bool probing = false;
  while (true) {
    MERIDIAN_ASSIGN_OR_RETURN(ScanPart part, impl_->ScanShard(req, from));
    if (probing) {
      result.more = !part.kvs.empty() || part.more;
    } else {
      for (KeyValue& kv : part.kvs) result.kvs.push_back(std::move(kv));
      result.more = part.more;
    }
    if (result.more || part.resume_key.empty()) return result;
    if (part.resume_key <= from) {
      return absl::InternalError("scan: the server's resume_key does not move forward");
    }
    // The rest of the range, in the next shard.
    from = std::move(part.resume_key);
    if (!spec.prefix.empty()) {
      req.clear_prefix();
      req.set_end(PrefixEnd(spec.prefix));
    }
    req.set_start(from);
    if (spec.limit != 0) {
      const uint64_t left = spec.limit - result.kvs.size();
      probing = left == 0;
      req.set_limit(probing ? 1 : left);
      if (probing) req.set_keys_only(true);
    }
  }
}

Result<ExecuteResult> Client::Execute(const v1::ExecuteRequest& request) {
  // Execute with only gets changes nothing and may be retried like a read.
  const bool writes = HasWrites(request.success()) || HasWrites(request.failure());
  const std::optional<std::string_view> key = FirstKey(request);
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::ExecuteResponse resp,
      impl_->Unary({.kind = writes ? CallKind::kWrite : CallKind::kRead, .key = key},
                   &v1::Txn::Stub::Execute, request));
  ExecuteResult result;
  result.succeeded = resp.succeeded();
  result.results.assign(resp.results().begin(), resp.results().end());
  result.commit_hlc = resp.header().commit_hlc();
  return result;
}

Result<std::unique_ptr<Txn>> Client::Begin(std::chrono::milliseconds timeout) {
  return Begin(BeginOptions{.timeout = timeout});
}

Result<std::unique_ptr<Txn>> Client::Begin(const BeginOptions& options) {
  if (options.timeout.count() < 0) return InvalidArgumentError("negative transaction timeout");
  v1::BeginRequest req;
  req.set_timeout_ms(static_cast<uint64_t>(options.timeout.count()));
  req.set_routing_key(options.routing_key);
  size_t served = 0;
  // A retried Begin may leave an unused transaction behind on a node; it
  // holds no locks and expires at its deadline.
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::BeginResponse resp,
      impl_->Unary({.kind = CallKind::kRead, .key = options.routing_key}, &v1::Txn::Stub::Begin,
                   std::move(req), &served));
  std::unique_ptr<Txn> txn(new Txn(this, resp.txn_id(), SiteSnapshot(resp.header())));
  txn->endpoint_ = served;
  return txn;
}

Status Client::RunTxn(const std::function<Status(Txn&)>& fn, const RunTxnOptions& options) {
  if (options.max_attempts < 1) return InvalidArgumentError("max_attempts must be >= 1");
  Status last;
  for (int attempt = 0; attempt < options.max_attempts; ++attempt) {
    if (attempt > 0) impl_->Sleep(attempt - 1);
    MERIDIAN_ASSIGN_OR_RETURN(
        std::unique_ptr<Txn> txn,
        Begin(BeginOptions{.timeout = options.timeout, .routing_key = options.routing_key}));
    last = fn(*txn);
    if (last.ok()) {
      // fn may finish the transaction itself; then there is nothing to commit.
      if (txn->finished_) return absl::OkStatus();
      last = txn->Commit().status();
      if (last.ok()) return last;
    } else {
      (void)txn->Abort();
    }
    // Only a conflict proves the attempt had no effect and may be rerun;
    // kCommitUnknown in particular must reach the caller.
    if (GetErrorKind(last) != ErrorKind::kConflict) return last;
  }
  return MakeError({.kind = ErrorKind::kConflict},
                   absl::StrCat("transaction conflicted ", options.max_attempts,
                                " times; last: ", last.message()));
}

Status Client::CsetAdd(std::string_view key, std::string_view element) {
  v1::CsetAddRequest req;
  req.set_key(std::string(key));
  req.set_element(std::string(element));
  return impl_->Unary({.kind = CallKind::kWrite, .key = key}, &v1::Cset::Stub::Add, std::move(req))
      .status();
}

Status Client::CsetRemove(std::string_view key, std::string_view element) {
  v1::CsetRemoveRequest req;
  req.set_key(std::string(key));
  req.set_element(std::string(element));
  return impl_
      ->Unary({.kind = CallKind::kWrite, .key = key}, &v1::Cset::Stub::Remove, std::move(req))
      .status();
}

Result<std::map<std::string, int64_t>> Client::CsetRead(std::string_view key) {
  v1::CsetReadRequest req;
  req.set_key(std::string(key));
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::CsetReadResponse resp,
      impl_->Unary({.kind = CallKind::kRead, .key = key}, &v1::Cset::Stub::Read, std::move(req)));
  std::map<std::string, int64_t> out;
  for (const auto& e : resp.entries()) {
    if (e.count() != 0) out[e.element()] = e.count();
  }
  return out;
}

Result<v1::StatusResponse> Client::NodeStatus() {
  return impl_->Unary({.kind = CallKind::kRead, .no_retry = true}, &v1::Admin::Stub::Status,
                      v1::StatusRequest());
}

Result<v1::MembersResponse> Client::Members() {
  return impl_->Unary({.kind = CallKind::kRead}, &v1::Admin::Stub::Members, v1::MembersRequest());
}

Result<v1::ShardsResponse> Client::Shards() {
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::ShardsResponse resp,
      impl_->Unary({.kind = CallKind::kRead}, &v1::Admin::Stub::Shards, v1::ShardsRequest()));
  impl_->Adopt(resp);
  return resp;
}

Result<v1::ShardLeader> Client::LeaderTransfer(uint64_t shard_id, uint32_t to_member_id) {
  v1::LeaderTransferRequest req;
  req.set_shard_id(shard_id);
  req.set_to_member_id(to_member_id);
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::LeaderTransferResponse resp,
      impl_->Unary({.kind = CallKind::kWrite}, &v1::Admin::Stub::LeaderTransfer, std::move(req)));
  return std::move(*resp.mutable_leader());
}

Result<v1::SplitShardResponse> Client::SplitShard(const std::string& split_key) {
  v1::SplitShardRequest req;
  req.set_split_key(split_key);
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::SplitShardResponse resp,
      impl_->Unary({.kind = CallKind::kWrite}, &v1::Admin::Stub::SplitShard, std::move(req)));
  // Learn the new map now rather than from the next WRONG_SHARD.
  (void)Shards();
  return resp;
}

namespace {
Result<v1::MembersResponse> Membership(Result<v1::MemberChangeResponse> r) {
  if (!r.ok()) return r.status();
  return std::move(*r->mutable_membership());
}
}  // namespace

// A membership change is a write (client.h): once sent, a lost reply is
// kCommitUnknown, never a retry.
Result<v1::MembersResponse> Client::MemberAdd(uint32_t member_id, const std::string& address,
                                              bool as_voter) {
  v1::MemberAddRequest req;
  req.set_member_id(member_id);
  req.set_address(address);
  req.set_as_voter(as_voter);
  return Membership(
      impl_->Unary({.kind = CallKind::kWrite}, &v1::Admin::Stub::MemberAdd, std::move(req)));
}

Result<v1::MembersResponse> Client::MemberPromote(uint32_t member_id) {
  v1::MemberPromoteRequest req;
  req.set_member_id(member_id);
  return Membership(
      impl_->Unary({.kind = CallKind::kWrite}, &v1::Admin::Stub::MemberPromote, std::move(req)));
}

Result<v1::MembersResponse> Client::MemberRemove(uint32_t member_id) {
  v1::MemberRemoveRequest req;
  req.set_member_id(member_id);
  return Membership(
      impl_->Unary({.kind = CallKind::kWrite}, &v1::Admin::Stub::MemberRemove, std::move(req)));
}

Result<bool> Client::Healthy(const std::string& service) {
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  MERIDIAN_ASSIGN_OR_RETURN(grpc::health::v1::HealthCheckResponse resp,
                            impl_->Unary({.kind = CallKind::kRead, .no_retry = true},
                                         &grpc::health::v1::Health::Stub::Check, std::move(req)));
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

Result<uint64_t> Client::Backup(const std::function<Status(const v1::BackupHeader&)>& on_start,
                                const std::function<Status(const v1::BackupChunk&)>& on_records) {
  // A callback's verdict or a malformed stream: final, never retried.
  Status final_error;
  uint64_t total = 0;
  v1::ResponseHeader header;
  Status s = impl_->Invoke(
      {.kind = CallKind::kRead, .no_deadline = true},
      [&](Endpoint& ep, grpc::ClientContext* ctx, const ShardRoute&) -> grpc::Status {
        IdleWatchdog watchdog(ctx, impl_->clock, impl_->options.rpc_timeout);
        std::unique_ptr<grpc::ClientReader<v1::BackupChunk>> reader =
            ep.admin->Backup(ctx, v1::BackupRequest());
        v1::BackupChunk chunk;
        bool started = false;
        bool done = false;
        uint64_t count = 0;
        while (final_error.ok() && reader->Read(&chunk)) {
          watchdog.Touch();
          if (done) {
            final_error = absl::DataLossError("backup stream: a message after the last one");
          } else if (!started && !chunk.has_backup()) {
            final_error = absl::DataLossError("backup stream: the first message has no header");
          } else if (!started) {
            started = true;
            header = chunk.header();
            final_error = on_start(chunk.backup());
          }
          if (final_error.ok() && chunk.records_size() > 0) {
            count += static_cast<uint64_t>(chunk.records_size());
            final_error = on_records(chunk);
          }
          if (final_error.ok() && chunk.done()) {
            done = true;
            total = chunk.total_records();
            if (total != count) {
              final_error = absl::DataLossError(absl::StrCat(
                  "backup stream: the server counted ", total, " records but sent ", count));
            }
          }
        }
        if (!final_error.ok()) {
          ctx->TryCancel();
          (void)reader->Finish();
          return grpc::Status::OK;  // ends Invoke; final_error is the answer
        }
        grpc::Status gs = reader->Finish();
        if (watchdog.fired()) {
          return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                              absl::StrCat("the backup stream stalled: nothing arrived for ",
                                           impl_->options.rpc_timeout.count(), " ms"));
        }
        if (gs.ok() && !done) {
          final_error = absl::DataLossError("backup stream ended before its last message");
        }
        return gs;
      });
  MERIDIAN_RETURN_IF_ERROR(s);
  MERIDIAN_RETURN_IF_ERROR(final_error);
  impl_->Observe(header);
  return total;
}

namespace {
// Restore calls are idempotent on the server (admin.proto), so unlike other
// writes they are retried as reads are, and after a lost reply too.
template <typename Call>
Result<v1::RestoreProgress> RetryIdempotent(int max_retries, const Call& call) {
  for (int attempt = 0;; ++attempt) {
    auto r = call();
    if (r.ok()) return r->progress();
    if (GetErrorKind(r.status()) != ErrorKind::kCommitUnknown || attempt >= max_retries) {
      return r.status();
    }
  }
}
}  // namespace

Result<v1::RestoreProgress> Client::RestoreBegin(const v1::RestoreIdentity& backup) {
  v1::RestoreBeginRequest req;
  *req.mutable_backup() = backup;
  return RetryIdempotent(impl_->options.max_retries, [&] {
    return impl_->Unary({.kind = CallKind::kRead}, &v1::Admin::Stub::RestoreBegin, req);
  });
}

Result<v1::RestoreProgress> Client::RestoreChunk(const v1::RestoreChunkRequest& request) {
  return RetryIdempotent(impl_->options.max_retries, [&] {
    return impl_->Unary({.kind = CallKind::kRead}, &v1::Admin::Stub::RestoreChunk, request);
  });
}

Result<v1::RestoreProgress> Client::RestoreFinish(const v1::RestoreIdentity& backup) {
  v1::RestoreFinishRequest req;
  *req.mutable_backup() = backup;
  return RetryIdempotent(impl_->options.max_retries, [&] {
    return impl_->Unary({.kind = CallKind::kRead}, &v1::Admin::Stub::RestoreFinish, req);
  });
}

// ---------------------------------------------------------------------------
// Txn

Txn::Txn(Client* client, uint64_t id, uint64_t snapshot_hlc)
    : client_(client), id_(id), snapshot_hlc_(snapshot_hlc) {}

Txn::~Txn() {
  if (!finished_) (void)Abort();
}

namespace {
Status Finished() { return TxnNotFoundError("transaction already committed or aborted"); }
}  // namespace

Result<std::optional<GetResult>> Txn::Get(std::string_view key) {
  if (finished_) return Finished();
  v1::TxnGetRequest req;
  req.set_txn_id(id_);
  req.set_key(std::string(key));
  MERIDIAN_ASSIGN_OR_RETURN(v1::TxnGetResponse resp,
                            client_->impl_->Unary({.kind = CallKind::kRead, .pinned = endpoint_},
                                                  &v1::Txn::Stub::Get, std::move(req)));
  return ToGetResult(std::move(resp));
}

// Buffered writes change nothing until Commit, and buffering the same write
// twice is harmless, so they are retried like reads.
Status Txn::Put(std::string_view key, std::string_view value) {
  if (finished_) return Finished();
  v1::TxnPutRequest req;
  req.set_txn_id(id_);
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  return client_->impl_
      ->Unary({.kind = CallKind::kRead, .pinned = endpoint_}, &v1::Txn::Stub::Put, std::move(req))
      .status();
}

Status Txn::Delete(std::string_view key) {
  if (finished_) return Finished();
  v1::TxnDeleteRequest req;
  req.set_txn_id(id_);
  req.set_key(std::string(key));
  return client_->impl_
      ->Unary({.kind = CallKind::kRead, .pinned = endpoint_}, &v1::Txn::Stub::Delete,
              std::move(req))
      .status();
}

Result<ScanResult> Txn::Scan(const ScanSpec& spec) {
  if (finished_) return Finished();
  MERIDIAN_RETURN_IF_ERROR(ValidateScanSpec(spec));
  v1::TxnScanRequest req;
  req.set_txn_id(id_);
  req.set_start(spec.start);
  req.set_end(spec.end);
  req.set_prefix(spec.prefix);
  req.set_limit(spec.limit);
  MERIDIAN_ASSIGN_OR_RETURN(v1::TxnScanResponse resp,
                            client_->impl_->Unary({.kind = CallKind::kRead, .pinned = endpoint_},
                                                  &v1::Txn::Stub::Scan, std::move(req)));
  ScanResult result;
  result.more = resp.more();
  for (const auto& kv : resp.kvs()) {
    result.kvs.push_back(ToKeyValue(kv));
    // TxnScanRequest has no keys_only, so values are dropped here.
    if (spec.keys_only) result.kvs.back().value.clear();
  }
  return result;
}

Result<WriteResult> Txn::Commit() {
  if (finished_) return Finished();
  v1::CommitRequest req;
  req.set_txn_id(id_);
  Result<v1::CommitResponse> resp = client_->impl_->Unary(
      {.kind = CallKind::kWrite, .pinned = endpoint_}, &v1::Txn::Stub::Commit, std::move(req));
  if (!resp.ok()) {
    const Status& s = resp.status();
    // Left open only when the server proved the commit did not happen and
    // the transaction may still exist; the destructor then aborts it.
    const ErrorKind kind = GetErrorKind(s);
    finished_ = !(kind == ErrorKind::kUnavailable || kind == ErrorKind::kNotLeader ||
                  kind == ErrorKind::kResourceExhausted);
    return s;
  }
  finished_ = true;
  return WriteResult{.commit_hlc = resp->header().commit_hlc()};
}

Status Txn::Abort() {
  if (finished_) return absl::OkStatus();
  // Finished either way: if the abort is lost, the server expires the
  // transaction at its deadline.
  finished_ = true;
  v1::AbortRequest req;
  req.set_txn_id(id_);
  return client_->impl_
      ->Unary({.kind = CallKind::kRead, .pinned = endpoint_, .no_retry = true},
              &v1::Txn::Stub::Abort, std::move(req))
      .status();
}

}  // namespace meridian::client
