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

std::mutex node_mu;
const NodeView* published_node = nullptr;  // guarded by node_mu
// Space() lists files and calls statvfs: the three space gauges of a scrape
// share one reading per engine. Guarded by node_mu.
struct SpaceCache {
  uint64_t taken_mono_us = 0;
  std::vector<std::pair<uint64_t, storage::SpaceStats>> by_group;
};
SpaceCache space_cache;

// One reading per engine, at most a second old. node_mu held.
const std::vector<std::pair<uint64_t, storage::SpaceStats>>& SpaceLocked() {
  const uint64_t now = published_node->clock->NowMonotonicMicros();
  if (space_cache.by_group.size() != published_node->engines.size() ||
      now - space_cache.taken_mono_us > 1'000'000) {
    space_cache.by_group.clear();
    for (const auto& [group, engine] : published_node->engines) {
      space_cache.by_group.emplace_back(group, engine->Space());
    }
    space_cache.taken_mono_us = now;
  }
  return space_cache.by_group;
}

metrics::Registry::GaugeSamples SpaceSamples(double (*value)(const storage::SpaceStats&)) {
  metrics::Registry::GaugeSamples out;
  std::lock_guard<std::mutex> lock(node_mu);
  if (published_node == nullptr) return out;
  for (const auto& [group, st] : SpaceLocked()) {
    out.push_back({{absl::StrCat(group)}, value(st)});
  }
  return out;
}

void RegisterNodeGauges(metrics::Registry& reg) {
  reg.AddCallbackGauge(
      "meridian_hlc_offset_seconds",
      "How far this node's hybrid logical clock runs ahead of its wall clock (0 when it "
      "does not).",
      {}, [] {
        metrics::Registry::GaugeSamples out;
        std::lock_guard<std::mutex> lock(node_mu);
        if (published_node == nullptr) return out;
        const double hlc_ms = static_cast<double>(HlcPhysicalMillis(published_node->hlc->Last()));
        const double wall_ms = static_cast<double>(published_node->clock->NowUnixMillis());
        out.push_back({{}, hlc_ms > wall_ms ? (hlc_ms - wall_ms) / 1e3 : 0.0});
        return out;
      });
  reg.AddCallbackGauge("meridian_storage_size_bytes",
                       "Bytes the group's storage engine files take on disk.", {"group"}, [] {
                         return SpaceSamples([](const storage::SpaceStats& st) {
                           return static_cast<double>(st.size_bytes);
                         });
                       });
  reg.AddCallbackGauge(
      "meridian_storage_used_bytes",
      "Of those, the bytes the engine estimates are live data (RocksDB: "
      "estimate-live-data-size).",
      {"group"}, [] {
        return SpaceSamples([](const storage::SpaceStats& st) {
          return static_cast<double>(st.live_bytes);
        });
      });
  reg.AddCallbackGauge(
      "meridian_storage_fragmentation_ratio",
      "Share of the engine's data files that is not live, 0..1 (RocksDB: 1 - live / total SST "
      "size).",
      {"group"}, [] {
        return SpaceSamples([](const storage::SpaceStats& st) { return st.fragmentation; });
      });
  reg.AddCallbackGauge(
      "meridian_storage_free_bytes",
      "Free bytes (for unprivileged users) on the file system of the data dir.", {}, [] {
        metrics::Registry::GaugeSamples out;
        std::lock_guard<std::mutex> lock(node_mu);
        if (published_node == nullptr || published_node->engines.empty()) return out;
        out.push_back({{}, static_cast<double>(SpaceLocked().front().second.disk_free_bytes)});
        return out;
      });
  reg.AddCallbackGauge(
      "meridian_storage_reserve_bytes",
      "The free-disk reserve (--min-free-disk): below it, writes are refused.", {}, [] {
        metrics::Registry::GaugeSamples out;
        std::lock_guard<std::mutex> lock(node_mu);
        if (published_node == nullptr) return out;
        out.push_back({{}, static_cast<double>(published_node->min_free_bytes)});
        return out;
      });
}

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
  reg.AddCallbackGauge(
      "meridian_replication_peer_lag_entries",
      "On the group's leader, per peer: the leader's last log index minus the highest index the "
      "peer reported committed.",
      {"group", "peer"}, [] {
        metrics::Registry::GaugeSamples out;
        std::lock_guard<std::mutex> lock(groups_mu);
        if (published_groups == nullptr) return out;
        for (Replication* r : published_groups->groups()) {
          for (const auto& lag : r->Describe().peer_lag) {
            out.push_back({{absl::StrCat(r->group()),
                            lag.address.empty() ? absl::StrCat("member ", lag.peer) : lag.address},
                           static_cast<double>(lag.entries)});
          }
        }
        return out;
      });
  reg.AddCallbackGauge(
      "meridian_peer_clock_offset_seconds",
      "How far the peer's wall clock is ahead of this node's (negative: behind), from the "
      "clock probe with the smallest round trip of the last few; absent while none is fresh.",
      {"peer"}, [] {
        metrics::Registry::GaugeSamples out;
        std::lock_guard<std::mutex> lock(groups_mu);
        if (published_groups == nullptr) return out;
        for (const PeerClock::Estimate& e : published_groups->peer_clock()->Estimates()) {
          out.push_back({{e.address}, static_cast<double>(e.sample.offset_us) / 1e6});
        }
        return out;
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
  m->peer_batch_messages =
      reg.AddHistogram("meridian_peer_batch_messages",
                       "Consensus messages in one batch handed to a peer stream.", {},
                       {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})
          ->With();
  m->peer_rtt_seconds = reg.AddHistogram(
      "meridian_peer_rtt_seconds",
      "Round-trip time to the peer measured by the clock probes (the peer's hold excluded).",
      {"peer"}, metrics::LatencyBuckets());
  m->peer_hlc_rejected = reg.AddCounter(
      "meridian_peer_hlc_rejected_total",
      "Peer batches whose hybrid logical clock this node refused: beyond --max-clock-offset ahead "
      "of its wall clock (refusals from most peers fence it).",
      {"peer"});
  m->max_clock_offset_seconds =
      reg.AddGauge("meridian_max_clock_offset_seconds",
                   "The configured --max-clock-offset: beyond it from most peers, a node fences.")
          ->With();
  m->fenced = reg.AddGauge("meridian_fenced",
                           "1 while this node is fenced: it refuses client requests (clock "
                           "offset beyond --max-clock-offset, or not a member).")
                  ->With();
  auto* fenced_reason = reg.AddGauge("meridian_fenced_reason",
                                     "1 while this cause fences the node.", {"reason"});
  m->fenced_clock = fenced_reason->With({"clock_offset"});
  m->fenced_membership = fenced_reason->With({"not_member"});
  m->cluster_low_watermark_seconds =
      reg.AddGauge("meridian_cluster_low_watermark_seconds",
                   "The cluster low watermark (Unix seconds): the oldest snapshot a transaction "
                   "open on any node may read at. Versions below it and older than "
                   "--gc-retention are garbage-collected.")
          ->With();
  m->cluster_low_watermark_age_seconds =
      reg.AddGauge("meridian_cluster_low_watermark_age_seconds",
                   "How far the cluster low watermark trails this node's wall clock: the age of "
                   "the oldest open transaction's snapshot (up to --max-txn-timeout plus slack "
                   "while a node has never answered).")
          ->With();
  m->txn_begin_clock_fallbacks =
      reg.AddCounter("meridian_txn_begin_clock_fallbacks_total",
                     "Begins of transactions across shards that did not hear some node's clock "
                     "in time and took the wall clock plus --max-clock-offset for it.")
          ->With();
  m->txn_commits = reg.AddCounter(
      "meridian_txn_commits_total",
      "Transactions committed by the Txn service (Execute whose compares held, Commit), by path.",
      {"path"});
  m->txn_aborts = reg.AddCounter(
      "meridian_txn_aborts_total",
      "Transactions of the Txn service that did not commit, by path and reason (conflict, "
      "expired, client, compare_failed, error).",
      {"path", "reason"});
  for (const char* path : {"fast", "slow"}) {
    m->txn_commits->With({path});
    for (const char* reason : {"conflict", "expired", "client", "compare_failed", "error"}) {
      m->txn_aborts->With({path, reason});
    }
  }
  m->session_token_ahead_waits =
      reg.AddCounter("meridian_session_token_ahead_waits_total",
                     "Requests whose verified session token was ahead of this node's clock + "
                     "--max-clock-offset by a short time, which the node waited out before serving.")
          ->With();
  m->session_tokens_rejected = reg.AddCounter(
      "meridian_session_tokens_rejected_total",
      "Session tokens refused with INVALID_ARGUMENT, by reason: unsigned, unknown_key, "
      "bad_signature, too_far_ahead.",
      {"reason"});
  for (const char* reason : {"unsigned", "unknown_key", "bad_signature", "too_far_ahead"}) {
    m->session_tokens_rejected->With({reason});
  }
  m->causal_wait_seconds =
      reg.AddHistogram("meridian_causal_wait_seconds",
                       "Time session reads and Begins waited for this node to cover their "
                       "session token (only those that had to wait; timeouts included).",
                       {}, metrics::LatencyBuckets())
          ->With();
  m->causal_wait_timeouts =
      reg.AddCounter("meridian_causal_wait_timeouts_total",
                     "Session reads refused with CAUSAL_WAIT_TIMEOUT: the replica did not catch "
                     "up with the token before the deadline.")
          ->With();
  m->close_requests = reg.AddCounter(
      "meridian_close_requests_total",
      "Followers' requests that a shard's leader close a timestamp a session read waits for, by "
      "result: closed, failed, coalesced (not sent: another request covered it).",
      {"result"});
  for (const char* result : {"closed", "failed", "coalesced"}) m->close_requests->With({result});
  m->admission_refused = reg.AddCounter(
      "meridian_admission_refused_total",
      "Data requests refused by admission control, by the limit: inflight (--max-inflight) or "
      "rate (--client-rate-limit).",
      {"reason"});
  m->admission_refused->With({"inflight"});
  m->admission_refused->With({"rate"});
  m->storage_flush_seconds =
      reg.AddHistogram("meridian_storage_flush_duration_seconds",
                       "Time of one storage engine memtable flush to disk (all groups).", {},
                       metrics::LatencyBuckets())
          ->With();
  m->grpc_requests = reg.AddCounter("meridian_grpc_requests_total",
                                    "RPCs served, by method and status code.", {"method", "code"});
  m->grpc_seconds = reg.AddHistogram("meridian_grpc_request_duration_seconds",
                                     "RPC latency from arrival to status, by method.", {"method"},
                                     metrics::LatencyBuckets());
  RegisterGroupGauges(reg);
  RegisterNodeGauges(reg);
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

void PublishNode(const NodeView* view) {
  Metrics();
  std::lock_guard<std::mutex> lock(node_mu);
  published_node = view;
  space_cache = {};
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsFactory() {
  Metrics();
  return std::make_unique<RpcMetricsFactory>();
}

}  // namespace meridian::server
