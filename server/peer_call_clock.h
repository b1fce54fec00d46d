// The HLC on node-to-node unary calls (participant calls, clock questions).
// The peer streams carry it in every batch (PeerBatch.hlc); these calls
// carry it in their metadata: the caller's HLC (kHlcHeader, decimal) and its
// member id (kMemberHeader), stamped as each call starts. The callee merges
// it through PeerClock::MergeRemoteHlc, like a batch's: refused beyond
// --max-clock-offset, counted and remembered for the fence.
//
// Client calls carry the clock in their session token instead (the
// session context verifies and merges it); a call without the headers is
// left alone.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/server_interceptor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/hlc.h"
#include "server/peer_clock.h"

namespace meridian::server {

inline constexpr char kHlcHeader[] = "meridian-hlc";
inline constexpr char kMemberHeader[] = "meridian-member";

// Who stamps a node's outgoing calls. REQUIRES: hlc outlives every channel
// made with it.
struct CallerClock {
  Hlc* hlc = nullptr;  // null: calls carry nothing
  uint32_t member_id = 0;
};

// A channel to another node whose every call carries `caller`'s clock.
std::shared_ptr<grpc::Channel> NewPeerChannel(const std::string& address, CallerClock caller);

// For grpc::ServerBuilder::experimental().SetInterceptorCreators: merges
// the clock of every call that carries one into `peers`. REQUIRES: peers
// outlives the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewPeerClockInterceptor(
    PeerClock* peers);

}  // namespace meridian::server
