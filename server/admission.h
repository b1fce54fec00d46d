// Admission control for meridiand's data requests (issue 8): a per-client
// GCRA rate limit and a cap on requests in flight. A refused request is
// answered at once, before any work, with RESOURCE_EXHAUSTED and a
// retry-after hint (ErrorInfo::retry_after_ms), which tells the client that
// nothing was applied and when trying again is worthwhile.
//
// No gRPC; time comes from an injected Clock (common/clock.h). Refusals
// are counted in the process metrics (server_metrics.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"

namespace meridian::server {

// What a limiter says about one request.
struct AdmitDecision {
  bool admitted = true;
  uint64_t retry_after_ms = 0;  // when refused: >= 1
};

// The Generic Cell Rate Algorithm, one theoretical arrival time (TAT) per
// client key. A fresh key may send `burst` requests at once; after that one
// every 1/rate seconds. A refusal says how long until the next request would
// be admitted. Refusals cost nothing (the TAT only moves on admission).
//
// At most `max_keys` keys are tracked. A key whose TAT has passed is idle
// (forgetting it changes nothing); when the map is full, idle keys are
// dropped, and if none is idle, the key closest to idle is. Thread-safe.
class GcraLimiter {
 public:
  // REQUIRES: rate > 0, burst >= 1, max_keys >= 1.
  GcraLimiter(double rate_per_sec, uint64_t burst, size_t max_keys, Clock* clock);

  AdmitDecision Admit(std::string_view key);

  size_t tracked_keys() const;
  double rate() const { return rate_; }
  uint64_t burst() const { return burst_; }

 private:
  void EvictLocked(uint64_t now_ns);

  const double rate_;
  const uint64_t burst_;
  const size_t max_keys_;
  Clock* const clock_;
  const uint64_t interval_ns_;   // 1/rate
  const uint64_t tolerance_ns_;  // (burst - 1) / rate
  mutable std::mutex mu_;
  std::unordered_map<std::string, uint64_t> tat_ns_;  // key -> theoretical arrival time
};

// A cap on requests being served at once. Thread-safe, lock-free.
class InflightLimiter {
 public:
  // max == 0: unlimited. `retry_after_ms` is the hint a refusal carries.
  InflightLimiter(uint64_t max, uint64_t retry_after_ms);

  // Takes a slot (admitted: call Release once done) or refuses.
  AdmitDecision TryAcquire();
  void Release();

  uint64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  uint64_t max() const { return max_; }

 private:
  const uint64_t max_;
  const uint64_t retry_after_ms_;
  std::atomic<uint64_t> in_flight_{0};
};

struct AdmissionOptions {
  uint64_t max_inflight = 4096;      // 0 = unlimited
  uint64_t inflight_retry_after_ms = 5;
  double client_rate_limit = 0;      // ops/s per client; 0 = off
  uint64_t client_rate_burst = 0;    // 0 = one second's worth (at least 1)
  size_t max_tracked_clients = 10'000;
};

// Both limits together, as the services use them. Each refusal counts in
// meridian_admission_refused_total{reason="inflight"|"rate"}. Thread-safe.
class Admission {
 public:
  Admission(const AdmissionOptions& options, Clock* clock);

  // OK: admitted, and holding an in-flight slot until Release(). Otherwise
  // an OverloadedError (RESOURCE_EXHAUSTED with retry_after_ms and the
  // limit's name and value), and nothing is held.
  Status Admit(std::string_view client);
  void Release();

  uint64_t in_flight() const { return inflight_.in_flight(); }
  bool rate_limited() const { return gcra_ != nullptr; }
  size_t tracked_clients() const { return gcra_ ? gcra_->tracked_keys() : 0; }

 private:
  InflightLimiter inflight_;
  std::unique_ptr<GcraLimiter> gcra_;  // null: no rate limit
  metrics::Counter* const refused_inflight_;
  metrics::Counter* const refused_rate_;
};

}  // namespace meridian::server
