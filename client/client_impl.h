// Internal to client/: the state a Client shares between its calls (the
// endpoints, the shard map cache) and how one call is
// attempted and retried (Invoke), used by the synchronous calls
// (client.cc) and the asynchronous ones (async_calls.cc).
//
// Thread-safe: Impl is shared by all the Client's callers and gRPC's
// callback threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "client/retry_policy.h"
#include "client/session_state.h"
#include "client/shard_cache.h"
#include "common/clock.h"
#include "common/random.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "meridian/client.h"
#include "meridian/v1/admin.grpc.pb.h"
#include "meridian/v1/cset.grpc.pb.h"
#include "meridian/v1/kv.grpc.pb.h"
#include "meridian/v1/txn.grpc.pb.h"

namespace meridian::client {
namespace internal {

// One node: a channel and a stub per service. Never destroyed before the
// Client, so a pointer stays valid once looked up.
struct Endpoint {
  explicit Endpoint(std::string addr, const ClientOptions& options) : address(std::move(addr)) {
    grpc::ChannelArguments args;
    // Reconnect soon after a node comes back, instead of gRPC's default of
    // up to two minutes, so retries with our own backoff can reach it.
    const int max_ms = static_cast<int>(std::max<int64_t>(options.max_backoff.count(), 100));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(100, max_ms));
    // gRPC also uses the minimum reconnect backoff as the time a connection
    // attempt may take; 100 ms made connects fail on a loaded machine.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                static_cast<int>(std::max<int64_t>(options.rpc_timeout.count(), 1000)));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_ms);
    channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    kv = v1::KV::NewStub(channel);
    txn = v1::Txn::NewStub(channel);
    cset = v1::Cset::NewStub(channel);
    admin = v1::Admin::NewStub(channel);
    health = grpc::health::v1::Health::NewStub(channel);
  }

  // The stub of the service whose generated Stub class is S.
  template <typename S>
  S& StubOf() const {
    if constexpr (std::is_same_v<S, v1::KV::Stub>) {
      return *kv;
    } else if constexpr (std::is_same_v<S, v1::Txn::Stub>) {
      return *txn;
    } else if constexpr (std::is_same_v<S, v1::Cset::Stub>) {
      return *cset;
    } else if constexpr (std::is_same_v<S, v1::Admin::Stub>) {
      return *admin;
    } else {
      static_assert(std::is_same_v<S, grpc::health::v1::Health::Stub>, "not a Meridian service");
      return *health;
    }
  }

  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::KV::Stub> kv;
  std::unique_ptr<v1::Txn::Stub> txn;
  std::unique_ptr<v1::Cset::Stub> cset;
  std::unique_ptr<v1::Admin::Stub> admin;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
};

inline VersionInfo ToVersionInfo(const v1::Version& v) {
  return VersionInfo{.hlc = v.hlc(), .site_id = v.site_id()};
}

// A Get or TxnGet reply: nullopt when nothing was found.
template <typename Response>
std::optional<GetResult> ToGetResult(Response resp) {
  if (!resp.found()) return std::nullopt;
  return GetResult{.value = std::move(*resp.mutable_value()),
                   .version = ToVersionInfo(resp.version())};
}

// What one shard served of a scan.
struct ScanPart {
  std::vector<KeyValue> kvs;
  bool more = false;
  std::string resume_key;  // the range goes on at this key, in another shard
};

// How one call is attempted.
struct CallSpec {
  CallKind kind = CallKind::kRead;
  // Set for keyed calls: with a shard map, the call goes to the leader of
  // this key's shard and its header names the shard and the map version.
  std::optional<std::string_view> key;
  // Set for calls of an interactive transaction: they can only be served by
  // the node holding it, so they never move to another endpoint.
  std::optional<size_t> pinned;
  // Probes of one node (health, status) report that node, and a best-effort
  // abort is not worth waiting for: no retries.
  bool no_retry = false;
  // A long stream (a backup): the attempt has no deadline; the caller
  // watches for a stalled stream itself.
  bool no_deadline = false;
  // The session whose token the call carries and keeps; null: none.
  SessionState* session = nullptr;
  // A ReadConsistency::kSession read (keyed, unpinned): it may be served by
  // any replica of its shard (Invoke, "Session reads").
  bool session_read = false;
};

}  // namespace internal

struct Client::Impl {
  using AttemptOutcome = internal::AttemptOutcome;
  using CallKind = internal::CallKind;
  using CallSpec = internal::CallSpec;
  using Endpoint = internal::Endpoint;
  using RetryAction = internal::RetryAction;
  using ScanPart = internal::ScanPart;
  using SessionState = internal::SessionState;
  using ShardRoute = internal::ShardRoute;

  explicit Impl(const ClientOptions& o) : options(o), rng(std::random_device{}()) {
    if (!o.route_by_shard) map_state = MapState::kUnsupported;
    for (const auto& address : options.endpoints) {
      endpoints.push_back(std::make_unique<Endpoint>(address, options));
    }
  }

  // Runs `fn(endpoint, context, route)` (one RPC attempt) until it succeeds
  // or the failure may not or need not be retried. `route` is where a keyed
  // call was sent (shard_id 0: unrouted). `*served` gets the index of the
  // endpoint that answered.
  template <typename Fn>
  Status Invoke(const CallSpec& spec, Fn&& fn, size_t* served = nullptr) {
    std::optional<ShardRoute> route;
    if (spec.key && !spec.pinned) {
      MERIDIAN_RETURN_IF_ERROR(EnsureShardMap());
      route = shards.Route(*spec.key);
    }
    size_t index = spec.pinned ? *spec.pinned : Target(route);
    SessionRead session_read;
    if (spec.session_read && !spec.pinned) {
      if (std::optional<size_t> replica = PickReplica(route, std::nullopt)) {
        session_read.on_follower = *replica != index;
        index = *replica;
      }
    }
    for (int retry = 0;; ++retry) {
      Endpoint* ep = At(index);
      const auto deadline = Deadline();
      AttemptOutcome out;
      if (std::string why; !WaitConnected(*ep, deadline, &why)) {
        // Nothing was sent, so even a write may go elsewhere.
        out = internal::NotConnected(ep->address, why);
      } else {
        grpc::ClientContext ctx;
        if (!spec.no_deadline) ctx.set_deadline(deadline);
        const grpc::Status gs = fn(*ep, &ctx, route ? *route : ShardRoute());
        if (gs.ok()) {
          if (served != nullptr) *served = index;
          return absl::OkStatus();
        }
        out = internal::ClassifyFailure(gs, spec.kind, ep->address);
      }
      if (spec.session_read && !spec.pinned) {
        const SessionRead::Step step =
            AfterSessionRead(spec, out, ep->address, &session_read, &index, &route);
        if (step == SessionRead::kReturn) return session_read.WaitedOut(out.status);
        if (step == SessionRead::kMoved) continue;  // to another node: no backoff
      }
      if (out.action == RetryAction::kFail || spec.no_retry || retry >= options.max_retries) {
        return out.status;
      }
      if (spec.pinned) {
        // Another node does not hold the transaction.
        if (out.action == RetryAction::kRetryLeader || out.action == RetryAction::kRefreshShards) {
          return out.status;
        }
        out.action = RetryAction::kRetrySame;
      } else {
        if (out.action == RetryAction::kRefreshShards) RefreshShards(index);
        index = Steer(spec, out, index, &route);
      }
      Sleep(retry, out);
    }
  }

  // Where the next attempt of an unpinned call goes after `out` at endpoint
  // `index` (the map already refreshed on kRefreshShards). A routed call
  // steers its shard's entry in the cache, an unrouted one the shared
  // endpoint preference. Updates `*route`.
  size_t Steer(const CallSpec& spec, const AttemptOutcome& out, size_t index,
               std::optional<ShardRoute>* route) {
    if (out.action == RetryAction::kRetrySame) return index;
    if (out.action == RetryAction::kRefreshShards) {
      if (spec.key) AfterRefresh(*spec.key, *route, out);
      *route = spec.key ? shards.Route(*spec.key) : std::nullopt;
      if (*route) return Target(*route);
      // Still no map to route by: the node that refused knows better.
      return out.leader_hint.empty() ? MoveOff(index) : Use(out.leader_hint);
    }
    if (*route) {
      const ShardRoute& r = **route;
      if (out.action == RetryAction::kRetryLeader) {
        shards.SetLeader(r.shard_id, out.leader_hint);
      } else {
        shards.Failed(r.shard_id, r.address);
        if (r.address.empty()) MoveOff(index);
      }
    } else if (out.action == RetryAction::kRetryLeader) {
      return Use(out.leader_hint);
    } else {
      return MoveOff(index);
    }
    *route = shards.Route(*spec.key);
    return Target(*route);
  }

  // After WRONG_SHARD (`out`) for a call routed by `before` and a refresh of
  // the map: if the map did not change, the node that refused still knows
  // better where the key's shard is (its hint), or at least where it is not.
  void AfterRefresh(std::string_view key, const std::optional<ShardRoute>& before,
                    const AttemptOutcome& out) {
    std::optional<ShardRoute> now = shards.Route(key);
    if (!now || !before || now->map_version != before->map_version) return;
    if (!out.leader_hint.empty()) {
      shards.SetLeader(now->shard_id, out.leader_hint);
    } else {
      shards.Failed(now->shard_id, before->address);
    }
  }

  // The endpoint a call routed by `route` goes to: the route's address, else
  // the shared preference.
  size_t Target(const std::optional<ShardRoute>& route) {
    if (!route || route->address.empty()) return Current();
    return IndexOf(route->address);
  }

  // Where a session read (CallSpec::session_read) stands. Its first attempt
  // goes to a replica of the shard, taken in turn (PickReplica). A follower
  // that cannot serve it (NOT_LEADER from a server without follower reads,
  // UNAVAILABLE, unreachable, WRONG_SHARD) hands the read to the leader
  // route, once, without touching the shard cache: the follower says
  // nothing about the leader. CAUSAL_WAIT_TIMEOUT is retried once at
  // another replica (the leader if a follower timed out), then returned.
  struct SessionRead {
    enum Step {
      kAsUsual,  // the usual retry rules apply to this failure
      kMoved,    // try again at *index now
      kReturn,   // the failure is the answer
    };
    bool on_follower = false;               // the attempt went to a replica, not the leader route
    bool waited_out = false;                // a CAUSAL_WAIT_TIMEOUT was retried already
    std::vector<std::string> timed_out_at;  // the replicas that answered it

    // The CAUSAL_WAIT_TIMEOUT `last` the caller gets, naming every replica
    // that could not catch up.
    Status WaitedOut(const Status& last) const {
      return MakeError({.kind = ErrorKind::kCausalWaitTimeout},
                       absl::StrCat("no replica caught up with the session's token in time "
                                    "(tried ",
                                    absl::StrJoin(timed_out_at, ", "), "): ", last.message()));
    }
  };
  // After a failed attempt of a session read at `address`: what Invoke does
  // next (SessionRead), moving *index (and *route after WRONG_SHARD).
  SessionRead::Step AfterSessionRead(const CallSpec& spec, const AttemptOutcome& out,
                                     const std::string& address, SessionRead* read, size_t* index,
                                     std::optional<ShardRoute>* route) {
    const bool wait_timed_out = GetErrorKind(out.status) == ErrorKind::kCausalWaitTimeout;
    if (wait_timed_out) read->timed_out_at.push_back(address);
    if (wait_timed_out && read->waited_out) return SessionRead::kReturn;
    read->waited_out = read->waited_out || wait_timed_out;
    if (read->on_follower && (wait_timed_out || out.action != RetryAction::kFail)) {
      if (out.action == RetryAction::kRefreshShards) {
        RefreshShards(*index);
        *route = shards.Route(*spec.key);
      }
      read->on_follower = false;
      *index = Target(*route);
      return SessionRead::kMoved;
    }
    if (!wait_timed_out) return SessionRead::kAsUsual;
    const std::optional<size_t> other = PickReplica(*route, *index);
    if (!other) return SessionRead::kReturn;
    read->on_follower = *other != Target(*route);
    *index = *other;
    return SessionRead::kMoved;
  }

  // The endpoint of a replica of `route`'s shard other than `avoid`,
  // taken in turn among its replicas (leader included) so that session
  // reads spread. Without a map to name replicas: the next configured
  // endpoint after `avoid`, if there is one. nullopt: no other replica.
  std::optional<size_t> PickReplica(const std::optional<ShardRoute>& route,
                                    std::optional<size_t> avoid) {
    std::vector<std::string> replicas;
    if (route) replicas = shards.Replicas(route->shard_id);
    if (replicas.empty()) {
      if (!avoid || options.endpoints.size() < 2) return std::nullopt;
      return (*avoid + 1) % options.endpoints.size();
    }
    const std::string avoided = avoid ? At(*avoid)->address : std::string();
    uint64_t turn;
    {
      absl::MutexLock l(&mu);
      turn = next_replica++;
    }
    for (size_t i = 0; i < replicas.size(); ++i) {
      const std::string& address = replicas[(turn + i) % replicas.size()];
      if (address != avoided) return IndexOf(address);
    }
    return std::nullopt;
  }

  // Reads the shard map before the first keyed call. OK once the map is
  // known or the server has none (UNIMPLEMENTED: an unsharded server; calls
  // are then not routed). kUnavailable when no endpoint answered. Another
  // failure leaves calls unrouted and the next keyed call tries again.
  Status EnsureShardMap() {
    if (MapKnownOrUnsupported()) return absl::OkStatus();
    // One fetch at a time: the other callers wait for its answer.
    absl::MutexLock fetching(&fetch_mu);
    if (MapKnownOrUnsupported()) return absl::OkStatus();
    Result<v1::ShardsResponse> r =
        Unary({.kind = CallKind::kRead}, &v1::Admin::Stub::Shards, v1::ShardsRequest());
    if (r.ok()) {
      Adopt(*r);
      if (!shards.has_map()) SetMapState(MapState::kUnsupported);  // an invalid map
      return absl::OkStatus();
    }
    if (r.status().code() == absl::StatusCode::kUnimplemented) {
      SetMapState(MapState::kUnsupported);
      return absl::OkStatus();
    }
    if (GetErrorKind(r.status()) == ErrorKind::kUnavailable) return r.status();
    return absl::OkStatus();
  }

  // After WRONG_SHARD from endpoint `answered`: fetches the map from it, then
  // from each configured endpoint until one is newer than the cached one.
  // One attempt each; failures are ignored (the retry finds out).
  void RefreshShards(size_t answered) {
    const uint64_t before = shards.version();
    const auto newer_from = [&](size_t i) {
      Result<v1::ShardsResponse> r = Unary({.kind = CallKind::kRead, .pinned = i, .no_retry = true},
                                           &v1::Admin::Stub::Shards, v1::ShardsRequest());
      if (r.ok()) Adopt(*r);
      return shards.version() > before;
    };
    if (newer_from(answered)) return;
    for (size_t i = 0; i < options.endpoints.size(); ++i) {
      if (i != answered && newer_from(i)) return;
    }
  }

  // Takes a map (if newer) and leaders from a ShardsResponse.
  void Adopt(const v1::ShardsResponse& resp) {
    shards.Update(resp);
    if (shards.has_map()) SetMapState(MapState::kKnown);
  }

  // The same as RefreshShards from `answered` alone, without blocking: `then`
  // runs once the answer (or a failure) is in, on a gRPC thread.
  void RefreshShardsAsync(size_t answered, std::function<void()> then);

  // One unary RPC, `method` of some service's Stub, attempted as Invoke
  // does. The token of `spec.session` is sent and kept where the messages
  // carry a header, so each wrapper only builds its request and reads its
  // reply.
  template <typename Stub, typename Request, typename Response>
  Result<Response> Unary(const CallSpec& spec,
                         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                      Response*),
                         Request req, size_t* served = nullptr) {
    if constexpr (requires { req.mutable_header()->mutable_session_token(); }) {
      if (spec.session != nullptr) spec.session->Stamp(req.mutable_header());
    }
    Response resp;
    MERIDIAN_RETURN_IF_ERROR(Invoke(
        spec,
        [&](Endpoint& ep, grpc::ClientContext* ctx, const ShardRoute& route) {
          if constexpr (requires { req.mutable_header()->set_shard_id(0); }) {
            req.mutable_header()->set_shard_map_version(route.map_version);
            req.mutable_header()->set_shard_id(route.shard_id);
          }
          return (ep.StubOf<Stub>().*method)(ctx, req, &resp);
        },
        served));
    if constexpr (requires { resp.header().session_token(); }) {
      if (spec.session != nullptr) spec.session->Observe(resp.header());
    }
    return resp;
  }

  // Waits until `ep` can take an RPC. Fails at once on a refused or broken
  // connection (TRANSIENT_FAILURE) rather than waiting out the deadline.
  bool WaitConnected(Endpoint& ep, std::chrono::system_clock::time_point deadline,
                     std::string* why) {
    grpc_connectivity_state state = ep.channel->GetState(/*try_to_connect=*/true);
    while (state != GRPC_CHANNEL_READY) {
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
        *why = "connection failed";
        return false;
      }
      if (!ep.channel->WaitForStateChange(state, deadline)) {
        *why = "timed out connecting";
        return false;
      }
      state = ep.channel->GetState(/*try_to_connect=*/true);
    }
    return true;
  }

  // Whether an RPC sent to `ep` now could reach it without waiting out a
  // failed connection: false (with the reason) only in TRANSIENT_FAILURE or
  // SHUTDOWN. Starts connecting an idle channel.
  bool ConnectingOrReady(Endpoint& ep, std::string* why) {
    const grpc_connectivity_state state = ep.channel->GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      *why = "connection failed";
      return false;
    }
    return true;
  }

  // One scan request, at the leader of the shard holding `from` (the first
  // key of req's range), or as Invoke routes a session read. A retry
  // restarts it, so each part is one snapshot. Carries `session`'s token.
  Result<ScanPart> ScanShard(v1::ScanRequest req, std::string_view from, SessionState* session,
                             bool session_read);

  // Async calls (below, with the calls).
  Status FinishAsync(const grpc::Status& gs, CallKind kind, size_t endpoint,
                     const std::string& address, std::string_view key,
                     const std::optional<ShardRoute>& route);
  // Steers as Invoke would after `out` at `endpoint`, for an async call.
  void SteerAsync(const AttemptOutcome& out, CallKind kind, size_t endpoint, std::string_view key,
                  const std::optional<ShardRoute>& route);
  // Picks where an async call of `key` goes and stamps its header. Only a
  // first attempt may fetch the shard map (blocking): retries run on gRPC
  // threads. kUnavailable when the map could not be fetched.
  template <typename Call>
  Status RouteAsync(Call& call, std::string_view key, int attempt, SessionState* session);
  // After an async redirect (`s`) at `endpoint`: WRONG_SHARD refreshes the
  // map from that node without blocking, then `retry` runs on a gRPC
  // thread; NOT_LEADER (already steered) retries at once.
  void Redirect(const Status& s, size_t endpoint, std::string key, std::optional<ShardRoute> route,
                std::function<void()> retry);
  // One attempt of a keyed async call (GetAsync, PutAsync; `Op` says which,
  // in async_calls.cc) carrying `req`. A NOT_LEADER or WRONG_SHARD answer,
  // or an endpoint that cannot be reached, is retried (up to a few times) at
  // the leader, by a refreshed shard map, or at the next endpoint: none
  // proves anything was written. `done` runs once, on a gRPC thread or (on
  // an early failure) the caller's.
  // The call carries and keeps `session`'s token.
  template <typename Op>
  void KeyedAsync(typename Op::Request req, std::function<void(Result<typename Op::Value>)> done,
                  int attempt, SessionState* session);

  std::chrono::system_clock::time_point Deadline() const {
    // The clock seam: only common/clock.cc reads std::chrono clocks.
    return std::chrono::system_clock::time_point(
               std::chrono::milliseconds(clock->NowUnixMillis())) +
           options.rpc_timeout;
  }

  void Sleep(int retry, const AttemptOutcome& out = AttemptOutcome{}) {
    std::chrono::milliseconds delay;
    {
      absl::MutexLock l(&mu);
      delay = internal::RetryDelay(
          out, internal::BackoffDelay(retry, options.initial_backoff, options.max_backoff, rng));
    }
    std::this_thread::sleep_for(delay);
  }

  size_t Current() {
    absl::MutexLock l(&mu);
    return current;
  }

  Endpoint* At(size_t index) {
    absl::MutexLock l(&mu);
    return endpoints[index].get();
  }

  // Moves the shared preference off a failed endpoint. Only the first of
  // several threads that saw the same failure moves it, so they do not skip
  // a healthy endpoint between them.
  size_t MoveOff(size_t failed) {
    absl::MutexLock l(&mu);
    if (current == failed) current = (failed + 1) % endpoints.size();
    return current;
  }

  // Makes `address` (a leader hint) the preferred endpoint.
  size_t Use(const std::string& address) {
    const size_t i = IndexOf(address);
    absl::MutexLock l(&mu);
    return current = i;
  }

  // The index of the endpoint at `address`, adding it if the caller did not
  // list it. The list only grows by leader hints and shard map addresses,
  // so it stays bounded by the cluster size.
  size_t IndexOf(const std::string& address) {
    absl::MutexLock l(&mu);
    for (size_t i = 0; i < endpoints.size(); ++i) {
      if (endpoints[i]->address == address) return i;
    }
    endpoints.push_back(std::make_unique<Endpoint>(address, options));
    return endpoints.size() - 1;
  }

  enum class MapState {
    kUnknown,      // not fetched yet, or the fetch failed
    kUnsupported,  // the server has no Admin.Shards: calls are not routed
    kKnown,
  };
  bool MapKnownOrUnsupported() {
    absl::MutexLock l(&mu);
    return map_state != MapState::kUnknown;
  }
  void SetMapState(MapState state) {
    if (!options.route_by_shard) return;  // stays kUnsupported
    absl::MutexLock l(&mu);
    // A map, once known, stays (a WRONG_SHARD proves the server has one).
    if (map_state != MapState::kKnown) map_state = state;
  }

  const ClientOptions options;
  Clock* const clock = SystemClock();

  absl::Mutex mu;
  // Append-only: indices (held by Txn) and pointers stay valid.
  std::vector<std::unique_ptr<Endpoint>> endpoints ABSL_GUARDED_BY(mu);
  size_t current ABSL_GUARDED_BY(mu) = 0;
  uint64_t next_replica ABSL_GUARDED_BY(mu) = 0;  // PickReplica's turn
  Random rng ABSL_GUARDED_BY(mu);
  MapState map_state ABSL_GUARDED_BY(mu) = MapState::kUnknown;

  internal::ShardCache shards;
  // Held while the first shard map is fetched; never while holding `mu`.
  absl::Mutex fetch_mu ABSL_ACQUIRED_BEFORE(mu);
};

}  // namespace meridian::client
