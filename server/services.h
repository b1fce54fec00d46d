// The gRPC services of meridiand (meridian.v1.KV, Txn, Cset, Admin). Each is
// a thin translation between the wire messages and txn::TxnStore: validate
// the shape of the request, call the store, fill the response header, and
// map errors through ToGrpcStatus (proto/grpc_status.h).
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/hlc.h"
#include "meridian/v1/common.pb.h"
#include "server/admission.h"
#include "server/config.h"
#include "server/router.h"
#include "storage/engine.h"
#include "txn/txn_store.h"

namespace meridian::server {

class Replication;
class GroupHost;
class Fence;
class ConfigGroup;
class TxnCoordinator;
class ShardSplitter;
class ClusterClock;
class CloseNudger;

// What the services share. Owned by the Node; outlives the services.
struct ServiceContext {
  const Config* config;
  txn::TxnStore* store;
  storage::Engine* engine;
  Hlc* hlc;
  Clock* clock;
  uint64_t start_mono_us;
  std::atomic<int> bound_port{0};  // set once the server has bound its port
  Replication* replication = nullptr;  // replicated mode only: group 1, which serves clients
  GroupHost* groups = nullptr;         // replicated mode only: every group this node hosts
  Router* router = nullptr;            // the local store of a key's shard
  const ShardDirectory* shards = nullptr;  // the cached shard map
  // Transactions of a sharded cluster (more than one shard).
  TxnCoordinator* coordinator = nullptr;
  // Replicated mode: online splits (Admin.SplitShard).
  ShardSplitter* splitter = nullptr;
  // Every node's clock and low watermark (Participant.NodeClock).
  ClusterClock* cluster_clock = nullptr;
  // Replicated mode: a follower's session read waiting on an idle shard
  // asks the leader to close its timestamp (null: it waits for the idle
  // close).
  CloseNudger* close_nudger = nullptr;
  // Replicated mode: the cluster config's group (Admin.RotateSigningKey).
  ConfigGroup* config_group = nullptr;
  // Replicated mode: reads the config this node's replica of the config
  // group has applied into `shards` at once (a token signed with a key
  // newer than any this node knows may come from a rotation it has not
  // picked up yet).
  std::function<void()> reload_cluster_config;
  // Replicated mode: whether this node votes in the config group, so it
  // learns the signing keys with the first committed config (a node added
  // with --join does not, and serves without tokens).
  std::function<bool()> learns_signing_keys;
  std::atomic<int> in_flight{0};       // data requests being served
  std::atomic<bool> draining{false};   // shutting down: refuse new requests
  const Fence* fence = nullptr;        // set: refuse data requests while it is fenced
  // --max-inflight and --client-rate-limit; made by MakeServices from the
  // config unless already set.
  std::unique_ptr<Admission> admission;

  // OK if this node may serve data requests now: always on a single node;
  // in replicated mode only on a leader that has caught up. Otherwise
  // NOT_LEADER with the leader's address as the hint.
  Status CheckLeader() const;
  // OK once this node may serve a linearizable read (leader lease, or a
  // read-index round); NOT_LEADER with the leader's address otherwise.
  Status ReadBarrier() const;

  // host:port clients reach this node at.
  std::string ClientUrl() const;

  // Fills the header every response carries. snapshot/commit 0 = none;
  // shard_id 0 = not about one shard. The session token is the request's
  // (if given; it was accepted by AcceptSessionToken) with this site's entry
  // raised to the snapshot and commit timestamps, the cluster time of this
  // node's clock, signed with the newest signing key; none while this node
  // knows no key or is fenced.
  void FillHeader(v1::ResponseHeader* header, uint64_t snapshot_hlc, uint64_t commit_hlc,
                  uint64_t shard_id = 0, const v1::RequestHeader* request = nullptr) const;

  // Sessions (session_context.cc; docs/consistency.md, "Sessions").
  // Verifies the request's session token, if it carries one, and advances
  // this node's clock to it. INVALID_ARGUMENT naming the problem for an
  // unsigned, forged, unknown-key or too-far-ahead token (counted in
  // meridian_session_tokens_rejected_total). A node that knows no signing
  // key (VerifiesSessionTokens) ignores signed tokens: OK, nothing
  // advanced. A verified token ahead of the bound by less than
  // kMaxTokenAheadWaitMs, and less than the time left before the request's
  // deadline (`context`; null: none), is waited out, then accepted.
  Status AcceptSessionToken(const v1::RequestHeader& request,
                            const grpc::ServerContext* context = nullptr) const;
  // Whether this node knows a signing key, and so verifies and honours
  // tokens. Not in a new cluster's first moments, nor on a node that joined
  // with --join (no voter of the config group, it never learns the keys).
  bool VerifiesSessionTokens() const;
  // The token's entry for this site if this node verifies tokens, else 0:
  // the least snapshot a Begin may take.
  uint64_t SessionFloor(const v1::RequestHeader& request) const;
  // The store that serves a read of `key`: with an explicit snapshot, or
  // LINEARIZABLE, as Router::ForSnapshotRead; a SESSION read is served by
  // any local replica of the shard once it covers the session's token
  // (CatchUpToSession).
  Result<Router::Target> RouteRead(std::string_view key, const v1::RequestHeader& request,
                                   std::optional<uint64_t> snapshot,
                                   const grpc::ServerContext& context) const;
  // Returns once `target`'s store has made visible everything up to the
  // token's entry for this site: at once if it has; on the shard's leader
  // after closing that timestamp (one empty commit at most); elsewhere
  // after waiting, within the client's deadline (CausalWaitBudgetMs), for
  // the replica to apply it, asking the leader to close it if the wait
  // lasts beyond a couple of milliseconds (close_nudger.h).
  // CAUSAL_WAIT_TIMEOUT if it does not in time. A node that does not
  // verify tokens serves a leader's read at once and refuses a follower's
  // that carries a token (UNAVAILABLE).
  Status CatchUpToSession(const Router::Target& target, const v1::RequestHeader& request,
                          const grpc::ServerContext& context) const;
  // The single-site snapshot HLC named by `v`, or nullopt when `v` is empty.
  // InvalidArgument when it names another site.
  Result<std::optional<uint64_t>> SnapshotFrom(const v1::VectorTimestamp& v) const;
};

std::vector<std::unique_ptr<grpc::Service>> MakeServices(ServiceContext* ctx);

// The key a client is rate-limited by: the `meridian-client-id` metadata if
// the client sent it, else its peer address without the port.
std::string ClientKey(const grpc::ServerContext& context);

// Counts one data request for the life of a handler, so shutdown can wait
// for exactly the requests in flight, and says whether it may be served:
// refused while draining or fenced (UNAVAILABLE: try another node), by
// admission control (RESOURCE_EXHAUSTED with a retry-after hint, checked
// before anything that costs work), or when this node may not serve data.
// `context` null: an operator request, exempt from the fence and from
// admission control.
//
// Data requests (`route_by_key`) pass their shard group's read barrier when
// they are routed (Router); the others pass group 1's here.
class RequestGuard {
 public:
  RequestGuard(ServiceContext* ctx, const grpc::ServerContext* context, bool route_by_key = false);
  ~RequestGuard();
  RequestGuard(const RequestGuard&) = delete;
  RequestGuard& operator=(const RequestGuard&) = delete;
  const Status& status() const { return status_; }

 private:
  ServiceContext* ctx_;
  bool admitted_ = false;  // holds an admission slot
  Status status_;
};

}  // namespace meridian::server
