// How the SDK reacts to a failed RPC attempt: whether it may try again, and
// where. Internal to client/; not part of the public SDK.
//
// The rule that shapes everything here: a write is retried only when the
// server's own typed answer proves it did not apply. A write whose reply was
// lost (deadline, broken connection) may have applied, so it surfaces as
// kCommitUnknown and is never retried.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <string>
#include <string_view>

#include "common/random.h"
#include "common/status.h"

namespace meridian::client::internal {

// What an RPC does to data, which decides whether a failure may be retried.
enum class CallKind {
  // Changes nothing durable (reads, Begin, Abort, ops buffered inside an
  // interactive transaction): any retryable failure may be retried.
  kRead,
  // Changes data (Put, Delete, Execute with writes, Commit, cset updates).
  kWrite,
};

enum class RetryAction {
  kFail,         // give `status` to the caller
  kRetrySame,    // back off, then try the same endpoint again
  kRetryNext,    // back off, then try the next endpoint
  kRetryLeader,  // try the endpoint named by `leader_hint`
  // WRONG_SHARD: the request was refused before any work because it was
  // routed by a stale shard map (or to a node without the key's shard).
  // Refresh the map, then route again; `leader_hint` may name a node that
  // hosts the key's shard.
  kRefreshShards,
};

struct AttemptOutcome {
  Status status;  // what the caller gets if the call is not retried
  RetryAction action = RetryAction::kFail;
  std::string leader_hint;  // set if action == kRetryLeader; may be set for kRefreshShards
  // The server's retry-after hint (admission control): do not retry sooner.
  std::chrono::milliseconds min_delay{0};
};

// Whether the reply carries a meridian.v1.ErrorDetail, i.e. the server
// itself answered, as opposed to a transport failure or a bare gRPC error.
bool HasErrorDetail(const grpc::Status& s);

// Decides what to do after one failed attempt of a `kind` call at
// `endpoint` (used in messages). A kWrite that failed at the transport level
// comes back as kCommitUnknown with action kFail.
// REQUIRES: !s.ok().
AttemptOutcome ClassifyFailure(const grpc::Status& s, CallKind kind, std::string_view endpoint);

// The outcome of an attempt that never reached the server because the
// channel could not connect: safe to retry elsewhere, reads and writes alike.
AttemptOutcome NotConnected(std::string_view endpoint, std::string_view why);

// The pause before a retry: the backoff, but never shorter than the
// server's retry-after hint.
std::chrono::milliseconds RetryDelay(const AttemptOutcome& out, std::chrono::milliseconds backoff);

// The pause before retry number `retry` (0-based): min(max, initial * 2^retry)
// with "equal jitter" (uniform in its upper half), so that clients that
// failed together do not retry in lockstep.
std::chrono::milliseconds BackoffDelay(int retry, std::chrono::milliseconds initial,
                                       std::chrono::milliseconds max, Random& rng);

}  // namespace meridian::client::internal
