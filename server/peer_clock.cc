#include "server/peer_clock.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/log.h"

namespace meridian::server {

std::optional<ClockSample> ComputeClockSample(uint64_t t1, uint64_t t2, uint64_t t3,
                                              uint64_t t4) {
  if (t4 < t1 || t3 < t2) return std::nullopt;
  const uint64_t round = t4 - t1;
  const uint64_t hold = t3 - t2;
  if (hold > round) return std::nullopt;
  const int64_t there = static_cast<int64_t>(t2) - static_cast<int64_t>(t1);
  const int64_t back = static_cast<int64_t>(t3) - static_cast<int64_t>(t4);
  // Halved as a sum, not each half apart, so nothing is lost to rounding
  // twice; rounds toward zero.
  return ClockSample{(there + back) / 2, round - hold};
}

PeerClock::PeerClock(Clock* clock, Options options) : clock_(clock), options_(options) {}

void PeerClock::AddPeer(consensus::NodeId peer, const std::string& address) {
  absl::MutexLock lock(&mu_);
  Peer& p = peers_[peer];
  if (p.address != address) p.samples.clear();  // another process now
  p.address = address;
  p.streaming = true;
  p.rtt = options_.rtt_seconds ? options_.rtt_seconds->With({address}) : nullptr;
}

void PeerClock::RemovePeer(consensus::NodeId peer) {
  absl::MutexLock lock(&mu_);
  peers_.erase(peer);
}

size_t PeerClock::peer_count() {
  absl::MutexLock lock(&mu_);
  return std::count_if(peers_.begin(), peers_.end(),
                       [](const auto& e) { return e.second.streaming; });
}

bool PeerClock::Stamp(consensus::NodeId peer, v1::PeerBatch* batch) {
  const uint64_t mono = clock_->NowMonotonicMicros();
  const uint64_t now = clock_->NowUnixMicros();
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.streaming) return false;
  Peer& p = it->second;
  if (options_.hlc != nullptr) batch->set_hlc(options_.hlc->Now());
  bool added = false;
  if (!p.pinged || mono - p.last_ping_mono_us >= options_.ping_interval_us) {
    batch->mutable_ping()->set_t1(now);
    p.pinged = true;
    p.last_ping_mono_us = mono;
    added = true;
  }
  if (p.echo_due) {
    v1::ClockEcho* echo = batch->mutable_echo();
    echo->set_t1(p.echo_due->first);
    echo->set_t2(p.echo_due->second);
    echo->set_t3(now);
    p.echo_due.reset();
    added = true;
  }
  return added;
}

uint64_t PeerClock::ProbeDueInUs(consensus::NodeId peer) {
  const uint64_t mono = clock_->NowMonotonicMicros();
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.streaming) return options_.ping_interval_us;
  const Peer& p = it->second;
  if (p.echo_due || !p.pinged) return 0;
  const uint64_t since = mono - p.last_ping_mono_us;
  return since >= options_.ping_interval_us ? 0 : options_.ping_interval_us - since;
}

void PeerClock::OnBatch(consensus::NodeId from, const v1::PeerBatch& batch,
                        uint64_t arrived_us) {
  {
    absl::MutexLock lock(&mu_);
    peers_.try_emplace(from);  // a peer heard from is known
  }
  AdoptOrRefuse(from, batch.hlc());
  if (!batch.has_ping() && !batch.has_echo()) return;
  const uint64_t mono = clock_->NowMonotonicMicros();
  std::optional<ClockSample> sample;
  if (batch.has_echo()) {
    const v1::ClockEcho& e = batch.echo();
    sample = ComputeClockSample(e.t1(), e.t2(), e.t3(), arrived_us);
  }
  metrics::Histogram* rtt = nullptr;
  {
    absl::MutexLock lock(&mu_);
    Peer& p = peers_[from];
    if (batch.has_ping()) p.echo_due = {batch.ping().t1(), arrived_us};
    if (sample) {
      p.samples.emplace_back(mono, *sample);
      while (p.samples.size() > std::max<size_t>(options_.window, 1)) p.samples.pop_front();
      rtt = p.rtt;
    }
  }
  if (rtt != nullptr) rtt->Observe(static_cast<double>(sample->rtt_us) / 1e6);
}

void PeerClock::MergeRemoteHlc(consensus::NodeId from, uint64_t hlc) {
  if (options_.hlc == nullptr || hlc == 0) return;
  {
    absl::MutexLock lock(&mu_);
    if (!peers_.contains(from)) return;
  }
  AdoptOrRefuse(from, hlc);
}

void PeerClock::AdoptOrRefuse(consensus::NodeId from, uint64_t hlc) {
  if (options_.hlc == nullptr || hlc == 0) return;
  const Status merged = options_.hlc->Observe(hlc);
  if (merged.ok()) return;
  const uint64_t mono = clock_->NowMonotonicMicros();
  const uint64_t wall_ms = clock_->NowUnixMillis();
  const uint64_t remote_ms = HlcPhysicalMillis(hlc);
  std::string address;
  bool first = false;
  uint64_t ahead_ms = remote_ms > wall_ms ? remote_ms - wall_ms : 0;
  {
    absl::MutexLock lock(&mu_);
    Peer& p = peers_[from];
    first = !p.last_rejected_mono_us || mono - *p.last_rejected_mono_us > options_.max_age_us;
    if (first) p.rejected_count = 0;
    p.last_rejected_mono_us = mono;
    p.rejected_ahead_ms = ahead_ms;
    ++p.rejected_count;
    address = p.address;
  }
  if (options_.hlc_rejected != nullptr) options_.hlc_rejected->With({address})->Inc();
  if (first) {
    Log(Level::kWarn, "refusing a peer's clock: its timestamp is beyond --max-clock-offset ahead",
        {{"peer", absl::StrCat(from)},
         {"address", address},
         {"timestamp", FormatHlc(hlc)},
         {"ahead_ms", absl::StrCat(ahead_ms)}});
  }
}

std::vector<PeerClock::Rejection> PeerClock::Rejections() {
  const uint64_t mono = clock_->NowMonotonicMicros();
  std::vector<Rejection> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, p] : peers_) {
    if (!p.streaming || !p.last_rejected_mono_us) continue;
    if (mono - *p.last_rejected_mono_us > options_.max_age_us) continue;
    out.push_back({id, p.address, p.rejected_ahead_ms, p.rejected_count});
  }
  return out;
}

std::vector<PeerClock::Estimate> PeerClock::Estimates() {
  const uint64_t mono = clock_->NowMonotonicMicros();
  std::vector<Estimate> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, p] : peers_) {
    if (!p.streaming || p.samples.empty()) continue;
    const uint64_t age = mono - p.samples.back().first;
    if (age > options_.max_age_us) continue;
    const ClockSample* best = &p.samples.front().second;
    for (const auto& [at, s] : p.samples) {
      if (s.rtt_us < best->rtt_us) best = &s;
    }
    out.push_back({id, p.address, *best, age, p.samples.size()});
  }
  return out;
}

}  // namespace meridian::server
