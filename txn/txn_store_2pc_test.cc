// The participant side of two-phase commit: prepare leaves intents that
// block writes and hold back reads at or above the prepare timestamp;
// resolve applies the decided outcome; decide is first-wins; a reader
// blocked past the deadline aborts the transaction through its record.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "txn/txn_store.h"
#include "txn/txn_store_fixture.h"

namespace meridian::txn {
namespace {

class TwoPhaseTest : public TxnStoreTest {
 protected:
  PrepareArgs Args(std::string txn, TxnWrites writes, uint64_t snapshot = 0) {
    PrepareArgs a;
    a.txn = std::move(txn);
    a.snapshot_hlc = snapshot ? snapshot : store_->VisibleHlc();
    a.deadline_unix_ms = clock_.NowUnixMillis() + 10'000;
    a.record_shard = 1;
    a.writes = std::move(writes);
    return a;
  }
};

TEST_F(TwoPhaseTest, APreparedWriteIsInvisibleUntilResolvedAndThenAtTheCommitTimestamp) {
  ASSERT_TRUE(store_->Put("a", "old").ok());
  const uint64_t before = store_->VisibleHlc();
  auto p = store_->Prepare(Args("t1", {{"a", "new"}, {"b", std::nullopt}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GT(*p, before);
  ASSERT_TRUE(store_->IntentOn("a").has_value());
  EXPECT_EQ(store_->IntentOn("a")->txn, "t1");

  // A snapshot below the prepare does not wait, and sees the old value.
  auto below = store_->Get("a", before);
  ASSERT_TRUE(below.ok()) << below.status();
  EXPECT_EQ(below->value, "old");

  // A read at or above it waits for the outcome.
  auto reader = std::async(std::launch::async, [&] { return store_->Get("a", std::nullopt); });
  EXPECT_EQ(reader.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  // (With one participant the commit timestamp is the prepare's.)
  const TxnOutcome commit{true, *p};
  auto decided = store_->Decide("t1", commit);
  ASSERT_TRUE(decided.ok()) << decided.status();
  EXPECT_EQ(*decided, commit);
  ASSERT_TRUE(store_->Resolve("t1", commit, {"a", "b"}).ok());
  auto read = reader.get();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->value, "new");
  EXPECT_EQ(read->version.hlc, *p);
  EXPECT_FALSE(store_->IntentOn("a").has_value());
  auto later = store_->Put("c", "x");
  ASSERT_TRUE(later.ok());
  EXPECT_GT(later->commit_hlc, *p);
}

TEST_F(TwoPhaseTest, AReaderBlockedBelowALaterCommitTimestampKeepsItsSnapshot) {
  ASSERT_TRUE(store_->Put("a", "old").ok());
  auto p = store_->Prepare(Args("t1", {{"a", "new"}}));
  ASSERT_TRUE(p.ok());
  // Another shard prepared later: the commit timestamp is above this one's.
  const TxnOutcome commit{true, *p + 1000};
  auto reader = std::async(std::launch::async, [&] { return store_->Get("a", *p); });
  EXPECT_EQ(reader.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  ASSERT_TRUE(store_->Resolve("t1", commit, {"a"}).ok());
  auto read = reader.get();
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->value, "old") << "committed above the reader's snapshot";
  auto above = store_->Get("a", *p + 1000);
  ASSERT_TRUE(above.ok());
  EXPECT_EQ(above->value, "new");
  // Later commits land above the commit timestamp.
  auto later = store_->Put("c", "x");
  ASSERT_TRUE(later.ok());
  EXPECT_GT(later->commit_hlc, *p + 1000);
}

TEST_F(TwoPhaseTest, ALatestReadSeesACommitAboveTheVisibleTimestampItStartedAt) {
  ASSERT_TRUE(store_->Put("a", "old").ok());
  auto p = store_->Prepare(Args("t1", {{"a", "new"}}));
  ASSERT_TRUE(p.ok());
  // The commit timestamp comes from another shard's later prepare; the
  // transaction is acknowledged before this read starts, so the read must
  // see it (it is linearizable), though it began at a lower timestamp.
  auto reader = std::async(std::launch::async, [&] { return store_->Get("a", std::nullopt); });
  EXPECT_EQ(reader.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  ASSERT_TRUE(store_->Resolve("t1", {true, *p + 1000}, {"a"}).ok());
  auto read = reader.get();
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->value, "new");
  EXPECT_GE(read->snapshot_hlc, *p + 1000);
}

TEST_F(TwoPhaseTest, AnIntentBlocksOtherWritersAndConflictingPrepares) {
  ASSERT_TRUE(store_->Prepare(Args("t1", {{"a", "1"}})).ok());
  EXPECT_EQ(GetErrorKind(store_->Put("a", "2").status()), ErrorKind::kConflict);
  EXPECT_EQ(GetErrorKind(store_->Delete("a").status()), ErrorKind::kConflict);
  EXPECT_EQ(GetErrorKind(store_->CommitWrites(store_->VisibleHlc(), {{"a", "3"}}).status()),
            ErrorKind::kConflict);
  EXPECT_EQ(GetErrorKind(store_->Prepare(Args("t2", {{"a", "4"}})).status()),
            ErrorKind::kConflict);
  Compare exists;
  exists.target = Compare::Target::kExists;
  exists.key = "a";
  EXPECT_EQ(GetErrorKind(store_->Execute({exists}, {}, {}).status()), ErrorKind::kConflict);
  // Other keys are free.
  EXPECT_TRUE(store_->Put("b", "free").ok());
}

TEST_F(TwoPhaseTest, APrepareAfterASnapshotConflictsWithANewerVersion) {
  ASSERT_TRUE(store_->Put("a", "first").ok());
  const uint64_t snapshot = store_->VisibleHlc();
  ASSERT_TRUE(store_->Put("a", "newer").ok());
  auto stale = store_->Prepare(Args("t1", {{"a", "mine"}}, snapshot));
  EXPECT_EQ(GetErrorKind(stale.status()), ErrorKind::kConflict) << stale.status();
  EXPECT_FALSE(store_->IntentOn("a").has_value()) << "a refused prepare leaves no intent";
}

TEST_F(TwoPhaseTest, PrepareIsIdempotentAndAbortLeavesTheOldValue) {
  ASSERT_TRUE(store_->Put("a", "old").ok());
  auto p1 = store_->Prepare(Args("t1", {{"a", "new"}}));
  ASSERT_TRUE(p1.ok());
  auto p2 = store_->Prepare(Args("t1", {{"a", "new"}}));
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(*p1, *p2);
  const TxnOutcome abort{false, 0};
  ASSERT_TRUE(store_->Resolve("t1", abort, {"a"}).ok());
  ASSERT_TRUE(store_->Resolve("t1", abort, {"a"}).ok());  // again: nothing left
  EXPECT_EQ(*Read("a"), "old");
  EXPECT_TRUE(store_->Put("a", "free").ok());
}

TEST_F(TwoPhaseTest, TheFirstDecisionWins) {
  auto aborted = store_->Decide("t1", {false, 0});
  ASSERT_TRUE(aborted.ok());
  auto late = store_->Decide("t1", {true, 42});
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->committed) << "a commit after an abort learns the abort";
  auto read = store_->ReadOutcome("t1");
  ASSERT_TRUE(read.ok());
  ASSERT_TRUE(read->has_value());
  EXPECT_FALSE((*read)->committed);
  EXPECT_FALSE(store_->ReadOutcome("t2")->has_value());
  // A decided transaction cannot prepare any more.
  EXPECT_EQ(GetErrorKind(store_->Prepare(Args("t1", {{"x", "1"}})).status()),
            ErrorKind::kConflict);
}

TEST_F(TwoPhaseTest, AReaderPastTheDeadlineAbortsTheTransactionThroughItsRecord) {
  ASSERT_TRUE(store_->Put("a", "old").ok());
  PrepareArgs args = Args("t1", {{"a", "orphan"}});
  args.deadline_unix_ms = clock_.NowUnixMillis() + 100;
  ASSERT_TRUE(store_->Prepare(args).ok());
  int lookups = 0;
  store_->SetOutcomeLookup([&](const TxnIntent& intent) -> Result<TxnOutcome> {
    ++lookups;
    EXPECT_EQ(intent.txn, "t1");
    EXPECT_EQ(intent.record_shard, 1u);
    return store_->Decide(intent.txn, {false, 0});  // the record lives here
  });
  clock_.AdvanceMillis(200);
  auto read = store_->Get("a", std::nullopt);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->value, "old");
  EXPECT_EQ(lookups, 1);
  EXPECT_FALSE(store_->IntentOn("a").has_value());
  EXPECT_FALSE((*store_->ReadOutcome("t1"))->committed);
}

TEST_F(TwoPhaseTest, IntentsAndRecordsSurviveARestart) {
  ASSERT_TRUE(store_->Prepare(Args("t1", {{"a", "1"}})).ok());
  ASSERT_TRUE(store_->Decide("t2", {true, 7}).ok());
  Reopen();
  ASSERT_TRUE(store_->IntentOn("a").has_value());
  EXPECT_EQ(GetErrorKind(store_->Put("a", "2").status()), ErrorKind::kConflict);
  EXPECT_TRUE((*store_->ReadOutcome("t2"))->committed);
}

TEST_F(TwoPhaseTest, CommitWritesIsFirstCommitterWins) {
  const uint64_t snapshot = store_->VisibleHlc();
  ASSERT_TRUE(store_->CommitWrites(snapshot, {{"a", "1"}, {"b", std::nullopt}}).ok());
  auto lost = store_->CommitWrites(snapshot, {{"a", "2"}});
  EXPECT_EQ(GetErrorKind(lost.status()), ErrorKind::kConflict) << lost.status();
  EXPECT_EQ(*Read("a"), "1");
}

}  // namespace
}  // namespace meridian::txn

namespace meridian::txn {
namespace {

TEST_F(TxnStoreTest, ClosingATimestampIsNotAWriteButSurvivesARestart) {
  ASSERT_TRUE(store_->CloseThrough(store_->VisibleHlc() + 1000).ok());
  const uint64_t closed = store_->VisibleHlc();
  // A group that only closed timestamps still takes a restore.
  RestoreIdentity backup{.snapshot_hlc = 5, .site_id = 1, .record_count = 0, .block_count = 0,
                         .checksum = 0};
  EXPECT_TRUE(store_->RestoreBegin(backup).ok());
  Reopen();
  EXPECT_GE(store_->VisibleHlc(), closed) << "the closed timestamp is recovered";
}

}  // namespace
}  // namespace meridian::txn
