// The leader's side of Participant.CloseThrough (ServeCloseRequest): it
// closes through a timestamp within its clock bound and observes it, and
// refuses one further ahead than --max-clock-offset, closing nothing.
#include "server/close_request.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "storage/rocks/rocks_engine.h"

namespace meridian::server {
namespace {

constexpr uint64_t kMaxOffsetMs = 500;

class CloseRequestTest : public ::testing::Test {
 protected:
  CloseRequestTest() : hlc_(&clock_, Hlc::Options{kMaxOffsetMs}) {}

  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("close_request_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto engine = storage::RocksEngine::Open({.path = dir_.string()});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    auto store = txn::TxnStore::Open(engine_.get(), &hlc_, &clock_, {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  uint64_t MsAhead(uint64_t ms) { return MakeHlc(clock_.NowUnixMillis() + ms, 0); }

  ManualClock clock_;
  Hlc hlc_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<txn::TxnStore> store_;
};

TEST_F(CloseRequestTest, ClosesThroughATimestampWithinTheClockBoundAndObservesIt) {
  const uint64_t through = MsAhead(300);  // a peer's clock ahead, within the offset
  Result<uint64_t> closed = ServeCloseRequest(store_.get(), through, &hlc_, &clock_, kMaxOffsetMs);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_GE(*closed, through);
  EXPECT_GE(store_->VisibleHlc(), through);
  EXPECT_GT(hlc_.Now(), through) << "later commits must be stamped above it";
  // Asking again is harmless: nothing more to close.
  Result<uint64_t> again = ServeCloseRequest(store_.get(), through, &hlc_, &clock_, kMaxOffsetMs);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *closed);
}

TEST_F(CloseRequestTest, RefusesATimestampBeyondTheClockBoundAndClosesNothing) {
  const uint64_t visible = store_->VisibleHlc();
  const uint64_t before = hlc_.Last();
  const uint64_t through = MsAhead(kMaxOffsetMs + 1);
  Result<uint64_t> closed = ServeCloseRequest(store_.get(), through, &hlc_, &clock_, kMaxOffsetMs);
  ASSERT_EQ(closed.status().code(), absl::StatusCode::kInvalidArgument) << closed.status();
  EXPECT_TRUE(absl::StrContains(closed.status().message(), "501 ms ahead of this leader's clock"))
      << closed.status();
  EXPECT_TRUE(absl::StrContains(closed.status().message(), "--max-clock-offset (500 ms)"))
      << closed.status();
  EXPECT_EQ(store_->VisibleHlc(), visible);
  EXPECT_EQ(hlc_.Last(), before) << "a refused timestamp must not move the clock";
}

// The leader's bound is the configured --max-clock-offset, even where its
// HLC would take more (nothing else on the leader stops a peer asking it to
// stamp its commits far ahead for good).
TEST_F(CloseRequestTest, TheBoundIsTheConfiguredOffset) {
  const uint64_t visible = store_->VisibleHlc();
  Result<uint64_t> closed = ServeCloseRequest(store_.get(), MsAhead(200), &hlc_, &clock_, 100);
  EXPECT_EQ(closed.status().code(), absl::StatusCode::kInvalidArgument) << closed.status();
  EXPECT_EQ(store_->VisibleHlc(), visible);
  // At the bound itself it closes.
  closed = ServeCloseRequest(store_.get(), MakeHlc(clock_.NowUnixMillis() + 100, 0xffff), &hlc_,
                             &clock_, 100);
  EXPECT_TRUE(closed.ok()) << closed.status();
}

}  // namespace
}  // namespace meridian::server
