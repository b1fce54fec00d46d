#include "server/peer.h"

#include "common/clock.h"

#include <set>

#include "consensus/codec.h"
#include "meridian/v1/peer.grpc.pb.h"
#include "absl/cleanup/cleanup.h"
#include "proto/grpc_status.h"
#include "absl/strings/str_cat.h"
#include "server/group_host.h"
#include "server/server_metrics.h"
#include "server/snapshot_transfer.h"

namespace meridian::server {

namespace {
constexpr size_t kMaxQueued = 10'000;  // beyond this, old messages are dropped
constexpr size_t kMaxBatch = 256;
}  // namespace

PeerSender::PeerSender(consensus::NodeId self, consensus::NodeId peer, std::string address,
                       PeerClock* peer_clock)
    : self_(self),
      peer_(peer),
      address_(std::move(address)),
      peer_clock_(peer_clock),
      thread_([this] { Loop(); }) {}

PeerSender::~PeerSender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    if (current_ != nullptr) current_->TryCancel();  // unblocks a stuck Write
  }
  cv_.notify_all();
  thread_.join();
}

void PeerSender::Send(std::vector<v1::GroupMessage> messages) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (v1::GroupMessage& m : messages) {
      if (queue_.size() >= kMaxQueued) queue_.pop_front();
      queue_.push_back(std::move(m));
    }
  }
  cv_.notify_one();
}

void PeerSender::Loop() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
  auto stub = v1::Peer::NewStub(channel);
  Clock* clock = SystemClock();
  metrics::Counter* failures = Metrics().peer_stream_failures->With({address_});
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    // Wait for a connection in short steps, so that Stop never waits long;
    // what queues meanwhile is dropped (consensus retransmits what matters).
    const auto deadline = std::chrono::system_clock::time_point(
        std::chrono::milliseconds(clock->NowUnixMillis() + 100));
    if (!channel->WaitForConnected(deadline)) {
      failures->Inc();
      std::lock_guard<std::mutex> lock(mu_);
      queue_.clear();
      continue;
    }
    grpc::ClientContext ctx;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      current_ = &ctx;
    }
    v1::PeerStreamSummary summary;
    auto stream = stub->Stream(&ctx, &summary);
    bool broken = false;
    while (!broken) {
      v1::PeerBatch batch;
      batch.set_from(self_);
      {
        std::unique_lock<std::mutex> lock(mu_);
        // Until there is traffic, or a clock probe is due.
        while (!stop_ && queue_.empty()) {
          const uint64_t due_us = peer_clock_->ProbeDueInUs(peer_);
          if (due_us == 0) break;
          cv_.wait_for(lock, std::chrono::microseconds(due_us));
        }
        if (stop_) break;
        while (!queue_.empty() && static_cast<size_t>(batch.messages_size()) < kMaxBatch) {
          *batch.add_messages() = std::move(queue_.front());
          queue_.pop_front();
        }
      }
      // As late as possible: t1 and t3 are the times the batch leaves.
      if (!peer_clock_->Stamp(peer_, &batch) && batch.messages_size() == 0) continue;
      broken = !stream->Write(batch);
    }
    if (broken) failures->Inc();
    ctx.TryCancel();
    (void)stream->Finish();
    std::lock_guard<std::mutex> lock(mu_);
    current_ = nullptr;
  }
}

bool PeerService::Open(grpc::ServerContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  open_.insert(ctx);
  return true;
}

void PeerService::Close(grpc::ServerContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(ctx);
}

grpc::Status PeerService::Stream(grpc::ServerContext* ctx,
                                 grpc::ServerReader<v1::PeerBatch>* reader,
                                 v1::PeerStreamSummary* summary) {
  if (!Open(ctx)) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down");
  absl::Cleanup close = [&] { Close(ctx); };
  v1::PeerBatch batch;
  uint64_t received = 0;
  Clock* clock = SystemClock();
  while (reader->Read(&batch)) {
    host_->peer_clock()->OnBatch(batch.from(), batch, clock->NowUnixMicros());
    for (const v1::GroupMessage& gm : batch.messages()) {
      std::string_view in = gm.message();
      consensus::Message m;
      if (!consensus::DecodeMessage(&in, &m) || !in.empty() || m.from != batch.from()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed peer message");
      }
      // A group this node does not host (yet): dropped, like a lost message.
      (void)host_->Receive(gm.group(), std::move(m));
      ++received;
    }
  }
  summary->set_received(received);
  return grpc::Status::OK;
}

grpc::Status PeerService::InstallSnapshot(grpc::ServerContext* ctx,
                                          grpc::ServerReader<v1::SnapshotChunk>* reader,
                                          v1::SnapshotInstalled* reply) {
  if (!Open(ctx)) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down");
  absl::Cleanup close = [&] { Close(ctx); };
  std::vector<storage::Record> records;
  uint64_t index = 0;
  consensus::NodeId from = consensus::kNoNode;
  consensus::GroupId group = 0;
  Status s =
      ReceiveSnapshot(reader, host_->max_snapshot_bytes(), &from, &group, &records, &index);
  Replication* target = host_->group(group);
  if (s.ok() && target == nullptr) {
    s = absl::NotFoundError(absl::StrCat("this node does not host group ", group));
  }
  if (s.ok()) s = target->InstallSnapshot(std::move(records), index);
  reply->set_index(index);
  return ToGrpcStatus(s);
}

std::unique_ptr<PeerService> MakePeerService(GroupHost* host) {
  return std::make_unique<PeerService>(host);
}

void ClosePeerStreams(PeerService* service) { service->CloseAll(); }
grpc::Service* AsGrpcService(PeerService* service) { return service; }

}  // namespace meridian::server
