#include "client/retry_policy.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "client/absl_view.h"
#include "meridian/v1/common.pb.h"
#include "proto/grpc_status.h"

namespace meridian::client::internal {
namespace {

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// Transport-level codes after which a write may or may not have applied: the
// request may have reached the server before the reply was lost. Other bare
// codes (an invalid argument, a method the server lacks, an oversized
// message, ...) are produced before the handler runs.
bool OutcomeUnknown(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool HasErrorDetail(const grpc::Status& s) {
  if (s.error_details().empty()) return false;
  v1::RpcStatus rpc;
  if (!rpc.ParseFromString(s.error_details())) return false;
  for (const auto& any : rpc.details()) {
    if (any.Is<v1::ErrorDetail>()) return true;
  }
  return false;
}

AttemptOutcome ClassifyFailure(const grpc::Status& s, CallKind kind, std::string_view endpoint) {
  AttemptOutcome out;
  out.status = FromGrpcStatus(s);
  if (HasErrorDetail(s)) {
    // The server answered: its kind says whether anything happened.
    const ErrorInfo info = GetErrorInfo(out.status);
    switch (info.kind) {
      case ErrorKind::kNotLeader:
        if (!info.leader_hint.empty() && info.leader_hint != endpoint) {
          out.action = RetryAction::kRetryLeader;
          out.leader_hint = info.leader_hint;
        } else {
          out.action = RetryAction::kRetryNext;
        }
        break;
      case ErrorKind::kUnavailable:
        out.action = RetryAction::kRetryNext;
        break;
      case ErrorKind::kResourceExhausted:
        // Admission control refused it before any work (it says when to
        // come back): nothing applied, so even a write may be retried, but
        // not before the hint. Without a hint (disk full, too many open
        // transactions) waiting a little will not help: final.
        if (info.retry_after_ms > 0) {
          out.action = RetryAction::kRetrySame;
          out.min_delay = std::chrono::milliseconds(info.retry_after_ms);
        } else {
          out.action = RetryAction::kFail;
        }
        break;
      case ErrorKind::kWrongShard:
        // Refused before any work: even a write may be retried, once routed
        // by a fresher map.
        out.action = RetryAction::kRefreshShards;
        out.leader_hint = info.leader_hint;
        break;
      default:
        out.action = RetryAction::kFail;
        break;
    }
    return out;
  }
  // No detail: gRPC itself failed the call, or something that is not a
  // Meridian server answered.
  if (!OutcomeUnknown(s.error_code())) return out;
  if (kind == CallKind::kWrite) {
    out.status =
        CommitUnknownError(absl::StrCat("outcome unknown: ", AbslView(endpoint), ": ",
                                        CodeName(s.error_code()), ": ", s.error_message()));
    out.action = RetryAction::kFail;
    return out;
  }
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    out.status = UnavailableError(
        absl::StrCat(AbslView(endpoint), ": ", CodeName(s.error_code()), ": ", s.error_message()));
    out.action = RetryAction::kRetryNext;
  }
  return out;
}

AttemptOutcome NotConnected(std::string_view endpoint, std::string_view why) {
  AttemptOutcome out;
  out.status = UnavailableError(
      absl::StrCat("could not connect to ", AbslView(endpoint), ": ", AbslView(why)));
  out.action = RetryAction::kRetryNext;
  return out;
}

std::chrono::milliseconds RetryDelay(const AttemptOutcome& out, std::chrono::milliseconds backoff) {
  return std::max(backoff, out.min_delay);
}

std::chrono::milliseconds BackoffDelay(int retry, std::chrono::milliseconds initial,
                                       std::chrono::milliseconds max, Random& rng) {
  const int64_t cap = std::max<int64_t>(max.count(), 1);
  int64_t base = std::max<int64_t>(initial.count(), 1);
  for (int i = 0; i < retry && base < cap; ++i) base *= 2;
  base = std::min(base, cap);
  const int64_t half = base / 2;
  return std::chrono::milliseconds(half + static_cast<int64_t>(rng.Uniform(base - half + 1)));
}

}  // namespace meridian::client::internal
