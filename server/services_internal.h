// Shared by the service implementations; not part of server/'s interface.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "meridian/v1/common.pb.h"
#include "proto/grpc_status.h"
#include "server/router.h"
#include "server/services.h"
#include "storage/engine.h"

namespace meridian::server {

inline void ToProto(const storage::Version& v, v1::Version* out) {
  out->set_hlc(v.hlc);
  out->set_site_id(v.site);
}

std::unique_ptr<grpc::Service> MakeKvService(ServiceContext* ctx);
std::unique_ptr<grpc::Service> MakeCsetService(ServiceContext* ctx);
std::unique_ptr<grpc::Service> MakeTxnService(ServiceContext* ctx);
std::unique_ptr<grpc::Service> MakeAdminService(ServiceContext* ctx);
std::unique_ptr<grpc::Service> MakeParticipantService(ServiceContext* ctx);

}  // namespace meridian::server

// Assigns a Result's value to `lhs`, or returns its error as a grpc::Status.
#define MERIDIAN_GRPC_ASSIGN_OR_RETURN(lhs, expr) \
  MERIDIAN_GRPC_ASSIGN_OR_RETURN_IMPL(MERIDIAN_CONCAT(_gres_, __LINE__), lhs, expr)
#define MERIDIAN_GRPC_ASSIGN_OR_RETURN_IMPL(res, lhs, expr)          \
  auto res = (expr);                                                \
  if (!res.ok()) return ::meridian::ToGrpcStatus(res.status());     \
  lhs = std::move(res).value()
// First line of every data handler: counts the request and refuses it
// (UNAVAILABLE while draining, RESOURCE_EXHAUSTED by admission control,
// NOT_LEADER) when it must not be served. `server_context` is the handler's
// grpc::ServerContext*, or nullptr for operator requests that admission
// control must not hold back.
#define MERIDIAN_BEGIN_REQUEST(server_context)                                   \
  ::meridian::server::RequestGuard _request_guard(ctx_, (server_context));       \
  MERIDIAN_GRPC_RETURN_IF_ERROR(_request_guard.status())
// The same for a data handler that routes by key (Router::ForKey/ForShard):
// its shard group's read barrier runs when it is routed.
#define MERIDIAN_BEGIN_KEYED_REQUEST(server_context)                                 \
  ::meridian::server::RequestGuard _request_guard(ctx_, (server_context), true);     \
  MERIDIAN_GRPC_RETURN_IF_ERROR(_request_guard.status())
// The same for a data handler whose request carries a RequestHeader: its
// session token is verified and observed (AcceptSessionToken) first.
#define MERIDIAN_BEGIN_SESSION_REQUEST(server_context, request_header)       \
  MERIDIAN_BEGIN_KEYED_REQUEST(server_context);                              \
  MERIDIAN_GRPC_RETURN_IF_ERROR(ctx_->AcceptSessionToken(request_header, (server_context)))
#define MERIDIAN_GRPC_RETURN_IF_ERROR(expr)                          \
  do {                                                              \
    ::meridian::Status _gst = (expr);                               \
    if (!_gst.ok()) return ::meridian::ToGrpcStatus(_gst);          \
  } while (0)
