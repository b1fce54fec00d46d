#include "server/admission.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/server_metrics.h"

namespace meridian::server {
namespace {

uint64_t CeilMillis(uint64_t ns) { return std::max<uint64_t>(1, (ns + 999'999) / 1'000'000); }

std::string FormatRate(double rate) {
  if (rate == std::floor(rate)) return absl::StrCat(static_cast<uint64_t>(rate));
  return absl::StrCat(rate);
}

}  // namespace

GcraLimiter::GcraLimiter(double rate_per_sec, uint64_t burst, size_t max_keys, Clock* clock)
    : rate_(rate_per_sec),
      burst_(std::max<uint64_t>(burst, 1)),
      max_keys_(std::max<size_t>(max_keys, 1)),
      clock_(clock),
      interval_ns_(std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(1e9 / rate_per_sec)))),
      tolerance_ns_((burst_ - 1) * interval_ns_) {}

AdmitDecision GcraLimiter::Admit(std::string_view key) {
  const uint64_t now = clock_->NowMonotonicMicros() * 1000;
  std::lock_guard<std::mutex> l(mu_);
  auto it = tat_ns_.find(std::string(key));
  if (it == tat_ns_.end()) {
    if (tat_ns_.size() >= max_keys_) EvictLocked(now);
    // A fresh key behaves as one whose TAT is now.
    tat_ns_.emplace(std::string(key), now + interval_ns_);
    return {};
  }
  const uint64_t tat = std::max(it->second, now);
  // Admit iff tat - tolerance <= now.
  if (tat - now > tolerance_ns_) {
    return {.admitted = false, .retry_after_ms = CeilMillis(tat - tolerance_ns_ - now)};
  }
  it->second = tat + interval_ns_;
  return {};
}

void GcraLimiter::EvictLocked(uint64_t now_ns) {
  std::erase_if(tat_ns_, [&](const auto& kv) { return kv.second <= now_ns; });
  if (tat_ns_.size() < max_keys_) return;
  // Nobody is idle: forget the key nearest to idle, which loses the least.
  auto oldest = std::min_element(tat_ns_.begin(), tat_ns_.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
  tat_ns_.erase(oldest);
}

size_t GcraLimiter::tracked_keys() const {
  std::lock_guard<std::mutex> l(mu_);
  return tat_ns_.size();
}

InflightLimiter::InflightLimiter(uint64_t max, uint64_t retry_after_ms)
    : max_(max), retry_after_ms_(std::max<uint64_t>(retry_after_ms, 1)) {}

AdmitDecision InflightLimiter::TryAcquire() {
  const uint64_t before = in_flight_.fetch_add(1, std::memory_order_relaxed);
  if (max_ != 0 && before >= max_) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return {.admitted = false, .retry_after_ms = retry_after_ms_};
  }
  return {};
}

void InflightLimiter::Release() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

Admission::Admission(const AdmissionOptions& options, Clock* clock)
    : inflight_(options.max_inflight, options.inflight_retry_after_ms),
      refused_inflight_(Metrics().admission_refused->With({"inflight"})),
      refused_rate_(Metrics().admission_refused->With({"rate"})) {
  if (options.client_rate_limit > 0) {
    const uint64_t burst =
        options.client_rate_burst != 0
            ? options.client_rate_burst
            : std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(options.client_rate_limit)));
    gcra_ = std::make_unique<GcraLimiter>(options.client_rate_limit, burst,
                                          options.max_tracked_clients, clock);
  }
}

Status Admission::Admit(std::string_view client) {
  const AdmitDecision slot = inflight_.TryAcquire();
  if (!slot.admitted) {
    refused_inflight_->Inc();
    return OverloadedError(
        "max_inflight", inflight_.max(), slot.retry_after_ms,
        absl::StrCat("overloaded: ", inflight_.max(),
                     " requests in flight (--max-inflight); retry after ", slot.retry_after_ms,
                     " ms"));
  }
  if (gcra_ != nullptr) {
    const AdmitDecision rate = gcra_->Admit(client);
    if (!rate.admitted) {
      inflight_.Release();
      refused_rate_->Inc();
      return OverloadedError(
          "client_rate_limit", static_cast<uint64_t>(std::ceil(gcra_->rate())),
          rate.retry_after_ms,
          absl::StrCat("rate limit for client ", absl::string_view(client.data(), client.size()),
                       ": ", FormatRate(gcra_->rate()),
                       " ops/s (--client-rate-limit); retry after ", rate.retry_after_ms, " ms"));
    }
  }
  return absl::OkStatus();
}

void Admission::Release() { inflight_.Release(); }

}  // namespace meridian::server
