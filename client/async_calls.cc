// The asynchronous calls of the Client (client.h): GetAsync and PutAsync.
#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "client/client_impl.h"
#include "meridian/client.h"

namespace meridian::client {
namespace {

using internal::AttemptOutcome;
using internal::CallKind;
using internal::Endpoint;
using internal::RetryAction;
using internal::ShardRoute;
using internal::ToGetResult;

}  // namespace

// ---------------------------------------------------------------------------
// Asynchronous calls
//
// An attempt goes where a synchronous call would (the key's shard leader,
// else the preferred endpoint). Only redirects are retried (client.h); a
// failure still steers the shard cache or the shared preference as a retry
// would, so later calls reach a healthy node or the leader. The callbacks
// use the Client's Impl, so a Client must outlive its pending callbacks.

namespace {

// One asynchronous call: gRPC needs the context, request and response to
// live until the callback, which frees them.
template <typename Request, typename Response, typename Callback>
struct AsyncCall {
  grpc::ClientContext ctx;
  Request req;
  Response resp;
  Callback done;
  size_t endpoint = 0;
  std::string address;
  std::optional<ShardRoute> route;
};

}  // namespace

// Finishes an async call: maps a failure to a Status and steers the shard
// cache or the shared endpoint preference the way Invoke would before its
// retry. WRONG_SHARD is left to Redirect, which refreshes the map without
// blocking.
Status Client::Impl::FinishAsync(const grpc::Status& gs, CallKind kind, size_t endpoint,
                                 const std::string& address, std::string_view key,
                                 const std::optional<ShardRoute>& route) {
  if (gs.ok()) return absl::OkStatus();
  const AttemptOutcome out = internal::ClassifyFailure(gs, kind, address);
  SteerAsync(out, kind, endpoint, key, route);
  return out.status;
}

void Client::Impl::SteerAsync(const AttemptOutcome& out, CallKind kind, size_t endpoint,
                              std::string_view key, const std::optional<ShardRoute>& route) {
  if (out.action == RetryAction::kFail || out.action == RetryAction::kRefreshShards) return;
  std::optional<ShardRoute> next = route;
  Steer({.kind = kind, .key = key}, out, endpoint, &next);
}

void Client::Impl::RefreshShardsAsync(size_t answered, std::function<void()> then) {
  struct Fetch {
    grpc::ClientContext ctx;
    v1::ShardsRequest req;
    v1::ShardsResponse resp;
    std::function<void()> then;
  };
  auto fetch = std::make_unique<Fetch>();
  fetch->then = std::move(then);
  fetch->ctx.set_deadline(Deadline());
  Fetch* raw = fetch.release();
  At(answered)->admin->async()->Shards(&raw->ctx, &raw->req, &raw->resp,
                                       [this, raw](grpc::Status gs) {
                                         std::unique_ptr<Fetch> fetch(raw);
                                         if (gs.ok()) Adopt(fetch->resp);
                                         std::function<void()> then = std::move(fetch->then);
                                         fetch.reset();
                                         then();
                                       });
}

void Client::Impl::Redirect(const Status& s, size_t endpoint, std::string key,
                            std::optional<ShardRoute> route, std::function<void()> retry) {
  if (GetErrorKind(s) != ErrorKind::kWrongShard) {
    retry();
    return;
  }
  AttemptOutcome out;
  out.action = RetryAction::kRefreshShards;
  out.leader_hint = GetErrorInfo(s).leader_hint;
  RefreshShardsAsync(endpoint, [this, endpoint, out = std::move(out), key = std::move(key),
                                route = std::move(route), retry = std::move(retry)]() mutable {
    // As Invoke does once the map is refreshed; the retry routes again.
    Steer({.key = key}, out, endpoint, &route);
    retry();
  });
}

template <typename Call>
Status Client::Impl::RouteAsync(Call& call, std::string_view key, int attempt,
                                SessionState* session) {
  if (attempt == 0) MERIDIAN_RETURN_IF_ERROR(EnsureShardMap());
  call.route = shards.Route(key);
  call.endpoint = Target(call.route);
  call.address = At(call.endpoint)->address;
  v1::RequestHeader* h = call.req.mutable_header();
  session->Stamp(h);
  h->set_shard_map_version(call.route ? call.route->map_version : 0);
  h->set_shard_id(call.route ? call.route->shard_id : 0);
  return absl::OkStatus();
}

namespace {
constexpr int kMaxAsyncRedirects = 4;

// Whether an async attempt's error proves the request was not executed and
// names a better place to send it (a leader, or a fresher shard map).
bool IsRedirect(const Status& s) {
  const ErrorKind kind = GetErrorKind(s);
  return kind == ErrorKind::kNotLeader || kind == ErrorKind::kWrongShard;
}

// The keyed async calls, each as KeyedAsync needs it: its messages, its
// kind, its RPC, and what a successful reply becomes.
struct GetOp {
  using Request = v1::GetRequest;
  using Response = v1::GetResponse;
  using Value = std::optional<GetResult>;
  static constexpr CallKind kKind = CallKind::kRead;
  static void Send(Endpoint& ep, grpc::ClientContext* ctx, const Request* req, Response* resp,
                   std::function<void(grpc::Status)> cb) {
    ep.kv->async()->Get(ctx, req, resp, std::move(cb));
  }
  static Value ToValue(Response& resp) { return ToGetResult(std::move(resp)); }
};

struct PutOp {
  using Request = v1::PutRequest;
  using Response = v1::PutResponse;
  using Value = WriteResult;
  // A transport failure of a write classifies as kCommitUnknown.
  static constexpr CallKind kKind = CallKind::kWrite;
  static void Send(Endpoint& ep, grpc::ClientContext* ctx, const Request* req, Response* resp,
                   std::function<void(grpc::Status)> cb) {
    ep.kv->async()->Put(ctx, req, resp, std::move(cb));
  }
  static Value ToValue(Response& resp) {
    return WriteResult{.commit_hlc = resp.header().commit_hlc()};
  }
};
}  // namespace

void Client::GetAsync(std::string key, std::function<void(Result<std::optional<GetResult>>)> done) {
  v1::GetRequest req;
  req.set_key(std::move(key));
  impl_->KeyedAsync<GetOp>(std::move(req), std::move(done), 0, default_session_->state_.get());
}

void Client::PutAsync(std::string key, std::string value,
                      std::function<void(Result<WriteResult>)> done) {
  v1::PutRequest req;
  req.set_key(std::move(key));
  req.set_value(std::move(value));
  impl_->KeyedAsync<PutOp>(std::move(req), std::move(done), 0, default_session_->state_.get());
}

template <typename Op>
void Client::Impl::KeyedAsync(typename Op::Request req,
                              std::function<void(Result<typename Op::Value>)> done, int attempt,
                              SessionState* session) {
  using Call = AsyncCall<typename Op::Request, typename Op::Response, decltype(done)>;
  auto call = std::make_unique<Call>();
  call->req = std::move(req);
  call->done = std::move(done);
  // A retry reuses the request: RouteAsync rewrites every header field.
  if (Status s = RouteAsync(*call, call->req.key(), attempt, session); !s.ok()) {
    call->done(std::move(s));
    return;
  }
  Endpoint* ep = At(call->endpoint);
  if (std::string why; !ConnectingOrReady(*ep, &why)) {
    // Nothing was sent: a write surely did not apply.
    const AttemptOutcome out = internal::NotConnected(ep->address, why);
    SteerAsync(out, Op::kKind, call->endpoint, call->req.key(), call->route);
    if (attempt < kMaxAsyncRedirects) {
      KeyedAsync<Op>(std::move(call->req), std::move(call->done), attempt + 1, session);
      return;
    }
    call->done(out.status);
    return;
  }
  call->ctx.set_deadline(Deadline());
  Call* raw = call.release();
  Op::Send(*ep, &raw->ctx, &raw->req, &raw->resp, [this, raw, attempt, session](grpc::Status gs) {
    std::unique_ptr<Call> call(raw);
    Status s =
        FinishAsync(gs, Op::kKind, call->endpoint, call->address, call->req.key(), call->route);
    if (IsRedirect(s) && attempt < kMaxAsyncRedirects) {
      // NOT_LEADER and WRONG_SHARD are the server's word that nothing was
      // executed.
      std::string key = call->req.key();
      const size_t endpoint = call->endpoint;
      std::optional<ShardRoute> route = std::move(call->route);
      auto retry = [this, attempt, session, req = std::move(call->req),
                    done = std::move(call->done)]() mutable {
        KeyedAsync<Op>(std::move(req), std::move(done), attempt + 1, session);
      };
      call.reset();
      Redirect(s, endpoint, std::move(key), std::move(route), std::move(retry));
      return;
    }
    if (s.ok()) session->Observe(call->resp.header());
    Result<typename Op::Value> result = s.ok() ? Result<typename Op::Value>(Op::ToValue(call->resp))
                                               : Result<typename Op::Value>(std::move(s));
    // The call's gRPC state goes before `done` runs: once told, the caller
    // may destroy the Client.
    auto done = std::move(call->done);
    call.reset();
    done(std::move(result));
  });
}

}  // namespace meridian::client
