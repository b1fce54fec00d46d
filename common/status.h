// Status and Result for all of Meridian: absl::Status plus a small set of
// Meridian error kinds that callers react to differently (retry the txn,
// go to the leader, never retry blindly, ...).
//
// A kind travels as an absl payload, so a Status keeps its canonical code
// (CONFLICT is kAborted, NOT_LEADER is kUnavailable, ...) and anything that
// only looks at the code still does the right thing. server/grpc_status.h is
// the one place that maps a Status to a gRPC status and back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace meridian {

using Status = absl::Status;
template <typename T>
using Result = absl::StatusOr<T>;

// Numbers match meridian.v1.ErrorDetail.Kind.
enum class ErrorKind : int {
  kNone = 0,
  kConflict = 1,
  kNotLeader = 2,
  kWrongShard = 3,
  kUnavailable = 4,
  kCommitUnknown = 5,
  kCausalWaitTimeout = 6,
  kResourceExhausted = 7,
  kInvalidArgument = 8,
  kTxnNotFound = 9,
  kInternal = 10,
};

std::string_view ErrorKindName(ErrorKind kind);

// What a Status says beyond its code and message.
struct ErrorInfo {
  ErrorKind kind = ErrorKind::kNone;
  std::string leader_hint;  // kNotLeader
  std::string limit_name;   // kInvalidArgument over a limit; kResourceExhausted overload
  uint64_t limit_value = 0;
  // kResourceExhausted from admission control: the request was refused
  // before any work (nothing applied) and may be retried after this long.
  // 0 = no hint (e.g. disk full): retrying soon will not help.
  uint64_t retry_after_ms = 0;
  // kWrongShard: the serving node's shard map version (leader_hint then
  // names a node hosting the key's shard, if known).
  uint64_t shard_map_version = 0;
};

// Decodes the Meridian payload of `s`. A status without one gets the kind
// implied by its canonical code (kInternal for unknown codes), and kNone for OK.
ErrorInfo GetErrorInfo(const Status& s);
inline ErrorKind GetErrorKind(const Status& s) { return GetErrorInfo(s).kind; }

// Builds a status of the given kind with its canonical code.
Status MakeError(const ErrorInfo& info, std::string_view message);

Status ConflictError(std::string_view message);
Status NotLeaderError(std::string_view leader_hint, std::string_view message);
Status UnavailableError(std::string_view message);
Status CommitUnknownError(std::string_view message);
Status ResourceExhaustedError(std::string_view message);
Status InvalidArgumentError(std::string_view message);
// A request over a configured limit: the message names the limit.
Status LimitExceededError(std::string_view limit_name, uint64_t limit_value,
                          std::string_view message);
// Admission control refused the request before doing anything
// (RESOURCE_EXHAUSTED): `limit_name` = `limit_value` is the limit that was
// hit, and the same request may be retried after `retry_after_ms` (>= 1).
Status OverloadedError(std::string_view limit_name, uint64_t limit_value,
                       uint64_t retry_after_ms, std::string_view message);
Status TxnNotFoundError(std::string_view message);
// A session read could not be served in time: the replica did not catch up
// with the session's token before the deadline (never a stale answer).
Status CausalWaitTimeoutError(std::string_view message);
// The request reached a node that does not serve its key's shard, or was
// routed by a shard map that no longer holds: refresh the map and retry.
Status WrongShardError(std::string_view hint, uint64_t shard_map_version,
                       std::string_view message);
// Broken on-disk data. Callers treat it as fatal for the affected store.
Status CorruptionError(std::string_view message);

// Whether a client may retry the same request unchanged.
bool IsRetryable(const Status& s);

}  // namespace meridian

// Returns from the current function if `expr` is not OK.
#define MERIDIAN_RETURN_IF_ERROR(expr)        \
  do {                                        \
    ::meridian::Status _st = (expr);          \
    if (!_st.ok()) return _st;                \
  } while (0)

#define MERIDIAN_CONCAT_INNER(a, b) a##b
#define MERIDIAN_CONCAT(a, b) MERIDIAN_CONCAT_INNER(a, b)
// Assigns the value of a Result to `lhs` or returns its error.
#define MERIDIAN_ASSIGN_OR_RETURN(lhs, expr) \
  MERIDIAN_ASSIGN_OR_RETURN_IMPL(MERIDIAN_CONCAT(_res_, __LINE__), lhs, expr)
#define MERIDIAN_ASSIGN_OR_RETURN_IMPL(res, lhs, expr) \
  auto res = (expr);                                   \
  if (!res.ok()) return res.status();                  \
  lhs = std::move(res).value()
