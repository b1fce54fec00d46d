#include "server/peer_call_clock.h"

#include <gtest/gtest.h>

#include "common/metrics.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace meridian::server {
namespace {

class Serving final : public grpc::health::v1::Health::Service {
  grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                     grpc::health::v1::HealthCheckResponse* resp) override {
    resp->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
};

// A callee (member 1) serving grpc.health.v1 with the clock interceptor; its
// wall clock is the test's, the caller's (member 2) runs `skew_ms` ahead.
class PeerCallClockTest : public ::testing::Test {
 protected:
  void Start(uint64_t skew_ms) {
    caller_clock_ = std::make_unique<ManualClock>(1'700'000'000'000 + skew_ms);
    caller_hlc_ = std::make_unique<Hlc>(caller_clock_.get(), Hlc::Options{.max_offset_ms = 500});
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> i;
    i.push_back(NewPeerClockInterceptor(&peers_));
    builder.experimental().SetInterceptorCreators(std::move(i));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }
  grpc::Status Call(CallerClock caller) {
    auto stub = grpc::health::v1::Health::NewStub(NewPeerChannel(address_, caller));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    return stub->Check(&ctx, req, &resp);
  }

  ManualClock clock_{1'700'000'000'000};
  Hlc hlc_{&clock_, Hlc::Options{.max_offset_ms = 500}};
  metrics::Registry reg_;
  metrics::Family<metrics::Counter>* rejected_ = reg_.AddCounter("rejected_total", "", {"peer"});
  PeerClock peers_{&clock_, {.hlc = &hlc_, .hlc_rejected = rejected_}};
  std::unique_ptr<ManualClock> caller_clock_;
  std::unique_ptr<Hlc> caller_hlc_;
  Serving service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(PeerCallClockTest, ACallCarriesTheCallersClockAndTheCalleeMergesIt) {
  Start(/*skew_ms=*/300);
  peers_.AddPeer(2, "caller:1");
  ASSERT_TRUE(Call({caller_hlc_.get(), 2}).ok());
  // The callee's next timestamp is past the caller's clock at the call.
  EXPECT_GE(HlcPhysicalMillis(hlc_.Now()), clock_.NowUnixMillis() + 300);
  EXPECT_TRUE(peers_.Rejections().empty());
}

TEST_F(PeerCallClockTest, AClockBeyondTheOffsetIsRefusedAndAStrangerIsIgnored) {
  Start(/*skew_ms=*/3000);
  // Member 2 is not a peer yet: its clock is ignored, not even counted.
  ASSERT_TRUE(Call({caller_hlc_.get(), 2}).ok());
  EXPECT_EQ(rejected_->With({""})->Value(), 0u);
  peers_.AddPeer(2, "caller:1");
  ASSERT_TRUE(Call({caller_hlc_.get(), 2}).ok()) << "the call itself is served";
  EXPECT_LT(HlcPhysicalMillis(hlc_.Now()), clock_.NowUnixMillis() + 1) << "not adopted";
  EXPECT_EQ(rejected_->With({"caller:1"})->Value(), 1u);
  ASSERT_EQ(peers_.Rejections().size(), 1u);
  EXPECT_EQ(peers_.Rejections()[0].ahead_ms, 3000u);
  // A channel without a clock sends nothing.
  ASSERT_TRUE(Call({nullptr, 2}).ok());
  EXPECT_EQ(rejected_->With({"caller:1"})->Value(), 1u);
}

}  // namespace
}  // namespace meridian::server
