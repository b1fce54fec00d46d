#include "meridian/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/retry_policy.h"
#include "client/shard_cache.h"
#include "common/clock.h"
#include "common/random.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "meridian/v1/admin.grpc.pb.h"
#include "meridian/v1/cset.grpc.pb.h"
#include "meridian/v1/kv.grpc.pb.h"
#include "meridian/v1/txn.grpc.pb.h"

namespace meridian::client {
namespace {

using internal::AttemptOutcome;
using internal::CallKind;
using internal::RetryAction;
using internal::ShardRoute;

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

VersionInfo ToVersionInfo(const v1::Version& v) {
  return VersionInfo{.hlc = v.hlc(), .site_id = v.site_id()};
}

// A Get or TxnGet reply: nullopt when nothing was found.
template <typename Response>
std::optional<GetResult> ToGetResult(Response resp) {
  if (!resp.found()) return std::nullopt;
  return GetResult{.value = std::move(*resp.mutable_value()),
                   .version = ToVersionInfo(resp.version())};
}

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

// What one shard served of a scan.
struct ScanPart {
  std::vector<KeyValue> kvs;
  bool more = false;
  std::string resume_key;  // the range goes on at this key, in another shard
};

// The smallest key after every key starting with `prefix`; "" (the end of
// the keyspace) if there is none.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

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
};

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

struct Client::Impl {
  explicit Impl(const ClientOptions& o) : options(o), rng(std::random_device{}()) {
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
      Result<v1::ShardsResponse> r =
          Unary({.kind = CallKind::kRead, .pinned = i, .no_retry = true},
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
  // does. The session token is sent and kept where the messages carry a
  // header, so each wrapper only builds its request and reads its reply.
  template <typename Stub, typename Request, typename Response>
  Result<Response> Unary(const CallSpec& spec,
                         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                      Response*),
                         Request req, size_t* served = nullptr) {
    if constexpr (requires { req.mutable_header()->mutable_session_token(); }) {
      Stamp(req.mutable_header());
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
    if constexpr (requires { resp.header().session_token(); }) Observe(resp.header());
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
  // key of req's range). A retry restarts it, so each part is one snapshot.
  Result<ScanPart> ScanShard(v1::ScanRequest req, std::string_view from);

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
  Status RouteAsync(Call& call, std::string_view key, int attempt);
  // After an async redirect (`s`) at `endpoint`: WRONG_SHARD refreshes the
  // map from that node without blocking, then `retry` runs on a gRPC
  // thread; NOT_LEADER (already steered) retries at once.
  void Redirect(const Status& s, size_t endpoint, std::string key,
                std::optional<ShardRoute> route, std::function<void()> retry);

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
    absl::MutexLock l(&mu);
    // A map, once known, stays (a WRONG_SHARD proves the server has one).
    if (map_state != MapState::kKnown) map_state = state;
  }

  // Keeps the session token of a response. Tokens are opaque to clients; of
  // two, the one with the later cluster time is the newer.
  void Observe(const v1::ResponseHeader& h) {
    if (!h.has_session_token()) return;
    absl::MutexLock l(&mu);
    if (h.session_token().cluster_time() >= token.cluster_time()) token = h.session_token();
  }

  void Stamp(v1::RequestHeader* h) {
    absl::MutexLock l(&mu);
    *h->mutable_session_token() = token;
  }

  const ClientOptions options;
  Clock* const clock = SystemClock();

  absl::Mutex mu;
  // Append-only: indices (held by Txn) and pointers stay valid.
  std::vector<std::unique_ptr<Endpoint>> endpoints ABSL_GUARDED_BY(mu);
  size_t current ABSL_GUARDED_BY(mu) = 0;
  v1::SessionToken token ABSL_GUARDED_BY(mu);
  Random rng ABSL_GUARDED_BY(mu);
  MapState map_state ABSL_GUARDED_BY(mu) = MapState::kUnknown;

  internal::ShardCache shards;
  // Held while the first shard map is fetched; never while holding `mu`.
  absl::Mutex fetch_mu ABSL_ACQUIRED_BEFORE(mu);
};

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
  MERIDIAN_ASSIGN_OR_RETURN(v1::GetResponse resp, impl_->Unary({.kind = CallKind::kRead, .key = key},
                                                               &v1::KV::Stub::Get, std::move(req)));
  return ToGetResult(std::move(resp));
}

Result<WriteResult> Client::Put(std::string_view key, std::string_view value) {
  v1::PutRequest req;
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  MERIDIAN_ASSIGN_OR_RETURN(v1::PutResponse resp, impl_->Unary({.kind = CallKind::kWrite, .key = key},
                                                               &v1::KV::Stub::Put, std::move(req)));
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
  out.leader_hint = GetErrorInfo(s).leader_hint;
  RefreshShardsAsync(endpoint, [this, out = std::move(out), key = std::move(key),
                                route = std::move(route), retry = std::move(retry)] {
    AfterRefresh(key, route, out);
    retry();
  });
}

template <typename Call>
Status Client::Impl::RouteAsync(Call& call, std::string_view key, int attempt) {
  if (attempt == 0) MERIDIAN_RETURN_IF_ERROR(EnsureShardMap());
  call.route = shards.Route(key);
  call.endpoint = Target(call.route);
  call.address = At(call.endpoint)->address;
  v1::RequestHeader* h = call.req.mutable_header();
  Stamp(h);
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
}  // namespace

void Client::GetAsync(std::string key, std::function<void(Result<std::optional<GetResult>>)> done) {
  GetAsyncAttempt(std::move(key), std::move(done), 0);
}

void Client::PutAsync(std::string key, std::string value,
                      std::function<void(Result<WriteResult>)> done) {
  PutAsyncAttempt(std::move(key), std::move(value), std::move(done), 0);
}

void Client::GetAsyncAttempt(std::string key,
                             std::function<void(Result<std::optional<GetResult>>)> done,
                             int attempt) {
  using Call = AsyncCall<v1::GetRequest, v1::GetResponse, decltype(done)>;
  auto call = std::make_unique<Call>();
  call->done = std::move(done);
  if (Status s = impl_->RouteAsync(*call, key, attempt); !s.ok()) {
    call->done(std::move(s));
    return;
  }
  Endpoint* ep = impl_->At(call->endpoint);
  if (std::string why; !impl_->ConnectingOrReady(*ep, &why)) {
    const AttemptOutcome out = internal::NotConnected(ep->address, why);
    impl_->SteerAsync(out, CallKind::kRead, call->endpoint, key, call->route);
    if (attempt < kMaxAsyncRedirects) {
      GetAsyncAttempt(std::move(key), std::move(call->done), attempt + 1);
      return;
    }
    call->done(out.status);
    return;
  }
  call->req.set_key(std::move(key));
  call->ctx.set_deadline(impl_->Deadline());
  Impl* impl = impl_.get();
  Call* raw = call.release();
  ep->kv->async()->Get(&raw->ctx, &raw->req, &raw->resp, [this, impl, raw, attempt](
                                                             grpc::Status gs) {
    std::unique_ptr<Call> call(raw);
    Result<std::optional<GetResult>> result = std::optional<GetResult>();
    if (Status s = impl->FinishAsync(gs, CallKind::kRead, call->endpoint, call->address,
                                     call->req.key(), call->route);
        !s.ok()) {
      if (IsRedirect(s) && attempt < kMaxAsyncRedirects) {
        std::string key = std::move(*call->req.mutable_key());
        const size_t endpoint = call->endpoint;
        std::optional<ShardRoute> route = std::move(call->route);
        auto retry = [this, attempt, key, done = std::move(call->done)]() mutable {
          GetAsyncAttempt(std::move(key), std::move(done), attempt + 1);
        };
        call.reset();
        impl->Redirect(s, endpoint, std::move(key), std::move(route), std::move(retry));
        return;
      }
      result = std::move(s);
    } else {
      impl->Observe(call->resp.header());
      result = ToGetResult(std::move(call->resp));
    }
    // The call's gRPC state goes before `done` runs: once told, the caller
    // may destroy the Client.
    auto done = std::move(call->done);
    call.reset();
    done(std::move(result));
  });
}

void Client::PutAsyncAttempt(std::string key, std::string value,
                             std::function<void(Result<WriteResult>)> done, int attempt) {
  using Call = AsyncCall<v1::PutRequest, v1::PutResponse, decltype(done)>;
  auto call = std::make_unique<Call>();
  call->done = std::move(done);
  if (Status s = impl_->RouteAsync(*call, key, attempt); !s.ok()) {
    call->done(std::move(s));
    return;
  }
  Endpoint* ep = impl_->At(call->endpoint);
  if (std::string why; !impl_->ConnectingOrReady(*ep, &why)) {
    // Nothing was sent: the write surely did not apply.
    const AttemptOutcome out = internal::NotConnected(ep->address, why);
    impl_->SteerAsync(out, CallKind::kWrite, call->endpoint, key, call->route);
    if (attempt < kMaxAsyncRedirects) {
      PutAsyncAttempt(std::move(key), std::move(value), std::move(call->done), attempt + 1);
      return;
    }
    call->done(out.status);
    return;
  }
  call->req.set_key(std::move(key));
  call->req.set_value(std::move(value));
  call->ctx.set_deadline(impl_->Deadline());
  Impl* impl = impl_.get();
  Call* raw = call.release();
  ep->kv->async()->Put(&raw->ctx, &raw->req, &raw->resp, [this, impl, raw, attempt](
                                                             grpc::Status gs) {
    std::unique_ptr<Call> call(raw);
    Result<WriteResult> result = WriteResult{.commit_hlc = call->resp.header().commit_hlc()};
    // A transport failure of a write classifies as kCommitUnknown.
    if (Status s = impl->FinishAsync(gs, CallKind::kWrite, call->endpoint, call->address,
                                     call->req.key(), call->route);
        !s.ok()) {
      if (IsRedirect(s) && attempt < kMaxAsyncRedirects) {
        // NOT_LEADER and WRONG_SHARD are the server's word that nothing was
        // written.
        std::string key = std::move(*call->req.mutable_key());
        const size_t endpoint = call->endpoint;
        std::optional<ShardRoute> route = std::move(call->route);
        auto retry = [this, attempt, key, value = std::move(*call->req.mutable_value()),
                      done = std::move(call->done)]() mutable {
          PutAsyncAttempt(std::move(key), std::move(value), std::move(done), attempt + 1);
        };
        call.reset();
        impl->Redirect(s, endpoint, std::move(key), std::move(route), std::move(retry));
        return;
      }
      result = std::move(s);
    } else {
      impl->Observe(call->resp.header());
    }
    auto done = std::move(call->done);
    call.reset();  // before `done`, as in GetAsync
    done(std::move(result));
  });
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
