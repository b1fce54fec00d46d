#include "common/status.h"

#include "absl/types/optional.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace meridian {
namespace {

// Debian's abseil has its own string_view type, distinct from std::string_view.
constexpr absl::string_view kPayloadUrl = "meridian.dev/error";

absl::StatusCode CodeFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone: return absl::StatusCode::kOk;
    case ErrorKind::kConflict: return absl::StatusCode::kAborted;
    case ErrorKind::kNotLeader: return absl::StatusCode::kUnavailable;
    case ErrorKind::kWrongShard: return absl::StatusCode::kFailedPrecondition;
    case ErrorKind::kUnavailable: return absl::StatusCode::kUnavailable;
    case ErrorKind::kCommitUnknown: return absl::StatusCode::kUnknown;
    case ErrorKind::kCausalWaitTimeout: return absl::StatusCode::kDeadlineExceeded;
    case ErrorKind::kResourceExhausted: return absl::StatusCode::kResourceExhausted;
    case ErrorKind::kInvalidArgument: return absl::StatusCode::kInvalidArgument;
    case ErrorKind::kTxnNotFound: return absl::StatusCode::kNotFound;
    case ErrorKind::kInternal: return absl::StatusCode::kInternal;
  }
  return absl::StatusCode::kInternal;
}

ErrorKind KindFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return ErrorKind::kNone;
    case absl::StatusCode::kAborted: return ErrorKind::kConflict;
    case absl::StatusCode::kUnavailable: return ErrorKind::kUnavailable;
    case absl::StatusCode::kDeadlineExceeded: return ErrorKind::kUnavailable;
    case absl::StatusCode::kResourceExhausted: return ErrorKind::kResourceExhausted;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return ErrorKind::kInvalidArgument;
    case absl::StatusCode::kNotFound: return ErrorKind::kTxnNotFound;
    default: return ErrorKind::kInternal;
  }
}

}  // namespace

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone: return "OK";
    case ErrorKind::kConflict: return "CONFLICT";
    case ErrorKind::kNotLeader: return "NOT_LEADER";
    case ErrorKind::kWrongShard: return "WRONG_SHARD";
    case ErrorKind::kUnavailable: return "UNAVAILABLE";
    case ErrorKind::kCommitUnknown: return "COMMIT_UNKNOWN";
    case ErrorKind::kCausalWaitTimeout: return "CAUSAL_WAIT_TIMEOUT";
    case ErrorKind::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case ErrorKind::kInvalidArgument: return "INVALID_ARGUMENT";
    case ErrorKind::kTxnNotFound: return "TXN_NOT_FOUND";
    case ErrorKind::kInternal: return "INTERNAL";
  }
  return "INTERNAL";
}

// Payload format: "<kind>\n<leader_hint>\n<limit_name>\n<limit_value>\n<retry_after_ms>
// \n<shard_map_version>" (older payloads have four or five fields).
Status MakeError(const ErrorInfo& info, std::string_view message) {
  Status s(CodeFor(info.kind), absl::string_view(message.data(), message.size()));
  if (s.ok()) return s;
  s.SetPayload(kPayloadUrl,
               absl::Cord(absl::StrCat(static_cast<int>(info.kind), "\n", info.leader_hint, "\n",
                                       info.limit_name, "\n", info.limit_value, "\n",
                                       info.retry_after_ms, "\n", info.shard_map_version)));
  return s;
}

ErrorInfo GetErrorInfo(const Status& s) {
  ErrorInfo info;
  if (s.ok()) return info;
  info.kind = KindFor(s.code());
  absl::optional<absl::Cord> payload = s.GetPayload(kPayloadUrl);
  if (!payload) return info;
  std::vector<std::string> parts = absl::StrSplit(std::string(*payload), '\n');
  int kind = 0;
  if (parts.size() >= 4 && parts.size() <= 6 && absl::SimpleAtoi(parts[0], &kind) && kind > 0 &&
      kind <= static_cast<int>(ErrorKind::kInternal)) {
    info.kind = static_cast<ErrorKind>(kind);
    info.leader_hint = parts[1];
    info.limit_name = parts[2];
    (void)absl::SimpleAtoi(parts[3], &info.limit_value);
    if (parts.size() >= 5) (void)absl::SimpleAtoi(parts[4], &info.retry_after_ms);
    if (parts.size() >= 6) (void)absl::SimpleAtoi(parts[5], &info.shard_map_version);
  }
  return info;
}

Status ConflictError(std::string_view message) {
  return MakeError({.kind = ErrorKind::kConflict}, message);
}
Status NotLeaderError(std::string_view leader_hint, std::string_view message) {
  return MakeError({.kind = ErrorKind::kNotLeader, .leader_hint = std::string(leader_hint)},
                   message);
}
Status UnavailableError(std::string_view message) {
  return MakeError({.kind = ErrorKind::kUnavailable}, message);
}
Status CommitUnknownError(std::string_view message) {
  return MakeError({.kind = ErrorKind::kCommitUnknown}, message);
}
Status ResourceExhaustedError(std::string_view message) {
  return MakeError({.kind = ErrorKind::kResourceExhausted}, message);
}
Status InvalidArgumentError(std::string_view message) {
  return MakeError({.kind = ErrorKind::kInvalidArgument}, message);
}
Status LimitExceededError(std::string_view limit_name, uint64_t limit_value,
                          std::string_view message) {
  return MakeError({.kind = ErrorKind::kInvalidArgument,
                    .limit_name = std::string(limit_name),
                    .limit_value = limit_value},
                   message);
}
Status OverloadedError(std::string_view limit_name, uint64_t limit_value,
                       uint64_t retry_after_ms, std::string_view message) {
  return MakeError({.kind = ErrorKind::kResourceExhausted,
                    .limit_name = std::string(limit_name),
                    .limit_value = limit_value,
                    .retry_after_ms = retry_after_ms == 0 ? 1 : retry_after_ms},
                   message);
}
Status TxnNotFoundError(std::string_view message) {
  return MakeError({.kind = ErrorKind::kTxnNotFound}, message);
}
Status CausalWaitTimeoutError(std::string_view message) {
  return MakeError({.kind = ErrorKind::kCausalWaitTimeout}, message);
}
Status WrongShardError(std::string_view hint, uint64_t shard_map_version,
                       std::string_view message) {
  return MakeError({.kind = ErrorKind::kWrongShard,
                    .leader_hint = std::string(hint),
                    .shard_map_version = shard_map_version},
                   message);
}
Status CorruptionError(std::string_view message) {
  return absl::DataLossError(absl::string_view(message.data(), message.size()));
}

bool IsRetryable(const Status& s) {
  const ErrorInfo info = GetErrorInfo(s);
  switch (info.kind) {
    case ErrorKind::kConflict:
    case ErrorKind::kNotLeader:
    case ErrorKind::kWrongShard:
    case ErrorKind::kUnavailable:
      return true;
    case ErrorKind::kResourceExhausted:
      // Only an admission refusal (it carries a retry-after hint) proves
      // nothing happened and will pass later; disk full will not.
      return info.retry_after_ms > 0;
    default:
      return false;
  }
}

}  // namespace meridian
