// Bad input gets a clear error, the daemon keeps serving, and nothing partial
// is written (the applied index does not move).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "meridian/v1/txn.grpc.pb.h"
#include "proto/grpc_status.h"
#include "tests/integration/daemon.h"

namespace meridian::testing {
namespace {

class BadInputTest : public SharedDaemonTest<BadInputTest> {
 public:
  static std::vector<std::string> DaemonArgs() { return {"--max-txn-ops", "100"}; }
 protected:
  void SetUp() override {
    SharedDaemonTest::SetUp();
    ASSERT_TRUE(client_->Put("sentinel", "still-here").ok());
    applied_before_ = AppliedIndex();
  }
  // After each bad request: nothing was written and the daemon still serves.
  void TearDown() override {
    EXPECT_EQ(AppliedIndex(), applied_before_) << "a rejected request wrote something";
    auto v = client_->Get("sentinel");
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ((*v)->value, "still-here");
  }
  uint64_t AppliedIndex() {
    auto s = client_->NodeStatus();
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->applied_index() : 0;
  }
  static void ExpectLimit(const Status& s, const std::string& limit) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(GetErrorInfo(s).limit_name, limit) << s;
    EXPECT_NE(s.message().find(limit), absl::string_view::npos) << s;
  }
  uint64_t applied_before_ = 0;
};

TEST_F(BadInputTest, EmptyKey) {
  Status s = client_->Put("", "v").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("key is empty"), absl::string_view::npos) << s;
}

TEST_F(BadInputTest, KeyOverTheLimit) {
  ExpectLimit(client_->Put(std::string(4097, 'k'), "v").status(), "max_key_bytes");
  ExpectLimit(client_->Get(std::string(4097, 'k')).status(), "max_key_bytes");
}

TEST_F(BadInputTest, ValueOverTheLimit) {
  ExpectLimit(client_->Put("big", std::string((1 << 20) + 1, 'v')).status(), "max_value_bytes");
  EXPECT_FALSE(client_->Get("big")->has_value());
}

TEST_F(BadInputTest, ScanWithEndBeforeStart) {
  Status s = client_->Scan({.start = "b", .end = "a"}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("before"), absl::string_view::npos) << s;
}

TEST_F(BadInputTest, TransactionOverTheOpLimit) {
  auto t = client_->Begin();
  ASSERT_TRUE(t.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*t)->Put("op" + std::to_string(i), "v").ok());
  ExpectLimit((*t)->Put("op-too-many", "v"), "max_txn_ops");
  ASSERT_TRUE((*t)->Abort().ok());

  v1::ExecuteRequest req;
  for (int i = 0; i < 101; ++i) {
    auto* put = req.add_success()->mutable_put();
    put->set_key("x" + std::to_string(i));
    put->set_value("v");
  }
  ExpectLimit(client_->Execute(req).status(), "max_txn_ops");
  EXPECT_FALSE(client_->Get("x0")->has_value());
}

TEST_F(BadInputTest, UnknownTransactionIdAndMalformedOps) {
  auto channel = grpc::CreateChannel(daemon_->endpoint(), grpc::InsecureChannelCredentials());
  auto stub = v1::Txn::NewStub(channel);
  {
    grpc::ClientContext ctx;
    v1::CommitRequest req;
    req.set_txn_id(123456789);
    v1::CommitResponse resp;
    Status s = FromGrpcStatus(stub->Commit(&ctx, req, &resp));
    EXPECT_EQ(GetErrorKind(s), ErrorKind::kTxnNotFound) << s;
    EXPECT_NE(s.message().find("unknown transaction 123456789"), absl::string_view::npos) << s;
  }
  {
    grpc::ClientContext ctx;
    v1::TxnPutRequest req;
    req.set_txn_id(42);
    req.set_key("k");
    v1::TxnPutResponse resp;
    EXPECT_EQ(GetErrorKind(FromGrpcStatus(stub->Put(&ctx, req, &resp))), ErrorKind::kTxnNotFound);
  }
  {
    grpc::ClientContext ctx;
    v1::ExecuteRequest req;
    req.add_success();  // an op with nothing set
    v1::ExecuteResponse resp;
    Status s = FromGrpcStatus(stub->Execute(&ctx, req, &resp));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
}

TEST(DaemonStartupTest, MalformedConfigFileIsRefusedClearly) {
  std::string dir = MakeTempDir("badcfg");
  std::string cfg = dir + "/meridian.yaml";
  std::ofstream(cfg) << "listen: [127.0.0.1\nmax_key_bytes: {\n";
  auto r = RunProcess({BinaryPath("server/meridiand"), "--config", cfg, "--data-dir", dir + "/d"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("malformed config file " + cfg), std::string::npos) << r.err;
  // Nothing was created for the refused start.
  EXPECT_FALSE(std::filesystem::exists(dir + "/d"));

  std::ofstream(cfg) << "max_value_bytes: huge\n";
  r = RunProcess({BinaryPath("server/meridiand"), "--config", cfg, "--data-dir", dir + "/d"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'max_value_bytes' in " + cfg), std::string::npos) << r.err;
}

TEST(DaemonStartupTest, SecondDaemonOnALockedDataDirExitsClearly) {
  TestDaemon first;
  ASSERT_TRUE(first.Start().ok());
  ASSERT_TRUE(first.Connect()->Put("k", "v").ok());
  TestDaemon second(first.data_dir());
  Status s = second.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("is locked by another meridiand"), absl::string_view::npos) << s;
  // The first one is unharmed.
  auto v = first.Connect()->Get("k");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ((*v)->value, "v");
  EXPECT_EQ(first.Stop(), 0);
}

TEST(DaemonStartupTest, GracefulSigtermExitsZeroAndLogsJson) {
  TestDaemon d;
  ASSERT_TRUE(d.Start().ok());
  EXPECT_EQ(d.Stop(), 0);
  std::string log = d.Log();
  EXPECT_NE(log.find(R"("msg":"serving")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("msg":"stopped")"), std::string::npos) << log;
  EXPECT_EQ(log.front(), '{');
}

}  // namespace
}  // namespace meridian::testing
