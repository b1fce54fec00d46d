// The metrics meridiand exports (the table is in docs/operations.md), in
// the process-wide metrics::DefaultRegistry that /metrics serves.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

#include "common/metrics.h"

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

// Counts and times every RPC the server handles.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsFactory();

}  // namespace meridian::server
