#include "server/server_metrics.h"

#include <chrono>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/group_host.h"

namespace meridian::server {
namespace {

std::mutex groups_mu;
GroupHost* published_groups = nullptr;  // guarded by groups_mu

// Samples of one per-group value, read under groups_mu so that the host
// cannot go away during a scrape.
metrics::Registry::GaugeSamples GroupSamples(double (*value)(const Replication::Snapshot&,
                                                            Replication*)) {
  metrics::Registry::GaugeSamples out;
  std::lock_guard<std::mutex> lock(groups_mu);
  if (published_groups == nullptr) return out;
  for (Replication* r : published_groups->groups()) {
    out.push_back({{absl::StrCat(r->group())}, value(r->Describe(), r)});
  }
  return out;
}

void RegisterGroupGauges(metrics::Registry& reg) {
  reg.AddCallbackGauge("meridian_group_has_leader",
                       "1 if this node knows a leader of the consensus group.", {"group"}, [] {
                         return GroupSamples([](const Replication::Snapshot& d, Replication*) {
                           return d.leader != 0 ? 1.0 : 0.0;
                         });
                       });
  reg.AddCallbackGauge("meridian_group_is_leader", "1 if this node leads the consensus group.",
                       {"group"}, [] {
                         return GroupSamples([](const Replication::Snapshot& d, Replication*) {
                           return d.is_leader ? 1.0 : 0.0;
                         });
                       });
  reg.AddCallbackGauge("meridian_group_commit_index", "The group's commit index on this node.",
                       {"group"}, [] {
                         return GroupSamples([](const Replication::Snapshot& d, Replication*) {
                           return static_cast<double>(d.commit_index);
                         });
                       });
  reg.AddCallbackGauge("meridian_group_applied_index", "The group's applied index on this node.",
                       {"group"}, [] {
                         return GroupSamples([](const Replication::Snapshot& d, Replication*) {
                           return static_cast<double>(d.applied_index);
                         });
                       });
  reg.AddCallbackGauge("meridian_proposals_pending",
                       "Proposals and reads of the group waiting for their answer on this node.",
                       {"group"}, [] {
                         return GroupSamples([](const Replication::Snapshot&, Replication* r) {
                           return static_cast<double>(r->PendingCount());
                         });
                       });
}

ServerMetrics* Make() {
  metrics::Registry& reg = metrics::DefaultRegistry();
  reg.AddGauge("meridian_build_info", "Always 1; the labels say which build runs.", {"version"})
      ->With({MERIDIAN_VERSION})
      ->Set(1);
  auto* m = new ServerMetrics;
  m->leader_changes = reg.AddCounter("meridian_group_leader_changes_total",
                                     "Times this node saw the group's leader change.", {"group"});
  m->proposals_committed = reg.AddCounter(
      "meridian_proposals_committed_total",
      "Proposals of this node chosen, applied and answered OK.", {"group"});
  m->proposals_failed = reg.AddCounter(
      "meridian_proposals_failed_total",
      "Proposals of this node answered with an error (not leader, lost to another leader, "
      "timed out).",
      {"group"});
  m->entries_applied = reg.AddCounter("meridian_entries_applied_total",
                                      "Log entries applied to this node's state machine.",
                                      {"group"});
  m->wal_fsync_seconds = reg.AddHistogram("meridian_wal_fsync_duration_seconds",
                                          "Time of one WAL write + fdatasync (all groups).", {},
                                          metrics::LatencyBuckets())
                             ->With();
  m->wal_sync_entries =
      reg.AddHistogram("meridian_wal_sync_entries",
                       "Log entries made durable by one WAL sync (the group-commit batch).", {},
                       {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})
          ->With();
  m->peer_batches_sent =
      reg.AddCounter("meridian_peer_batches_sent_total",
                     "Batches handed to peer streams (one per peer per round at most twice).")
          ->With();
  m->peer_messages_sent = reg.AddCounter("meridian_peer_messages_sent_total",
                                         "Consensus messages inside those batches.")
                              ->With();
  m->peer_stream_failures = reg.AddCounter(
      "meridian_peer_stream_failures_total",
      "Peer streams that broke or could not connect (what was queued is dropped and resent by "
      "consensus).",
      {"peer"});
  m->grpc_requests = reg.AddCounter("meridian_grpc_requests_total",
                                    "RPCs served, by method and status code.", {"method", "code"});
  m->grpc_seconds = reg.AddHistogram("meridian_grpc_request_duration_seconds",
                                     "RPC latency from arrival to status, by method.", {"method"},
                                     metrics::LatencyBuckets());
  RegisterGroupGauges(reg);
  return m;
}

// gRPC's codes have absl's values; absl names them ("OK", "NOT_FOUND", ...).
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

class RpcMetrics final : public grpc::experimental::Interceptor {
 public:
  explicit RpcMetrics(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() ? info->method() : "unknown"),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      ServerMetrics& m = Metrics();
      m.grpc_requests->With({method_, CodeName(status.error_code())})->Inc();
      m.grpc_seconds->With({method_})
          ->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
                        .count());
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
};

class RpcMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetrics(info);
  }
};

}  // namespace

ServerMetrics& Metrics() {
  static ServerMetrics* m = Make();
  return *m;
}

void PublishGroups(GroupHost* host) {
  Metrics();  // the gauges exist before anyone scrapes
  std::lock_guard<std::mutex> lock(groups_mu);
  published_groups = host;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsFactory() {
  Metrics();
  return std::make_unique<RpcMetricsFactory>();
}

}  // namespace meridian::server
