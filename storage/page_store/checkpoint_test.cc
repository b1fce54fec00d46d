#include "storage/page_store/checkpoint.h"

#include <string>

#include "common/coding.h"
#include "common/crc32c.h"
#include "gtest/gtest.h"
#include "storage/page_store/blob.h"
#include "storage/page_store/page_io.h"
#include "storage/page_store/redo_log.h"

namespace meridian::storage::page_store {
namespace {

CheckpointData Sample() {
  CheckpointData d;
  d.header = CheckpointHeader{42, 3, 7, 99, 1234};
  Segment a;
  a.first_page = 1;
  a.used[0] = 100;
  Segment b;
  b.lower = std::string("m\0x", 3);
  b.first_page = 17;
  b.model.prefix = "m";
  b.model.lo.fill('0');
  b.model.hi.fill('9');
  b.model.base = 12345;
  b.model.slope = 1.5e-12;
  b.model.pages = 16;
  b.overflow[3] = 900;
  b.overflow_used[3] = 77;
  b.used[15] = 4000;
  b.inserts[0] = 3;
  b.inserts[15] = 300000;
  b.appends = 12;
  d.segments = {a, b};
  d.free_pages = {2, 3, 4, 1000};
  d.pinned.emplace_back("k1", VersionChain{CachedVersion{Version{9, 1}, std::nullopt},
                                            CachedVersion{Version{3, 2}, std::string("v\0", 2)}});
  d.pinned.emplace_back(std::string(1000, '\xff'), VersionChain{});
  return d;
}

std::string Encode(const CheckpointData& d, int version = kCheckpointVersion) {
  CheckpointEncoder enc(d.header, version);
  enc.BeginSegments(d.segments.size());
  for (const Segment& s : d.segments) enc.AddSegment(s);
  enc.SetFreePages(d.free_pages);
  enc.BeginPinned(d.pinned.size());
  for (const auto& [k, c] : d.pinned) enc.AddPinned(k, c);
  return enc.Finish();
}

TEST(CheckpointTest, RoundTrip) {
  const CheckpointData d = Sample();
  CheckpointData got;
  ASSERT_TRUE(DecodeCheckpoint(Encode(d), &got).ok());
  EXPECT_EQ(got.header.applied_index, 42u);
  EXPECT_EQ(got.header.log_group, 3u);
  EXPECT_EQ(got.header.pages_generation, 7u);
  EXPECT_EQ(got.header.next_lsn, 99u);
  EXPECT_EQ(got.header.page_count, 1234u);
  EXPECT_EQ(got.segments, d.segments);
  EXPECT_EQ(got.free_pages, d.free_pages);
  EXPECT_EQ(got.pinned, d.pinned);
}

TEST(CheckpointTest, VersionOneIsReadWithoutInsertHistory) {
  const CheckpointData d = Sample();
  CheckpointData got;
  ASSERT_TRUE(DecodeCheckpoint(Encode(d, 1), &got).ok());
  ASSERT_EQ(got.segments.size(), 2u);
  std::vector<Segment> want = d.segments;
  for (Segment& s : want) {
    s.inserts = {};
    s.appends = 0;
  }
  EXPECT_EQ(got.segments, want);
  EXPECT_EQ(got.pinned, d.pinned);
  EXPECT_NE(Encode(d, 1).size(), Encode(d).size());
}

TEST(CheckpointTest, NewerVersionIsRefusedByName) {
  std::string bytes = Encode(Sample());
  bytes.resize(bytes.size() - 4);
  ASSERT_EQ(bytes.substr(0, 8), "MRDNPSC2");
  bytes[7] = '3';
  PutFixed32(&bytes, crc32c::Mask(crc32c::Value(bytes)));
  CheckpointData got;
  Status s = DecodeCheckpoint(bytes, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(s.message()).find("format version 3 is newer"), std::string::npos) << s;
}

TEST(CheckpointTest, EveryFlippedByteIsCorruption) {
  const std::string bytes = Encode(Sample());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 0x20;
    CheckpointData got;
    Status s = DecodeCheckpoint(bad, &got);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
  CheckpointData got;
  EXPECT_FALSE(DecodeCheckpoint(bytes.substr(0, bytes.size() - 1), &got).ok());
}

TEST(CheckpointTest, AtomicFileOnMemFs) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.CreateDir("/d").ok());
  Result<std::optional<std::string>> none = ReadCheckpointFile(&fs, "/d");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(WriteCheckpointFile(&fs, "/d", "one").ok());
  ASSERT_TRUE(WriteCheckpointFile(&fs, "/d", "second").ok());
  std::unique_ptr<MemFileSystem> crashed = fs.CrashClone();
  Result<std::optional<std::string>> got = ReadCheckpointFile(crashed.get(), "/d");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or(""), "second");
}

TEST(RedoLogTest, BatchCodecRoundTrip) {
  WriteBatch b{17, {Record{"a", Version{1, 2}, std::string("x\0y", 3)},
                    Record{std::string(), Version{UINT64_MAX, UINT32_MAX}, std::nullopt}}};
  WriteBatch got;
  ASSERT_TRUE(DecodeBatch(17, EncodeBatch(b), &got).ok());
  EXPECT_EQ(got.log_index, 17u);
  EXPECT_EQ(got.records, b.records);
  std::string bad = EncodeBatch(b);
  bad.pop_back();
  EXPECT_FALSE(DecodeBatch(17, bad, &got).ok());
}

TEST(BlobTest, RoundTripAndDamage) {
  std::string value(3 * kBlobPayloadBytes + 5, '\0');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
  BlobRef ref;
  ASSERT_EQ(BlobRef::BlobPages(value.size()), 4u);
  auto buf = PageIo::AlignedBuffer(4);
  ref = FormatBlob(buf.get(), 50, value);
  for (uint32_t i = 0; i < 4; ++i) {
    Page p(buf.get() + i * kPageSize);
    p.set_lsn(i + 1);
    p.Seal();
    EXPECT_TRUE(IsSealedPage(buf.get() + i * kPageSize, 50 + i));
  }
  BlobRef back;
  ASSERT_TRUE(BlobRef::Decode(ref.Encode(), &back));
  EXPECT_EQ(back.first_page, 50u);
  std::string got;
  ASSERT_TRUE(ReadBlobValue(buf.get(), back, &got).ok());
  EXPECT_EQ(got, value);
  buf.get()[2 * kPageSize + 100] ^= 1;
  Status s = ReadBlobValue(buf.get(), back, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("page 52"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace meridian::storage::page_store
