#include "common/hlc.h"

#include <gtest/gtest.h>

namespace meridian {
namespace {

TEST(HlcTest, LayoutIs48PhysicalAnd16Logical) {
  HlcTimestamp t = MakeHlc(1'700'000'000'123, 7);
  EXPECT_EQ(HlcPhysicalMillis(t), 1'700'000'000'123u);
  EXPECT_EQ(HlcLogical(t), 7u);
  EXPECT_EQ(FormatHlc(t), "1700000000123.7");
}

TEST(HlcTest, StrictlyIncreasingWhenThePhysicalClockStalls) {
  ManualClock clock(1000);
  Hlc hlc(&clock);
  HlcTimestamp a = hlc.Now();
  HlcTimestamp b = hlc.Now();
  EXPECT_EQ(a, MakeHlc(1000, 0));
  EXPECT_EQ(b, MakeHlc(1000, 1));
  clock.AdvanceMillis(1);
  EXPECT_EQ(hlc.Now(), MakeHlc(1001, 0));
}

TEST(HlcTest, NeverGoesBackwardsWhenTheWallClockDoes) {
  ManualClock clock(5000);
  Hlc hlc(&clock);
  HlcTimestamp a = hlc.Now();
  clock.SetUnixMillis(4000);
  EXPECT_GT(hlc.Now(), a);
}

TEST(HlcTest, ObserveOrdersLaterEventsAfterRemoteOnes) {
  ManualClock clock(10'000);
  Hlc hlc(&clock, {.max_offset_ms = 500});
  HlcTimestamp remote = MakeHlc(10'300, 5);
  ASSERT_TRUE(hlc.Observe(remote).ok());
  EXPECT_GT(hlc.Now(), remote);
}

TEST(HlcTest, RefusesARemoteClockBeyondTheMaxOffset) {
  ManualClock clock(10'000);
  Hlc hlc(&clock, {.max_offset_ms = 500});
  Status s = hlc.Observe(MakeHlc(10'501, 0));
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kUnavailable);
  EXPECT_LT(hlc.Now(), MakeHlc(10'501, 0));
}

}  // namespace
}  // namespace meridian
