#include "proto/grpc_status.h"

#include <string>

namespace meridian {

v1::ErrorDetail ToErrorDetail(const Status& s) {
  ErrorInfo info = GetErrorInfo(s);
  v1::ErrorDetail d;
  d.set_kind(static_cast<v1::ErrorDetail::Kind>(info.kind));
  d.set_message(std::string(s.message()));
  d.set_leader_hint(info.leader_hint);
  d.set_limit_name(info.limit_name);
  d.set_limit_value(info.limit_value);
  d.set_retry_after_ms(info.retry_after_ms);
  d.set_shard_map_version(info.shard_map_version);
  d.set_retryable(IsRetryable(s));
  return d;
}

grpc::Status ToGrpcStatus(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  v1::RpcStatus rpc;
  rpc.set_code(static_cast<int>(s.code()));
  rpc.set_message(std::string(s.message()));
  rpc.add_details()->PackFrom(ToErrorDetail(s));
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()),
                      rpc.SerializeAsString());
}

Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(s.error_code());
  v1::RpcStatus rpc;
  v1::ErrorDetail detail;
  if (!s.error_details().empty() && rpc.ParseFromString(s.error_details())) {
    for (const auto& any : rpc.details()) {
      if (any.UnpackTo(&detail)) {
        ErrorInfo info{.kind = static_cast<ErrorKind>(detail.kind()),
                       .leader_hint = detail.leader_hint(),
                       .limit_name = detail.limit_name(),
                       .limit_value = detail.limit_value(),
                       .retry_after_ms = detail.retry_after_ms(),
                       .shard_map_version = detail.shard_map_version()};
        Status out = MakeError(info, s.error_message());
        // Keep the server's canonical code if the kind implies another one.
        if (out.code() != code) out = Status(code, s.error_message());
        return out;
      }
    }
  }
  // No detail (e.g. a transport error): keep the code. A deadline or a broken
  // connection says nothing about whether a write happened.
  return Status(code, s.error_message());
}

}  // namespace meridian
