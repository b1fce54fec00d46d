// TxnStore's backup export and restore, single node (the replicated path
// applies the same commands; tests/integration/backup_integration_test.cc).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "storage/rocks/rocks_engine.h"
#include "txn/txn_store.h"

namespace meridian::txn {
namespace {

// One store on its own engine directory.
struct Node {
  Node(const std::filesystem::path& dir, Clock* clock, TxnStore::Options options = {})
      : dir(dir), clock(clock), options(options) {
    Open();
  }
  void Open() {
    store.reset();
    engine.reset();
    auto e = storage::RocksEngine::Open({.path = dir.string()});
    ASSERT_TRUE(e.ok()) << e.status();
    engine = std::move(*e);
    hlc = std::make_unique<Hlc>(clock);
    auto s = TxnStore::Open(engine.get(), hlc.get(), clock, options);
    ASSERT_TRUE(s.ok()) << s.status();
    store = std::move(*s);
  }
  std::filesystem::path dir;
  Clock* clock;
  TxnStore::Options options;
  std::unique_ptr<storage::RocksEngine> engine;
  std::unique_ptr<Hlc> hlc;
  std::unique_ptr<TxnStore> store;
};

struct Exported {
  BackupSnapshot snapshot;
  std::vector<BackupRecord> records;
};

// `at_start` runs once the snapshot is fixed, `during` before the first
// record is taken.
Exported Export(TxnStore* store, const std::function<void()>& during = {},
                const std::function<void()>& at_start = {}) {
  Exported out;
  Status s = store->ExportBackup(
      [&](const BackupSnapshot& snap) {
        out.snapshot = snap;
        if (at_start) at_start();
        return absl::OkStatus();
      },
      [&](const BackupRecord& r) {
        if (out.records.empty() && during) during();
        out.records.push_back(r);
        return absl::OkStatus();
      });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

RestoreIdentity IdentityOf(const Exported& e, uint64_t blocks, uint32_t checksum = 7) {
  return {.snapshot_hlc = e.snapshot.snapshot_hlc,
          .site_id = 1,
          .record_count = e.records.size(),
          .block_count = blocks,
          .checksum = checksum};
}

bool IsRestoring(const Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition &&
         s.message().find("restore in progress") != absl::string_view::npos;
}

class TxnBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::path(::testing::TempDir()) /
            ("txn_backup_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    a_ = std::make_unique<Node>(root_ / "a", &clock_);
    b_ = std::make_unique<Node>(root_ / "b", &clock_);
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    std::filesystem::remove_all(root_);
  }
  // Restores `e` into b_ as `blocks` chunks of consecutive records.
  void Restore(const Exported& e, uint64_t blocks) {
    const RestoreIdentity id = IdentityOf(e, blocks);
    auto begun = b_->store->RestoreBegin(id);
    ASSERT_TRUE(begun.ok()) << begun.status();
    const size_t per = (e.records.size() + blocks - 1) / std::max<uint64_t>(blocks, 1);
    for (uint64_t b = 0; b < blocks; ++b) {
      std::vector<BackupRecord> chunk(
          e.records.begin() + std::min(e.records.size(), b * per),
          e.records.begin() + std::min(e.records.size(), (b + 1) * per));
      auto p = b_->store->RestoreChunk(id, b, chunk);
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_EQ(p->next_block, b + 1);
    }
    auto done = b_->store->RestoreFinish(id);
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->records_applied, e.records.size());
  }

  std::filesystem::path root_;
  ManualClock clock_{1'700'000'000'000};
  std::unique_ptr<Node> a_, b_;
};

TEST_F(TxnBackupTest, ExportHoldsNewestLiveVersionsAtOneSnapshot) {
  TxnStore& a = *a_->store;
  ASSERT_TRUE(a.Put("gone", "x").ok());
  ASSERT_TRUE(a.Delete("gone").ok());
  ASSERT_TRUE(a.Put("k", "old").ok());
  auto k = a.Put("k", "new");
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(a.CsetAdd("s", "x").ok());
  ASSERT_TRUE(a.CsetAdd("s", "x").ok());
  ASSERT_TRUE(a.CsetAdd("s", "y").ok());
  ASSERT_TRUE(a.CsetRemove("s", "y").ok());  // count 0: gone
  ASSERT_TRUE(a.CsetRemove("t", "z").ok());  // count -1: kept
  // A commit during the export is after its snapshot.
  Exported e = Export(&a, [&] { ASSERT_TRUE(a.Put("late", "1").ok()); });
  ASSERT_EQ(e.records.size(), 3u);
  EXPECT_EQ(e.records[0].kind, BackupRecord::Kind::kCsetElement);
  EXPECT_EQ(e.records[0].key, "s");
  EXPECT_EQ(e.records[0].element, "x");
  EXPECT_EQ(e.records[0].count, 2);
  EXPECT_EQ(e.records[1].key, "t");
  EXPECT_EQ(e.records[1].count, -1);
  EXPECT_EQ(e.records[2].kind, BackupRecord::Kind::kKv);
  EXPECT_EQ(e.records[2].key, "k");
  EXPECT_EQ(e.records[2].value, "new");
  EXPECT_EQ(e.records[2].version.hlc, k->commit_hlc);
  EXPECT_EQ(e.records[2].version.site, 1u);
  EXPECT_LT(e.snapshot.snapshot_hlc, a.VisibleHlc());  // "late" came after
  EXPECT_GT(e.snapshot.applied_index, 0u);
}

TEST_F(TxnBackupTest, GarbageCollectionKeepsWhatARunningExportReads) {
  a_ = std::make_unique<Node>(root_ / "gc", &clock_, TxnStore::Options{.gc_retention_ms = 1});
  TxnStore& a = *a_->store;
  ASSERT_TRUE(a.Put("a", "1").ok());
  ASSERT_TRUE(a.Put("k", "before").ok());
  Exported e = Export(&a, {}, [&] {
    // Overwritten and collected after the snapshot was fixed, before the
    // export reads: without the hold, "before" would be collected.
    ASSERT_TRUE(a.Put("k", "after").ok());
    clock_.AdvanceMillis(1000);
    ASSERT_TRUE(a.Put("z", "1").ok());
    ASSERT_TRUE(a.CollectGarbage().ok());
  });
  ASSERT_EQ(e.records.size(), 2u);
  EXPECT_EQ(e.records[1].key, "k");
  EXPECT_EQ(e.records[1].value, "before");
}

TEST_F(TxnBackupTest, RestoreKeepsVersionsAndLaterCommitsAreNewer) {
  TxnStore& a = *a_->store;
  std::map<std::string, ReadResult> want;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(a.Put("key" + std::to_string(i), "v" + std::to_string(i)).ok());
  ASSERT_TRUE(a.CsetAdd("tags", "blue").ok());
  Exported e = Export(&a);
  ASSERT_EQ(e.records.size(), 51u);

  // B's clock is behind A's: restored versions must still be older than
  // anything B commits next.
  clock_.SetUnixMillis(clock_.NowUnixMillis() - 100);
  Restore(e, 4);
  TxnStore& b = *b_->store;
  for (int i = 0; i < 50; ++i) {
    const std::string key = "key" + std::to_string(i);
    auto ra = a.Get(key, std::nullopt);
    auto rb = b.Get(key, std::nullopt);
    ASSERT_TRUE(rb.ok()) << rb.status();
    EXPECT_EQ(rb->value, ra->value);
    EXPECT_EQ(rb->version, ra->version);
  }
  uint64_t snap = 0;
  auto tags = b.CsetRead("tags", &snap);
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].count, 1);
  auto put = b.Put("key0", "new");
  ASSERT_TRUE(put.ok());
  EXPECT_GT(put->commit_hlc, e.snapshot.snapshot_hlc);
  EXPECT_GE(b.VisibleHlc(), e.snapshot.snapshot_hlc);

  // After a restart, still later.
  b_->Open();
  auto put2 = b_->store->Put("key1", "newer");
  ASSERT_TRUE(put2.ok());
  EXPECT_GT(put2->commit_hlc, put->commit_hlc);
}

TEST_F(TxnBackupTest, AHalfRestoredStoreServesNobodyAndResumes) {
  TxnStore& a = *a_->store;
  for (int i = 0; i < 9; ++i) ASSERT_TRUE(a.Put("k" + std::to_string(i), "v").ok());
  Exported e = Export(&a);
  const RestoreIdentity id = IdentityOf(e, 3);
  auto chunk = [&](uint64_t b) {
    return std::vector<BackupRecord>(e.records.begin() + 3 * b, e.records.begin() + 3 * b + 3);
  };
  ASSERT_TRUE(b_->store->RestoreBegin(id).ok());
  ASSERT_TRUE(b_->store->RestoreChunk(id, 0, chunk(0)).ok());
  // Out of order: refused.
  auto skip = b_->store->RestoreChunk(id, 2, chunk(2));
  EXPECT_EQ(skip.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(skip.status().message().find("expects block 1 next"), absl::string_view::npos);
  // Too early to finish.
  auto early = b_->store->RestoreFinish(id);
  EXPECT_NE(early.status().message().find("1 of 3 blocks applied"), absl::string_view::npos)
      << early.status();

  // Nobody reads or writes half a restore, also after a restart.
  b_->Open();
  TxnStore& b = *b_->store;
  EXPECT_EQ(b.RestoringSnapshot(), e.snapshot.snapshot_hlc);
  EXPECT_TRUE(IsRestoring(b.Get("k0", std::nullopt).status()));
  EXPECT_TRUE(IsRestoring(b.Put("x", "1").status()));
  EXPECT_TRUE(IsRestoring(b.Delete("k0").status()));
  EXPECT_TRUE(IsRestoring(b.CsetAdd("s", "e").status()));
  EXPECT_TRUE(IsRestoring(b.Begin(0).status()));
  EXPECT_TRUE(IsRestoring(b.Execute({}, {Op{Op::Kind::kGet, "k0", ""}}, {}).status()));
  bool more = false;
  uint64_t snap = 0;
  EXPECT_TRUE(IsRestoring(b.Scan({}, std::nullopt, [](const KeyValue&) { return true; }, &more, &snap)));
  EXPECT_TRUE(IsRestoring(
      b.ExportBackup([](const BackupSnapshot&) { return absl::OkStatus(); },
                     [](const BackupRecord&) { return absl::OkStatus(); })));

  // Another backup may not take over.
  RestoreIdentity other = id;
  other.checksum ^= 1;
  auto refused = b.RestoreBegin(other);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("another backup is in progress"),
            absl::string_view::npos)
      << refused.status();

  // The same one resumes where it stopped; repeating a chunk is harmless.
  auto resumed = b.RestoreBegin(id);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->next_block, 1u);
  EXPECT_EQ(resumed->records_applied, 3u);
  ASSERT_TRUE(b.RestoreChunk(id, 0, chunk(0)).ok());
  ASSERT_TRUE(b.RestoreChunk(id, 1, chunk(1)).ok());
  ASSERT_TRUE(b.RestoreChunk(id, 1, chunk(1)).ok());
  ASSERT_TRUE(b.RestoreChunk(id, 2, chunk(2)).ok());
  auto done = b.RestoreFinish(id);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->records_applied, 9u);
  EXPECT_EQ(b.RestoringSnapshot(), 0u);
  EXPECT_TRUE(b.RestoreFinish(id).ok());  // a repeated finish is harmless
  auto got = b.Get("k8", std::nullopt);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value, "v");

  // Restored once: never again, by any backup.
  auto again = b.RestoreBegin(id);
  EXPECT_NE(again.status().message().find("already holds a finished restore of this backup"),
            absl::string_view::npos)
      << again.status();
}

TEST_F(TxnBackupTest, OnlyAStoreThatNeverCommittedTakesARestore) {
  Exported e = Export(a_->store.get());
  ASSERT_TRUE(b_->store->Put("x", "1").ok());
  ASSERT_TRUE(b_->store->Delete("x").ok());  // empty again, but written
  auto r = b_->store->RestoreBegin(IdentityOf(e, 0));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("is not empty"), absl::string_view::npos) << r.status();
  EXPECT_EQ(b_->store->RestoringSnapshot(), 0u);
  EXPECT_TRUE(b_->store->Put("y", "1").ok());  // still serving
}

TEST_F(TxnBackupTest, BadRecordsAndWrongSitesAreRefusedBeforeAnythingIsWritten) {
  ASSERT_TRUE(a_->store->Put("k", "v").ok());
  Exported e = Export(a_->store.get());
  RestoreIdentity id = IdentityOf(e, 1);
  RestoreIdentity wrong_site = id;
  wrong_site.site_id = 2;
  EXPECT_NE(b_->store->RestoreBegin(wrong_site).status().message().find("--site-id 2"),
            absl::string_view::npos);
  ASSERT_TRUE(b_->store->RestoreBegin(id).ok());
  std::vector<BackupRecord> bad = e.records;
  bad[0].version.hlc = id.snapshot_hlc + 1;
  auto r = b_->store->RestoreChunk(id, 0, bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("block 0, record 0"), absl::string_view::npos);
  bad = e.records;
  bad[0].key = std::string(5000, 'k');
  EXPECT_NE(b_->store->RestoreChunk(id, 0, bad).status().message().find("max_key_bytes"),
            absl::string_view::npos);
  // A finish that counts fewer records than the backup claims is refused.
  RestoreIdentity lying = id;
  lying.record_count = 2;
  EXPECT_FALSE(b_->store->RestoreChunk(lying, 0, e.records).ok());  // not its marker
  ASSERT_TRUE(b_->store->RestoreChunk(id, 0, e.records).ok());
  EXPECT_TRUE(b_->store->RestoreFinish(id).ok());
}

}  // namespace
}  // namespace meridian::txn
