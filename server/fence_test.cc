#include "server/fence.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "server/server_metrics.h"

namespace meridian::server {
namespace {

PeerClock::Estimate At(consensus::NodeId peer, int64_t offset_us, uint64_t rtt_us) {
  PeerClock::Estimate e;
  e.peer = peer;
  e.address = "127.0.0.1:" + std::to_string(5000 + peer);
  e.sample = {offset_us, rtt_us};
  e.samples = 1;
  return e;
}

TEST(DecideFence, ANodeOffFromEveryPeerIsFenced) {
  // The view of the node whose clock runs 3 s ahead: both peers are behind.
  FenceInputs in;
  in.peers = 2;
  in.estimates = {At(2, -3'000'000, 400), At(3, -2'999'000, 300)};
  FenceVerdict v = DecideFence(in);
  EXPECT_TRUE(v.fenced());
  EXPECT_TRUE(v.clock);
  EXPECT_FALSE(v.membership);
  EXPECT_TRUE(absl::StrContains(v.reason, "to 2 of 2 peers")) << v.reason;
  EXPECT_TRUE(absl::StrContains(v.reason, "peer 2 at 127.0.0.1:5002 is -3.000 s away"))
      << v.reason;
  EXPECT_TRUE(absl::StrContains(v.reason, "--max-clock-offset (500 ms)")) << v.reason;
}

TEST(DecideFence, OneBadPeerDoesNotFenceTheMajority) {
  // The view of a healthy node: one of two peers is 3 s ahead.
  FenceInputs in;
  in.peers = 2;
  in.estimates = {At(1, 3'000'000, 400), At(3, 1'000, 300)};
  EXPECT_FALSE(DecideFence(in).fenced());
  // Of four peers, two off is not a majority; three is.
  in.peers = 4;
  in.estimates = {At(1, 3'000'000, 400), At(2, -900'000, 300), At(3, 0, 300), At(4, 0, 300)};
  EXPECT_FALSE(DecideFence(in).fenced());
  in.estimates[2] = At(3, 600'000, 300);
  EXPECT_TRUE(DecideFence(in).clock);
}

TEST(DecideFence, OnlyACertainOffsetCounts) {
  // |offset| - rtt/2 must exceed the bound: 600 ms ± 150 ms might be 450.
  FenceInputs in;
  in.peers = 1;
  in.estimates = {At(2, 600'000, 300'000)};
  EXPECT_FALSE(DecideFence(in).fenced());
  in.estimates = {At(2, -700'000, 300'000)};
  EXPECT_TRUE(DecideFence(in).fenced());
  in.max_offset_us = 600'000;
  EXPECT_FALSE(DecideFence(in).fenced());
}

TEST(DecideFence, PeersWithoutAMeasurementAreNotOff) {
  FenceInputs in;
  in.peers = 2;
  in.estimates = {At(2, 3'000'000, 400)};  // peer 3: nothing fresh
  EXPECT_FALSE(DecideFence(in).fenced());
  in.peers = 0;
  in.estimates = {};
  EXPECT_FALSE(DecideFence(in).fenced()) << "a single node is never clock-fenced";
}

TEST(DecideFence, RefusedHlcsCountLikeMeasuredOffsets) {
  // This node's clock runs behind: peer 2's probes show it, and peer 3 has
  // no probe yet but sent timestamps this node refused.
  FenceInputs in;
  in.peers = 2;
  in.estimates = {At(2, 3'000'000, 400)};
  EXPECT_FALSE(DecideFence(in).fenced());
  in.rejections = {{3, "127.0.0.1:5003", /*ahead_ms=*/2900, /*count=*/4}};
  FenceVerdict v = DecideFence(in);
  EXPECT_TRUE(v.clock);
  EXPECT_TRUE(absl::StrContains(v.reason, "to 2 of 2 peers")) << v.reason;
  EXPECT_TRUE(absl::StrContains(
      v.reason, "peer 3 at 127.0.0.1:5003 sent 4 timestamps beyond the bound, the newest 2900 ms "
                "ahead of this node's clock"))
      << v.reason;
  // A peer shown by both counts once.
  in.rejections.push_back({2, "127.0.0.1:5002", 3000, 1});
  in.peers = 3;
  v = DecideFence(in);
  EXPECT_TRUE(absl::StrContains(v.reason, "to 2 of 3 peers")) << v.reason;
  EXPECT_TRUE(absl::StrContains(v.reason, "is +3.000 s away (rtt 0.4 ms), sent 1 timestamps"))
      << v.reason;
  // One refusing peer of three is not a majority.
  in.estimates.clear();
  in.rejections.pop_back();
  EXPECT_FALSE(DecideFence(in).fenced());
}

TEST(DecideFence, NotAMemberIsFenced) {
  FenceInputs in;
  in.peers = 2;
  in.not_member_of = {1, 3};
  FenceVerdict v = DecideFence(in);
  EXPECT_TRUE(v.membership);
  EXPECT_FALSE(v.clock);
  EXPECT_EQ(v.reason, "not a member of group 1, 3 (removed, or not yet added)");
}

TEST(Fence, RefusesWithTheReasonAndExportsIt) {
  Fence fence;
  EXPECT_TRUE(fence.Check().ok());
  FenceVerdict v;
  v.clock = true;
  v.reason = "clock offset beyond --max-clock-offset";
  fence.Update(v);
  EXPECT_TRUE(fence.fenced());
  const Status s = fence.Check();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kUnavailable) << "clients move to another node";
  EXPECT_EQ(s.message(),
            "this node is fenced: clock offset beyond --max-clock-offset; retry another node");
  EXPECT_EQ(Metrics().fenced->Value(), 1);
  EXPECT_EQ(Metrics().fenced_clock->Value(), 1);
  EXPECT_EQ(Metrics().fenced_membership->Value(), 0);
  fence.Update(FenceVerdict{});
  EXPECT_TRUE(fence.Check().ok());
  EXPECT_EQ(Metrics().fenced->Value(), 0);
  EXPECT_EQ(Metrics().fenced_clock->Value(), 0);
}

}  // namespace
}  // namespace meridian::server
