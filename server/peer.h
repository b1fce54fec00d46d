// Node-to-node transport for consensus messages over gRPC: one client
// stream from each node to each peer (meridian.v1.Peer/Stream), whatever the
// number of groups they share, carrying batches of encoded messages tagged
// with their group. Loss is fine (Paxos retransmits); the sender reconnects
// with backoff and drops what it cannot send. The batches also carry the
// clock probes of PeerClock (peer_clock.h): a stream with nothing to send
// still writes a probe-only batch when a ping or an echo is due.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "consensus/codec.h"
#include "consensus/types.h"
#include "meridian/v1/peer.grpc.pb.h"
#include "server/group_host.h"
#include "server/peer_clock.h"

namespace meridian::server {

// Thread-safe.
class PeerSender {
 public:
  // `peer_clock` (not owned; outlives the sender) stamps the probes to `peer`.
  PeerSender(consensus::NodeId self, consensus::NodeId peer, std::string address,
             PeerClock* peer_clock);
  ~PeerSender();
  // Queues one round's messages for this peer; batches queued while the
  // stream is busy are merged into one write.
  void Send(std::vector<v1::GroupMessage> messages);

 private:
  void Loop();
  const consensus::NodeId self_;
  const consensus::NodeId peer_;
  const std::string address_;
  PeerClock* const peer_clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::GroupMessage> queue_;
  bool stop_ = false;
  grpc::ClientContext* current_ = nullptr;  // the open stream's context
  std::thread thread_;
};

// The receiving side: hands decoded messages to their group.
class PeerService final : public v1::Peer::Service {
 public:
  explicit PeerService(GroupHost* host) : host_(host) {}

  void CloseAll() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    for (grpc::ServerContext* ctx : open_) ctx->TryCancel();
  }

  grpc::Status Stream(grpc::ServerContext* ctx, grpc::ServerReader<v1::PeerBatch>* reader,
                      v1::PeerStreamSummary* summary) override;
  grpc::Status InstallSnapshot(grpc::ServerContext* ctx,
                               grpc::ServerReader<v1::SnapshotChunk>* reader,
                               v1::SnapshotInstalled* reply) override;

 private:
  // Tracks an incoming stream so CloseAll can end it; false once closed.
  bool Open(grpc::ServerContext* ctx);
  void Close(grpc::ServerContext* ctx);

  GroupHost* host_;
  std::mutex mu_;
  bool closed_ = false;
  std::set<grpc::ServerContext*> open_;
};

std::unique_ptr<PeerService> MakePeerService(GroupHost* host);
// Ends every open incoming peer stream and refuses new ones, so a graceful
// shutdown does not wait out its grace period on long-lived streams.
void ClosePeerStreams(PeerService* service);
grpc::Service* AsGrpcService(PeerService* service);

}  // namespace meridian::server
