#include "server/causal_wait.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "common/hlc.h"

namespace meridian::server {
namespace {

// A clock whose time passes only when a waiter sleeps: the wait's loop runs
// without real sleeping, and its timeout is exact.
class SteppingClock final : public Clock {
 public:
  uint64_t NowUnixMillis() override { return 1'700'000'000'000 + mono_us_ / 1000; }
  uint64_t NowMonotonicMicros() override { return mono_us_; }
  void SleepMicros(uint64_t us) override {
    mono_us_ += us;
    ++sleeps_;
  }
  std::atomic<uint64_t> mono_us_{0};
  std::atomic<int> sleeps_{0};
};

TEST(CausalWaitBudget, LeavesTheClientTimeToHearTheTimeout) {
  EXPECT_EQ(CausalWaitBudgetMs(std::nullopt), kMaxCausalWaitMs);
  EXPECT_EQ(CausalWaitBudgetMs(1000), 900u);  // a fifth, capped at 100 ms
  EXPECT_EQ(CausalWaitBudgetMs(250), 200u);   // a fifth
  EXPECT_EQ(CausalWaitBudgetMs(20), 15u);     // at least 5 ms
  EXPECT_EQ(CausalWaitBudgetMs(5), 0u);
  EXPECT_EQ(CausalWaitBudgetMs(0), 0u);
  EXPECT_EQ(CausalWaitBudgetMs(3'600'000), kMaxCausalWaitMs);
}

TEST(CausalWait, AReplicaThatCoversTheTokenServesAtOnce) {
  SteppingClock clock;
  Result<uint64_t> waited = WaitUntilVisible([] { return uint64_t{100}; }, 100, &clock, 1000, "x");
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(*waited, 0u);
  EXPECT_EQ(clock.sleeps_.load(), 0);
}

TEST(CausalWait, ServesOnceTheReplicaCatchesUp) {
  SteppingClock clock;
  int polls = 0;
  Result<uint64_t> waited =
      WaitUntilVisible([&] { return uint64_t(++polls >= 5 ? 200 : 100); }, 150, &clock, 1000, "x");
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(polls, 5);
  EXPECT_EQ(*waited, 50u + 100 + 200 + 400);  // backing off from 50 µs
}

TEST(CausalWait, PollsAtLeastEveryMillisecond) {
  SteppingClock clock;
  int polls = 0;
  (void)WaitUntilVisible(
      [&] {
        ++polls;
        return uint64_t{1};
      },
      2, &clock, 100, "x");
  // 50+100+200+400+800 µs, then 1 ms steps up to 100 ms.
  EXPECT_GE(polls, 95);
  EXPECT_LE(polls, 105);
}

TEST(CausalWait, TimesOutNamingWhatItWaitedFor) {
  SteppingClock clock;
  const uint64_t target = MakeHlc(1'700'000'000'900, 2);
  const uint64_t reached = MakeHlc(1'700'000'000'600, 0);
  Result<uint64_t> waited =
      WaitUntilVisible([&] { return reached; }, target, &clock, 250, "shard 3");
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(GetErrorKind(waited.status()), ErrorKind::kCausalWaitTimeout);
  const std::string m(waited.status().message());
  EXPECT_TRUE(absl::StrContains(m, "waited 250 ms for shard 3")) << m;
  EXPECT_TRUE(absl::StrContains(m, FormatHlc(target))) << m;
  EXPECT_TRUE(absl::StrContains(m, FormatHlc(reached))) << m;
  EXPECT_TRUE(absl::StrContains(m, "300 ms behind")) << m;
  EXPECT_EQ(clock.mono_us_.load(), 250'000u);
}

// The session read's hook (asking the leader to close) sees how long the
// wait has lasted, and only while the replica is behind.
TEST(CausalWait, TellsTheHookHowLongItHasWaitedBeforeEachPause) {
  SteppingClock clock;
  int polls = 0;
  std::vector<uint64_t> seen;
  Result<uint64_t> waited =
      WaitUntilVisible([&] { return uint64_t(++polls >= 4 ? 200 : 100); }, 150, &clock, 1000, "x",
                       [&](uint64_t waited_us) { seen.push_back(waited_us); });
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 50, 150}));
  // Served at once: never called.
  seen.clear();
  ASSERT_TRUE(WaitUntilVisible([] { return uint64_t{200}; }, 150, &clock, 1000, "x",
                               [&](uint64_t waited_us) { seen.push_back(waited_us); })
                  .ok());
  EXPECT_TRUE(seen.empty());
}

TEST(CausalWait, WakesPromptlyOnARealClock) {
  std::atomic<uint64_t> visible{1};
  std::atomic<uint64_t> raised_at_us{0};
  Clock* clock = SystemClock();
  std::thread raiser([&] {
    clock->SleepMicros(20'000);
    raised_at_us = clock->NowMonotonicMicros();
    visible = 10;
  });
  Result<uint64_t> waited = WaitUntilVisible([&] { return visible.load(); }, 10, clock, 5'000, "x");
  const uint64_t woke_at_us = clock->NowMonotonicMicros();
  raiser.join();
  ASSERT_TRUE(waited.ok()) << waited.status();
  // One poll period (1 ms) plus scheduling slack on a loaded machine.
  EXPECT_LT(woke_at_us - raised_at_us.load(), 50'000u);
}

}  // namespace
}  // namespace meridian::server
