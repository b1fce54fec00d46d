// Online splits: the split hands every version of the moved keys to the
// child, which then serves them (old snapshots included); the parent
// refuses the moved range with WRONG_SHARD and keeps its own; a pending
// intent in the moved range refuses the split; the range survives a
// restart; a repeat is harmless.
#include <gtest/gtest.h>

#include "storage/rocks/rocks_engine.h"
#include "txn/keyspace.h"
#include "txn/txn_store.h"
#include "txn/txn_store_fixture.h"

namespace meridian::txn {
namespace {

class SplitTest : public TxnStoreTest {
 protected:
  void SetUp() override {
    TxnStoreTest::SetUp();
    InstallHandler();
  }
  void TearDown() override {
    child_store_.reset();
    child_engine_.reset();
    std::filesystem::remove_all(ChildDir());
    TxnStoreTest::TearDown();
  }
  std::string ChildDir() const { return dir_.string() + "_child"; }
  void InstallHandler() {
    store_->SetSplitHandler([this](const SplitChild& c, const std::vector<storage::Record>& rs) {
      ++handler_calls_;
      last_child_ = c;
      child_store_.reset();
      child_engine_.reset();
      std::filesystem::remove_all(ChildDir());
      auto engine = storage::RocksEngine::Open({.path = ChildDir()});
      if (!engine.ok()) return engine.status();
      child_engine_ = std::move(*engine);
      MERIDIAN_RETURN_IF_ERROR(child_engine_->Ingest(rs, 1));
      auto store = TxnStore::Open(child_engine_.get(), &hlc_, &clock_, {});
      if (!store.ok()) return store.status();
      child_store_ = std::move(*store);
      return absl::OkStatus();
    });
  }
  SplitSpec Spec(std::string key) { return SplitSpec{std::move(key), 7, 7}; }

  int handler_calls_ = 0;
  SplitChild last_child_;
  std::unique_ptr<storage::RocksEngine> child_engine_;
  std::unique_ptr<TxnStore> child_store_;
};

TEST_F(SplitTest, TheChildGetsEveryVersionOfTheMovedKeysAndTheParentRefusesThem) {
  ASSERT_TRUE(store_->Put("apple", "1").ok());
  ASSERT_TRUE(store_->Put("melon", "old").ok());
  const uint64_t old_snapshot = store_->VisibleHlc();
  ASSERT_TRUE(store_->Put("melon", "new").ok());
  ASSERT_TRUE(store_->Put("zebra", "z").ok());
  ASSERT_TRUE(store_->CsetAdd("nuts", "pecan").ok());
  ASSERT_TRUE(store_->CsetAdd("beans", "fava").ok());

  ASSERT_TRUE(store_->Split(Spec("m")).ok());
  ASSERT_EQ(handler_calls_, 1);
  EXPECT_EQ(last_child_.spec.split_key, "m");
  EXPECT_EQ(last_child_.end_key, "");
  EXPECT_EQ(store_->RangeEnd(), "m");
  ASSERT_NE(child_store_, nullptr);

  // The parent keeps its half and refuses the rest, reads and writes alike.
  EXPECT_EQ(Read("apple"), "1");
  auto get = store_->Get("melon", std::nullopt);
  EXPECT_EQ(GetErrorKind(get.status()), ErrorKind::kWrongShard) << get.status();
  EXPECT_EQ(GetErrorKind(store_->Put("zebra", "2").status()), ErrorKind::kWrongShard);
  EXPECT_EQ(GetErrorKind(store_->CsetAdd("nuts", "x").status()), ErrorKind::kWrongShard);
  EXPECT_TRUE(store_->CsetAdd("beans", "lima").ok());
  bool more = false;
  uint64_t snap = 0;
  Status scan = store_->Scan({.start = "a"}, std::nullopt,
                             [](const KeyValue&) { return true; }, &more, &snap);
  EXPECT_EQ(GetErrorKind(scan), ErrorKind::kWrongShard) << scan;
  EXPECT_EQ(ScanKeys({.start = "a", .end = "m"}), std::vector<std::string>{"apple"});
  TxnWrites writes = {{"zoo", std::string("v")}};
  EXPECT_EQ(GetErrorKind(store_->CommitWrites(store_->VisibleHlc(), writes).status()),
            ErrorKind::kWrongShard);

  // The child serves the moved keys, at new and old snapshots, and not the
  // parent's.
  auto latest = child_store_->Get("melon", std::nullopt);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->value, "new");
  auto old = child_store_->Get("melon", old_snapshot);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->value, "old");
  uint64_t used = 0;
  auto nuts = child_store_->CsetRead("nuts", &used);
  ASSERT_TRUE(nuts.ok()) << nuts.status();
  ASSERT_EQ(nuts->size(), 1u);
  EXPECT_EQ((*nuts)[0].element, "pecan");
  auto apple = child_store_->Get("apple", std::nullopt);
  ASSERT_TRUE(apple.ok());
  EXPECT_FALSE(apple->found);
  // Its clock starts at the split: later commits are above it.
  EXPECT_GE(child_store_->VisibleHlc(), last_child_.split_hlc);
  auto put = child_store_->Put("zebra", "2");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_GT(put->commit_hlc, last_child_.split_hlc);
}

TEST_F(SplitTest, ASecondSplitOfTheParentHandsTheChildItsBoundedRange) {
  ASSERT_TRUE(store_->Put("b", "1").ok());
  ASSERT_TRUE(store_->Put("k", "2").ok());
  ASSERT_TRUE(store_->Put("t", "3").ok());
  ASSERT_TRUE(store_->Split(Spec("p")).ok());
  ASSERT_TRUE(store_->Split(SplitSpec{"h", 8, 8}).ok());
  EXPECT_EQ(last_child_.end_key, "p");
  EXPECT_EQ(child_store_->RangeEnd(), "p");
  auto k = child_store_->Get("k", std::nullopt);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->value, "2");
  // "t" went to the first child, not this one.
  EXPECT_EQ(GetErrorKind(child_store_->Get("t", std::nullopt).status()), ErrorKind::kWrongShard);
  auto children = store_->SplitChildren();
  ASSERT_TRUE(children.ok()) << children.status();
  ASSERT_EQ(children->size(), 2u);
  EXPECT_EQ((*children)[0].spec.child_group, 7u);
  EXPECT_EQ((*children)[1].spec.split_key, "h");
}

TEST_F(SplitTest, AnIntentInTheMovedRangeRefusesTheSplit) {
  PrepareArgs a;
  a.txn = "t1";
  a.snapshot_hlc = store_->VisibleHlc();
  a.deadline_unix_ms = clock_.NowUnixMillis() + 10'000;
  a.record_shard = 1;
  a.writes = {{"q", std::string("v")}};
  ASSERT_TRUE(store_->Prepare(a).ok());
  Status s = store_->Split(Spec("m"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(handler_calls_, 0);
  EXPECT_FALSE(store_->RangeEnd().has_value());
  // Once resolved, it splits, and the committed value moves.
  ASSERT_TRUE(store_->Resolve("t1", {true, *store_->Prepare(a)}, {"q"}).ok());
  ASSERT_TRUE(store_->Split(Spec("m")).ok());
  auto q = child_store_->Get("q", std::nullopt);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->value, "v");
}

TEST_F(SplitTest, ARepeatIsHarmlessAndAReusedChildIdAtAnotherKeyIsRefused) {
  ASSERT_TRUE(store_->Put("x", "1").ok());
  ASSERT_TRUE(store_->Split(Spec("m")).ok());
  ASSERT_TRUE(store_->Split(Spec("m")).ok());
  EXPECT_EQ(handler_calls_, 1);
  EXPECT_EQ(store_->Split(Spec("c")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Split(SplitSpec{"z", 9, 9}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Split(SplitSpec{"", 9, 9}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SplitTest, TheRangeEndSurvivesARestart) {
  ASSERT_TRUE(store_->Put("x", "1").ok());
  ASSERT_TRUE(store_->Split(Spec("m")).ok());
  Reopen();
  InstallHandler();
  EXPECT_EQ(store_->RangeEnd(), "m");
  EXPECT_EQ(GetErrorKind(store_->Get("x", std::nullopt).status()), ErrorKind::kWrongShard);
  auto children = store_->SplitChildren();
  ASSERT_TRUE(children.ok());
  ASSERT_EQ(children->size(), 1u);
  EXPECT_EQ(children->front().spec.child_shard, 7u);
}

TEST_F(SplitTest, MeasureRangeCountsLiveDataAndFindsTheMiddleKey) {
  auto empty = store_->MeasureRange();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->keys, 0u);
  EXPECT_EQ(empty->middle_key, "");
  for (char c = 'a'; c <= 'j'; ++c) ASSERT_TRUE(store_->Put(std::string(1, c), "0123456789").ok());
  ASSERT_TRUE(store_->Delete("j").ok());
  auto size = store_->MeasureRange();
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(size->keys, 9u);
  EXPECT_EQ(size->live_bytes, 99u);
  EXPECT_EQ(size->middle_key, "f");  // a..e hold 55 of 99 bytes
  // After a split there, the parent measures only its own half.
  ASSERT_TRUE(store_->Split(Spec(size->middle_key)).ok());
  auto left = store_->MeasureRange();
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->keys, 5u);
}

}  // namespace
}  // namespace meridian::txn
