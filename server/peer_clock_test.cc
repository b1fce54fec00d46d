#include "server/peer_clock.h"

#include <gtest/gtest.h>

#include "common/metrics.h"

namespace meridian::server {
namespace {

TEST(ComputeClockSample, OffsetAndRttFromTheFourTimestamps) {
  // The peer runs 450 µs ahead; 50 µs there, 70 µs back, and it held the
  // echo for 1 ms.
  const uint64_t t1 = 1'000'000;
  const uint64_t t2 = t1 + 50 + 450;
  const uint64_t t3 = t2 + 1000;
  const uint64_t t4 = t3 - 450 + 70;
  auto s = ComputeClockSample(t1, t2, t3, t4);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->rtt_us, 120u) << "the hold is not part of the round trip";
  // The asymmetry (50 vs 70) puts the estimate 10 µs off the truth, within
  // rtt/2 of it.
  EXPECT_EQ(s->offset_us, 440);
}

TEST(ComputeClockSample, PeerBehind) {
  // The peer's clock is 3 s behind ours; 1 ms each way; no hold.
  const uint64_t t1 = 1'700'000'000'000'000;
  const uint64_t t2 = t1 + 1000 - 3'000'000;
  const uint64_t t3 = t2;
  const uint64_t t4 = t1 + 2000;
  EXPECT_EQ(ComputeClockSample(t1, t2, t3, t4), (ClockSample{-3'000'000, 2000}));
}

TEST(ComputeClockSample, InconsistentTimestampsGiveNoSample) {
  EXPECT_FALSE(ComputeClockSample(100, 200, 300, 50).has_value()) << "t4 < t1";
  EXPECT_FALSE(ComputeClockSample(100, 200, 150, 400).has_value()) << "t3 < t2";
  EXPECT_FALSE(ComputeClockSample(100, 200, 600, 400).has_value()) << "held longer than the trip";
}

// Two nodes, each with its own clock: B's runs `skew_ms` ahead of A's.
struct Pair {
  explicit Pair(uint64_t skew_ms, metrics::Family<metrics::Histogram>* rtt = nullptr)
      : a_clock(1'700'000'000'000), b_clock(1'700'000'000'000 + skew_ms),
        a(&a_clock, {.rtt_seconds = rtt}), b(&b_clock, {}) {
    a.AddPeer(2, "b:1");
    b.AddPeer(1, "a:1");
  }
  void Advance(uint64_t ms) {
    a_clock.AdvanceMillis(ms);
    b_clock.AdvanceMillis(ms);
  }
  // A pings B, B echoes after `hold_ms`; `one_way_ms` each way.
  void Exchange(uint64_t one_way_ms, uint64_t hold_ms) {
    v1::PeerBatch ping;
    a.Stamp(2, &ping);
    Advance(one_way_ms);
    b.OnBatch(1, ping, b_clock.NowUnixMicros());
    Advance(hold_ms);
    v1::PeerBatch echo;
    EXPECT_TRUE(b.Stamp(1, &echo));
    EXPECT_TRUE(echo.has_echo());
    Advance(one_way_ms);
    a.OnBatch(2, echo, a_clock.NowUnixMicros());
  }
  ManualClock a_clock;
  ManualClock b_clock;
  PeerClock a;
  PeerClock b;
};

TEST(PeerClock, PingAndEchoMeasureThePeer) {
  metrics::Registry reg;
  auto* rtt = reg.AddHistogram("rtt_seconds", "rtt", {"peer"}, metrics::LatencyBuckets());
  Pair p(/*skew_ms=*/3000, rtt);
  p.Exchange(/*one_way_ms=*/1, /*hold_ms=*/5);
  auto est = p.a.Estimates();
  ASSERT_EQ(est.size(), 1u);
  EXPECT_EQ(est[0].peer, 2u);
  EXPECT_EQ(est[0].address, "b:1");
  EXPECT_EQ(est[0].sample.offset_us, 3'000'000);
  EXPECT_EQ(est[0].sample.rtt_us, 2000u);
  EXPECT_EQ(rtt->With({"b:1"})->Get().count, 1u);
  EXPECT_DOUBLE_EQ(rtt->With({"b:1"})->Get().sum, 0.002);
  // B measured nothing yet: it answered, it did not ask.
  EXPECT_TRUE(p.b.Estimates().empty());
}

TEST(PeerClock, PingsAreRateLimitedAndEchoesSentOnce) {
  Pair p(0);
  v1::PeerBatch first;
  EXPECT_EQ(p.a.ProbeDueInUs(2), 0u) << "the first ping is due at once";
  EXPECT_TRUE(p.a.Stamp(2, &first));
  EXPECT_TRUE(first.has_ping());
  EXPECT_EQ(p.a.ProbeDueInUs(2), 200'000u);
  v1::PeerBatch second;
  EXPECT_FALSE(p.a.Stamp(2, &second));
  EXPECT_FALSE(second.has_ping());
  p.Advance(150);
  EXPECT_EQ(p.a.ProbeDueInUs(2), 50'000u);
  p.Advance(50);
  v1::PeerBatch third;
  EXPECT_TRUE(p.a.Stamp(2, &third));
  EXPECT_TRUE(third.has_ping());

  // B answers the newest ping once.
  p.b.OnBatch(1, first, p.b_clock.NowUnixMicros());
  p.b.OnBatch(1, third, p.b_clock.NowUnixMicros());
  EXPECT_EQ(p.b.ProbeDueInUs(1), 0u) << "an echo is waiting";
  v1::PeerBatch echo;
  ASSERT_TRUE(p.b.Stamp(1, &echo));
  EXPECT_EQ(echo.echo().t1(), third.ping().t1());
  v1::PeerBatch next;
  p.b.Stamp(1, &next);
  EXPECT_FALSE(next.has_echo());
}

TEST(PeerClock, EstimateIsTheTightestRecentSampleAndGoesStale) {
  Pair p(/*skew_ms=*/10);
  p.Exchange(/*one_way_ms=*/20, /*hold_ms=*/0);  // rtt 40 ms
  p.Advance(200);
  p.Exchange(/*one_way_ms=*/1, /*hold_ms=*/0);  // rtt 2 ms
  p.Advance(200);
  p.Exchange(/*one_way_ms=*/30, /*hold_ms=*/0);  // rtt 60 ms
  auto est = p.a.Estimates();
  ASSERT_EQ(est.size(), 1u);
  EXPECT_EQ(est[0].samples, 3u);
  EXPECT_EQ(est[0].sample.rtt_us, 2000u);
  EXPECT_EQ(est[0].sample.offset_us, 10'000);
  // No sample for longer than max_age (5 s): no estimate.
  p.Advance(5001);
  EXPECT_TRUE(p.a.Estimates().empty());
}

// Two nodes whose HLCs ride their batches; B's wall clock runs `skew_ms`
// ahead of A's.
struct HlcPair {
  explicit HlcPair(uint64_t skew_ms)
      : a_clock(1'700'000'000'000), b_clock(1'700'000'000'000 + skew_ms),
        a_hlc(&a_clock, {.max_offset_ms = 500}), b_hlc(&b_clock, {.max_offset_ms = 500}),
        rejected(reg.AddCounter("rejected_total", "refused", {"peer"})),
        a(&a_clock, {.hlc = &a_hlc, .hlc_rejected = rejected}),
        b(&b_clock, {.hlc = &b_hlc}) {
    a.AddPeer(2, "b:1");
    b.AddPeer(1, "a:1");
  }
  // B writes a batch to A, which A reads at once.
  v1::PeerBatch BToA() {
    v1::PeerBatch batch;
    b.Stamp(1, &batch);
    a.OnBatch(2, batch, a_clock.NowUnixMicros());
    return batch;
  }
  ManualClock a_clock;
  ManualClock b_clock;
  Hlc a_hlc;
  Hlc b_hlc;
  metrics::Registry reg;
  metrics::Family<metrics::Counter>* rejected;
  PeerClock a;
  PeerClock b;
};

TEST(PeerClock, EveryBatchCarriesTheSendersHlcAndTheReceiverMergesIt) {
  HlcPair p(/*skew_ms=*/300);  // within the 500 ms bound
  v1::PeerBatch batch = p.BToA();
  EXPECT_EQ(HlcPhysicalMillis(batch.hlc()), p.b_clock.NowUnixMillis());
  // A's next timestamp orders after everything B had stamped.
  EXPECT_GT(p.a_hlc.Now(), batch.hlc());
  EXPECT_TRUE(p.a.Rejections().empty());
  // A batch with no probe still carries the clock.
  v1::PeerBatch plain;
  EXPECT_FALSE(p.b.Stamp(1, &plain)) << "no probe due";
  EXPECT_NE(plain.hlc(), 0u);
}

TEST(PeerClock, AHlcBeyondTheOffsetIsRefusedCountedAndReportedUntilItStops) {
  HlcPair p(/*skew_ms=*/3000);
  v1::PeerBatch batch = p.BToA();
  EXPECT_LT(p.a_hlc.Last(), batch.hlc()) << "not adopted";
  EXPECT_LT(HlcPhysicalMillis(p.a_hlc.Now()), p.a_clock.NowUnixMillis() + 1);
  p.BToA();
  EXPECT_EQ(p.rejected->With({"b:1"})->Value(), 2u);
  EXPECT_EQ(p.a.Rejections(),
            (std::vector<PeerClock::Rejection>{{2, "b:1", /*ahead_ms=*/3000, /*count=*/2}}));
  // B's clock is set right: its batches merge again, and the old refusals
  // age out after max_age (5 s).
  p.b_clock.SetUnixMillis(p.a_clock.NowUnixMillis());
  p.a_clock.AdvanceMillis(4000);
  p.b_clock.AdvanceMillis(4000);
  p.BToA();
  EXPECT_EQ(p.rejected->With({"b:1"})->Value(), 2u);
  EXPECT_EQ(p.a.Rejections().size(), 1u);
  p.a_clock.AdvanceMillis(1001);
  EXPECT_TRUE(p.a.Rejections().empty());
}

TEST(PeerClock, OnlyStreamedPeersAreCountedAndPinged) {
  Pair p(0);
  EXPECT_EQ(p.a.peer_count(), 1u);
  p.a.RemovePeer(2);
  EXPECT_EQ(p.a.peer_count(), 0u);
  v1::PeerBatch batch;
  EXPECT_FALSE(p.a.Stamp(2, &batch));
  EXPECT_FALSE(batch.has_ping());
}

}  // namespace
}  // namespace meridian::server
