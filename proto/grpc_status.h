// The one mapping between meridian::Status and grpc::Status, used by the
// server (to answer) and the SDK (to decode). The gRPC status carries the
// canonical code and message, and grpc-status-details-bin carries a
// meridian.v1.RpcStatus (wire-compatible with google.rpc.Status) holding one
// meridian.v1.ErrorDetail with the error kind, leader hint and limit.
#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"
#include "meridian/v1/common.pb.h"

namespace meridian {

grpc::Status ToGrpcStatus(const Status& s);
Status FromGrpcStatus(const grpc::Status& s);

// The typed detail of a status (kind, hint, limit).
v1::ErrorDetail ToErrorDetail(const Status& s);

}  // namespace meridian
