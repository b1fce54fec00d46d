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
using internal::ShardRoute;

// Cancels a call when Touch() has not been called for `idle`: a stream
// that stops moving fails instead of hanging.
class IdleWatchdog {
 public:
  IdleWatchdog(grpc::ClientContext* ctx, Clock* clock, std::chrono::milliseconds idle)
      : ctx_(ctx),
        clock_(clock),
        idle_us_(static_cast<uint64_t>(idle.count()) * 1000),
        last_us_(clock->NowMonotonicMicros()),
        thread_([this] { Run(); }) {}
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

Client::Client(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)), default_session_(new Session(this, impl_->options.sessions)) {}
Client::~Client() = default;

Session Client::NewSession() { return Session(this, impl_->options.sessions); }

Result<std::optional<GetResult>> Client::Get(std::string_view key, const ReadOptions& options) {
  return default_session_->Get(key, options);
}

Result<WriteResult> Client::Put(std::string_view key, std::string_view value) {
  return default_session_->Put(key, value);
}

Result<bool> Client::Delete(std::string_view key) { return default_session_->Delete(key); }

Result<ScanResult> Client::Scan(const ScanSpec& spec, const ReadOptions& options) {
  return default_session_->Scan(spec, options);
}

Result<ExecuteResult> Client::Execute(const v1::ExecuteRequest& request) {
  return default_session_->Execute(request);
}

Result<std::unique_ptr<Txn>> Client::Begin(std::chrono::milliseconds timeout) {
  return Begin(BeginOptions{.timeout = timeout});
}

Result<std::unique_ptr<Txn>> Client::Begin(const BeginOptions& options) {
  return default_session_->Begin(options);
}

Status Client::RunTxn(const std::function<Status(Txn&)>& fn, const RunTxnOptions& options) {
  return default_session_->RunTxn(fn, options);
}

Status Client::CsetAdd(std::string_view key, std::string_view element) {
  return default_session_->CsetAdd(key, element);
}

Status Client::CsetRemove(std::string_view key, std::string_view element) {
  return default_session_->CsetRemove(key, element);
}

Result<std::map<std::string, int64_t>> Client::CsetRead(std::string_view key) {
  return default_session_->CsetRead(key);
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

Result<v1::RotateSigningKeyResponse> Client::RotateSigningKey() {
  Result<v1::RotateSigningKeyResponse> r =
      impl_->Unary({.kind = CallKind::kWrite}, &v1::Admin::Stub::RotateSigningKey,
                   v1::RotateSigningKeyRequest());
  if (r.status().code() == absl::StatusCode::kUnimplemented) {
    return absl::UnimplementedError(
        "the server has no Admin.RotateSigningKey: it predates signed session tokens");
  }
  return r;
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
              final_error = absl::DataLossError(absl::StrCat("backup stream: the server counted ",
                                                             total, " records but sent ", count));
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

}  // namespace meridian::client
