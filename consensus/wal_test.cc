#include "consensus/wal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/random.h"
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
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Random rnd(seed);
    auto fs = std::make_unique<MemFileSystem>();
    Wal::Options o{.segment_bytes = 8192};
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
