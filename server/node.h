// Node: one meridiand process. Owns the data-dir lock, the storage engine,
// the clock, the transaction store and the gRPC server, and runs background
// maintenance (expired transactions, garbage collection).
//
// Thread-safe: Shutdown may be called from any thread, once Start returned.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/hlc.h"
#include "server/close_nudger.h"
#include "server/cluster_clock.h"
#include "server/config.h"
#include "server/config_group.h"
#include "server/data_dir.h"
#include "server/fence.h"
#include "server/fenced_leadership.h"
#include "server/peer.h"
#include "server/group_host.h"
#include "server/metrics_server.h"
#include "server/replication.h"
#include "server/router.h"
#include "server/server_metrics.h"
#include "server/services.h"
#include "server/shard_caller.h"
#include "server/shard_splitter.h"
#include "server/shard_directory.h"
#include "server/txn_coordinator.h"
#include "server/open_engine.h"
#include "storage/engine.h"
#include "txn/txn_store.h"

namespace meridian::server {

class Node {
 public:
  // Locks the data dir, opens the engine, recovers, binds and starts serving.
  // Errors name what failed (lock held, corrupt data, address in use, ...).
  static Result<std::unique_ptr<Node>> Start(const Config& config);
  ~Node();

  // The bound gRPC port.
  int port() const { return ctx_.bound_port.load(); }

  // Graceful stop: health goes NOT_SERVING, new RPCs are refused, in-flight
  // ones get config.shutdown_grace_ms, then the engine is flushed and closed.
  // Idempotent.
  void Shutdown();
  // Blocks until Shutdown has completed.
  void Wait();

 private:
  explicit Node(const Config& config);
  void MaintenanceLoop();
  // Recomputes the fence from the peers' clock offsets and the groups'
  // memberships (fence.h).
  void EvaluateFence();
  // Replicated mode: caches the config group's committed cluster config
  // and, on its leader, commits the bootstrap one if none is yet.
  void RefreshClusterConfig();
  // Installs the config this node's replica of the config group applied,
  // if newer; returns whether one is committed.
  Result<bool> ReloadCommittedConfig();
  // On the config group's leader: gives a committed config without signing
  // keys (a cluster from before sessions) its first one.
  void AddMissingSigningKey();
  // Replicated mode: on the shard groups this node leads, closes a fresh
  // timestamp where the newest is older than --close-interval, so
  // followers keep serving recent snapshot reads.
  void CloseIdleShards();
  // The config the flags describe (the first bootstrap's).
  Result<v1::ClusterConfig> FlagsConfig(const std::map<uint32_t, std::string>& members) const;
  // The shard caller, the cluster clock and the transaction coordinator,
  // over router_.
  void StartCoordinator();
  // Every store this node serves, shard 1's first.
  std::vector<txn::TxnStore*> Stores() const;

  // Online splits (node_splits.cc; shard_splitter.h).
  // On the applying thread of group `parent`: seeds the child group's store
  // at data_dir/groups/<child> with `records`, durably, marks the seed
  // complete, and queues the group to start (StartSeededGroups).
  Status SeedSplitChild(uint64_t parent, const txn::SplitChild& child,
                        const std::vector<storage::Record>& records);
  // Maintenance loop: starts the groups SeedSplitChild queued.
  void StartSeededGroups();
  // Startup: opens the groups of the splits `store` recorded (and theirs),
  // where this node's seed is complete; a replica that caught up past a
  // split by snapshot has none and does not host the child (logged).
  Status OpenSplitChildren(uint64_t parent, txn::TxnStore* store,
                           std::map<uint64_t, Router::LocalGroup>* local);
  // Lets `store` (of shard group `group`) split.
  void AllowSplits(uint64_t group, txn::TxnStore* store);
  // The voters `group` starts with: its parent's replicas in the map.
  std::map<consensus::NodeId, std::string> SplitChildMembers(uint64_t parent) const;
  std::string GroupDir(uint64_t group) const;

  Config config_;
  std::unique_ptr<DataDirLock> lock_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<Hlc> hlc_;
  std::unique_ptr<txn::TxnStore> store_;
  // Replicated mode: the shard groups other than 1 that this node hosts
  // (data_dir/groups/<id>), and the config group (data_dir/config).
  struct ExtraGroup {
    std::unique_ptr<storage::Engine> engine;
    std::unique_ptr<txn::TxnStore> store;
  };
  Status StartReplication();
  // Opens an engine and a store at data_dir/<dir>/engine.
  Result<ExtraGroup> OpenGroupStore(const std::string& dir, uint64_t cache_bytes) const;
  // --engine-cache shared among the shards of the flags' map.
  uint64_t ShardCacheBytes() const;
  txn::TxnStore::Options StoreOptions() const;
  // The configured engine (config_.engine, resolved from META) at `path`.
  EngineSettings EngineSettingsFor(std::string path, uint64_t cache_bytes) const;
  // Groups started at runtime (a split's) are added under groups_mu_.
  mutable absl::Mutex groups_mu_;
  std::map<consensus::GroupId, ExtraGroup> extra_groups_;  // outlive host_
  // Split children seeded and waiting for the maintenance loop to start.
  struct SeededGroup {
    uint64_t group = 0;
    uint64_t parent = 0;
    ExtraGroup stores;
  };
  absl::Mutex seeded_mu_;
  std::vector<SeededGroup> seeded_;
  Replication::Options replication_options_;  // every shard group's, but the group and members
  ExtraGroup config_store_;                                 // outlives host_
  std::unique_ptr<ConfigGroup> config_group_;
  Replication* config_group_replication_ = nullptr;  // owned by host_
  ShardDirectory shard_directory_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<ShardCaller> shard_caller_;     // after router_: it calls it
  std::unique_ptr<ClusterClock> cluster_clock_;   // reads the stores and the coordinator
  std::unique_ptr<TxnCoordinator> coordinator_;   // after shard_caller_ and cluster_clock_
  std::unique_ptr<ShardSplitter> splitter_;       // after shard_caller_
  std::unique_ptr<CloseNudger> close_nudger_;     // after shard_caller_
  std::unique_ptr<GroupHost> host_;  // stops before the stores go
  Replication* replication_ = nullptr;  // group 1, owned by host_
  ServiceContext ctx_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<PeerService> peer_service_;  // replicated mode
  std::unique_ptr<grpc::Server> server_;
  absl::Notification stop_;
  absl::Notification stopped_;
  std::thread maintenance_;
  absl::Mutex shutdown_mu_;
  Fence fence_;
  std::unique_ptr<FencedLeadership> fenced_leadership_;  // maintenance loop only
  NodeView node_view_;  // published to the metrics while serving
  // Readiness (/readyz, and the data services' grpc.health.v1 status):
  // serving, leader, storage, fenced.
  HealthChecks ReadyChecks();
  HealthChecks ready_checks_;
  std::unique_ptr<MetricsServer> metrics_server_;  // --metrics-listen; stops first
};

}  // namespace meridian::server
