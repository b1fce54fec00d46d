#include "storage/page_store/page.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace meridian::storage::page_store {
namespace {

struct Buffer {
  alignas(4096) char bytes[kPageSize];
};

std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "key%06d", i);
  return buf;
}

using Model = std::map<std::string, std::pair<Version, std::optional<std::string>>>;

void ExpectMatches(const Page& page, const Model& model) {
  ASSERT_EQ(page.count(), model.size());
  size_t slot = 0;
  for (const auto& [key, v] : model) {
    const PageEntry e = page.At(slot++);
    EXPECT_EQ(e.key, key);
    EXPECT_EQ(e.version, v.first);
    ASSERT_EQ(e.value.has_value(), v.second.has_value()) << key;
    if (e.value) {
      EXPECT_EQ(*e.value, *v.second);
    }
  }
}

TEST(PageTest, RandomPutsErasesAndCompactionsMatchAModel) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    Buffer buf;
    Page page(buf.bytes);
    page.Init(PageKind::kData, 3, "key000100", std::string_view("key000900"));
    Model model;
    for (int op = 0; op < 400; ++op) {
      const std::string key = Key(100 + static_cast<int>(rng() % 800));
      if (rng() % 4 == 0) {
        EXPECT_EQ(page.Erase(key), model.erase(key) == 1);
      } else {
        std::optional<std::string> value;
        if (rng() % 8 != 0) value = std::string(rng() % 200, static_cast<char>('a' + rng() % 26));
        const Version version{static_cast<uint64_t>(op + 1), 1 + static_cast<uint32_t>(rng() % 3)};
        const size_t before_free = page.FreeBytes();
        const bool fits = page.Put(key, version, value);
        if (fits) {
          model[key] = {version, value};
        } else {
          // Refused only when it really did not fit, and nothing changed.
          const size_t old = model.count(key)
                                 ? Page::RecordBytes(key, model[key].second) - Page::kSlotBytes
                                 : 0;
          EXPECT_GT(Page::RecordBytes(key, value) - (old ? Page::kSlotBytes : 0),
                    before_free + old);
          EXPECT_EQ(page.FreeBytes(), before_free);
        }
      }
      if (op % 97 == 0) page.Compact();
    }
    ExpectMatches(page, model);
    page.Seal();
    ASSERT_TRUE(page.Verify(3).ok()) << page.Verify(3);
    for (const auto& [key, v] : model) {
      auto e = page.Find(key);
      ASSERT_TRUE(e.has_value()) << key;
      EXPECT_EQ(e->version, v.first);
    }
    EXPECT_FALSE(page.Find("key000099").has_value());
  }
}

TEST(PageTest, FencesBoundTheKeys) {
  Buffer buf;
  Page page(buf.bytes);
  page.Init(PageKind::kData, 1, "b", std::string_view("d"));
  EXPECT_TRUE(page.Covers("b"));
  EXPECT_TRUE(page.Covers("c\xff"));
  EXPECT_FALSE(page.Covers("a"));
  EXPECT_FALSE(page.Covers("d"));
  page.Init(PageKind::kData, 1, "", std::nullopt);
  EXPECT_TRUE(page.Covers(""));
  EXPECT_TRUE(page.Covers(std::string(100, '\xff')));
  EXPECT_EQ(page.upper_fence(), std::nullopt);
  EXPECT_EQ(page.lower_fence(), "");
}

TEST(PageTest, APageFillsToNearlyItsSizeAndCompactionReclaimsReplacedRecords) {
  Buffer buf;
  Page page(buf.bytes);
  page.Init(PageKind::kData, 1, "", std::nullopt);
  const std::string value(100, 'v');
  int n = 0;
  while (page.Put(Key(n), {1, 1}, value)) ++n;
  EXPECT_GE(n, 30);  // 16 B keys + 100 B values: ~31 per page
  EXPECT_LT(page.FreeBytes(), Page::RecordBytes(Key(n), value));
  // Replacing every record with one of the same size works in place of the old ones.
  for (int i = 0; i < n; ++i) ASSERT_TRUE(page.Put(Key(i), {2, 1}, value)) << i;
  for (int i = 0; i < n; ++i) EXPECT_EQ(page.Find(Key(i))->version.hlc, 2u);
  page.Seal();
  EXPECT_TRUE(page.Verify(1).ok());
}

TEST(PageTest, EveryFlippedByteIsDetected) {
  Buffer buf;
  Page page(buf.bytes);
  page.Init(PageKind::kData, 9, "a", std::string_view("z"));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(page.Put("k" + std::to_string(i), {5, 1}, "value"));
  page.set_lsn(42);
  page.set_overflow(17);
  page.Seal();
  ASSERT_TRUE(page.Verify(9).ok());
  for (size_t at = 0; at < kPageSize; ++at) {
    Buffer copy = buf;
    copy.bytes[at] ^= 0x10;
    Status s = Page(copy.bytes).Verify(9);
    ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << at;
  }
}

TEST(PageTest, ATornWriteAndAMisplacedPageAreDetected) {
  Buffer old_buf, new_buf;
  Page old_page(old_buf.bytes), new_page(new_buf.bytes);
  old_page.Init(PageKind::kData, 4, "", std::nullopt);
  new_page.Init(PageKind::kData, 4, "", std::nullopt);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(old_page.Put(Key(i), {1, 1}, std::string(100, 'o')));
    ASSERT_TRUE(new_page.Put(Key(i), {2, 1}, std::string(100, 'n')));
  }
  old_page.Seal();
  new_page.Seal();
  // The device wrote the first 512-byte sectors of the new page only.
  for (size_t sectors = 1; sectors < kPageSize / 512; ++sectors) {
    Buffer torn = old_buf;
    std::memcpy(torn.bytes, new_buf.bytes, sectors * 512);
    Status s = Page(torn.bytes).Verify(4);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << sectors;
    EXPECT_NE(s.message().find("checksum"), std::string::npos) << s;
  }
  Status misplaced = new_page.Verify(5);
  EXPECT_NE(misplaced.message().find("holds page 4"), std::string::npos) << misplaced;
  Buffer zero{};
  EXPECT_EQ(Page(zero.bytes).Verify(4).code(), absl::StatusCode::kDataLoss);
}

TEST(PageTest, TombstonesAndEmptyValuesAreDistinct) {
  Buffer buf;
  Page page(buf.bytes);
  page.Init(PageKind::kData, 1, "", std::nullopt);
  ASSERT_TRUE(page.Put("dead", {3, 2}, std::nullopt));
  ASSERT_TRUE(page.Put("empty", {4, 2}, std::string_view()));
  EXPECT_FALSE(page.Find("dead")->value.has_value());
  ASSERT_TRUE(page.Find("empty")->value.has_value());
  EXPECT_EQ(*page.Find("empty")->value, "");
  EXPECT_EQ(page.Find("dead")->version, (Version{3, 2}));
}

}  // namespace
}  // namespace meridian::storage::page_store
