#include "storage/page_store/record_cache.h"

#include <map>
#include <string>

#include "common/random.h"
#include "gtest/gtest.h"
#include "storage/engine_model.h"

namespace meridian::storage::page_store {
namespace {

CachedVersion V(uint64_t hlc, SiteId site, std::optional<std::string> value) {
  return CachedVersion{Version{hlc, site}, std::move(value)};
}

TEST(VersionChainTest, NewestFirstAndReplace) {
  VersionChain c;
  AddVersion(&c, V(5, 1, "a"));
  AddVersion(&c, V(7, 1, "b"));
  AddVersion(&c, V(5, 2, std::nullopt));
  AddVersion(&c, V(1, 9, "c"));
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].version, (Version{7, 1}));
  EXPECT_EQ(c[1].version, (Version{5, 2}));
  EXPECT_EQ(c[2].version, (Version{5, 1}));
  EXPECT_EQ(c[3].version, (Version{1, 9}));
  AddVersion(&c, V(5, 1, "replaced"));
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(c[2].value, "replaced");
  // A page's copy never replaces the cache's.
  EXPECT_FALSE(MergePageVersion(&c, V(5, 1, "page")));
  EXPECT_EQ(c[2].value, "replaced");
  EXPECT_TRUE(MergePageVersion(&c, V(6, 1, "page")));
  EXPECT_EQ(c[1].value, "page");
}

// Visible and CollectGarbage agree with EngineModel on random chains.
TEST(VersionChainTest, MatchesModel) {
  Random rnd(7);
  for (int round = 0; round < 2000; ++round) {
    EngineModel model;
    VersionChain chain;
    WriteBatch b{1, {}};
    for (uint64_t n = rnd.Uniform(6); n > 0; --n) {
      Record r{"k", Version{1 + rnd.Uniform(6), static_cast<SiteId>(1 + rnd.Uniform(2))},
               std::nullopt};
      if (!rnd.OneIn(3)) r.value = std::to_string(rnd.Uniform(100));
      b.records.push_back(r);
      AddVersion(&chain, CachedVersion{r.version, r.value});
    }
    model.Apply(b);
    Snapshot s;
    for (SiteId site = 1; site <= 2; ++site) {
      if (!rnd.OneIn(3)) s.Set(site, rnd.Uniform(8));
    }
    const std::optional<ReadResult> want = model.Get("k", s);
    const CachedVersion* got = Visible(chain, s);
    ASSERT_EQ(got != nullptr, want.has_value());
    if (got != nullptr) {
      EXPECT_EQ(got->version, want->version);
      EXPECT_EQ(got->value, want->value);
    }
    model.GarbageCollect(s);
    CollectGarbage(&chain, s);
    std::vector<Record> records = model.Records();
    ASSERT_EQ(records.size(), chain.size());
    for (size_t i = 0; i < chain.size(); ++i) {
      EXPECT_EQ(records[i].version, chain[i].version);
      EXPECT_EQ(records[i].value, chain[i].value);
    }
  }
}

TEST(RecordCacheTest, BytesFollowEveryChange) {
  RecordCache cache;
  Random rnd(8);
  auto total = [&] {
    uint64_t sum = 0;
    for (const auto& [k, e] : cache.map()) sum += RecordCache::EntryBytes(k, e);
    return sum;
  };
  for (int i = 0; i < 3000; ++i) {
    const std::string key = "k" + std::to_string(rnd.Uniform(50));
    switch (rnd.Uniform(4)) {
      case 0:
      case 1:
        cache.Apply(key, V(rnd.Uniform(5), 1, std::string(rnd.Uniform(200), 'v')));
        break;
      case 2: {
        auto it = cache.map().find(key);
        if (it != cache.map().end()) {
          const uint64_t before = cache.Charge(it);
          CollectGarbage(&it->second.versions, Snapshot::Latest());
          cache.Recharge(it, before);
        }
        break;
      }
      default: {
        auto it = cache.map().find(key);
        if (it != cache.map().end()) cache.Erase(it);
      }
    }
    ASSERT_EQ(cache.bytes(), total()) << "step " << i;
  }
  const auto it = cache.map().begin();
  if (it != cache.map().end()) {
    EXPECT_TRUE(it->second.dirty);
    EXPECT_FALSE(it->second.complete);
  }
}

TEST(CacheEntryTest, EvictableOnlyWhenCompleteCleanAndOneLiveVersion) {
  CacheEntry e;
  e.versions.push_back(V(1, 1, "v"));
  e.complete = true;
  EXPECT_TRUE(e.Evictable());
  e.dirty = true;
  EXPECT_FALSE(e.Evictable());
  e.dirty = false;
  e.complete = false;
  EXPECT_FALSE(e.Evictable());
  e.complete = true;
  e.versions.push_back(V(0, 1, "old"));
  EXPECT_FALSE(e.Evictable());
  EXPECT_TRUE(e.Pinned());
  e.versions = {V(2, 1, std::nullopt)};
  EXPECT_FALSE(e.Evictable());
  EXPECT_TRUE(e.Pinned());
}

}  // namespace
}  // namespace meridian::storage::page_store
