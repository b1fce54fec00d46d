// The metrics meridiand exports (the table is in docs/operations.md), in
// the process-wide metrics::DefaultRegistry that /metrics serves.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/hlc.h"
#include "common/metrics.h"
#include "storage/engine.h"

namespace meridian::server {

class GroupHost;

struct ServerMetrics {
  // Per consensus group ({group}).
  metrics::Family<metrics::Counter>* leader_changes;
  metrics::Family<metrics::Counter>* proposals_committed;  // answered OK
  metrics::Family<metrics::Counter>* proposals_failed;     // answered with an error
  metrics::Family<metrics::Counter>* entries_applied;
  // The node WAL: one sync per driver round for every group.
  metrics::Histogram* wal_fsync_seconds;
  metrics::Histogram* wal_sync_entries;  // entries per sync: the group-commit batch
  // Peer transport.
  metrics::Counter* peer_batches_sent;
  metrics::Counter* peer_messages_sent;
  metrics::Family<metrics::Counter>* peer_stream_failures;  // {peer}
  metrics::Histogram* peer_batch_messages;                  // messages per batch handed to a stream
  metrics::Family<metrics::Histogram>* peer_rtt_seconds;    // {peer}, one per clock probe
  metrics::Family<metrics::Counter>* peer_hlc_rejected;     // {peer}
  metrics::Gauge* max_clock_offset_seconds;  // --max-clock-offset
  // Fencing (fence.h): 1 while fenced, overall and by cause.
  metrics::Gauge* fenced;
  metrics::Gauge* fenced_clock;
  metrics::Gauge* fenced_membership;
  // Garbage collection and snapshots (cluster_clock.h): the cluster low
  // watermark's physical part as Unix seconds, and how far it trails the
  // wall clock, set every second; Begins that could not hear every node.
  metrics::Gauge* cluster_low_watermark_seconds;
  metrics::Gauge* cluster_low_watermark_age_seconds;
  metrics::Counter* txn_begin_clock_fallbacks;
  // Transactions of the Txn service (Execute and Commit), by commit path.
  metrics::Family<metrics::Counter>* txn_commits;  // {path}
  metrics::Family<metrics::Counter>* txn_aborts;   // {path, reason}
  // Sessions: tokens refused, by reason (session_token.h); session reads
  // and Begins that had to catch up with their token (their wait, served
  // or not), and those that ran out of time (CAUSAL_WAIT_TIMEOUT).
  metrics::Family<metrics::Counter>* session_tokens_rejected;  // {reason}
  metrics::Counter* session_token_ahead_waits;
  metrics::Histogram* causal_wait_seconds;
  metrics::Counter* causal_wait_timeouts;
  // Followers' requests that an idle shard's leader close a session's
  // timestamp now (close_nudger.h), by result: closed, failed, coalesced.
  metrics::Family<metrics::Counter>* close_requests;  // {result}
  // Admission control refusals, by the limit that refused.
  metrics::Family<metrics::Counter>* admission_refused;  // {reason}
  // RocksDB memtable flushes (every group's engine).
  metrics::Histogram* storage_flush_seconds;
  // gRPC, by full method name and status code.
  metrics::Family<metrics::Counter>* grpc_requests;    // {method, code}
  metrics::Family<metrics::Histogram>* grpc_seconds;   // {method}
};

// Registers everything on first use.
ServerMetrics& Metrics();

// The node whose groups the per-group gauges (has_leader, is_leader,
// commit and applied index, pending proposals) read at scrape time; null
// while none runs. Node sets it after start and clears it before its
// groups go.
void PublishGroups(GroupHost* host);

// What the node-level gauges (HLC offset, storage space) read at scrape
// time. The pointers must stay valid until PublishNode(nullptr) returns.
struct NodeView {
  Hlc* hlc = nullptr;
  Clock* clock = nullptr;
  std::vector<std::pair<uint64_t, storage::Engine*>> engines;  // group id -> its engine
  uint64_t min_free_bytes = 0;  // --min-free-disk
};
// Node sets it after start and clears it (null) before the engines go;
// clearing waits for a scrape in progress.
void PublishNode(const NodeView* view);

// Counts and times every RPC the server handles.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsFactory();

}  // namespace meridian::server
