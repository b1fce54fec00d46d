// Transactions against a real meridiand: isolation, conflicts, one-shot.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/daemon.h"

namespace meridian::testing {
namespace {

class TxnIntegrationTest : public SharedDaemonTest<TxnIntegrationTest> {
};

TEST_F(TxnIntegrationTest, TwoConcurrentWritersOfOneKeyExactlyOneCommits) {
  ASSERT_TRUE(client_->Put("counter", "0").ok());
  auto t1 = client_->Begin();
  auto t2 = client_->Begin();
  ASSERT_TRUE(t1.ok() && t2.ok());
  ASSERT_TRUE((*t1)->Put("counter", "from-t1").ok());
  ASSERT_TRUE((*t2)->Put("counter", "from-t2").ok());
  // Commit both at once from two threads.
  Result<client::WriteResult> r1 = absl::UnknownError("unset"), r2 = absl::UnknownError("unset");
  std::thread a([&] { r1 = (*t1)->Commit(); });
  std::thread b([&] { r2 = (*t2)->Commit(); });
  a.join();
  b.join();
  EXPECT_NE(r1.ok(), r2.ok()) << r1.status() << " / " << r2.status();
  const Status& loser = r1.ok() ? r2.status() : r1.status();
  EXPECT_EQ(GetErrorKind(loser), ErrorKind::kConflict) << loser;
  EXPECT_EQ(loser.code(), absl::StatusCode::kAborted);
  auto v = client_->Get("counter");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ((*v)->value, r1.ok() ? "from-t1" : "from-t2");
}

TEST_F(TxnIntegrationTest, ReadInsideTxnDoesNotSeeWriteCommittedAfterBegin) {
  ASSERT_TRUE(client_->Put("iso", "old").ok());
  auto t = client_->Begin();
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(client_->Put("iso", "new").ok());
  ASSERT_TRUE(client_->Put("iso-new-key", "x").ok());
  auto r = (*t)->Get("iso");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->value, "old");
  auto n = (*t)->Get("iso-new-key");
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->has_value());
  auto scan = (*t)->Scan({.prefix = "iso"});
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->kvs.size(), 1u);
  EXPECT_EQ(scan->kvs[0].value, "old");
  EXPECT_TRUE((*t)->Abort().ok());
}

TEST_F(TxnIntegrationTest, RunTxnRetriesConflictsUntilEveryIncrementLands) {
  ASSERT_TRUE(client_->Put("inc", "0").ok());
  constexpr int kThreads = 3, kIncrements = 10;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto c = daemon_->Connect();
      for (int i = 0; i < kIncrements; ++i) {
        Status s = c->RunTxn(
            [](client::Txn& txn) -> Status {
              MERIDIAN_ASSIGN_OR_RETURN(auto v, txn.Get("inc"));
              int n = v ? std::stoi(v->value) : 0;
              return txn.Put("inc", std::to_string(n + 1));
            },
            {.max_attempts = 100});
        if (!s.ok()) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  auto v = client_->Get("inc");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ((*v)->value, std::to_string(kThreads * kIncrements));
}

TEST_F(TxnIntegrationTest, OneShotCompareAndSwap) {
  ASSERT_TRUE(client_->Put("cas", "a").ok());
  v1::ExecuteRequest req;
  auto* cmp = req.add_compares();
  cmp->set_key("cas");
  cmp->set_target(v1::Compare::VALUE);
  cmp->set_result(v1::Compare::EQUAL);
  cmp->set_value("a");
  auto* put = req.add_success()->mutable_put();
  put->set_key("cas");
  put->set_value("b");
  req.add_failure()->mutable_get()->set_key("cas");

  auto first = client_->Execute(req);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->succeeded);
  auto second = client_->Execute(req);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->succeeded);
  ASSERT_EQ(second->results.size(), 1u);
  EXPECT_EQ(second->results[0].get().value(), "b");
}

TEST_F(TxnIntegrationTest, CommittedTxnIsVisibleAndAbortedIsNot) {
  auto t = client_->Begin();
  ASSERT_TRUE((*t)->Put("t-commit", "yes").ok());
  auto c = (*t)->Commit();
  ASSERT_TRUE(c.ok());
  EXPECT_GT(c->commit_hlc, 0u);
  auto a = client_->Begin();
  ASSERT_TRUE((*a)->Put("t-abort", "no").ok());
  ASSERT_TRUE((*a)->Abort().ok());
  EXPECT_TRUE(client_->Get("t-commit")->has_value());
  EXPECT_FALSE(client_->Get("t-abort")->has_value());
}

}  // namespace
}  // namespace meridian::testing
