#include "consensus/wal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string_view>

#include "common/random.h"
#include "common/uring_sync.h"
#include "consensus/codec.h"

namespace meridian::consensus {
namespace {

Entry E(uint64_t index, uint64_t round, std::string cmd) {
  return Entry{index, Ballot{round, 1}, std::move(cmd), false};
}

std::map<GroupId, RecoveredGroup> Recover(FileSystem* fs, Wal::Options o = {}) {
  std::map<GroupId, RecoveredGroup> out;
  auto wal = Wal::Open(fs, "/wal", o, &out);
  EXPECT_TRUE(wal.ok()) << wal.status();
  return out;
}

TEST(WalTest, RecoversHardStateAndEntriesPerGroup) {
  MemFileSystem fs;
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", {}, &none);
  EXPECT_TRUE(none.empty());
  wal->AppendHardState(1, {Ballot{3, 2}, 5});
  wal->AppendEntries(1, {E(1, 3, "a"), E(2, 3, "b")});
  wal->AppendEntries(7, {E(1, 1, "x")});
  wal->AppendEntries(1, {E(2, 4, "b2")});  // a later accept of slot 2
  ASSERT_TRUE(wal->Sync().ok());
  wal.reset();
  auto r = Recover(&fs);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].hard_state, (HardState{Ballot{3, 2}, 5}));
  EXPECT_EQ(r[1].entries.size(), 2u);
  EXPECT_EQ(r[1].entries[2].command, "b2");
  EXPECT_EQ(r[7].entries[1].command, "x");
}

TEST(WalTest, UnsyncedAppendsAreLostInACrashSyncedOnesAreNot) {
  MemFileSystem fs;
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", {}, &none);
  wal->AppendEntries(1, {E(1, 1, "synced")});
  ASSERT_TRUE(wal->Sync().ok());
  wal->AppendEntries(1, {E(2, 1, "not synced")});
  auto crashed = fs.CrashClone();
  auto r = Recover(crashed.get());
  ASSERT_EQ(r[1].entries.size(), 1u);
  EXPECT_EQ(r[1].entries[1].command, "synced");
}

TEST(WalTest, RollsSegmentsAndRecoversAcrossThem) {
  MemFileSystem fs;
  Wal::Options o{.segment_bytes = 4096};
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", o, &none);
  for (uint64_t i = 1; i <= 200; ++i) {
    wal->AppendEntries(1, {E(i, 1, std::string(100, 'a' + i % 26))});
    if (i % 7 == 0) {
      ASSERT_TRUE(wal->Sync().ok());
    }
  }
  ASSERT_TRUE(wal->Sync().ok());
  EXPECT_GT(wal->segment_count(), 3u);
  auto r = Recover(fs.CrashClone().get(), o);
  ASSERT_EQ(r[1].entries.size(), 200u);
  EXPECT_EQ(r[1].entries[200].command, std::string(100, 'a' + 200 % 26));
}

// Regression: a small engine's redo log preallocated a whole 64 MiB segment.
TEST(WalTest, PreallocationGrowsInStepsAndShortSegmentsRecover) {
  MemFileSystem fs;
  Wal::Options o{.segment_bytes = 64 << 10, .preallocate_bytes = 4096};
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", o, &none);
  auto size = [&] {
    auto f = *fs.OpenFile("/wal/" + *fs.List("/wal")->begin(), false);
    return *f->Size();
  };
  EXPECT_EQ(size(), 4096u);
  for (uint64_t i = 1; i <= 50; ++i) wal->AppendEntries(1, {E(i, 1, std::string(200, 'x'))});
  ASSERT_TRUE(wal->Sync().ok());
  EXPECT_EQ(size() % 4096, 0u);
  EXPECT_GT(size(), 8192u);
  EXPECT_LT(size(), 64u << 10);
  wal.reset();
  // Reopened: appends go on at the tail of the short segment, then roll.
  std::map<GroupId, RecoveredGroup> r;
  wal = *Wal::Open(&fs, "/wal", o, &r);
  ASSERT_EQ(r[1].entries.size(), 50u);
  for (uint64_t i = 51; i <= 500; ++i) wal->AppendEntries(1, {E(i, 1, std::string(200, 'y'))});
  ASSERT_TRUE(wal->Sync().ok());
  EXPECT_GT(wal->segment_count(), 1u);
  auto after = Recover(fs.CrashClone().get(), o);
  ASSERT_EQ(after[1].entries.size(), 500u);
  EXPECT_EQ(after[1].entries[50].command, std::string(200, 'x'));
  EXPECT_EQ(after[1].entries[500].command, std::string(200, 'y'));
}

TEST(WalTest, TornTailIsCutAndLaterAppendsSurvive) {
  MemFileSystem fs;
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", {}, &none);
  wal->AppendEntries(1, {E(1, 1, "whole")});
  ASSERT_TRUE(wal->Sync().ok());
  const uint64_t good_end = wal->bytes_written();
  wal->AppendEntries(1, {E(2, 1, std::string(300, 't'))});
  ASSERT_TRUE(wal->Sync().ok());
  wal.reset();
  // Tear the second record: keep its first half, as a crash mid-write would.
  auto f = *fs.OpenFile("/wal/wal-0000000000000001.log", false);
  ASSERT_TRUE(f->Write(good_end + 150, std::string(250, '\0')).ok());

  std::map<GroupId, RecoveredGroup> r;
  auto reopened = Wal::Open(&fs, "/wal", {}, &r);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_EQ(r[1].entries.size(), 1u);
  EXPECT_EQ(r[1].entries[1].command, "whole");
  (*reopened)->AppendEntries(1, {E(2, 2, "after")});
  ASSERT_TRUE((*reopened)->Sync().ok());
  reopened->reset();
  auto again = Recover(fs.CrashClone().get());
  ASSERT_EQ(again[1].entries.size(), 2u);
  EXPECT_EQ(again[1].entries[2].command, "after");
}

TEST(WalTest, CorruptionBeforeTheTailFailsOpen) {
  MemFileSystem fs;
  Wal::Options o{.segment_bytes = 4096};
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", o, &none);
  for (uint64_t i = 1; i <= 100; ++i) wal->AppendEntries(1, {E(i, 1, std::string(100, 'x'))});
  ASSERT_TRUE(wal->Sync().ok());
  wal.reset();
  auto f = *fs.OpenFile("/wal/wal-0000000000000001.log", false);
  ASSERT_TRUE(f->Write(200, "garbage!").ok());
  std::map<GroupId, RecoveredGroup> r;
  auto bad = Wal::Open(&fs, "/wal", o, &r);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
}

TEST(WalTest, SyncFailureIsLatched) {
  MemFileSystem mem;
  FaultFileSystem fs(&mem);
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", {}, &none);
  fs.Arm(FaultFileSystem::Op::kSync, "wal-", ResourceExhaustedError("injected ENOSPC"));
  wal->AppendEntries(1, {E(1, 1, "x")});
  EXPECT_EQ(wal->Sync().code(), absl::StatusCode::kResourceExhausted);
  fs.Disarm();
  wal->AppendEntries(1, {E(2, 1, "y")});
  EXPECT_EQ(wal->Sync().code(), absl::StatusCode::kResourceExhausted);
}

// Random appends, syncs and power losses: what recovery returns is exactly
// what was synced.
TEST(WalTest, RandomCrashesRecoverExactlyTheSyncedState) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Random rnd(seed);
    auto fs = std::make_unique<MemFileSystem>();
    // Half the seeds grow their segments in steps (short files at a crash).
    Wal::Options o{.segment_bytes = 8192, .preallocate_bytes = seed % 2 == 0 ? 1024u : 0u};
    std::map<uint64_t, std::string> synced, pending;
    std::map<GroupId, RecoveredGroup> rec;
    auto wal = *Wal::Open(fs.get(), "/wal", o, &rec);
    for (int step = 0; step < 300; ++step) {
      uint64_t index = 1 + rnd.Uniform(60);
      std::string cmd = "s" + std::to_string(step) + std::string(rnd.Uniform(200), 'p');
      wal->AppendEntries(1, {E(index, 1, cmd)});
      pending[index] = cmd;
      if (rnd.OneIn(4)) {
        ASSERT_TRUE(wal->Sync().ok());
        for (auto& [i, c] : pending) synced[i] = c;
        pending.clear();
      }
      if (rnd.OneIn(40)) {
        wal.reset();
        fs = fs->CrashClone();
        pending.clear();
        rec.clear();
        auto reopened = Wal::Open(fs.get(), "/wal", o, &rec);
        ASSERT_TRUE(reopened.ok()) << "seed " << seed << ": " << reopened.status();
        wal = std::move(*reopened);
        std::map<uint64_t, std::string> got;
        for (auto& [i, e] : rec[1].entries) got[i] = e.command;
        ASSERT_EQ(got, synced) << "seed " << seed << " step " << step;
      }
    }
  }
}

TEST(WalTest, WorksOnTheRealFileSystem) {
  std::string dir = ::testing::TempDir() + "/meridian_wal_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::map<GroupId, RecoveredGroup> none;
  auto wal = Wal::Open(PosixFileSystem(), dir, {.segment_bytes = 1 << 20}, &none);
  ASSERT_TRUE(wal.ok()) << wal.status();
  (*wal)->AppendHardState(1, {Ballot{1, 1}, 1});
  (*wal)->AppendEntries(1, {E(1, 1, "real")});
  ASSERT_TRUE((*wal)->Sync().ok());
  wal->reset();
  std::map<GroupId, RecoveredGroup> r;
  ASSERT_TRUE(Wal::Open(PosixFileSystem(), dir, {.segment_bytes = 1 << 20}, &r).ok());
  EXPECT_EQ(r[1].entries[1].command, "real");
  std::filesystem::remove_all(dir);
}

// Names in `dir` that start with `prefix` ("wal-" segments, "spare-" spares).
size_t CountFiles(FileSystem* fs, const std::string& dir, std::string_view prefix) {
  auto names = fs->List(dir);
  EXPECT_TRUE(names.ok()) << names.status();
  size_t n = 0;
  for (const auto& name : *names) n += name.starts_with(prefix);
  return n;
}

TEST(WalTest, TrimThenReopenDropsOnlyTrimmedEntries) {
  MemFileSystem fs;
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", {}, &none);
  wal->AppendHardState(1, {Ballot{2, 1}, 8});
  for (uint64_t i = 1; i <= 10; ++i) wal->AppendEntries(1, {E(i, 2, "c" + std::to_string(i))});
  wal->AppendEntries(2, {E(1, 1, "other group")});
  ASSERT_TRUE(wal->Sync().ok());
  wal->AppendTrim(1, 6);
  wal->AppendTrim(1, 4);  // below the last trim: nothing
  ASSERT_TRUE(wal->Sync().ok());
  wal.reset();
  auto r = Recover(fs.CrashClone().get());
  EXPECT_EQ(r[1].trimmed_through, 6u);
  EXPECT_EQ(r[1].hard_state, (HardState{Ballot{2, 1}, 8}));
  ASSERT_EQ(r[1].entries.size(), 4u);
  EXPECT_EQ(r[1].entries.begin()->first, 7u);
  EXPECT_EQ(r[1].entries[10].command, "c10");
  EXPECT_EQ(r[2].trimmed_through, 0u);
  EXPECT_EQ(r[2].entries[1].command, "other group");
}

TEST(WalTest, PeriodicTrimsKeepTheSegmentFilesBounded) {
  MemFileSystem fs;
  Wal::Options o{.segment_bytes = 64 << 10, .max_spare_segments = 2};
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", o, &none);
  size_t most_segments = 0;
  for (uint64_t i = 1; i <= 20000; ++i) {
    wal->AppendEntries(1, {E(i, 1, std::string(200, 'a' + i % 26))});
    wal->AppendHardState(1, {Ballot{1, 1}, i});
    if (i % 100 == 0) wal->AppendTrim(1, i - 50);
    if (i % 10 == 0) {
      ASSERT_TRUE(wal->Sync().ok());
      most_segments = std::max(most_segments, CountFiles(&fs, "/wal", "wal-"));
      ASSERT_LE(CountFiles(&fs, "/wal", "spare-"), 2u);
    }
  }
  // ~4.6 MB went through 64 KiB segments; without recycling that is ~75 files.
  EXPECT_GT(wal->segment_seq(), 60u);
  EXPECT_LE(most_segments, 3u);
  EXPECT_EQ(wal->segment_count(), CountFiles(&fs, "/wal", "wal-"));
  EXPECT_GT(wal->segments_recycled(), 20u);
  wal.reset();
  auto r = Recover(fs.CrashClone().get(), o);
  EXPECT_EQ(r[1].trimmed_through, 19950u);
  EXPECT_EQ(r[1].hard_state.commit_index, 20000u);
  ASSERT_EQ(r[1].entries.size(), 50u);
  EXPECT_EQ(r[1].entries.begin()->first, 19951u);
}

TEST(WalTest, MultiGroupTrimKeepsASegmentAnotherGroupStillNeeds) {
  MemFileSystem fs;
  Wal::Options o{.segment_bytes = 8192};
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", o, &none);
  const std::string first = "/wal/wal-0000000000000001.log";
  wal->AppendEntries(2, {E(1, 1, "group 2 needs this")});
  wal->AppendHardState(3, {Ballot{1, 3}, 0});  // group 3: a hard state only
  for (uint64_t i = 1; i <= 200; ++i) wal->AppendEntries(1, {E(i, 1, std::string(100, 'x'))});
  ASSERT_TRUE(wal->Sync().ok());
  ASSERT_GT(wal->segment_seq(), 2u);
  wal->AppendTrim(1, 200);
  ASSERT_TRUE(wal->Sync().ok());
  EXPECT_TRUE(fs.OpenFile(first, false).ok()) << "group 2's entry is not trimmed";
  EXPECT_GT(wal->segments_recycled(), 0u);  // the segments of group 1 alone went
  wal->AppendTrim(2, 1);
  ASSERT_TRUE(wal->Sync().ok());
  EXPECT_TRUE(fs.OpenFile(first, false).ok()) << "group 3's latest hard state is there";
  wal->AppendHardState(3, {Ballot{2, 3}, 0});
  ASSERT_TRUE(wal->Sync().ok());
  EXPECT_FALSE(fs.OpenFile(first, false).ok()) << "nothing live is left in it";
  wal.reset();
  auto r = Recover(fs.CrashClone().get(), o);
  EXPECT_TRUE(r[1].entries.empty());
  EXPECT_TRUE(r[2].entries.empty());
  EXPECT_EQ(r[2].trimmed_through, 1u);
  EXPECT_EQ(r[3].hard_state, (HardState{Ballot{2, 3}, 0}));
}

TEST(WalTest, ACrashBetweenTrimAndSyncLosesNothingSynced) {
  MemFileSystem fs;
  Wal::Options o{.segment_bytes = 4096};
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", o, &none);
  wal->AppendHardState(1, {Ballot{4, 1}, 90});
  for (uint64_t i = 1; i <= 100; ++i) wal->AppendEntries(1, {E(i, 4, std::string(100, 'y'))});
  ASSERT_TRUE(wal->Sync().ok());
  const size_t segments = CountFiles(&fs, "/wal", "wal-");
  ASSERT_GT(segments, 2u);
  wal->AppendTrim(1, 90);
  wal->AppendEntries(1, {E(101, 4, "unsynced")});
  auto crashed = fs.CrashClone();
  EXPECT_EQ(CountFiles(&fs, "/wal", "wal-"), segments) << "nothing recycled before Sync";
  auto r = Recover(crashed.get(), o);
  EXPECT_EQ(r[1].trimmed_through, 0u);
  EXPECT_EQ(r[1].entries.size(), 100u);
  EXPECT_EQ(r[1].hard_state, (HardState{Ballot{4, 1}, 90}));

  ASSERT_TRUE(wal->Sync().ok());
  EXPECT_LT(CountFiles(&fs, "/wal", "wal-"), segments);
  r = Recover(fs.CrashClone().get(), o);
  EXPECT_EQ(r[1].trimmed_through, 90u);
  ASSERT_EQ(r[1].entries.size(), 11u);
  EXPECT_EQ(r[1].entries[101].command, "unsynced");
  EXPECT_EQ(r[1].hard_state, (HardState{Ballot{4, 1}, 90}));
}

// Calls append_one (which appends and syncs) until the open segment is a
// recycled one, full of another segment's records past what was written.
void RollIntoASpare(Wal* wal, const std::function<void()>& append_one) {
  for (int i = 0; i < 10000; ++i) {
    const size_t spares = wal->spare_count();
    const uint64_t seq = wal->segment_seq();
    append_one();
    if (::testing::Test::HasFatalFailure()) return;
    if (spares > 0 && wal->segment_seq() != seq) return;  // a roll takes a spare first
  }
  FAIL() << "never rolled into a spare";
}

TEST(WalTest, RecycledSegmentsNeverResurrectOldRecords) {
  MemFileSystem fs;
  Wal::Options o{.segment_bytes = 8192};
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", o, &none);
  // Hard states of one size: every segment holds them at the same offsets,
  // so a recycled segment's stale ones line up right after the new ones, and
  // each new one leaves the segments before it dead.
  uint64_t commit = 1000;
  auto hard_state = [&] {
    wal->AppendHardState(1, {Ballot{5, 1}, commit++});
    ASSERT_TRUE(wal->Sync().ok());
  };
  RollIntoASpare(wal.get(), hard_state);
  wal->AppendEntries(7, {E(1, 9, "keeps its segment")});
  ASSERT_TRUE(wal->Sync().ok());
  for (int i = 0; i < 200; ++i) hard_state();
  // Does not fit the rest of the segment: it is sealed half full, and its
  // stale bytes follow the seal.
  wal->AppendEntries(8, {E(1, 1, std::string(6000, 'z'))});
  wal->AppendTrim(8, 1);
  ASSERT_TRUE(wal->Sync().ok());
  RollIntoASpare(wal.get(), hard_state);
  ASSERT_GE(wal->segment_count(), 2u);
  for (int i = 0; i < 3; ++i) hard_state();
  wal.reset();
  // Power loss, then a restart that loses power again right after recovery.
  auto crashed = fs.CrashClone();
  for (int round = 0; round < 2; ++round) {
    std::map<GroupId, RecoveredGroup> r;
    auto reopened = Wal::Open(crashed.get(), "/wal", o, &r);
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    EXPECT_EQ(r[1].hard_state, (HardState{Ballot{5, 1}, commit - 1}));
    EXPECT_EQ(r.size(), 3u);
    EXPECT_TRUE(r[8].entries.empty());
    ASSERT_EQ(r[7].entries.size(), 1u);
    EXPECT_EQ(r[7].entries[1].command, "keeps its segment");
    reopened->reset();
    crashed = crashed->CrashClone();
  }
}

TEST(WalTest, TornTailInARecycledSegmentIsCut) {
  MemFileSystem fs;
  Wal::Options o{.segment_bytes = 8192};
  std::map<GroupId, RecoveredGroup> none;
  auto wal = *Wal::Open(&fs, "/wal", o, &none);
  uint64_t index = 1;
  RollIntoASpare(wal.get(), [&] {
    wal->AppendEntries(1, {E(index, 1, std::string(150, 'o'))});
    wal->AppendTrim(1, index++);
    ASSERT_TRUE(wal->Sync().ok());
  });
  const std::string torn(300, 'T');
  wal->AppendEntries(2, {E(1, 1, "whole")});
  ASSERT_TRUE(wal->Sync().ok());
  wal->AppendEntries(2, {E(2, 1, torn)});
  ASSERT_TRUE(wal->Sync().ok());
  const std::string path = "/wal/" + [&] {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "wal-%016llx.log",
                  static_cast<unsigned long long>(wal->segment_seq()));
    return std::string(buf);
  }();
  wal.reset();
  auto f = *fs.OpenFile(path, false);
  std::string data;
  ASSERT_TRUE(f->Read(0, 8192, &data).ok());
  const size_t at = data.find(torn);
  ASSERT_NE(at, std::string::npos);
  ASSERT_TRUE(f->Write(at + 150, std::string(150, '\0')).ok());

  std::map<GroupId, RecoveredGroup> r;
  auto reopened = Wal::Open(&fs, "/wal", o, &r);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_EQ(r[2].entries.size(), 1u);
  EXPECT_EQ(r[2].entries[1].command, "whole");
  (*reopened)->AppendEntries(2, {E(2, 2, "after")});
  ASSERT_TRUE((*reopened)->Sync().ok());
  reopened->reset();
  auto again = Recover(fs.CrashClone().get(), o);
  ASSERT_EQ(again[2].entries.size(), 2u);
  EXPECT_EQ(again[2].entries[2].command, "after");
}

// Random appends, hard states, trims, syncs and power losses over two
// groups: recovery returns exactly the synced state, and the segment files
// stay few.
TEST(WalTest, RandomCrashesWithTrimsRecoverExactlyTheSyncedState) {
  struct Model {
    std::map<uint64_t, std::string> entries;
    HardState hard_state;
    uint64_t trimmed = 0;
  };
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Random rnd(seed);
    auto fs = std::make_unique<MemFileSystem>();
    Wal::Options o{.segment_bytes = 8192, .max_spare_segments = 1};
    std::map<GroupId, Model> synced, pending;
    std::map<GroupId, uint64_t> next{{1, 1}, {2, 1}};
    std::map<GroupId, RecoveredGroup> rec;
    auto wal = *Wal::Open(fs.get(), "/wal", o, &rec);
    uint64_t recycled = 0;
    for (int step = 0; step < 1500; ++step) {
      const GroupId g = 1 + rnd.Uniform(2);
      Model& p = pending[g];
      if (pending.count(g) == 1 && p.entries.empty() && p.trimmed == 0) p = synced[g];
      if (rnd.OneIn(8)) {
        const uint64_t t = next[g] > 12 ? next[g] - 1 - rnd.Uniform(10) : 0;
        if (t > p.trimmed) p.trimmed = t;
        wal->AppendTrim(g, t);
      } else if (rnd.OneIn(5)) {
        p.hard_state = {Ballot{static_cast<uint64_t>(step), 1}, next[g]};
        wal->AppendHardState(g, p.hard_state);
      } else {
        // Mostly the next index, sometimes a rewrite of a recent one.
        uint64_t index = next[g]++;
        if (index > 3 && rnd.OneIn(4)) index -= 1 + rnd.Uniform(3);
        std::string cmd = "s" + std::to_string(step) + std::string(rnd.Uniform(300), 'p');
        wal->AppendEntries(g, {E(index, 1, cmd)});
        p.entries[index] = cmd;
      }
      if (rnd.OneIn(3)) {
        ASSERT_TRUE(wal->Sync().ok());
        for (auto& [id, m] : pending) {
          m.entries.erase(m.entries.begin(), m.entries.upper_bound(m.trimmed));
          synced[id] = m;
        }
        pending.clear();
        ASSERT_LE(CountFiles(fs.get(), "/wal", "wal-"), 8u) << "seed " << seed;
        ASSERT_LE(CountFiles(fs.get(), "/wal", "spare-"), 1u) << "seed " << seed;
      }
      if (rnd.OneIn(60)) {
        recycled += wal->segments_recycled();
        wal.reset();
        fs = fs->CrashClone();
        pending.clear();
        rec.clear();
        auto reopened = Wal::Open(fs.get(), "/wal", o, &rec);
        ASSERT_TRUE(reopened.ok()) << "seed " << seed << ": " << reopened.status();
        wal = std::move(*reopened);
        for (GroupId id : {1, 2}) {
          std::map<uint64_t, std::string> got;
          for (auto& [i, e] : rec[id].entries) got[i] = e.command;
          ASSERT_EQ(got, synced[id].entries) << "seed " << seed << " step " << step;
          ASSERT_EQ(rec[id].hard_state, synced[id].hard_state) << "seed " << seed;
          ASSERT_EQ(rec[id].trimmed_through, synced[id].trimmed) << "seed " << seed;
        }
      }
    }
    recycled += wal->segments_recycled();
    EXPECT_GT(recycled, 0u) << "seed " << seed;
  }
}

TEST(WalTest, IoPathFollowsTheOptionAndTheFileSystem) {
  MemFileSystem fs;
  std::map<GroupId, RecoveredGroup> none;
  auto automatic = Wal::Open(&fs, "/wal", {.io = Wal::Io::kAuto}, &none);
  ASSERT_TRUE(automatic.ok());
  EXPECT_EQ((*automatic)->io(), Wal::Io::kPosix) << "in-memory files have no fd";
  automatic->reset();
  auto forced = Wal::Open(&fs, "/wal", {.io = Wal::Io::kUring}, &none);
  EXPECT_EQ(forced.status().code(), absl::StatusCode::kInvalidArgument) << forced.status();
  Wal::Io io = Wal::Io::kAuto;
  EXPECT_TRUE(Wal::ParseIo("posix", &io));
  EXPECT_EQ(io, Wal::Io::kPosix);
  EXPECT_TRUE(Wal::ParseIo("uring", &io));
  EXPECT_EQ(io, Wal::Io::kUring);
  EXPECT_FALSE(Wal::ParseIo("aio", &io));
}

// Real files in a temp dir, written through each I/O path and read back
// after reopening through the other one.
class WalRealFileTest : public ::testing::TestWithParam<Wal::Io> {};

TEST_P(WalRealFileTest, SegmentsTrimsAndRecyclingOnRealFiles) {
  const Wal::Io io = GetParam();
  if (io == Wal::Io::kUring) {
    auto probe = UringSync::Create();
    if (!probe.ok()) GTEST_SKIP() << "io_uring refused here: " << probe.status();
  }
  std::string dir = ::testing::TempDir() + "/meridian_wal_io_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  Wal::Options o{.segment_bytes = 64 << 10, .io = io};
  std::map<GroupId, RecoveredGroup> none;
  auto opened = Wal::Open(PosixFileSystem(), dir, o, &none);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto wal = std::move(*opened);
  EXPECT_EQ(wal->io(), io);
  for (uint64_t i = 1; i <= 3000; ++i) {
    wal->AppendEntries(1, {E(i, 1, std::string(100, 'a' + i % 26))});
    if (i % 500 == 0) {
      wal->AppendHardState(1, {Ballot{1, 1}, i});
      wal->AppendTrim(1, i - 100);
    }
    if (i % 20 == 0) {
      ASSERT_TRUE(wal->Sync().ok());
    }
  }
  EXPECT_GT(wal->segment_seq(), 5u);
  EXPECT_GT(wal->segments_recycled(), 0u);
  EXPECT_LE(CountFiles(PosixFileSystem(), dir, "wal-"), 3u);
  wal.reset();
  Wal::Options other = o;
  other.io = io == Wal::Io::kUring ? Wal::Io::kPosix : Wal::Io::kAuto;
  std::map<GroupId, RecoveredGroup> r;
  auto reopened = Wal::Open(PosixFileSystem(), dir, other, &r);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(r[1].trimmed_through, 2900u);
  EXPECT_EQ(r[1].hard_state.commit_index, 3000u);
  ASSERT_EQ(r[1].entries.size(), 100u);
  EXPECT_EQ(r[1].entries[3000].command, std::string(100, 'a' + 3000 % 26));
  reopened->reset();
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Io, WalRealFileTest,
                         ::testing::Values(Wal::Io::kUring, Wal::Io::kPosix),
                         [](const auto& info) {
                           return std::string(info.param == Wal::Io::kUring ? "Uring" : "Posix");
                         });

TEST(CodecTest, MessagesRoundTripAndGarbageIsRejected) {
  Message m;
  m.type = MessageType::kAccept;
  m.from = 2;
  m.to = 3;
  m.ballot = Ballot{9, 2};
  m.index = 4;
  m.last_index = 5;
  m.commit_index = 3;
  m.force = true;
  m.entries = {E(4, 9, "a"), Entry{5, Ballot{9, 2}, "", true}};
  std::string buf;
  EncodeMessage(&buf, m);
  std::string_view in = buf;
  Message back;
  ASSERT_TRUE(DecodeMessage(&in, &back));
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(back.entries, m.entries);
  EXPECT_EQ(back.ballot, m.ballot);
  EXPECT_TRUE(back.force);
  EXPECT_FALSE(back.reject);
  for (size_t cut = 0; cut < buf.size(); ++cut) {
    std::string_view truncated = std::string_view(buf).substr(0, cut);
    Message junk;
    EXPECT_FALSE(DecodeMessage(&truncated, &junk)) << cut;
  }
}

}  // namespace
}  // namespace meridian::consensus
