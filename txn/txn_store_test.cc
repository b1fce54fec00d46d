#include "txn/txn_store.h"
#include "txn/txn_store_fixture.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <thread>

#include "common/coding.h"
#include "common/random.h"
#include "storage/rocks/rocks_engine.h"
#include "txn/commit_log.h"
#include "txn/keyspace.h"

namespace meridian::txn {
namespace {

TEST_F(TxnStoreTest, PutGetDeleteWithVersions) {
  auto put = store_->Put("k", "v1");
  ASSERT_TRUE(put.ok());
  auto got = store_->Get("k", std::nullopt);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->found);
  EXPECT_EQ(got->value, "v1");
  EXPECT_EQ(got->version.hlc, put->commit_hlc);
  EXPECT_GE(got->snapshot_hlc, put->commit_hlc);

  auto del = store_->Delete("k");
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(del->existed);
  EXPECT_FALSE(Read("k"));
  auto del_again = store_->Delete("k");
  ASSERT_TRUE(del_again.ok());
  EXPECT_FALSE(del_again->existed);

  // The old value is still readable at the old snapshot.
  auto old = store_->Get("k", put->commit_hlc);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->value, "v1");
}

TEST_F(TxnStoreTest, SnapshotReadDoesNotSeeLaterCommits) {
  ASSERT_TRUE(store_->Put("k", "before").ok());
  auto t = store_->Begin(0);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(store_->Put("k", "after").ok());
  ASSERT_TRUE(store_->Put("new", "x").ok());
  auto r = store_->TxnGet(t->txn_id, "k");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, "before");
  auto n = store_->TxnGet(t->txn_id, "new");
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->found);
  EXPECT_EQ(Read("k"), "after");
}

TEST_F(TxnStoreTest, FirstCommitterWins) {
  ASSERT_TRUE(store_->Put("k", "0").ok());
  auto t1 = store_->Begin(0);
  auto t2 = store_->Begin(0);
  ASSERT_TRUE(t1.ok() && t2.ok());
  ASSERT_TRUE(store_->TxnPut(t1->txn_id, "k", "1").ok());
  ASSERT_TRUE(store_->TxnPut(t2->txn_id, "k", "2").ok());
  ASSERT_TRUE(store_->Commit(t1->txn_id).ok());
  auto c2 = store_->Commit(t2->txn_id);
  EXPECT_EQ(GetErrorKind(c2.status()), ErrorKind::kConflict) << c2.status();
  EXPECT_EQ(Read("k"), "1");
  // The loser is gone.
  EXPECT_EQ(GetErrorKind(store_->Commit(t2->txn_id).status()), ErrorKind::kTxnNotFound);
}

TEST_F(TxnStoreTest, DisjointWritesBothCommit) {
  auto t1 = store_->Begin(0);
  auto t2 = store_->Begin(0);
  ASSERT_TRUE(store_->TxnPut(t1->txn_id, "a", "1").ok());
  ASSERT_TRUE(store_->TxnPut(t2->txn_id, "b", "2").ok());
  EXPECT_TRUE(store_->Commit(t1->txn_id).ok());
  EXPECT_TRUE(store_->Commit(t2->txn_id).ok());
}

TEST_F(TxnStoreTest, TxnSeesItsOwnWritesInGetAndScan) {
  ASSERT_TRUE(store_->Put("a", "A").ok());
  ASSERT_TRUE(store_->Put("c", "C").ok());
  ASSERT_TRUE(store_->Put("e", "E").ok());
  auto t = store_->Begin(0);
  ASSERT_TRUE(store_->TxnPut(t->txn_id, "b", "B'").ok());
  ASSERT_TRUE(store_->TxnDelete(t->txn_id, "c").ok());
  ASSERT_TRUE(store_->TxnPut(t->txn_id, "e", "E'").ok());
  ASSERT_TRUE(store_->TxnPut(t->txn_id, "z", "Z").ok());
  auto r = store_->TxnGet(t->txn_id, "b");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, "B'");
  EXPECT_FALSE(store_->TxnGet(t->txn_id, "c")->found);

  auto scan = store_->TxnScan(t->txn_id, {.start = "a", .end = "y"});
  ASSERT_TRUE(scan.ok());
  std::vector<std::pair<std::string, std::string>> got;
  for (auto& kv : scan->kvs) got.emplace_back(kv.key, kv.value);
  std::vector<std::pair<std::string, std::string>> want = {{"a", "A"}, {"b", "B'"}, {"e", "E'"}};
  EXPECT_EQ(got, want);

  auto limited = store_->TxnScan(t->txn_id, {.start = "a", .limit = 2});
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->kvs.size(), 2u);
  EXPECT_TRUE(limited->more);

  // Nothing is visible outside before commit.
  EXPECT_FALSE(Read("b"));
  ASSERT_TRUE(store_->Commit(t->txn_id).ok());
  EXPECT_EQ(Read("b"), "B'");
  EXPECT_FALSE(Read("c"));
}

TEST_F(TxnStoreTest, ExecuteComparesAndBranches) {
  ASSERT_TRUE(store_->Put("k", "v").ok());
  using C = Compare;
  auto r = store_->Execute(
      {C{C::Op::kEqual, C::Target::kValue, "k", "v"}},
      {Op{Op::Kind::kPut, "k", "v2"}, Op{Op::Kind::kGet, "k", ""}},
      {Op{Op::Kind::kPut, "failed", "1"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->succeeded);
  ASSERT_EQ(r->results.size(), 2u);
  EXPECT_EQ(r->results[1].value, "v2");  // sees the branch's own put
  EXPECT_GT(r->commit_hlc, 0u);

  auto f = store_->Execute({C{C::Op::kEqual, C::Target::kExists, "missing", "", 0, true}},
                           {Op{Op::Kind::kPut, "x", "1"}}, {Op{Op::Kind::kDelete, "k", ""}});
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->succeeded);
  ASSERT_EQ(f->results.size(), 1u);
  EXPECT_TRUE(f->results[0].found);
  EXPECT_FALSE(Read("k"));
  EXPECT_FALSE(Read("x"));

  // Version compare: create-if-absent.
  auto create = store_->Execute({C{C::Op::kEqual, C::Target::kVersion, "lock", "", 0}},
                                {Op{Op::Kind::kPut, "lock", "me"}}, {});
  ASSERT_TRUE(create.ok());
  EXPECT_TRUE(create->succeeded);
  auto again = store_->Execute({C{C::Op::kEqual, C::Target::kVersion, "lock", "", 0}},
                               {Op{Op::Kind::kPut, "lock", "you"}}, {});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->succeeded);
  EXPECT_EQ(Read("lock"), "me");
}

TEST_F(TxnStoreTest, ConcurrentCsetAddsAllApplyAndNeverConflict) {
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_TRUE(store_->CsetAdd("set", "e" + std::to_string(i % 5)).ok());
        ASSERT_TRUE(store_->CsetAdd("set", "t" + std::to_string(t)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(store_->CsetRemove("set", "t0").ok());
  uint64_t snap = 0;
  auto entries = store_->CsetRead("set", &snap);
  ASSERT_TRUE(entries.ok());
  std::map<std::string, int64_t> got;
  for (auto& e : *entries) got[e.element] = e.count;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got["e" + std::to_string(i)], kThreads * kPerThread / 5);
  EXPECT_EQ(got["t0"], kPerThread - 1);
  EXPECT_EQ(got["t3"], kPerThread);
  // A cset and a KV key of the same name are different objects.
  EXPECT_FALSE(Read("set"));
}

TEST_F(TxnStoreTest, CsetCountReachingZeroDisappears) {
  ASSERT_TRUE(store_->CsetAdd("s", "x").ok());
  ASSERT_TRUE(store_->CsetRemove("s", "x").ok());
  ASSERT_TRUE(store_->CsetRemove("s", "y").ok());
  uint64_t snap = 0;
  auto entries = store_->CsetRead("s", &snap);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].element, "y");
  EXPECT_EQ((*entries)[0].count, -1);
}

TEST_F(TxnStoreTest, LimitsRejectAndWriteNothing) {
  Limits limits{.max_key_bytes = 8, .max_value_bytes = 16, .max_txn_ops = 3};
  Reopen({.limits = limits});
  EXPECT_EQ(GetErrorKind(store_->Put("", "v").status()), ErrorKind::kInvalidArgument);
  auto big_key = store_->Put("123456789", "v");
  EXPECT_EQ(GetErrorInfo(big_key.status()).limit_name, "max_key_bytes");
  auto big_value = store_->Put("k", std::string(17, 'x'));
  EXPECT_EQ(GetErrorInfo(big_value.status()).limit_name, "max_value_bytes");
  EXPECT_FALSE(Read("k"));
  EXPECT_EQ(store_->AppliedIndex(), 0u);

  auto t = store_->Begin(0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->TxnPut(t->txn_id, "k" + std::to_string(i), "v").ok());
  Status over = store_->TxnPut(t->txn_id, "k9", "v");
  EXPECT_EQ(GetErrorInfo(over).limit_name, "max_txn_ops");

  std::vector<Op> many(4, Op{Op::Kind::kPut, "k", "v"});
  EXPECT_EQ(GetErrorInfo(store_->Execute({}, many, {}).status()).limit_name, "max_txn_ops");
  EXPECT_EQ(store_->AppliedIndex(), 0u);
}

// A commit larger than max_txn_bytes (one log record) is refused whole, in
// each commit path, and nothing is applied; smaller ones go through.
TEST_F(TxnStoreTest, ACommitOverMaxTxnBytesIsRefusedWhole) {
  Limits limits{.max_value_bytes = 1000, .max_txn_bytes = 2000};
  Reopen({.limits = limits});
  std::vector<Op> puts;
  for (int i = 0; i < 3; ++i) puts.push_back(Op{Op::Kind::kPut, "k" + std::to_string(i), std::string(900, 'v')});
  auto one_shot = store_->Execute({}, puts, {});
  EXPECT_EQ(GetErrorInfo(one_shot.status()).limit_name, "max_txn_bytes") << one_shot.status();

  auto t = store_->Begin(0);
  ASSERT_TRUE(t.ok());
  for (const Op& op : puts) ASSERT_TRUE(store_->TxnPut(t->txn_id, op.key, op.value).ok());
  auto interactive = store_->Commit(t->txn_id);
  EXPECT_EQ(GetErrorInfo(interactive.status()).limit_name, "max_txn_bytes")
      << interactive.status();
  EXPECT_EQ(store_->AppliedIndex(), 0u);
  EXPECT_FALSE(Read("k0"));

  puts.pop_back();
  ASSERT_TRUE(store_->Execute({}, puts, {}).ok());
  EXPECT_TRUE(Read("k1"));
}

TEST_F(TxnStoreTest, ScanRangeValidation) {
  bool more;
  uint64_t snap;
  auto noop = [](const KeyValue&) { return true; };
  EXPECT_EQ(GetErrorKind(store_->Scan({.start = "b", .end = "a"}, std::nullopt, noop, &more, &snap)),
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(GetErrorKind(store_->Scan({.start = "a", .prefix = "p"}, std::nullopt, noop, &more,
                                      &snap)),
            ErrorKind::kInvalidArgument);
}

TEST_F(TxnStoreTest, ScanPrefixAndLimit) {
  for (auto k : {"a/1", "a/2", "a/3", "b/1"}) ASSERT_TRUE(store_->Put(k, "v").ok());
  EXPECT_EQ(ScanKeys({.prefix = "a/"}), (std::vector<std::string>{"a/1", "a/2", "a/3"}));
  EXPECT_EQ(ScanKeys({.start = "a/2", .end = "b/1"}), (std::vector<std::string>{"a/2", "a/3"}));
  EXPECT_EQ(ScanKeys({.limit = 2}), (std::vector<std::string>{"a/1", "a/2"}));
}

TEST_F(TxnStoreTest, ExpiredAndUnknownTransactions) {
  auto t = store_->Begin(100);
  ASSERT_TRUE(t.ok());
  clock_.AdvanceMillis(101);
  auto r = store_->TxnGet(t->txn_id, "k");
  EXPECT_EQ(GetErrorKind(r.status()), ErrorKind::kTxnNotFound);
  EXPECT_NE(r.status().message().find("expired"), absl::string_view::npos);
  EXPECT_EQ(GetErrorKind(store_->Commit(424242).status()), ErrorKind::kTxnNotFound);
  EXPECT_EQ(GetErrorKind(store_->Abort(424242)), ErrorKind::kTxnNotFound);

  auto t2 = store_->Begin(50);
  clock_.AdvanceMillis(51);
  EXPECT_EQ(store_->ReapExpired(), 1u);
  EXPECT_EQ(store_->OpenTxnCount(), 0u);
  EXPECT_EQ(GetErrorKind(store_->Begin(10'000'000).status()), ErrorKind::kInvalidArgument);
}

TEST_F(TxnStoreTest, ReopenKeepsDataAndNeverReusesTimestamps) {
  auto put = store_->Put("k", "v");
  ASSERT_TRUE(put.ok());
  // A restart with the wall clock stepped back (within the max offset).
  clock_.SetUnixMillis(clock_.NowUnixMillis() - 200);
  Hlc fresh(&clock_);
  store_.reset();
  auto store = TxnStore::Open(engine_.get(), &fresh, &clock_, {});
  ASSERT_TRUE(store.ok());
  store_ = std::move(*store);
  EXPECT_EQ(Read("k"), "v");
  auto put2 = store_->Put("k", "v2");
  ASSERT_TRUE(put2.ok());
  EXPECT_GT(put2->commit_hlc, put->commit_hlc);
  EXPECT_EQ(store_->AppliedIndex(), 2u);
}

TEST_F(TxnStoreTest, GarbageCollectionKeepsRetainedSnapshots) {
  auto p1 = store_->Put("k", "1");
  auto t = store_->Begin(600'000);
  clock_.AdvanceMillis(400'000);
  ASSERT_TRUE(store_->Put("k", "2").ok());
  ASSERT_TRUE(store_->CollectGarbage().ok());
  // The open transaction's snapshot is protected.
  EXPECT_EQ(store_->TxnGet(t->txn_id, "k")->value, "1");
  ASSERT_TRUE(store_->Abort(t->txn_id).ok());
  clock_.AdvanceMillis(400'000);
  ASSERT_TRUE(store_->Put("other", "x").ok());
  ASSERT_TRUE(store_->CollectGarbage().ok());
  auto old = store_->Get("k", p1->commit_hlc);
  EXPECT_EQ(GetErrorKind(old.status()), ErrorKind::kInvalidArgument) << old.status();
  EXPECT_EQ(Read("k"), "2");
}

// The GC horizon rule (issue 6): versions stay while any of retention, the
// cluster's oldest open snapshot or this store's own readers needs them.
TEST_F(TxnStoreTest, GcHorizonIsTheOldestOfRetentionClusterWatermarkAndLocalReaders) {
  constexpr uint64_t kNow = 1'000'000;
  constexpr uint64_t kNone = UINT64_MAX;
  const uint64_t retained = MakeHlc(kNow - 1000, 0);
  // Retention alone.
  EXPECT_EQ(TxnStore::GcHorizon(kNow, 1000, kNone, kNone, kNone, 0), retained);
  // A transaction open somewhere in the cluster holds it below retention.
  EXPECT_EQ(TxnStore::GcHorizon(kNow, 1000, MakeHlc(5, 3), kNone, kNone, 0), MakeHlc(5, 3));
  // A younger cluster low watermark does not cut retention short.
  EXPECT_EQ(TxnStore::GcHorizon(kNow, 1000, MakeHlc(kNow, 0), kNone, kNone, 0), retained);
  // This store's own open transactions and its visible timestamp.
  EXPECT_EQ(TxnStore::GcHorizon(kNow, 1000, kNone, MakeHlc(7, 0), kNone, 0), MakeHlc(7, 0));
  EXPECT_EQ(TxnStore::GcHorizon(kNow, 1000, kNone, kNone, MakeHlc(8, 0), 0), MakeHlc(8, 0));
  // It never moves down.
  EXPECT_EQ(TxnStore::GcHorizon(kNow, 1000, MakeHlc(5, 0), kNone, kNone, MakeHlc(9, 0)),
            MakeHlc(9, 0));
  // A retention longer than the clock's age keeps everything.
  EXPECT_EQ(TxnStore::GcHorizon(500, 1000, kNone, kNone, kNone, 0), 0u);
}

TEST_F(TxnStoreTest, GarbageCollectionKeepsWhatTheClusterLowWatermarkProtects) {
  Reopen({.gc_retention_ms = 1000});
  auto p1 = store_->Put("k", "1");
  ASSERT_TRUE(p1.ok());
  const uint64_t snap = p1->commit_hlc;  // a coordinated transaction elsewhere reads here
  for (int i = 2; i <= 5; ++i) {
    clock_.AdvanceMillis(2000);
    ASSERT_TRUE(store_->Put("k", std::to_string(i)).ok());
    // Past retention, but the cluster low watermark holds the snapshot.
    ASSERT_TRUE(store_->CollectGarbage(snap).ok());
    auto old = store_->Get("k", snap);
    ASSERT_TRUE(old.ok()) << old.status();
    EXPECT_EQ(old->value, "1");
  }
  EXPECT_LE(store_->GcHlc(), snap);
  // Once the transaction is gone the watermark moves, and so does GC.
  ASSERT_TRUE(store_->CollectGarbage(MakeHlc(clock_.NowUnixMillis(), 0)).ok());
  auto old = store_->Get("k", snap);
  EXPECT_EQ(GetErrorKind(old.status()), ErrorKind::kInvalidArgument) << old.status();
  EXPECT_EQ(Read("k"), "5");
}

TEST_F(TxnStoreTest, OldestOpenSnapshotIsTheOldestOpenTransactions) {
  EXPECT_EQ(store_->OldestOpenSnapshot(), UINT64_MAX);
  ASSERT_TRUE(store_->Put("k", "1").ok());
  auto t1 = store_->Begin(0);
  ASSERT_TRUE(store_->Put("k", "2").ok());
  auto t2 = store_->Begin(0);
  ASSERT_TRUE(t1.ok() && t2.ok());
  EXPECT_EQ(store_->OldestOpenSnapshot(), t1->snapshot_hlc);
  ASSERT_TRUE(store_->Abort(t1->txn_id).ok());
  EXPECT_EQ(store_->OldestOpenSnapshot(), t2->snapshot_hlc);
}

// Single-key operations and one-shot transactions against a std::map model.
TEST_F(TxnStoreTest, MatchesAMapModelOverRandomOperations) {
  Random rnd(20261123);
  std::map<std::string, std::string> model;
  for (int i = 0; i < 600; ++i) {
    std::string key = "key" + std::to_string(rnd.Uniform(20));
    std::string value = "v" + std::to_string(i);
    switch (rnd.Uniform(4)) {
      case 0:
        ASSERT_TRUE(store_->Put(key, value).ok());
        model[key] = value;
        break;
      case 1: {
        auto d = store_->Delete(key);
        ASSERT_TRUE(d.ok());
        EXPECT_EQ(d->existed, model.erase(key) == 1) << "seed 20261123 step " << i;
        break;
      }
      case 2: {
        auto t = store_->Begin(0);
        ASSERT_TRUE(store_->TxnPut(t->txn_id, key, value).ok());
        ASSERT_TRUE(store_->Commit(t->txn_id).ok());
        model[key] = value;
        break;
      }
      case 3: {
        using C = Compare;
        bool present = model.count(key);
        auto r = store_->Execute({C{C::Op::kEqual, C::Target::kExists, key, "", 0, true}},
                                 {Op{Op::Kind::kDelete, key, ""}}, {Op{Op::Kind::kPut, key, value}});
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->succeeded, present);
        if (present) model.erase(key); else model[key] = value;
        break;
      }
    }
    if (i % 50 == 0) {
      std::vector<std::string> want;
      for (auto& [k, v] : model) want.push_back(k);
      ASSERT_EQ(ScanKeys({}), want) << "seed 20261123 step " << i;
    }
    EXPECT_EQ(Read(key), model.count(key) ? std::optional(model[key]) : std::nullopt);
  }
}


// --- Replicated mode: commit timestamps increase in log order ---------------

// A command as a leader encodes it (txn_store.cc EncodeCommand): the commit
// timestamp, then each record as length-prefixed key, a presence byte and a
// length-prefixed value.
std::string LeaderCommand(uint64_t ts, std::string_view key, std::string_view value) {
  std::string out;
  PutVarint64(&out, ts);
  PutVarint64(&out, 1);
  PutLengthPrefixed(&out, keyspace::KvKey(key));
  out.push_back(1);
  PutLengthPrefixed(&out, value);
  return out;
}

uint64_t HlcAtMillis(uint64_t ms) { return ms << 16; }

// An old leader whose clock ran 2 s ahead stamped index 1; this node, leading
// next, stamped index 2 before it had applied index 1. Applied as stamped,
// index 2's version would land below a snapshot taken in between.
TEST_F(TxnStoreTest, ACommitStampedBehindAnEarlierOneIsAppliedAboveIt) {
  const uint64_t ahead = HlcAtMillis(clock_.NowUnixMillis() + 2000);
  const uint64_t behind = HlcAtMillis(clock_.NowUnixMillis());
  auto first = store_->ApplyCommitted(1, LeaderCommand(ahead, "a", "old-leader"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, ahead);

  auto txn = store_->Begin(10'000);
  ASSERT_TRUE(txn.ok()) << txn.status();
  ASSERT_EQ(txn->snapshot_hlc, ahead);

  auto second = store_->ApplyCommitted(2, LeaderCommand(behind, "b", "new-leader"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(*second, ahead);

  // The transaction's snapshot predates index 2: it must not see it...
  auto read = store_->TxnGet(txn->txn_id, "b");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_FALSE(read->found);
  // ...and writing the same key conflicts (first committer wins).
  ASSERT_TRUE(store_->TxnPut(txn->txn_id, "b", "mine").ok());
  auto commit = store_->Commit(txn->txn_id);
  ASSERT_FALSE(commit.ok());
  EXPECT_EQ(GetErrorKind(commit.status()), ErrorKind::kConflict) << commit.status();

  // Replays and a reopened store agree on the raised timestamp.
  auto latest = store_->Get("b", std::nullopt);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version.hlc, *second);
}

// The proposer learns the timestamp its commit was applied at.
class InheritedTailLog final : public CommitLog {
 public:
  InheritedTailLog(TxnStore* store, std::string tail) : store_(store), tail_(std::move(tail)) {}
  Status Commit(std::string command, const std::function<void()>& queued,
                uint64_t* applied_hlc, uint64_t /*epoch*/) override {
    if (queued) queued();
    // The inherited tail commits just before this node's first proposal.
    if (!tail_.empty()) {
      MERIDIAN_RETURN_IF_ERROR(store_->ApplyCommitted(next_index_++, tail_).status());
      tail_.clear();
    }
    MERIDIAN_ASSIGN_OR_RETURN(uint64_t applied, store_->ApplyCommitted(next_index_++, command));
    if (applied_hlc != nullptr) *applied_hlc = applied;
    return absl::OkStatus();
  }

  uint64_t LeaderEpoch() override { return 1; }

  void SkipIndexes(uint64_t n) { next_index_ += n; }

 private:
  TxnStore* store_;
  std::string tail_;
  uint64_t next_index_ = 1;
};

// A log with leader epochs, refusing a proposal for any epoch but the
// current one as Replication does. Epoch 0: this node does not lead yet.
class EpochLog final : public CommitLog {
 public:
  explicit EpochLog(TxnStore* store) : store_(store) {}
  Status Commit(std::string command, const std::function<void()>& queued,
                uint64_t* applied_hlc, uint64_t epoch) override {
    proposed_epochs.push_back(epoch);
    if (epoch != current_epoch) return NotLeaderError("", "another leadership");
    if (queued) queued();
    MERIDIAN_ASSIGN_OR_RETURN(uint64_t applied, store_->ApplyCommitted(next_index_++, command));
    if (applied_hlc != nullptr) *applied_hlc = applied;
    return absl::OkStatus();
  }
  uint64_t LeaderEpoch() override { return current_epoch; }

  uint64_t current_epoch = 0;
  std::vector<uint64_t> proposed_epochs;

 private:
  TxnStore* store_;
  uint64_t next_index_ = 1;
};

// A leader that has not applied what earlier leaders chose could check a
// commit against stale state (the lost update jepsen's append+partition
// found once): with no leader epoch, nothing is proposed.
TEST_F(TxnStoreTest, ALeaderThatHasNotCaughtUpProposesNothing) {
  ASSERT_TRUE(store_->Put("k", "before").ok());
  auto txn = store_->Begin(0);
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(store_->TxnPut(txn->txn_id, "k", "txn").ok());
  EpochLog log(store_.get());
  store_->SetCommitLog(&log);
  EXPECT_EQ(GetErrorKind(store_->Commit(txn->txn_id).status()), ErrorKind::kNotLeader);
  EXPECT_EQ(GetErrorKind(store_->CommitWrites(store_->VisibleHlc(), {{"k", "one-shot"}}).status()),
            ErrorKind::kNotLeader);
  EXPECT_EQ(GetErrorKind(store_->Put("k", "blind").status()), ErrorKind::kNotLeader);
  EXPECT_EQ(GetErrorKind(store_->Delete("k").status()), ErrorKind::kNotLeader);
  EXPECT_TRUE(log.proposed_epochs.empty()) << "nothing reached the log";
  auto read = store_->Get("k", std::nullopt);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->value, "before");
}

// Every proposal names the epoch its checks ran in, so the log can refuse it
// once leadership has moved (Replication::Propose).
TEST_F(TxnStoreTest, EveryCommitIsProposedInTheEpochItWasCheckedIn) {
  EpochLog log(store_.get());
  store_->SetCommitLog(&log);
  log.current_epoch = 7;
  ASSERT_TRUE(store_->Put("a", "1").ok());
  auto txn = store_->Begin(0);
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(store_->TxnPut(txn->txn_id, "b", "2").ok());
  ASSERT_TRUE(store_->Commit(txn->txn_id).ok());
  ASSERT_TRUE(store_->CommitWrites(store_->VisibleHlc(), {{"c", "3"}}).ok());
  ASSERT_TRUE(store_->Delete("a").ok());
  ASSERT_EQ(log.proposed_epochs, (std::vector<uint64_t>{7, 7, 7, 7}));
}

TEST_F(TxnStoreTest, APutReturnsTheTimestampItWasAppliedAt) {
  const uint64_t ahead = HlcAtMillis(clock_.NowUnixMillis() + 2000);
  InheritedTailLog log(store_.get(), LeaderCommand(ahead, "a", "old-leader"));
  store_->SetCommitLog(&log);
  auto put = store_->Put("b", "new-leader");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_GT(put->commit_hlc, ahead);
  auto read = store_->Get("b", std::nullopt);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->version.hlc, put->commit_hlc);
}


// The path jepsen found: an earlier leader's clock ran 2 s ahead; this node
// applied its commit, but its HLC refused to observe a timestamp beyond the
// max clock offset, so its own next stamp is behind.
TEST_F(TxnStoreTest, ACommitAfterOneFromAClockFarAheadStillLandsAboveIt) {
  const uint64_t ahead = HlcAtMillis(clock_.NowUnixMillis() + 2000);
  InheritedTailLog log(store_.get(), "");
  ASSERT_TRUE(store_->ApplyCommitted(1, LeaderCommand(ahead, "a", "ahead")).ok());
  ASSERT_LT(hlc_.Now(), ahead);  // the HLC did not follow
  log.SkipIndexes(1);
  store_->SetCommitLog(&log);
  auto put = store_->Put("a", "behind");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_GT(put->commit_hlc, ahead);
  auto read = store_->Get("a", std::nullopt);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->value, "behind");
}

}  // namespace
}  // namespace meridian::txn

namespace meridian::txn {
namespace {

TEST_F(TxnStoreTest, AReadAtAFutureSnapshotClosesItSoItStaysRepeatable) {
  ASSERT_TRUE(store_->Put("k", "1").ok());
  const uint64_t visible = store_->VisibleHlc();
  // A snapshot from another node's clock, ahead of everything applied here.
  const uint64_t s = visible + 1000;
  auto first = store_->Get("k", s);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->value, "1");
  EXPECT_GE(store_->VisibleHlc(), s) << "the snapshot is closed";
  // Every later commit is stamped above it, so a second read at s sees the
  // same state.
  auto later = store_->Put("k", "2");
  ASSERT_TRUE(later.ok());
  EXPECT_GT(later->commit_hlc, s);
  auto again = store_->Get("k", s);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->value, "1");
  // ... and it survives a restart (the close is a commit like any other).
  Reopen();
  EXPECT_GE(store_->VisibleHlc(), later->commit_hlc);
}

TEST_F(TxnStoreTest, ASnapshotBeyondTheMaxClockOffsetIsRefused) {
  const uint64_t far = (uint64_t{clock_.NowUnixMillis()} + 60'000) << 16;
  auto r = store_->Get("k", far);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(GetErrorKind(r.status()), ErrorKind::kInvalidArgument) << r.status();
  EXPECT_LT(store_->VisibleHlc(), far);
}

}  // namespace
}  // namespace meridian::txn
