#include "server/cluster_clock.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "server/server_metrics.h"

namespace meridian::server {

// The questions of one Now(): the largest clock heard, and how many are
// left. Shared by the callbacks, which may outlive the wait.
struct ClusterClock::Pending {
  std::mutex mu;
  std::condition_variable cv;
  int left = 0;
  uint64_t max = 0;
  bool fell_back = false;
};

namespace {

// One NodeClock call's state, freed by its callback.
struct Call {
  std::shared_ptr<v1::Participant::Stub> stub;
  grpc::ClientContext ctx;
  v1::NodeClockRequest req;
  v1::NodeClockResponse resp;
};

}  // namespace

ClusterClock::ClusterClock(const ShardDirectory* map, Hlc* hlc, Clock* clock, Local local,
                           Options options)
    : map_(map), hlc_(hlc), clock_(clock), local_(std::move(local)), options_(options) {}

ClusterClock::~ClusterClock() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return in_flight_ == 0; });
}

void ClusterClock::RefreshPeersLocked() {
  const auto config = map_->Current().config;
  if (config == nullptr || (map_seen_ && config->version() == map_version_)) return;
  map_seen_ = true;
  map_version_ = config->version();
  std::map<uint64_t, Peer> next;
  for (const v1::NodeInfo& n : config->nodes()) {
    if (n.node_id() == options_.self_id) continue;
    auto it = peers_.find(n.node_id());
    if (it != peers_.end() && it->second.address == n.address()) {
      next.emplace(n.node_id(), std::move(it->second));
      continue;
    }
    Peer p;
    p.address = n.address();
    p.stub = v1::Participant::NewStub(
        grpc::CreateChannel(n.address(), grpc::InsecureChannelCredentials()));
    next.emplace(n.node_id(), std::move(p));
  }
  peers_ = std::move(next);
}

uint64_t ClusterClock::Fallback() {
  const uint64_t ahead = MakeHlc(clock_->NowUnixMillis() + options_.max_clock_offset_ms, 0);
  return std::max(hlc_->Now(), ahead);
}

uint64_t ClusterClock::Floor() {
  const uint64_t now_ms = clock_->NowUnixMillis();
  const uint64_t back = options_.max_txn_timeout_ms + options_.max_clock_offset_ms + kInFlightSlackMs;
  return MakeHlc(now_ms > back ? now_ms - back : 0, 0);
}

void ClusterClock::Done() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--in_flight_ == 0) cv_.notify_all();
}

uint64_t ClusterClock::Now() {
  auto pending = std::make_shared<Pending>();
  pending->max = local_.clock();
  std::vector<std::pair<uint64_t, std::shared_ptr<v1::Participant::Stub>>> ask;
  {
    std::lock_guard<std::mutex> lock(mu_);
    RefreshPeersLocked();
    for (auto& [id, p] : peers_) {
      if (p.reachable) {
        ask.emplace_back(id, p.stub);
      } else {
        pending->fell_back = true;
      }
    }
    in_flight_ += static_cast<int>(ask.size());
  }
  pending->left = static_cast<int>(ask.size());
  const uint64_t caller = hlc_->Now();
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(options_.now_deadline_ms);
  for (auto& [id, stub] : ask) {
    auto* call = new Call;
    call->stub = stub;
    call->ctx.set_deadline(deadline);
    call->req.set_hlc(caller);
    call->stub->async()->NodeClock(
        &call->ctx, &call->req, &call->resp,
        [this, call, pending, id = id](grpc::Status s) {
          bool ok = s.ok() && hlc_->Observe(call->resp.hlc()).ok();
          {
            std::lock_guard<std::mutex> lock(pending->mu);
            if (ok) {
              pending->max = std::max(pending->max, call->resp.hlc());
            } else {
              pending->fell_back = true;
            }
            if (--pending->left == 0) pending->cv.notify_all();
          }
          if (!ok) {
            std::lock_guard<std::mutex> lock(mu_);
            if (auto it = peers_.find(id); it != peers_.end()) it->second.reachable = false;
          }
          delete call;
          Done();
        });
  }
  std::unique_lock<std::mutex> lock(pending->mu);
  pending->cv.wait(lock, [&] { return pending->left == 0; });
  if (!pending->fell_back) return pending->max;
  fallbacks_.fetch_add(1);
  Metrics().txn_begin_clock_fallbacks->Inc();
  return std::max(pending->max, Fallback());
}

uint64_t ClusterClock::Gather() {
  std::vector<std::pair<uint64_t, std::shared_ptr<v1::Participant::Stub>>> ask;
  uint64_t low = local_.low_watermark();
  const uint64_t floor = Floor();
  {
    std::lock_guard<std::mutex> lock(mu_);
    RefreshPeersLocked();
    for (auto& [id, p] : peers_) {
      low = std::min(low, std::max(p.low_watermark, floor));
      if (p.asking) continue;  // no answer yet to the last question
      p.asking = true;
      ask.emplace_back(id, p.stub);
    }
    in_flight_ += static_cast<int>(ask.size());
  }
  const uint64_t caller = hlc_->Now();
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(options_.gather_deadline_ms);
  for (auto& [id, stub] : ask) {
    auto* call = new Call;
    call->stub = stub;
    call->ctx.set_deadline(deadline);
    call->req.set_hlc(caller);
    call->stub->async()->NodeClock(
        &call->ctx, &call->req, &call->resp, [this, call, id = id](grpc::Status s) {
          if (s.ok()) (void)hlc_->Observe(call->resp.hlc());
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (auto it = peers_.find(id); it != peers_.end()) {
              Peer& p = it->second;
              p.asking = false;
              p.reachable = s.ok();
              if (s.ok()) p.low_watermark = call->resp.low_watermark_hlc();
            }
          }
          delete call;
          Done();
        });
  }
  low_watermark_.store(low);
  ServerMetrics& m = Metrics();
  const double low_ms = static_cast<double>(HlcPhysicalMillis(low));
  const double now_ms = static_cast<double>(clock_->NowUnixMillis());
  m.cluster_low_watermark_seconds->Set(low_ms / 1e3);
  m.cluster_low_watermark_age_seconds->Set(now_ms > low_ms ? (now_ms - low_ms) / 1e3 : 0.0);
  return low;
}

v1::NodeClockResponse ClusterClock::Answer(uint64_t caller_hlc) {
  (void)hlc_->Observe(caller_hlc);
  v1::NodeClockResponse out;
  // The watermark first: it is at most the clock read after it.
  out.set_low_watermark_hlc(local_.low_watermark());
  out.set_hlc(local_.clock());
  return out;
}

}  // namespace meridian::server
