// CloseNudger's de-duplication: at most one close request in flight per
// shard, none once the leader closed past the timestamp needed, and a
// failed request does not count as a close.
#include "server/close_nudger.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace meridian::server {
namespace {

using Outcome = CloseNudger::Outcome;

// A leader that answers when the test lets it: it closes through the
// timestamp asked for plus `overshoot` (a real leader stamps its empty
// commit at its own clock, often past the timestamp asked for), or fails.
class FakeLeader {
 public:
  CloseNudger::CloseFn Fn() {
    return [this](uint64_t shard, uint64_t through, uint64_t) -> Result<uint64_t> {
      {
        absl::MutexLock lock(&mu_);
        asked_.push_back({shard, through});
      }
      release_.WaitForNotification();
      absl::MutexLock lock(&mu_);
      if (fail_) return UnavailableError("leader unreachable");
      return through + overshoot_;
    };
  }
  void Release() { release_.Notify(); }
  void SetFail(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_ = fail;
  }
  void SetOvershoot(uint64_t overshoot) {
    absl::MutexLock lock(&mu_);
    overshoot_ = overshoot;
  }
  // In shard order (the requests run on threads of their own).
  std::vector<std::pair<uint64_t, uint64_t>> Asked() {
    absl::MutexLock lock(&mu_);
    std::vector<std::pair<uint64_t, uint64_t>> sorted = asked_;
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  }

 private:
  absl::Notification release_;
  absl::Mutex mu_;
  std::vector<std::pair<uint64_t, uint64_t>> asked_ ABSL_GUARDED_BY(mu_);  // (shard, through)
  bool fail_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t overshoot_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(CloseNudger, AtMostOneRequestPerShardIsInFlight) {
  FakeLeader leader;
  CloseNudger nudger(leader.Fn());
  EXPECT_EQ(nudger.Nudge(1, 100, 1000), Outcome::kSent);
  // Waiters for the same or an earlier timestamp share the request.
  EXPECT_EQ(nudger.Nudge(1, 100, 1000), Outcome::kCoalesced);
  EXPECT_EQ(nudger.Nudge(1, 90, 1000), Outcome::kCoalesced);
  // A later one must wait for it to finish.
  EXPECT_EQ(nudger.Nudge(1, 150, 1000), Outcome::kBusy);
  // Another shard's leader is asked independently.
  EXPECT_EQ(nudger.Nudge(2, 150, 1000), Outcome::kSent);
  leader.Release();
  nudger.AwaitIdle();
  EXPECT_EQ(leader.Asked(), (std::vector<std::pair<uint64_t, uint64_t>>{{1, 100}, {2, 150}}))
      << "one request per shard";
  // Once it is done, the later timestamp gets its own request.
  EXPECT_EQ(nudger.Nudge(1, 150, 1000), Outcome::kSent);
  nudger.AwaitIdle();
  EXPECT_EQ(leader.Asked().size(), 3u);
}

TEST(CloseNudger, NoRequestOnceTheLeaderClosedPastTheTimestamp) {
  FakeLeader leader;
  leader.SetOvershoot(50);  // the leader's clock was ahead of the token
  leader.Release();
  CloseNudger nudger(leader.Fn());
  EXPECT_EQ(nudger.Nudge(1, 100, 1000), Outcome::kSent);
  nudger.AwaitIdle();
  // Closed through 150: the follower has only to apply it.
  EXPECT_EQ(nudger.Nudge(1, 100, 1000), Outcome::kCoalesced);
  EXPECT_EQ(nudger.Nudge(1, 150, 1000), Outcome::kCoalesced);
  EXPECT_EQ(nudger.Nudge(1, 151, 1000), Outcome::kSent);
  nudger.AwaitIdle();
  EXPECT_EQ(leader.Asked().size(), 2u);
}

TEST(CloseNudger, AFailedRequestClosesNothingAndMayBeRetried) {
  FakeLeader leader;
  leader.SetFail(true);
  leader.Release();
  CloseNudger nudger(leader.Fn());
  EXPECT_EQ(nudger.Nudge(1, 100, 1000), Outcome::kSent);
  nudger.AwaitIdle();
  EXPECT_EQ(nudger.Nudge(1, 100, 1000), Outcome::kSent);
  nudger.AwaitIdle();
  EXPECT_EQ(leader.Asked().size(), 2u);
}

TEST(CloseNudger, DestructionWaitsForTheRequestInFlight) {
  FakeLeader leader;
  bool answered = false;
  std::thread releaser;
  {
    CloseNudger nudger([&](uint64_t shard, uint64_t through, uint64_t timeout) {
      Result<uint64_t> r = leader.Fn()(shard, through, timeout);
      answered = true;
      return r;
    });
    EXPECT_EQ(nudger.Nudge(1, 100, 1000), Outcome::kSent);
    releaser = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      leader.Release();
    });
  }
  EXPECT_TRUE(answered);
  releaser.join();
}

}  // namespace
}  // namespace meridian::server
