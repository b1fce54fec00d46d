#include "client/ctl/backup_file.h"

#include <gtest/gtest.h>

#include "common/file_system.h"

namespace meridian::ctl {
namespace {

using Records = google::protobuf::RepeatedPtrField<v1::BackupRecord>;

v1::BackupRecord Kv(std::string key, std::string value, uint64_t hlc) {
  v1::BackupRecord r;
  r.set_key(std::move(key));
  r.set_value(std::move(value));
  r.mutable_version()->set_hlc(hlc);
  r.mutable_version()->set_site_id(1);
  return r;
}

v1::BackupRecord Cset(std::string key, std::string element, int64_t count, uint64_t hlc) {
  v1::BackupRecord r;
  r.set_kind(v1::BackupRecord::CSET_ELEMENT);
  r.set_key(std::move(key));
  r.set_element(std::move(element));
  r.set_count(count);
  r.mutable_version()->set_hlc(hlc);
  r.mutable_version()->set_site_id(1);
  return r;
}

v1::BackupHeader Header() {
  v1::BackupHeader h;
  h.set_snapshot_hlc(111'000'000);
  h.set_site_id(1);
  h.set_group(1);
  h.set_applied_index(42);
  h.set_source_member_id(2);
  h.set_source_node_id("2");
  h.set_server_version("0.1.0");
  h.set_created_unix_ms(1'700'000'000'000);
  return h;
}

class BackupFileTest : public ::testing::Test {
 protected:
  // Writes a backup of two blocks: 3 KV records (binary bytes included) and
  // a cset element, then 1 KV record.
  void WriteGood(const std::string& path) {
    auto w = BackupWriter::Create(&fs_, path, /*overwrite=*/false);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Start(Header()).ok());
    Records first;
    *first.Add() = Kv("a", "1", 100);
    *first.Add() = Kv(std::string("b\0b", 3), std::string(1000, '\xff'), 101);
    *first.Add() = Kv("c", "", 102);
    *first.Add() = Cset("tags", "blue", -3, 103);
    ASSERT_TRUE((*w)->AddBlock(first).ok());
    Records second;
    *second.Add() = Kv("d", "4", 104);
    ASSERT_TRUE((*w)->AddBlock(second).ok());
    ASSERT_TRUE((*w)->Finish().ok());
    EXPECT_EQ((*w)->records(), 5u);
  }
  std::string Contents(const std::string& path) {
    auto f = fs_.OpenFile(path, false);
    EXPECT_TRUE(f.ok());
    std::string out;
    EXPECT_TRUE((*f)->Read(0, 1 << 20, &out).ok());
    return out;
  }
  void Replace(const std::string& path, const std::string& bytes) {
    (void)fs_.Remove(path);
    auto f = fs_.OpenFile(path, true);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Write(0, bytes).ok());
  }
  // The message of a failed verification, or "" if it passed.
  std::string VerifyError(const std::string& path) {
    auto v = VerifyBackupFile(&fs_, path);
    if (v.ok()) return "";
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << v.status();
    return std::string(v.status().message());
  }

  MemFileSystem fs_;
};

TEST_F(BackupFileTest, RoundTripKeepsEveryRecordAndTheHeader) {
  WriteGood("/d/b.mbk");
  auto v = VerifyBackupFile(&fs_, "/d/b.mbk");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->header.snapshot_hlc(), 111'000'000u);
  EXPECT_EQ(v->header.applied_index(), 42u);
  EXPECT_EQ(v->header.source_node_id(), "2");
  EXPECT_EQ(v->trailer.record_count, 5u);
  EXPECT_EQ(v->trailer.block_count, 2u);
  EXPECT_EQ(v->kv_records, 4u);
  EXPECT_EQ(v->cset_records, 1u);

  auto r = BackupReader::Open(&fs_, "/d/b.mbk");
  ASSERT_TRUE(r.ok()) << r.status();
  std::string payload;
  uint64_t at = 0;
  Records all;
  for (;;) {
    auto more = (*r)->NextBlock(&payload, &at);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    ASSERT_TRUE(DecodeBackupBlock(payload, at, &all).ok());
  }
  ASSERT_EQ(all.size(), 5);
  EXPECT_EQ(all[1].key(), std::string("b\0b", 3));
  EXPECT_EQ(all[1].value(), std::string(1000, '\xff'));
  EXPECT_EQ(all[1].version().hlc(), 101u);
  EXPECT_EQ(all[1].version().site_id(), 1u);
  EXPECT_EQ(all[2].value(), "");
  EXPECT_EQ(all[3].kind(), v1::BackupRecord::CSET_ELEMENT);
  EXPECT_EQ(all[3].key(), "tags");
  EXPECT_EQ(all[3].element(), "blue");
  EXPECT_EQ(all[3].count(), -3);
  EXPECT_EQ(all[4].key(), "d");

  v1::RestoreIdentity id = IdentityOf(*v);
  EXPECT_EQ(id.snapshot_hlc(), 111'000'000u);
  EXPECT_EQ(id.record_count(), 5u);
  EXPECT_EQ(id.block_count(), 2u);
  EXPECT_NE(id.checksum(), 0u);
}

TEST_F(BackupFileTest, AnEmptyBackupHasNoBlocksAndVerifies) {
  auto w = BackupWriter::Create(&fs_, "/d/empty", false);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Start(Header()).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  auto v = VerifyBackupFile(&fs_, "/d/empty");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->trailer.record_count, 0u);
  EXPECT_EQ(v->trailer.block_count, 0u);
}

TEST_F(BackupFileTest, EveryFlippedByteIsCaughtWithItsOffset) {
  WriteGood("/d/b.mbk");
  const std::string good = Contents("/d/b.mbk");
  // Any single flipped byte, anywhere, fails verification.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    Replace("/d/bad", bad);
    const std::string e = VerifyError("/d/bad");
    ASSERT_NE(e, "") << "a flipped byte at " << i << " went unnoticed";
    EXPECT_NE(e.find("/d/bad: at offset "), std::string::npos) << e;
  }
  // In a block's payload: a checksum mismatch, at the block's offset.
  std::string bad = good;
  const size_t block_at = good.find('B', 12 + 9);  // the first block frame
  bad[block_at + 9 + 20] ^= 1;
  Replace("/d/bad", bad);
  const std::string e = VerifyError("/d/bad");
  EXPECT_NE(e.find(absl::StrCat("at offset ", block_at, ": checksum mismatch in a block frame")),
            std::string::npos)
      << e;
}

TEST_F(BackupFileTest, ATruncatedFileIsIncomplete) {
  WriteGood("/d/b.mbk");
  const std::string good = Contents("/d/b.mbk");
  for (size_t n : {good.size() - 1, good.size() - 20, good.size() / 2, size_t{30}, size_t{12}}) {
    Replace("/d/short", good.substr(0, n));
    const std::string e = VerifyError("/d/short");
    EXPECT_TRUE(e.find("truncated") != std::string::npos ||
                e.find("without a trailer") != std::string::npos)
        << "cut at " << n << ": " << e;
  }
  // Cut exactly at a frame boundary, before the trailer: no trailer.
  const size_t trailer_at = good.size() - (9 + 20);
  Replace("/d/short", good.substr(0, trailer_at));
  EXPECT_NE(VerifyError("/d/short").find(
                absl::StrCat("at offset ", trailer_at, ": the file ends here, without a trailer")),
            std::string::npos);
}

TEST_F(BackupFileTest, BadMagicVersionAndTrailingBytes) {
  Replace("/d/text", "hello, this is not a backup at all");
  EXPECT_NE(VerifyError("/d/text").find("at offset 0: not a Meridian backup file (bad magic)"),
            std::string::npos);
  Replace("/d/tiny", "MRD");
  EXPECT_NE(VerifyError("/d/tiny").find("bad magic"), std::string::npos);

  WriteGood("/d/b.mbk");
  std::string good = Contents("/d/b.mbk");
  std::string v2 = good;
  v2[8] = 2;
  Replace("/d/v2", v2);
  EXPECT_NE(VerifyError("/d/v2").find("format version 2; this meridianctl reads version 1"),
            std::string::npos);

  Replace("/d/tail", good + "x");
  EXPECT_NE(VerifyError("/d/tail").find("1 bytes after the trailer"), std::string::npos);
}

TEST_F(BackupFileTest, ATrailerThatDisagreesWithTheBlocksIsCorrupt) {
  // A block dropped whole (frames intact): counts and checksum disagree.
  WriteGood("/d/b.mbk");
  const std::string good = Contents("/d/b.mbk");
  const size_t first = good.find('B', 12 + 9);
  const size_t second = good.find('B', first + 9 + 100);
  ASSERT_NE(second, std::string::npos);
  const size_t trailer_at = good.size() - (9 + 20);
  Replace("/d/cut", good.substr(0, second) + good.substr(trailer_at));
  EXPECT_NE(VerifyError("/d/cut").find("(the trailer): it says 2 blocks, the file holds 1"),
            std::string::npos)
      << VerifyError("/d/cut");
}

TEST_F(BackupFileTest, AnExistingFileIsKeptUnlessOverwriting) {
  WriteGood("/d/b.mbk");
  auto refused = BackupWriter::Create(&fs_, "/d/b.mbk", /*overwrite=*/false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("pass --force"), absl::string_view::npos);
  EXPECT_TRUE(BackupWriter::Create(&fs_, "/d/b.mbk", /*overwrite=*/true).ok());
}

TEST_F(BackupFileTest, AnUnfinishedSaveLeavesNoFile) {
  {
    auto w = BackupWriter::Create(&fs_, "/d/b.mbk", false);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Start(Header()).ok());
    Records one;
    *one.Add() = Kv("a", "1", 100);
    ASSERT_TRUE((*w)->AddBlock(one).ok());
    // A crash now: only FILE.part, never FILE.
    auto crashed = fs_.CrashClone();
    EXPECT_FALSE(crashed->OpenFile("/d/b.mbk", false).ok());
    EXPECT_TRUE(fs_.OpenFile("/d/b.mbk.part", false).ok());
  }  // abandoned: FILE.part is removed
  EXPECT_FALSE(fs_.OpenFile("/d/b.mbk.part", false).ok());
  EXPECT_FALSE(fs_.OpenFile("/d/b.mbk", false).ok());
}

TEST_F(BackupFileTest, AFailedSyncLeavesNoFile) {
  FaultFileSystem faulty(&fs_);
  faulty.Arm(FaultFileSystem::Op::kSync, ".part",
             absl::ResourceExhaustedError("fdatasync: no space left on device"));
  {
    auto w = BackupWriter::Create(&faulty, "/d/b.mbk", false);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Start(Header()).ok());
    Status s = (*w)->Finish();
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  }
  EXPECT_FALSE(fs_.OpenFile("/d/b.mbk", false).ok());
  EXPECT_FALSE(fs_.OpenFile("/d/b.mbk.part", false).ok());
}

TEST_F(BackupFileTest, AFinishedSaveSurvivesACrash) {
  WriteGood("/d/b.mbk");
  auto crashed = fs_.CrashClone();
  auto v = VerifyBackupFile(crashed.get(), "/d/b.mbk");
  EXPECT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(crashed->OpenFile("/d/b.mbk.part", false).ok());
}

TEST_F(BackupFileTest, StartingOverDropsTheEarlierAttempt) {
  auto w = BackupWriter::Create(&fs_, "/d/b.mbk", false);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Start(Header()).ok());
  Records many;
  for (int i = 0; i < 100; ++i) *many.Add() = Kv(absl::StrCat("k", i), "v", 100 + i);
  ASSERT_TRUE((*w)->AddBlock(many).ok());
  // A retried backup: a new snapshot, fewer records.
  v1::BackupHeader h = Header();
  h.set_snapshot_hlc(222'000'000);
  ASSERT_TRUE((*w)->Start(h).ok());
  Records one;
  *one.Add() = Kv("only", "1", 200);
  ASSERT_TRUE((*w)->AddBlock(one).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  auto v = VerifyBackupFile(&fs_, "/d/b.mbk");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->header.snapshot_hlc(), 222'000'000u);
  EXPECT_EQ(v->trailer.record_count, 1u);
}

}  // namespace
}  // namespace meridian::ctl
