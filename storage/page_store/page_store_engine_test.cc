#include "storage/page_store/page_store.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_system.h"
#include "common/random.h"
#include "gtest/gtest.h"
#include "storage/conformance_util.h"
#include "storage/engine_conformance.h"
#include "storage/engine_model.h"

namespace meridian::storage::page_store {
namespace {

PageStore::Options ConformanceOptions(const std::string& dir, uint64_t memory_bytes,
                                      uint64_t checkpoint_bytes) {
  PageStore::Options o;
  o.dir = dir;
  o.memory_bytes = memory_bytes;
  o.checkpoint_log_bytes = checkpoint_bytes;
  o.log_segment_bytes = 1 << 20;
  // The redo log grows in steps, as in meridiand's smaller stores.
  o.log_preallocate_bytes = memory_bytes < (1 << 20) ? 64 << 10 : 0;
  o.dwb_pages = 64;
  return o;
}

Result<std::unique_ptr<Engine>> OpenEngine(const PageStore::Options& o) {
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<PageStore> s, PageStore::Open(o));
  return std::unique_ptr<Engine>(std::move(s));
}

const bool kRegistered = [] {
  // Roomy: everything stays cached between checkpoints.
  RegisterEngineConformance("PageStoreConformance", [](const std::string& dir) {
    return OpenEngine(ConformanceOptions(dir, 8 << 20, 256 << 10));
  });
  // Tiny: nearly every Apply evicts, so write-back, overflow pages,
  // reorganization, blobs and frequent checkpoints all run.
  RegisterEngineConformance("PageStoreTinyCacheConformance", [](const std::string& dir) {
    return OpenEngine(ConformanceOptions(dir, 24 << 10, 48 << 10));
  });
  return true;
}();

using conformance::ExpectSameState;

// A file system that calls `hook` after every durable step (file and
// directory syncs, renames, removals): the points a crash test clones at.
class HookFs final : public FileSystem {
 public:
  using Hook = std::function<void(const std::string& what)>;
  HookFs(FileSystem* base, Hook hook) : base_(base), hook_(std::move(hook)) {}

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override {
    MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<File> f, base_->OpenFile(path, create));
    return std::unique_ptr<File>(new HookFile(std::move(f), this, path));
  }
  Status CreateDir(const std::string& path) override { return base_->CreateDir(path); }
  Result<std::vector<std::string>> List(const std::string& dir) override { return base_->List(dir); }
  Status Remove(const std::string& path) override { return After(base_->Remove(path), "remove " + path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return After(base_->Rename(from, to), "rename " + to);
  }
  Status SyncDir(const std::string& dir) override { return After(base_->SyncDir(dir), "syncdir " + dir); }

 private:
  class HookFile final : public File {
   public:
    HookFile(std::unique_ptr<File> f, HookFs* fs, std::string path)
        : f_(std::move(f)), fs_(fs), path_(std::move(path)) {}
    Status Write(uint64_t offset, std::string_view data) override { return f_->Write(offset, data); }
    Status Read(uint64_t offset, size_t n, std::string* out) override { return f_->Read(offset, n, out); }
    Status Sync() override { return fs_->After(f_->Sync(), "sync " + path_); }
    Status Allocate(uint64_t size) override { return f_->Allocate(size); }
    Result<uint64_t> Size() override { return f_->Size(); }

   private:
    std::unique_ptr<File> f_;
    HookFs* fs_;
    std::string path_;
  };

  Status After(Status s, const std::string& what) {
    if (s.ok()) hook_(what);
    return s;
  }

  FileSystem* base_;
  Hook hook_;
};

PageStore::Options MemOptions(FileSystem* fs, uint64_t memory_bytes) {
  PageStore::Options o;
  o.fs = fs;
  o.dir = "/db";
  o.memory_bytes = memory_bytes;
  o.checkpoint_log_bytes = 64 << 10;
  o.log_segment_bytes = 256 << 10;
  // Crash clones catch the redo log's segments part grown.
  o.log_preallocate_bytes = 16 << 10;
  o.dwb_pages = 16;
  return o;
}

std::unique_ptr<PageStore> MustOpen(const PageStore::Options& o) {
  Result<std::unique_ptr<PageStore>> s = PageStore::Open(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::string KeyOf(uint64_t n) { return absl::StrFormat("user%019d", n); }

// A batch over `keys` keys: new versions (so keys gather several, and get
// pinned), tombstones, empty, small and blob-sized values.
WriteBatch MakeBatch(Random& rnd, uint64_t index, uint64_t keys) {
  WriteBatch b;
  b.log_index = index;
  for (uint64_t n = 1 + rnd.Uniform(8); n > 0; --n) {
    Record r;
    r.key = KeyOf(rnd.Uniform(keys));
    if (rnd.OneIn(10)) r.key += std::string(rnd.Uniform(300), 'x');
    r.version = Version{index * 4 + rnd.Uniform(4), static_cast<SiteId>(1 + rnd.Uniform(2))};
    if (!rnd.OneIn(8)) {
      const uint64_t len = rnd.OneIn(15) ? 1500 + rnd.Uniform(9000) : rnd.Uniform(160);
      r.value = std::string(len, static_cast<char>('a' + rnd.Uniform(26)));
    }
    b.records.push_back(std::move(r));
  }
  return b;
}

EngineModel ModelUpTo(const std::map<uint64_t, WriteBatch>& batches, uint64_t index) {
  EngineModel model;
  for (const auto& [i, b] : batches) {
    if (i > index) break;
    model.Apply(b);
  }
  return model;
}

TEST(PageStoreTest, SegmentsGrowByReorganizationAndOpenReadsNoPage) {
  MemFileSystem mem;
  PageStore::Options o = MemOptions(&mem, 128 << 10);
  o.checkpoint_log_bytes = 1 << 20;
  std::unique_ptr<PageStore> s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  Random rnd(11);
  EngineModel model;
  for (uint64_t i = 1; i <= 800; ++i) {
    WriteBatch b{i, {}};
    for (int k = 0; k < 10; ++k) {
      b.records.push_back(Record{KeyOf(rnd.Uniform(1ull << 62)), Version{1, 1},
                                 std::string(100, static_cast<char>('a' + k))});
    }
    ASSERT_TRUE(s->Apply(b, false).ok());
    model.Apply(b);
  }
  ASSERT_TRUE(s->Checkpoint().ok());
  PageStore::DetailedStats d = s->Detailed();
  EXPECT_GT(d.reorganizations, 5u);
  EXPECT_GT(d.segments, 10u);
  EXPECT_GT(d.segments_by_pages[2] + d.segments_by_pages[3] + d.segments_by_pages[4], 0u)
      << "no segment of 4 pages or more";
  EXPECT_GE(d.fragmentation, 0.0);
  EXPECT_LT(d.fragmentation, 0.7);
  EXPECT_EQ(d.dirty_entries, 0u);
  ExpectSameState(*s, model);
  s.reset();
  s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->Detailed().page_reads, 0u) << "Open read pages (a scan)";
  ExpectSameState(*s, model);
}

TEST(PageStoreTest, AfterIngestAGetReadsOnePage) {
  MemFileSystem mem;
  PageStore::Options o = MemOptions(&mem, 64 << 10);
  std::unique_ptr<PageStore> s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  Random rnd(12);
  std::map<std::string, std::string> kv;
  while (kv.size() < 20000) kv[KeyOf(rnd.Uniform(1ull << 62))] = std::string(90, 'v');
  std::vector<Record> records;
  for (const auto& [k, v] : kv) records.push_back(Record{k, Version{3, 1}, v});
  ASSERT_TRUE(s->Ingest(records, 5).ok());
  PageStore::DetailedStats d = s->Detailed();
  printf("ingest of %zu keys: %llu segments of 1/2/4/8/16 pages: %llu/%llu/%llu/%llu/%llu; "
         "fragmentation %.2f\n",
         kv.size(), static_cast<unsigned long long>(d.segments),
         static_cast<unsigned long long>(d.segments_by_pages[0]),
         static_cast<unsigned long long>(d.segments_by_pages[1]),
         static_cast<unsigned long long>(d.segments_by_pages[2]),
         static_cast<unsigned long long>(d.segments_by_pages[3]),
         static_cast<unsigned long long>(d.segments_by_pages[4]), d.fragmentation);
  EXPECT_GT(d.segments_by_pages[3] + d.segments_by_pages[4], d.segments / 2)
      << "most segments should have 8 or 16 pages; " << d.segments << " segments: "
      << d.segments_by_pages[0] << " " << d.segments_by_pages[1] << " " << d.segments_by_pages[2]
      << " " << d.segments_by_pages[3] << " " << d.segments_by_pages[4];
  EXPECT_EQ(d.overflow_pages, 0u);
  for (int i = 0; i < 300; ++i) {
    auto it = kv.lower_bound(KeyOf(rnd.Uniform(1ull << 62)));
    if (it == kv.end()) continue;
    const uint64_t before = s->Detailed().page_reads;
    Result<std::optional<ReadResult>> r = s->Get(it->first, Snapshot::Latest());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->value, it->second);
    const uint64_t reads = s->Detailed().page_reads - before;
    EXPECT_LE(reads, 1u) << "Get read " << reads << " pages";
  }
}

// Crashes (MemFileSystem::CrashClone) after random durable steps of a
// random workload with checkpoints, reopens, write-back and reorganization:
// each crash must recover every acknowledged batch and exactly the state of
// some index at or after it.
// MERIDIAN_PAGESTORE_CRASH_SEEDS=<n> runs more seeds (default 3).
// Insert forecasting. The store holds the keys 0, 16, ..., 16 * (n - 1)
// from an Ingest; then `hot_inserts` new keys (not multiples of 16) below
// 16 * hot_end arrive in random order, interleaved with as many updates of
// keys at or above 16 * cold_begin (collected often, so pages keep one
// version per key).
constexpr uint64_t kSpacing = 16;

struct ForecastRun {
  PageStore::DetailedStats stats;
  PageStore::RangeSpace hot;
  PageStore::RangeSpace cold;
  PageStore::RangeSpace cold_at_ingest;
};

ForecastRun RunHotAndColdRanges(bool forecast, double fill, uint64_t n, uint64_t hot_end,
                                uint64_t cold_begin, uint64_t hot_inserts) {
  MemFileSystem mem;
  PageStore::Options o = MemOptions(&mem, 64 << 10);
  o.checkpoint_log_bytes = 1 << 20;
  o.forecast_inserts = forecast;
  o.fill = fill;
  std::unique_ptr<PageStore> s = MustOpen(o);
  EXPECT_NE(s, nullptr);
  if (s == nullptr) return {};
  EngineModel model;
  WriteBatch ingest{1, {}};
  for (uint64_t i = 0; i < n; ++i) {
    ingest.records.push_back(Record{KeyOf(kSpacing * i), Version{1, 1}, std::string(300, 'i')});
  }
  EXPECT_TRUE(s->Ingest(ingest.records, 1).ok());
  model.Apply(ingest);
  ForecastRun run;
  run.cold_at_ingest = s->SpaceIn(KeyOf(kSpacing * cold_begin), std::nullopt);
  Random rnd(21);
  std::vector<uint64_t> odd;
  for (uint64_t i = 0; i < kSpacing * hot_end; ++i) {
    if (i % kSpacing != 0) odd.push_back(i);
  }
  for (size_t i = odd.size(); i-- > 1;) std::swap(odd[i], odd[rnd.Uniform(i + 1)]);
  odd.resize(hot_inserts);
  uint64_t index = 1;
  for (size_t next = 0; next < odd.size();) {
    WriteBatch b{++index, {}};
    for (int k = 0; k < 5 && next < odd.size(); ++k) {
      b.records.push_back(Record{KeyOf(odd[next++]), Version{index, 1}, std::string(300, 'h')});
      const uint64_t cold = kSpacing * (cold_begin + rnd.Uniform(n - cold_begin));
      b.records.push_back(Record{KeyOf(cold), Version{index, 1}, std::string(300, 'c')});
    }
    EXPECT_TRUE(s->Apply(b, false).ok());
    model.Apply(b);
    if (index % 20 == 0) {
      EXPECT_TRUE(s->GarbageCollect(Snapshot::AtSite(1, index)).ok());
      model.GarbageCollect(Snapshot::AtSite(1, index));
    }
  }
  EXPECT_TRUE(s->GarbageCollect(Snapshot::AtSite(1, index)).ok());
  model.GarbageCollect(Snapshot::AtSite(1, index));
  EXPECT_TRUE(s->Checkpoint().ok());
  ExpectSameState(*s, model);
  run.stats = s->Detailed();
  run.hot = s->SpaceIn("", KeyOf(kSpacing * hot_end));
  run.cold = s->SpaceIn(KeyOf(kSpacing * cold_begin), std::nullopt);
  return run;
}

double UnusedPerPage(const PageStore::RangeSpace& r) {
  const uint64_t pages = r.data_pages + r.overflow_pages;
  return pages == 0 ? 0 : static_cast<double>(r.unused_page_bytes) / static_cast<double>(pages);
}

void PrintRun(const char* name, const ForecastRun& r) {
  printf("%s: %llu reorganizations, fills <0.65/<0.85/rest %llu/%llu/%llu, %llu inserts; "
         "unused bytes per page hot %.0f (%llu pages), cold %.0f (%llu pages); %llu pages\n",
         name, static_cast<unsigned long long>(r.stats.reorganizations),
         static_cast<unsigned long long>(r.stats.reorganized_by_fill[0]),
         static_cast<unsigned long long>(r.stats.reorganized_by_fill[1]),
         static_cast<unsigned long long>(r.stats.reorganized_by_fill[2]),
         static_cast<unsigned long long>(r.stats.inserts_counted), UnusedPerPage(r.hot),
         static_cast<unsigned long long>(r.hot.data_pages), UnusedPerPage(r.cold),
         static_cast<unsigned long long>(r.cold.data_pages),
         static_cast<unsigned long long>(r.stats.page_count));
}

TEST(PageStoreTest, InsertForecastingRebuildsOnlyInsertedRangesRoomy) {
  // 6,000 keys; 6,000 inserts among the first 500 (13 times as many keys
  // there); updates in the second half.
  const ForecastRun r = RunHotAndColdRanges(true, 0.7, 6000, 500, 3000, 6000);
  PrintRun("forecast", r);
  EXPECT_EQ(r.stats.inserts_counted, 6000u) << "every new key counted once, no update counted";
  EXPECT_EQ(r.stats.appends_counted, 0u);
  EXPECT_GT(r.stats.reorganizations, 0u);
  // Segments straddling the hot range's end rebuild their cold part dense.
  EXPECT_GT(r.stats.reorganized_by_fill[0],
            2 * (r.stats.reorganized_by_fill[1] + r.stats.reorganized_by_fill[2]))
      << "the inserted range was not rebuilt roomy";
  // The update-only half is as Ingest built it: updates in place count for
  // nothing and leave no reason to rebuild.
  EXPECT_EQ(r.cold.segments, r.cold_at_ingest.segments);
  EXPECT_EQ(r.cold.data_pages, r.cold_at_ingest.data_pages);
  EXPECT_EQ(r.cold.overflow_pages, 0u);
  EXPECT_EQ(r.cold.unused_page_bytes, r.cold_at_ingest.unused_page_bytes);
}

TEST(PageStoreTest, InsertForecastingReorganizesLessThanAFixedDenseFill) {
  // Both start from an Ingest at 0.95; only the fill of rebuilt segments
  // differs.
  const ForecastRun dense = RunHotAndColdRanges(false, 0.95, 6000, 500, 3000, 6000);
  const ForecastRun forecast = RunHotAndColdRanges(true, 0.95, 6000, 500, 3000, 6000);
  PrintRun("fixed 0.95", dense);
  PrintRun("forecast", forecast);
  EXPECT_EQ(dense.stats.reorganized_by_fill[0] + dense.stats.reorganized_by_fill[1] +
                dense.stats.reorganized_by_fill[2],
            0u);
  EXPECT_LT(forecast.stats.reorganizations * 4, dense.stats.reorganizations * 3)
      << "forecast " << forecast.stats.reorganizations << ", fixed "
      << dense.stats.reorganizations;
  // The room went where the inserts land: more free bytes per page there
  // than the fixed fill leaves, while the update-only half, never rebuilt,
  // stays as dense as Ingest made it (half the free bytes per page of the
  // inserted range, or less).
  EXPECT_GT(UnusedPerPage(forecast.hot), UnusedPerPage(dense.hot));
  EXPECT_EQ(forecast.cold.data_pages, dense.cold.data_pages);
  EXPECT_LT(UnusedPerPage(forecast.cold) * 2, UnusedPerPage(forecast.hot));
}

// Appends at the end of the key space (a load in key order): the appended
// pages are packed, the last segment left open, instead of rebuilding the
// last segment at a fixed fill again and again.
PageStore::DetailedStats RunAppends(bool forecast, uint64_t n) {
  MemFileSystem mem;
  PageStore::Options o = MemOptions(&mem, 64 << 10);
  o.checkpoint_log_bytes = 1 << 20;
  o.forecast_inserts = forecast;
  std::unique_ptr<PageStore> s = MustOpen(o);
  EXPECT_NE(s, nullptr);
  if (s == nullptr) return {};
  EngineModel model;
  uint64_t index = 0;
  for (uint64_t k = 0; k < n;) {
    WriteBatch b{++index, {}};
    for (int j = 0; j < 20 && k < n; ++j, ++k) {
      b.records.push_back(Record{KeyOf(k), Version{1, 1}, std::string(90, 'a')});
    }
    EXPECT_TRUE(s->Apply(b, false).ok());
    model.Apply(b);
  }
  EXPECT_TRUE(s->Checkpoint().ok());
  ExpectSameState(*s, model);
  return s->Detailed();
}

TEST(PageStoreTest, InsertForecastingPacksAppendsAndLeavesTheTailOpen) {
  const PageStore::DetailedStats fixed = RunAppends(false, 6000);
  const PageStore::DetailedStats forecast = RunAppends(true, 6000);
  for (const auto& [name, d] : {std::pair{"fixed 0.7", &fixed}, std::pair{"forecast", &forecast}}) {
    printf("appends, %s: %llu reorganizations, %llu pages written, %llu segments, "
           "fragmentation %.2f\n",
           name, static_cast<unsigned long long>(d->reorganizations),
           static_cast<unsigned long long>(d->page_writes),
           static_cast<unsigned long long>(d->segments), d->fragmentation);
  }
  EXPECT_EQ(forecast.appends_counted, 6000u);
  EXPECT_EQ(forecast.inserts_counted, 6000u);
  EXPECT_GT(forecast.reorganized_by_fill[2], 0u) << "appended pages not packed";
  EXPECT_EQ(forecast.reorganized_by_fill[0], 0u) << "room left where no key can land";
  const auto live = [](const PageStore::DetailedStats& d) {
    return d.page_count - d.free_pages - d.pending_free_pages;
  };
  EXPECT_LT(live(forecast) * 10, live(fixed) * 9)
      << "forecast " << live(forecast) << " pages in use, fixed " << live(fixed);
  EXPECT_LT(forecast.page_writes, fixed.page_writes);
}

TEST(PageStoreTest, CrashAfterAnyDurableStepLosesNothingSynced) {
  const char* env = getenv("MERIDIAN_PAGESTORE_CRASH_SEEDS");
  const uint64_t seeds = env != nullptr && *env != '\0' ? strtoull(env, nullptr, 10) : 3;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    MemFileSystem mem;
    Random rnd(seed);
    Random hook_rnd(seed * 77);
    std::map<uint64_t, WriteBatch> batches;
    uint64_t acked = 0;
    struct Crash {
      std::unique_ptr<MemFileSystem> fs;
      uint64_t acked;
      std::string where;
    };
    std::vector<Crash> crashes;
    HookFs fs(&mem, [&](const std::string& what) {
      if (hook_rnd.OneIn(6)) crashes.push_back(Crash{mem.CrashClone(), acked, what});
    });
    const PageStore::Options o = MemOptions(&fs, 48 << 10);
    std::unique_ptr<PageStore> s = MustOpen(o);
    ASSERT_NE(s, nullptr);
    uint64_t index = 0;
    for (int step = 0; step < 400; ++step) {
      const uint64_t op = rnd.Uniform(100);
      if (op < 86) {
        WriteBatch b = MakeBatch(rnd, ++index, 400);
        const bool sync = rnd.OneIn(3);
        batches[index] = b;
        ASSERT_TRUE(s->Apply(b, sync).ok());
        if (sync) acked = index;
      } else if (op < 91) {
        ASSERT_TRUE(s->Flush().ok());
        acked = index;
      } else if (op < 96) {
        ASSERT_TRUE(s->Checkpoint().ok());
        acked = index;
      } else {
        s.reset();
        acked = index;
        s = MustOpen(o);
        ASSERT_NE(s, nullptr);
      }
    }
    s.reset();
    ASSERT_GT(crashes.size(), 20u);
    printf("seed %llu: %zu crash points\n", static_cast<unsigned long long>(seed), crashes.size());
    for (const Crash& c : crashes) {
      SCOPED_TRACE(absl::StrCat("crash after ", c.where, ", acked ", c.acked));
      PageStore::Options co = o;
      co.fs = c.fs.get();
      std::unique_ptr<PageStore> r = MustOpen(co);
      ASSERT_NE(r, nullptr);
      const uint64_t applied = r->Stats().applied_index;
      EXPECT_GE(applied, c.acked) << "a synced batch was lost";
      ExpectSameState(*r, ModelUpTo(batches, applied));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// Fills a store through `fs` until an Apply, Flush or Checkpoint fails
// (the fault is armed by the caller), then checks the latch and what a crash
// recovers.
void RunUntilFault(MemFileSystem* mem, FaultFileSystem* fault, FaultFileSystem::Op op,
                   const std::string& path_part, const Status& error) {
  const PageStore::Options o = MemOptions(fault, 32 << 10);
  std::unique_ptr<PageStore> s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  Random rnd(21);
  std::map<uint64_t, WriteBatch> batches;
  uint64_t acked = 0;
  uint64_t index = 0;
  for (; index < 30;) {
    WriteBatch b = MakeBatch(rnd, ++index, 300);
    batches[index] = b;
    ASSERT_TRUE(s->Apply(b, true).ok());
    acked = index;
  }
  fault->Arm(op, path_part, error);
  Status failed;
  for (int step = 0; step < 2000 && failed.ok(); ++step) {
    WriteBatch b = MakeBatch(rnd, ++index, 300);
    batches[index] = b;
    failed = s->Apply(b, rnd.OneIn(2));
    if (failed.ok() && rnd.OneIn(20)) failed = s->Checkpoint();
  }
  ASSERT_FALSE(failed.ok()) << "the armed fault never fired";
  EXPECT_EQ(failed.code(), error.code()) << failed;
  // Latched: writes and reads refuse from now on, with the same error.
  fault->Disarm();
  EXPECT_EQ(s->Apply(MakeBatch(rnd, index + 1, 300), true).code(), error.code());
  EXPECT_EQ(s->Flush().code(), error.code());
  EXPECT_EQ(s->Get(KeyOf(1), Snapshot::Latest()).status().code(), error.code());
  s.reset();
  // Nothing half-applied: a crash now recovers exactly some index >= acked.
  PageStore::Options co = o;
  std::unique_ptr<MemFileSystem> crashed = mem->CrashClone();
  co.fs = crashed.get();
  std::unique_ptr<PageStore> r = MustOpen(co);
  ASSERT_NE(r, nullptr);
  const uint64_t applied = r->Stats().applied_index;
  EXPECT_GE(applied, acked);
  ExpectSameState(*r, ModelUpTo(batches, applied));
}

TEST(PageStoreTest, LogDiskFullIsResourceExhaustedAndLatched) {
  MemFileSystem mem;
  FaultFileSystem fault(&mem);
  RunUntilFault(&mem, &fault, FaultFileSystem::Op::kSync, "/log/",
                absl::ResourceExhaustedError("no space left on device"));
}

TEST(PageStoreTest, PageWriteErrorIsLatched) {
  MemFileSystem mem;
  FaultFileSystem fault(&mem);
  RunUntilFault(&mem, &fault, FaultFileSystem::Op::kWrite, "/pages-",
                absl::DataLossError("EIO"));
}

TEST(PageStoreTest, PageDiskFullIsResourceExhaustedAndLatched) {
  MemFileSystem mem;
  FaultFileSystem fault(&mem);
  RunUntilFault(&mem, &fault, FaultFileSystem::Op::kWrite, "/pages-",
                absl::ResourceExhaustedError("no space left on device"));
}

TEST(PageStoreTest, DoubleWriteSyncErrorIsLatched) {
  MemFileSystem mem;
  FaultFileSystem fault(&mem);
  RunUntilFault(&mem, &fault, FaultFileSystem::Op::kSync, "/dwb", absl::DataLossError("EIO"));
}

TEST(PageStoreTest, CheckpointWriteErrorIsLatched) {
  MemFileSystem mem;
  FaultFileSystem fault(&mem);
  RunUntilFault(&mem, &fault, FaultFileSystem::Op::kSync, "CHECKPOINT",
                absl::DataLossError("EIO"));
}

TEST(PageStoreTest, FreeDiskReserveRefusesUnchosenBatchesOnly) {
  conformance::TempDir tmp;
  PageStore::Options o;
  o.dir = tmp.NewDir();
  o.log_segment_bytes = 1 << 20;
  o.min_free_bytes = 1ull << 62;  // more than any disk has
  std::unique_ptr<PageStore> s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  WriteBatch b{1, {Record{"k", Version{1, 1}, std::string("v")}}};
  Status st = s->Apply(b, true);
  EXPECT_TRUE(absl::IsResourceExhausted(st)) << st;
  EXPECT_NE(st.message().find("reserve"), absl::string_view::npos) << st;
  EXPECT_TRUE(absl::IsResourceExhausted(s->CheckSpace(100)));
  b.chosen = true;
  EXPECT_TRUE(s->Apply(b, true).ok()) << "a chosen batch must apply inside the reserve";
  EXPECT_EQ(s->Stats().applied_index, 1u);
}

TEST(PageStoreTest, ADirectoryWithoutCheckpointIsANewStore) {
  MemFileSystem mem;
  const PageStore::Options o = MemOptions(&mem, 1 << 20);
  {
    std::unique_ptr<PageStore> s = MustOpen(o);
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->Apply(WriteBatch{4, {Record{"k", Version{1, 1}, std::string("v")}}}, true).ok());
  }
  ASSERT_TRUE(mem.Remove("/db/CHECKPOINT").ok());
  std::unique_ptr<PageStore> s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->Stats().applied_index, 0u) << "the old log was replayed into a new store";
  ExpectSameState(*s, EngineModel());
}

// A CHECKPOINT that is not one (truncated, overwritten) fails Open with
// DATA_LOSS naming it, and leaves the files as they were.
TEST(PageStoreTest, AGarbageCheckpointFailsOpenCleanly) {
  MemFileSystem mem;
  const PageStore::Options o = MemOptions(&mem, 1 << 20);
  {
    std::unique_ptr<PageStore> s = MustOpen(o);
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->Apply(WriteBatch{1, {Record{"k", Version{1, 1}, std::string("v")}}}, true).ok());
  }
  for (const std::string& garbage : {std::string("garbage\n"), std::string()}) {
    ASSERT_TRUE(mem.Remove("/db/CHECKPOINT").ok());
    Result<std::unique_ptr<File>> f = mem.OpenFile("/db/CHECKPOINT", true);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Write(0, garbage).ok());
    ASSERT_TRUE((*f)->Sync().ok());
    Result<std::unique_ptr<PageStore>> s = PageStore::Open(o);
    ASSERT_FALSE(s.ok());
    EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
    EXPECT_NE(s.status().message().find("CHECKPOINT"), absl::string_view::npos) << s.status();
    std::string kept;
    ASSERT_TRUE((*f)->Read(0, garbage.size() + 4096, &kept).ok());
    EXPECT_EQ(kept, garbage) << "a failed Open must not write a checkpoint";
  }
}

// A batch larger than a redo log segment is refused before anything is
// logged or applied, and the store goes on (it is the caller's error, not a
// failed disk).
TEST(PageStoreTest, ABatchLargerThanTheLogIsRefusedAndTheStoreGoesOn) {
  MemFileSystem mem;
  PageStore::Options o = MemOptions(&mem, 1 << 20);
  o.log_segment_bytes = 64 << 10;
  std::unique_ptr<PageStore> s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  WriteBatch big{1, {}};
  for (int i = 0; i < 4; ++i) {
    big.records.push_back(Record{"k" + std::to_string(i), Version{1, 1}, std::string(20 << 10, 'v')});
  }
  Status st = s->Apply(big, true);
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_NE(st.message().find("larger than the redo log"), absl::string_view::npos) << st;
  EXPECT_EQ(s->Stats().applied_index, 0u);
  Result<std::optional<ReadResult>> r = s->Get("k0", Snapshot::Latest());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  big.records.resize(2);
  ASSERT_TRUE(s->Apply(big, true).ok());
  s.reset();
  s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->Stats().applied_index, 1u);
  r = s->Get("k1", Snapshot::Latest());
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->value->size(), 20u << 10);
}

TEST(PageStoreTest, KeysOverTheLimitAreRefused) {
  MemFileSystem mem;
  std::unique_ptr<PageStore> s = MustOpen(MemOptions(&mem, 1 << 20));
  ASSERT_NE(s, nullptr);
  const std::string big(PageStore::kMaxKeyBytes + 1, 'k');
  EXPECT_TRUE(absl::IsInvalidArgument(
      s->Apply(WriteBatch{1, {Record{big, Version{1, 1}, std::string("v")}}}, true)));
  EXPECT_TRUE(absl::IsInvalidArgument(s->Ingest({Record{big, Version{1, 1}, std::string()}}, 1)));
  EXPECT_EQ(s->Stats().applied_index, 0u);
  Result<std::optional<ReadResult>> r = s->Get(big, Snapshot::Latest());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_TRUE(s->Apply(WriteBatch{1, {Record{big.substr(1), Version{1, 1}, std::string("v")}}}, true).ok());
}

// Tears page `page` (its second half overwritten) in a copy of `mem`.
std::unique_ptr<MemFileSystem> TearPage(MemFileSystem* mem, uint64_t page, bool drop_dwb) {
  std::unique_ptr<MemFileSystem> copy = mem->CrashClone();
  Result<std::unique_ptr<File>> f = copy->OpenFile("/db/pages-000001", false);
  EXPECT_TRUE(f.ok());
  EXPECT_TRUE((*f)->Write(page * kPageSize + kPageSize / 2, std::string(kPageSize / 2, '\xab')).ok());
  EXPECT_TRUE((*f)->Sync().ok());
  if (drop_dwb) {
    EXPECT_TRUE(copy->Remove("/db/dwb").ok());
  }
  return copy;
}

// A torn page is repaired from the double-write buffer, or reported as
// DATA_LOSS naming it; it is never served.
TEST(PageStoreTest, TornPageIsRepairedOrReportedNeverServed) {
  MemFileSystem mem;
  PageStore::Options o = MemOptions(&mem, 64 << 10);
  std::map<std::string, std::string> kv;
  {
    std::unique_ptr<PageStore> s = MustOpen(o);
    ASSERT_NE(s, nullptr);
    Random rnd(31);
    for (uint64_t i = 1; i <= 300; ++i) {
      WriteBatch b{i, {}};
      for (int k = 0; k < 8; ++k) {
        const std::string key = KeyOf(rnd.Uniform(1ull << 62));
        const std::string value(rnd.OneIn(30) ? 5000 : 60, static_cast<char>('a' + k));
        b.records.push_back(Record{key, Version{1, 1}, value});
        kv[key] = value;
      }
      ASSERT_TRUE(s->Apply(b, false).ok());
    }
  }  // a clean close: everything written back
  Result<std::unique_ptr<File>> pf = mem.OpenFile("/db/pages-000001", false);
  ASSERT_TRUE(pf.ok());
  const uint64_t pages = *(*pf)->Size() / kPageSize;
  ASSERT_GT(pages, 20u);
  uint64_t repaired = 0, reported = 0;
  for (bool drop_dwb : {false, true}) {
    for (uint64_t page = 1; page < pages; ++page) {
      SCOPED_TRACE(absl::StrCat("torn page ", page, drop_dwb ? " without dwb" : ""));
      std::unique_ptr<MemFileSystem> torn = TearPage(&mem, page, drop_dwb);
      PageStore::Options to = o;
      to.fs = torn.get();
      std::unique_ptr<PageStore> s = MustOpen(to);
      ASSERT_NE(s, nullptr);
      repaired += s->Detailed().pages_repaired_at_open;
      bool lost = false;
      for (const auto& [key, value] : kv) {
        Result<std::optional<ReadResult>> r = s->Get(key, Snapshot::Latest());
        if (r.ok()) {
          ASSERT_TRUE(r->has_value()) << key;
          ASSERT_EQ((*r)->value, value) << "a torn page was served: " << key;
          continue;
        }
        ASSERT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
        ASSERT_NE(r.status().message().find(absl::StrCat("page ", page)), absl::string_view::npos)
            << r.status();
        lost = true;
      }
      reported += lost ? 1 : 0;
    }
  }
  EXPECT_GT(repaired, 0u) << "no torn page was in the double-write buffer";
  EXPECT_GT(reported, 0u) << "no torn page was reported";
}

}  // namespace
}  // namespace meridian::storage::page_store
