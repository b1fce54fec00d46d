#include "server/node.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/data_dir_meta.h"
#include "server/log.h"
#include "server/open_engine.h"
#include "server/placement.h"
#include "proto/shard_lookup.h"
#include "server/peer.h"
#include "server/peer_call_clock.h"
#include "server/server_metrics.h"
#include "server/session_keys.h"

namespace meridian::server {
namespace {

// The services whose grpc.health.v1 status is the node's readiness (the
// overall "" status stays SERVING until shutdown: it says the process runs).
constexpr const char* kReadinessServices[] = {"meridian.v1.KV", "meridian.v1.Txn",
                                              "meridian.v1.Cset"};

void PublishReadiness(grpc::Server* server, bool ready) {
  for (const char* s : kReadinessServices) {
    server->GetHealthCheckService()->SetServingStatus(s, ready);
  }
}

void ObserveFlush(double seconds) { Metrics().storage_flush_seconds->Observe(seconds); }

// How often the fence and the data services' health status are
// re-evaluated.
constexpr absl::Duration kReadinessPeriod = absl::Milliseconds(250);

}  // namespace

Node::Node(const Config& config) : config_(config) {}

Result<std::unique_ptr<Node>> Node::Start(const Config& config) {
  std::unique_ptr<Node> node(new Node(config));
  const Config& c = node->config_;
  MERIDIAN_ASSIGN_OR_RETURN(node->lock_, DataDirLock::Acquire(c.data_dir));
  MERIDIAN_ASSIGN_OR_RETURN(DataDirMeta meta,
                            OpenDataDirMeta(PosixFileSystem(), c.data_dir, c.engine, kDefaultEngine,
                                            absl::StrCat("meridiand ", MERIDIAN_VERSION)));
  node->config_.engine = meta.engine;  // "auto" resolved

  MERIDIAN_ASSIGN_OR_RETURN(node->engine_, OpenEngine(node->EngineSettingsFor(
                                               c.data_dir + "/engine", node->ShardCacheBytes())));

  node->hlc_ = std::make_unique<Hlc>(SystemClock(), Hlc::Options{c.max_clock_offset_ms});
  MERIDIAN_ASSIGN_OR_RETURN(node->store_, txn::TxnStore::Open(node->engine_.get(),
                                                              node->hlc_.get(), SystemClock(),
                                                              node->StoreOptions()));

  if (!c.cluster.empty()) {
    MERIDIAN_RETURN_IF_ERROR(node->StartReplication());
  } else {
    // A single node: one shard, one store, a map that never changes.
    MERIDIAN_ASSIGN_OR_RETURN(v1::ClusterConfig map, node->FlagsConfig({{1, c.listen}}));
    MERIDIAN_ASSIGN_OR_RETURN(*map.add_signing_keys(),
                              LoadOrCreateLocalKey(PosixFileSystem(), c.data_dir,
                                                   kLocalSigningKeyFile));
    node->shard_directory_.Set(std::move(map), "static");
    node->router_ = std::make_unique<Router>(
        &node->shard_directory_, c.site_id,
        std::map<uint64_t, Router::LocalGroup>{{1, {node->store_.get(), nullptr}}});
  }
  node->ctx_.router = node->router_.get();
  if (node->config_group_) {
    node->ctx_.config_group = node->config_group_.get();
    node->ctx_.reload_cluster_config = [n = node.get()] { (void)n->ReloadCommittedConfig(); };
    node->ctx_.learns_signing_keys = [n = node.get()] {
      return n->config_group_replication_->Membership().first.IsVoter(n->config_.member_id);
    };
  }
  node->ctx_.shards = &node->shard_directory_;
  node->StartCoordinator();
  if (node->config_group_) {
    node->splitter_ = std::make_unique<ShardSplitter>(
        node->config_group_.get(), &node->shard_directory_, node->shard_caller_.get(),
        node->router_.get(), ShardSplitter::Options{c.site_id, c.split_size_bytes});
    node->ctx_.splitter = node->splitter_.get();
    node->close_nudger_ =
        std::make_unique<CloseNudger>([caller = node->shard_caller_.get()](
                                          uint64_t shard, uint64_t through, uint64_t timeout_ms) {
          return caller->CloseThrough(shard, through, timeout_ms);
        });
    node->ctx_.close_nudger = node->close_nudger_.get();
  }

  node->ctx_.config = &node->config_;
  node->ctx_.store = node->store_.get();
  node->ctx_.engine = node->engine_.get();
  node->ctx_.hlc = node->hlc_.get();
  node->ctx_.clock = SystemClock();
  node->ctx_.start_mono_us = SystemClock()->NowMonotonicMicros();
  node->ctx_.fence = &node->fence_;
  node->services_ = MakeServices(&node->ctx_);
  if (node->host_) node->peer_service_ = MakePeerService(node->host_.get());
  node->ready_checks_ = node->ReadyChecks();
  if (!c.metrics_listen.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(node->metrics_server_,
                              MetricsServer::Start(c.metrics_listen, node->ready_checks_));
    if (!c.port_file.empty()) {
      std::ofstream(c.port_file + ".metrics") << node->metrics_server_->port() << "\n";
    }
    Log(Level::kInfo, "serving metrics",
        {{"addr", node->metrics_server_->address()},
         {"paths", "/metrics /livez /readyz"}});
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(c.listen, grpc::InsecureServerCredentials(), &port);
  // Room for the largest legal request, so that an oversized value gets our
  // INVALID_ARGUMENT naming the limit instead of gRPC's generic refusal.
  const uint64_t max_message = std::min<uint64_t>(
      INT32_MAX, 2 * (c.limits.max_key_bytes + c.limits.max_value_bytes) + (64ull << 20));
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message));
  // Handlers block (a write until it is applied, ~ a replication round),
  // so many are in flight at once. gRPC's sync server keeps only
  // MAX_POLLERS idle threads (default 2) and ends the rest when their call
  // returns, which under load meant a thread created and destroyed per
  // request; measured, that churn was most of the leader's CPU. Idle
  // threads are cheap, so keep enough for the concurrency clients bring.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 4);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 512);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeRpcMetricsFactory());
  // Node-to-node calls carry the caller's HLC (server/peer_call_clock.h).
  if (node->host_) interceptors.push_back(NewPeerClockInterceptor(node->host_->peer_clock()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (auto& s : node->services_) builder.RegisterService(s.get());
  if (node->peer_service_) builder.RegisterService(AsGrpcService(node->peer_service_.get()));
  node->server_ = builder.BuildAndStart();
  if (!node->server_ || port == 0) {
    return UnavailableError(absl::StrCat("cannot listen on ", c.listen,
                                         " (address in use, or not a host:port?)"));
  }
  node->ctx_.bound_port = port;
  node->server_->GetHealthCheckService()->SetServingStatus(true);
  PublishReadiness(node->server_.get(), RunHealthChecks(node->ready_checks_, nullptr));
  if (!c.port_file.empty()) {
    std::ofstream(c.port_file) << port << "\n";
  }
  if (node->host_) {
    node->host_->Run();
    PublishGroups(node->host_.get());
  }
  Metrics().max_clock_offset_seconds->Set(static_cast<double>(c.max_clock_offset_ms) / 1e3);
  node->node_view_.hlc = node->hlc_.get();
  node->node_view_.clock = SystemClock();
  node->node_view_.min_free_bytes = c.min_free_disk_bytes;
  node->node_view_.engines.emplace_back(1, node->engine_.get());
  for (const auto& [g, extra] : node->extra_groups_) {
    node->node_view_.engines.emplace_back(g, extra.engine.get());
  }
  if (node->config_store_.engine) {
    node->node_view_.engines.emplace_back(kConfigGroupId, node->config_store_.engine.get());
  }
  PublishNode(&node->node_view_);
  node->maintenance_ = std::thread([n = node.get()] { n->MaintenanceLoop(); });
  if (node->splitter_) node->splitter_->Start(c.split_check_interval_ms);
  Log(Level::kInfo, "serving",
      {{"node_id", c.node_id},
       {"site", c.site},
       {"addr", node->ctx_.ClientUrl()},
       {"data_dir", c.data_dir},
       {"engine", std::string(node->engine_->Name())},
       {"applied_index", absl::StrCat(node->store_->AppliedIndex())},
       {"mode", c.cluster.empty() ? "single node" : absl::StrCat("member ", c.member_id, " of ", c.cluster)}});
  return node;
}

Result<v1::ClusterConfig> Node::FlagsConfig(const std::map<uint32_t, std::string>& members) const {
  BootstrapSpec spec;
  for (const auto& [id, address] : members) spec.nodes[id] = address;
  spec.site_id = config_.site_id;
  spec.site_name = config_.site;
  spec.replication_factor = static_cast<uint32_t>(config_.replication_factor);
  spec.split_points =
      config_.split_points.empty() ? EvenSplitPoints(config_.shards) : config_.split_points;
  return BootstrapConfig(spec);
}

Status Node::StartReplication() {
  const Config& c = config_;
  MERIDIAN_ASSIGN_OR_RETURN(auto members, ParseCluster(c.cluster));
  GroupHost::Options ho;
  ho.id = c.member_id;
  ho.wal_dir = c.data_dir + "/wal";
  ho.tick_ms = static_cast<int>(c.tick_ms);
  ho.hlc = hlc_.get();
  consensus::Wal::ParseIo(c.wal_io, &ho.wal_io);
  MERIDIAN_ASSIGN_OR_RETURN(host_, GroupHost::Open(ho));
  fenced_leadership_ = std::make_unique<FencedLeadership>(c.member_id);
  Replication::Options ro;
  for (const auto& [id, addr] : members) ro.members[id] = addr;
  ro.heartbeat_ticks = static_cast<int>(c.heartbeat_ticks);
  ro.election_ticks = static_cast<int>(c.election_ticks);
  ro.compact_every_entries = c.compact_every_entries;
  ro.join = c.join;
  ro.max_lag_entries = c.max_log_lag_entries;

  // The config group: every node of the cluster votes in it.
  MERIDIAN_ASSIGN_OR_RETURN(config_store_, OpenGroupStore("config", 8ull << 20));
  ro.group = kConfigGroupId;
  MERIDIAN_ASSIGN_OR_RETURN(Replication * config_replication,
                            host_->AddGroup(ro, config_store_.store.get()));
  config_store_.store->SetCommitLog(config_replication);
  config_group_ = std::make_unique<ConfigGroup>(config_store_.store.get(), config_replication);
  config_group_replication_ = config_replication;

  // The shard groups: those of the committed shard map (a restart) or of
  // the flags (the first start) that place a replica here. A joining node
  // prepares every shard of its site and waits to be added to each.
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<v1::ClusterConfig> committed,
                            config_group_->ReadApplied());
  v1::ClusterConfig map;
  if (committed) {
    map = *std::move(committed);
  } else {
    MERIDIAN_ASSIGN_OR_RETURN(map, FlagsConfig(members));
  }
  replication_options_ = ro;
  const bool from_committed = committed.has_value();
  shard_directory_.Set(map, from_committed ? "committed" : "bootstrap");
  std::map<uint64_t, Router::LocalGroup> local;
  for (const v1::ShardInfo& shard : map.shards()) {
    const v1::ShardGroup* g = GroupInSite(shard, c.site_id);
    if (g == nullptr) continue;
    // A split's group opens from its parent's split record (below).
    if (shard.parent_shard_id() != 0) continue;
    const bool placed_here = std::find(g->replicas().begin(), g->replicas().end(),
                                       uint64_t{c.member_id}) != g->replicas().end();
    if (!placed_here && !c.join) continue;
    if (!c.join) {
      ro.members.clear();
      for (uint64_t r : g->replicas()) ro.members[r] = NodeAddress(map, r);
    }
    ro.group = g->group_id();
    txn::TxnStore* store = store_.get();
    if (ro.group != 1) {
      MERIDIAN_ASSIGN_OR_RETURN(
          extra_groups_[ro.group],
          OpenGroupStore(absl::StrCat("groups/", ro.group), ShardCacheBytes()));
      store = extra_groups_[ro.group].store.get();
    }
    MERIDIAN_ASSIGN_OR_RETURN(Replication * r, host_->AddGroup(ro, store));
    store->SetCommitLog(r);
    AllowSplits(ro.group, store);
    local[ro.group] = {store, r};
    if (ro.group == 1) replication_ = r;
  }
  const std::map<uint64_t, Router::LocalGroup> opened = local;
  for (const auto& [group, g] : opened) {
    MERIDIAN_RETURN_IF_ERROR(OpenSplitChildren(group, g.store, &local));
  }
  router_ = std::make_unique<Router>(&shard_directory_, c.site_id, std::move(local));
  // Admin requests about "the group" (members, backup) address shard 1's,
  // or the config group's where shard 1 has no replica here.
  ctx_.replication = replication_ != nullptr ? replication_ : config_replication;
  ctx_.groups = host_.get();
  return absl::OkStatus();
}

void Node::StartCoordinator() {
  shard_caller_ = std::make_unique<ShardCaller>(router_.get(), &shard_directory_, config_.site_id);
  shard_caller_->set_caller_clock({hlc_.get(), config_.member_id});
  TxnCoordinator::Options o;
  o.node_id = config_.member_id == 0 ? 1 : config_.member_id;
  o.site_id = config_.site_id;
  o.default_timeout_ms = config_.txn_timeout_ms;
  o.max_timeout_ms = config_.max_txn_timeout_ms;
  o.max_open_txns = config_.max_open_txns;
  o.limits = config_.limits;
  o.crash_after_prepare = std::getenv("MERIDIAN_TESTING_CRASH_COORDINATOR_AFTER_PREPARE") != nullptr;
  ClusterClock::Options co;
  co.self_id = o.node_id;
  co.max_clock_offset_ms = config_.max_clock_offset_ms;
  co.max_txn_timeout_ms = config_.max_txn_timeout_ms;
  ClusterClock::Local local;
  // At or above every timestamp this node stamped or applied.
  local.clock = [this] {
    uint64_t now = hlc_->Now();
    for (txn::TxnStore* store : Stores()) now = std::max(now, store->VisibleHlc());
    return now;
  };
  local.low_watermark = [this] {
    uint64_t low = coordinator_ ? coordinator_->LowWatermark() : 0;
    for (txn::TxnStore* store : Stores()) low = std::min(low, store->OldestOpenSnapshot());
    return low;
  };
  cluster_clock_ = std::make_unique<ClusterClock>(&shard_directory_, hlc_.get(), SystemClock(),
                                                  std::move(local), co);
  ctx_.cluster_clock = cluster_clock_.get();
  o.cluster_clock = [c = cluster_clock_.get()] { return c->Now(); };
  coordinator_ = std::make_unique<TxnCoordinator>(shard_caller_.get(), &shard_directory_,
                                                  hlc_.get(), SystemClock(), o);
  ctx_.coordinator = coordinator_.get();
  // A read blocked by an abandoned transaction's intent decides it at its
  // record (aborting it if undecided).
  for (txn::TxnStore* store : Stores()) {
    store->SetOutcomeLookup([caller = shard_caller_.get()](const txn::TxnIntent& intent) {
      return caller->Decide(intent.record_shard, intent.txn, txn::TxnOutcome{false, 0});
    });
  }
}

Result<Node::ExtraGroup> Node::OpenGroupStore(const std::string& dir, uint64_t cache_bytes) const {
  const std::string path = absl::StrCat(config_.data_dir, "/", dir);
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return UnavailableError(absl::StrCat("cannot create ", path, ": ", ec.message()));
  ExtraGroup g;
  MERIDIAN_ASSIGN_OR_RETURN(g.engine, OpenEngine(EngineSettingsFor(path + "/engine", cache_bytes)));
  MERIDIAN_ASSIGN_OR_RETURN(g.store, txn::TxnStore::Open(g.engine.get(), hlc_.get(), SystemClock(),
                                                         StoreOptions()));
  return g;
}

uint64_t Node::ShardCacheBytes() const {
  const uint64_t shards = config_.split_points.empty() ? config_.shards
                                                       : config_.split_points.size() + 1;
  return std::max<uint64_t>(config_.engine_cache_bytes / std::max<uint64_t>(shards, 1), 4ull << 20);
}

std::vector<txn::TxnStore*> Node::Stores() const {
  std::vector<txn::TxnStore*> out = {store_.get()};
  absl::MutexLock lock(&groups_mu_);
  for (const auto& [g, extra] : extra_groups_) out.push_back(extra.store.get());
  if (config_store_.store) out.push_back(config_store_.store.get());
  return out;
}

void Node::CloseIdleShards() {
  if (config_group_ == nullptr || config_.close_interval_ms == 0) return;
  const uint64_t now = hlc_->Now();
  for (txn::TxnStore* store : router_->LedStores()) {
    const uint64_t newest = store->VisibleHlc();
    if (HlcPhysicalMillis(now) < HlcPhysicalMillis(newest) + config_.close_interval_ms) continue;
    if (Status s = store->CloseThrough(now); !s.ok()) {
      Log(Level::kDebug, "cannot close a timestamp", {{"error", std::string(s.message())}});
    }
  }
}

Result<bool> Node::ReloadCommittedConfig() {
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<v1::ClusterConfig> applied,
                            config_group_->ReadApplied());
  if (!applied) return false;
  if (shard_directory_.Set(*applied, "committed")) {
    Log(Level::kInfo, "cluster config",
        {{"version", absl::StrCat(applied->version())},
         {"cluster_id", applied->cluster_id()},
         {"shards", absl::StrCat(applied->shards_size())},
         {"signing_keys", absl::StrCat(applied->signing_keys_size())}});
  }
  return true;
}

void Node::RefreshClusterConfig() {
  if (config_group_ == nullptr) return;
  Result<bool> committed = ReloadCommittedConfig();
  if (!committed.ok()) {
    Log(Level::kError, "cannot read the cluster config",
        {{"error", std::string(committed.status().message())}});
    return;
  }
  if (!config_group_->replication()->IsLeaderReady()) return;
  if (*committed) {
    AddMissingSigningKey();
    return;
  }
  if (Status s = config_group_->CommitBootstrap(*shard_directory_.Current().config); !s.ok()) {
    Log(Level::kWarn, "cannot commit the bootstrap cluster config yet",
        {{"error", std::string(s.message())}});
  }
}

void Node::AddMissingSigningKey() {
  if (shard_directory_.Current().config->signing_keys_size() > 0) return;
  Result<v1::ClusterConfig> done =
      config_group_->Update([](v1::ClusterConfig* c) -> Result<bool> {
        if (c->signing_keys_size() > 0) return false;
        MERIDIAN_RETURN_IF_ERROR(AddRotatedKey(c, SystemClock()->NowUnixMillis()).status());
        return true;
      });
  if (!done.ok()) {
    Log(Level::kWarn, "cannot add a session signing key to the cluster config yet",
        {{"error", std::string(done.status().message())}});
    return;
  }
  Log(Level::kInfo, "added the first session signing key to a config that had none",
      {{"config_version", absl::StrCat(done->version())}});
  shard_directory_.Set(*std::move(done), "committed");
}

EngineSettings Node::EngineSettingsFor(std::string path, uint64_t cache_bytes) const {
  EngineSettings s;
  s.name = config_.engine;
  s.path = std::move(path);
  s.cache_bytes = cache_bytes;
  s.min_free_bytes = config_.min_free_disk_bytes;
  s.on_flush = ObserveFlush;
  return s;
}

txn::TxnStore::Options Node::StoreOptions() const {
  txn::TxnStore::Options o;
  o.site_id = config_.site_id;
  o.limits = config_.limits;
  o.default_txn_timeout_ms = config_.txn_timeout_ms;
  o.max_txn_timeout_ms = config_.max_txn_timeout_ms;
  o.max_open_txns = config_.max_open_txns;
  o.gc_retention_ms = config_.gc_retention_ms;
  return o;
}

void Node::EvaluateFence() {
  FenceInputs in;
  in.max_offset_us = config_.max_clock_offset_ms * 1000;
  if (host_) {
    PeerClock* clock = host_->peer_clock();
    in.peers = clock->peer_count();
    in.estimates = clock->Estimates();
    in.rejections = clock->Rejections();
    for (Replication* r : host_->groups()) {
      // Member commands change shard groups, not the config group (whose
      // voters are the bootstrap members): being outside it is no fence.
      if (r->group() == kConfigGroupId) continue;
      if (!r->Membership().first.Contains(config_.member_id)) in.not_member_of.push_back(r->group());
    }
  }
  const FenceVerdict verdict = DecideFence(in);
  fence_.Update(verdict);
  if (host_ && fenced_leadership_) {
    fenced_leadership_->Apply(verdict.clock, host_->groups(), ctx_.clock->NowMonotonicMicros());
  }
}

void Node::MaintenanceLoop() {
  const uint64_t reap_every_us = 1'000'000;
  uint64_t last_reap_us = ctx_.clock->NowMonotonicMicros();
  uint64_t last_gc_us = last_reap_us;
  while (!stop_.WaitForNotificationWithTimeout(kReadinessPeriod)) {
    EvaluateFence();
    RefreshClusterConfig();
    if (host_) StartSeededGroups();
    CloseIdleShards();
    PublishReadiness(server_.get(), RunHealthChecks(ready_checks_, nullptr));
    const uint64_t now = ctx_.clock->NowMonotonicMicros();
    if (now - last_reap_us < reap_every_us) continue;
    last_reap_us = now;
    const bool gc_due = now - last_gc_us >= config_.gc_interval_ms * 1000;
    if (gc_due) last_gc_us = now;
    if (size_t n = coordinator_->ReapExpired(); n > 0) {
      Log(Level::kDebug, "expired transactions dropped", {{"count", absl::StrCat(n)}});
    }
    // Every second, so the answers a GC uses are at most that old.
    const uint64_t low_watermark = cluster_clock_->Gather();
    for (txn::TxnStore* store : Stores()) {
      if (size_t n = store->ReapExpired(); n > 0) {
        Log(Level::kDebug, "expired transactions dropped", {{"count", absl::StrCat(n)}});
      }
      if (!gc_due) continue;
      if (Status s = store->CollectGarbage(low_watermark); !s.ok()) {
        Log(Level::kError, "garbage collection failed", {{"error", std::string(s.message())}});
      }
    }
  }
}

void Node::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (stopped_.HasBeenNotified()) return;
  Log(Level::kInfo, "shutting down", {{"grace_ms", absl::StrCat(config_.shutdown_grace_ms)}});
  // Every service NOT_SERVING, for good: PublishReadiness is ignored from
  // now on.
  server_->GetHealthCheckService()->Shutdown();
  // Drain: refuse new data requests, give those in flight the grace period.
  // (gRPC's own Shutdown deadline would also wait on idle client
  // connections, so the drain is ours and gRPC's is short.)
  ctx_.draining = true;
  const uint64_t drain_until = ctx_.clock->NowMonotonicMicros() + config_.shutdown_grace_ms * 1000;
  while (ctx_.in_flight.load() > 0 && ctx_.clock->NowMonotonicMicros() < drain_until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  PublishGroups(nullptr);
  PublishNode(nullptr);
  if (host_) host_->Stop();  // our streams to peers end
  if (peer_service_) ClosePeerStreams(peer_service_.get());
  server_->Shutdown(std::chrono::system_clock::time_point(
      std::chrono::milliseconds(ctx_.clock->NowUnixMillis() + 100)));
  server_->Wait();
  stop_.Notify();
  if (maintenance_.joinable()) maintenance_.join();
  if (splitter_) splitter_->Stop();  // its calls fail now that the groups stopped
  // No request nor the maintenance loop uses it any more; its resolvers
  // call the (stopped) groups and give up.
  coordinator_.reset();
  // No request asks it any more; its requests in flight give up within a
  // second, before the groups they may call locally go.
  close_nudger_.reset();
  if (Status s = engine_->Flush(); !s.ok()) {
    Log(Level::kError, "final flush failed", {{"error", std::string(s.message())}});
  }
  if (metrics_server_) metrics_server_->Stop();  // its checks read the groups and engines
  host_.reset();
  replication_ = nullptr;
  extra_groups_.clear();
  config_group_.reset();
  config_store_ = ExtraGroup();
  store_.reset();
  engine_.reset();
  lock_.reset();
  Log(Level::kInfo, "stopped");
  stopped_.Notify();
}

HealthChecks Node::ReadyChecks() {
  HealthChecks checks;
  checks.push_back({"serving", [this]() -> Status {
    if (ctx_.draining.load()) return UnavailableError("shutting down");
    if (ctx_.bound_port.load() == 0) return UnavailableError("the gRPC server is not up yet");
    return absl::OkStatus();
  }});
  // Every shard group this node hosts knows its leader (a single node
  // leads itself): requests are served here or redirected.
  checks.push_back({"leader", [this]() -> Status {
    if (!ctx_.groups) return absl::OkStatus();
    std::string missing;
    for (Replication* r : ctx_.groups->groups()) {
      // Data is served without the config group (its map is cached).
      if (r->group() == kConfigGroupId) continue;
      if (r->Describe().leader == consensus::kNoNode) {
        absl::StrAppend(&missing, missing.empty() ? "" : ", ", r->group());
      }
    }
    if (missing.empty()) return absl::OkStatus();
    return UnavailableError(absl::StrCat("no known leader in group ", missing));
  }});
  // Not fenced (fence.h): the clock is within --max-clock-offset of a
  // majority of the peers, and the node is a member of its groups.
  checks.push_back({"fenced", [this]() -> Status { return fence_.Check(); }});
  // The engines took no I/O error and have room to write.
  checks.push_back({"storage", [this]() -> Status {
    MERIDIAN_RETURN_IF_ERROR(engine_->CheckSpace(0));
    absl::MutexLock lock(&groups_mu_);
    for (const auto& [g, extra] : extra_groups_) {
      if (Status s = extra.engine->CheckSpace(0); !s.ok()) {
        return Status(s.code(), absl::StrCat("group ", g, ": ", s.message()));
      }
    }
    return absl::OkStatus();
  }});
  return checks;
}

void Node::Wait() { stopped_.WaitForNotification(); }

Node::~Node() {
  if (server_) Shutdown();
}

}  // namespace meridian::server
