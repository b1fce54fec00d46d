#include "server/admission.h"

#include "server/server_metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace meridian::server {
namespace {

TEST(Gcra, AdmitsTheBurstThenOnePerInterval) {
  ManualClock clock;
  GcraLimiter gcra(/*rate_per_sec=*/10, /*burst=*/3, /*max_keys=*/100, &clock);  // one per 100 ms
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(gcra.Admit("a").admitted) << i;
  AdmitDecision d = gcra.Admit("a");
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_ms, 100u);
  // Refusals cost nothing: the hint does not grow.
  EXPECT_EQ(gcra.Admit("a").retry_after_ms, 100u);
  clock.AdvanceMillis(40);
  d = gcra.Admit("a");
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_ms, 60u);
  clock.AdvanceMillis(60);
  EXPECT_TRUE(gcra.Admit("a").admitted);
  EXPECT_EQ(gcra.Admit("a").retry_after_ms, 100u);
  // Steady state: exactly one per interval.
  for (int i = 0; i < 5; ++i) {
    clock.AdvanceMillis(100);
    EXPECT_TRUE(gcra.Admit("a").admitted) << i;
    EXPECT_FALSE(gcra.Admit("a").admitted) << i;
  }
}

TEST(Gcra, IdleTimeRefillsTheBurstButNoMore) {
  ManualClock clock;
  GcraLimiter gcra(10, 3, 100, &clock);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(gcra.Admit("a").admitted);
  clock.AdvanceMillis(10'000);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(gcra.Admit("a").admitted) << i;
  EXPECT_FALSE(gcra.Admit("a").admitted);
}

TEST(Gcra, KeysAreIndependent) {
  ManualClock clock;
  GcraLimiter gcra(1, 1, 100, &clock);
  EXPECT_TRUE(gcra.Admit("a").admitted);
  AdmitDecision d = gcra.Admit("a");
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_ms, 1000u);
  EXPECT_TRUE(gcra.Admit("b").admitted);
}

TEST(Gcra, RetryAfterRoundsUpToWholeMilliseconds) {
  ManualClock clock;
  GcraLimiter gcra(3, 1, 100, &clock);  // 333.333 ms
  ASSERT_TRUE(gcra.Admit("a").admitted);
  EXPECT_EQ(gcra.Admit("a").retry_after_ms, 334u);
  GcraLimiter fast(1e6, 1, 100, &clock);  // 1 us: the hint is still >= 1 ms
  ASSERT_TRUE(fast.Admit("a").admitted);
  const AdmitDecision d = fast.Admit("a");
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_ms, 1u);
}

TEST(Gcra, EvictsIdleKeysFirstWhenFull) {
  ManualClock clock;
  GcraLimiter gcra(10, 1, 3, &clock);
  ASSERT_TRUE(gcra.Admit("a").admitted);
  ASSERT_TRUE(gcra.Admit("b").admitted);
  clock.AdvanceMillis(100);  // a and b are idle now
  ASSERT_TRUE(gcra.Admit("c").admitted);
  EXPECT_EQ(gcra.tracked_keys(), 3u);
  ASSERT_TRUE(gcra.Admit("d").admitted);  // full: a and b go
  EXPECT_EQ(gcra.tracked_keys(), 2u);
  // c is busy and was kept: still limited.
  EXPECT_FALSE(gcra.Admit("c").admitted);
}

TEST(Gcra, EvictsTheKeyNearestToIdleWhenNoneIsIdle) {
  ManualClock clock;
  GcraLimiter gcra(10, 1, 2, &clock);
  ASSERT_TRUE(gcra.Admit("a").admitted);
  clock.AdvanceMillis(50);
  ASSERT_TRUE(gcra.Admit("b").admitted);
  ASSERT_TRUE(gcra.Admit("c").admitted);  // a (idle soonest) goes
  EXPECT_EQ(gcra.tracked_keys(), 2u);
  EXPECT_FALSE(gcra.Admit("b").admitted);
  EXPECT_FALSE(gcra.Admit("c").admitted);
  EXPECT_TRUE(gcra.Admit("a").admitted);  // forgotten: fresh again (b goes)
  EXPECT_EQ(gcra.tracked_keys(), 2u);
}

TEST(Gcra, MapStaysBoundedUnderManyClients) {
  ManualClock clock;
  GcraLimiter gcra(100, 5, 64, &clock);
  for (int i = 0; i < 10'000; ++i) {
    EXPECT_TRUE(gcra.Admit("client-" + std::to_string(i)).admitted);
    if (i % 100 == 0) clock.AdvanceMillis(1);
  }
  EXPECT_LE(gcra.tracked_keys(), 64u);
}

TEST(Inflight, RefusesBeyondTheCapWithAHint) {
  InflightLimiter limiter(2, 5);
  EXPECT_TRUE(limiter.TryAcquire().admitted);
  EXPECT_TRUE(limiter.TryAcquire().admitted);
  const AdmitDecision d = limiter.TryAcquire();
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_ms, 5u);
  EXPECT_EQ(limiter.in_flight(), 2u);
  limiter.Release();
  EXPECT_TRUE(limiter.TryAcquire().admitted);
  EXPECT_FALSE(limiter.TryAcquire().admitted);
}

TEST(Inflight, ZeroIsUnlimited) {
  InflightLimiter limiter(0, 5);
  for (int i = 0; i < 100'000; ++i) ASSERT_TRUE(limiter.TryAcquire().admitted);
  EXPECT_EQ(limiter.in_flight(), 100'000u);
}

TEST(Inflight, NeverExceedsTheCapUnderContention) {
  InflightLimiter limiter(4, 1);
  std::atomic<int> now{0}, peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        if (!limiter.TryAcquire().admitted) continue;
        const int n = ++now;
        int p = peak.load();
        while (n > p && !peak.compare_exchange_weak(p, n)) {
        }
        --now;
        limiter.Release();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(peak.load(), 4);
  EXPECT_EQ(limiter.in_flight(), 0u);
}

TEST(Admission, InflightRefusalSaysWhatAndWhen) {
  ManualClock clock;
  Admission adm({.max_inflight = 1, .inflight_retry_after_ms = 5}, &clock);
  ASSERT_TRUE(adm.Admit("a").ok());
  const Status s = adm.Admit("b");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "overloaded: 1 requests in flight (--max-inflight); retry after 5 ms");
  const ErrorInfo info = GetErrorInfo(s);
  EXPECT_EQ(info.kind, ErrorKind::kResourceExhausted);
  EXPECT_EQ(info.retry_after_ms, 5u);
  EXPECT_EQ(info.limit_name, "max_inflight");
  EXPECT_EQ(info.limit_value, 1u);
  adm.Release();
  EXPECT_TRUE(adm.Admit("b").ok());
}

TEST(Admission, RateRefusalSaysWhatAndWhenAndHoldsNoSlot) {
  ManualClock clock;
  Admission adm({.max_inflight = 10, .client_rate_limit = 4, .client_rate_burst = 2}, &clock);
  ASSERT_TRUE(adm.Admit("10.0.0.1").ok());
  ASSERT_TRUE(adm.Admit("10.0.0.1").ok());
  const Status s = adm.Admit("10.0.0.1");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "rate limit for client 10.0.0.1: 4 ops/s (--client-rate-limit); retry after 250 ms");
  EXPECT_EQ(GetErrorInfo(s).retry_after_ms, 250u);
  EXPECT_EQ(GetErrorInfo(s).limit_name, "client_rate_limit");
  EXPECT_EQ(adm.in_flight(), 2u);  // the refused one holds nothing
  EXPECT_TRUE(adm.Admit("10.0.0.2").ok());
}

TEST(Admission, DefaultBurstIsOneSecondsWorth) {
  ManualClock clock;
  Admission adm({.max_inflight = 0, .client_rate_limit = 50}, &clock);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(adm.Admit("c").ok()) << i;
  EXPECT_FALSE(adm.Admit("c").ok());
  clock.AdvanceMillis(20);
  EXPECT_TRUE(adm.Admit("c").ok());
}

TEST(Admission, NoRateLimitByDefault) {
  ManualClock clock;
  Admission adm(AdmissionOptions{}, &clock);
  EXPECT_FALSE(adm.rate_limited());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(adm.Admit("c").ok());
}

// Regression test for meridian_admission_refused_total: each refusal counts
// once under the limit that refused it, and admissions count nothing.
TEST(Admission, RefusalsAreCountedByReason) {
  metrics::Counter* inflight = Metrics().admission_refused->With({"inflight"});
  metrics::Counter* rate = Metrics().admission_refused->With({"rate"});
  const uint64_t inflight_before = inflight->Value();
  const uint64_t rate_before = rate->Value();
  ManualClock clock;
  Admission adm({.max_inflight = 2, .client_rate_limit = 1, .client_rate_burst = 1}, &clock);
  ASSERT_TRUE(adm.Admit("a").ok());
  EXPECT_FALSE(adm.Admit("a").ok());  // rate
  ASSERT_TRUE(adm.Admit("b").ok());
  EXPECT_FALSE(adm.Admit("c").ok());  // in flight: 2 of 2
  EXPECT_FALSE(adm.Admit("d").ok());  // in flight
  EXPECT_EQ(inflight->Value() - inflight_before, 2u);
  EXPECT_EQ(rate->Value() - rate_before, 1u);
}

}  // namespace
}  // namespace meridian::server
