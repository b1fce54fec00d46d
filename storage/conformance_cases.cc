// The conformance suite's fixed-scenario tests: the contract's edge cases,
// each with hand-written expectations (and, where useful, the model too).
#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "storage/conformance_util.h"

namespace meridian::storage::conformance {
namespace {

Record Put(std::string key, uint64_t hlc, SiteId site, std::string value) {
  return Record{std::move(key), Version{hlc, site}, std::move(value)};
}
Record Del(std::string key, uint64_t hlc, SiteId site) {
  return Record{std::move(key), Version{hlc, site}, std::nullopt};
}

// Applies `b` to the engine and the model.
void ApplyBoth(Engine& engine, EngineModel& model, const WriteBatch& b, bool sync) {
  CONFORMANCE_ASSERT_OK(engine.Apply(b, sync));
  model.Apply(b);
}

std::string GetString(Engine& engine, const std::string& key, const Snapshot& snap) {
  Result<std::optional<ReadResult>> r = engine.Get(key, snap);
  if (!r.ok()) return absl::StrCat("error: ", r.status().ToString());
  return Show(*r);
}

// The keys a scan returns, as "a,b,c" (plus "+more").
std::string ScanKeys(Engine& engine, const ScanOptions& o, const Snapshot& snap,
                     uint64_t stop_after = 0) {
  bool more = false;
  Status s;
  std::vector<KeyValue> kvs = EngineScan(engine, o, snap, stop_after, &more, &s);
  if (!s.ok()) return absl::StrCat("error: ", s.ToString());
  std::string out;
  for (const KeyValue& kv : kvs) absl::StrAppend(&out, out.empty() ? "" : ",", kv.key);
  if (more) absl::StrAppend(&out, "+more");
  return out;
}

// Compares every read the model can answer: Get and LatestVersion of each
// key at each snapshot, full and bounded scans, and Export.
void ExpectSameReads(Engine& engine, const EngineModel& model, const std::vector<std::string>& keys,
                     const std::vector<Snapshot>& snaps) {
  for (const Snapshot& snap : snaps) {
    for (const std::string& key : keys) {
      EXPECT_EQ(GetString(engine, key, snap), Show(model.Get(key, snap)))
          << "Get(\"" << absl::CHexEscape(key) << "\", " << Show(snap) << ")";
    }
    for (const std::string& start : keys) {
      for (const std::string& end : keys) {
        ScanOptions o{start, end, 0, false};
        bool more = false;
        bool want_more = false;
        Status s;
        std::vector<KeyValue> got = EngineScan(engine, o, snap, 0, &more, &s);
        CONFORMANCE_EXPECT_OK(s);
        EXPECT_EQ(Show(got), Show(model.Scan(o, snap, 0, &want_more)))
            << "Scan " << Show(o) << " at " << Show(snap);
      }
    }
  }
  for (const std::string& key : keys) {
    Result<std::optional<Version>> v = engine.LatestVersion(key);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(Show(*v), Show(model.LatestVersion(key))) << "\"" << absl::CHexEscape(key) << "\"";
  }
  ExpectSameState(engine, model);
}

}  // namespace

void EmptyEngine(const Context& ctx) {
  TempDir tmp;
  std::unique_ptr<Engine> e = OpenOrFail(ctx, tmp.NewDir());
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->Name().empty());
  EXPECT_EQ(GetString(*e, "a", Snapshot::Latest()), "none");
  EXPECT_EQ(GetString(*e, "", Snapshot::Latest()), "none");
  Result<std::optional<Version>> v = e->LatestVersion("a");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->has_value());
  bool more = true;
  int calls = 0;
  CONFORMANCE_EXPECT_OK(e->Scan(ScanOptions{}, Snapshot::Latest(), [&](const KeyValue&) {
    ++calls;
    return true;
  }, &more));
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(more);
  uint64_t index = 99;
  Result<std::vector<Record>> records = ExportAll(*e, &index);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(records->empty());
  EXPECT_EQ(index, 0u);
  EXPECT_EQ(e->Stats().applied_index, 0u);
  EXPECT_EQ(e->Stats().durable_index, 0u);
  CONFORMANCE_EXPECT_OK(e->GarbageCollect(Snapshot::Latest()));
  CONFORMANCE_EXPECT_OK(e->Flush());
}

void LogIndexMustIncrease(const Context& ctx) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  std::unique_ptr<Engine> e = OpenOrFail(ctx, dir);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(absl::IsInvalidArgument(e->Apply(WriteBatch{0, {Put("a", 1, 1, "zero")}}, true)))
      << "log index 0 on a new engine";
  CONFORMANCE_ASSERT_OK(e->Apply(WriteBatch{5, {Put("a", 1, 1, "five")}}, true));
  EXPECT_TRUE(absl::IsInvalidArgument(e->Apply(WriteBatch{5, {Put("b", 2, 1, "x")}}, true)));
  EXPECT_TRUE(absl::IsInvalidArgument(
      e->Apply(WriteBatch{4, {Put("b", 2, 1, "x"), Put("a", 9, 1, "x")}}, false)));
  EXPECT_EQ(GetString(*e, "b", Snapshot::Latest()), "none") << "a rejected batch wrote";
  EXPECT_EQ(GetString(*e, "a", Snapshot::Latest()), "(1,1)=\"five\"") << "a rejected batch wrote";
  EXPECT_EQ(e->Stats().applied_index, 5u);
  // A rejection does not poison the engine; an empty batch moves the index.
  CONFORMANCE_ASSERT_OK(e->Apply(WriteBatch{7, {}}, false));
  EXPECT_EQ(e->Stats().applied_index, 7u);
  e.reset();
  e = OpenOrFail(ctx, dir);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->Stats().applied_index, 7u) << "the applied index did not persist";
  EXPECT_TRUE(absl::IsInvalidArgument(e->Apply(WriteBatch{7, {Put("b", 2, 1, "x")}}, true)));
  CONFORMANCE_ASSERT_OK(e->Apply(WriteBatch{8, {Put("b", 2, 1, "y")}}, true));
  EXPECT_EQ(GetString(*e, "b", Snapshot::Latest()), "(2,1)=\"y\"");
}

void BinaryKeysAndValues(const Context& ctx) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  std::unique_ptr<Engine> e = OpenOrFail(ctx, dir);
  ASSERT_NE(e, nullptr);
  EngineModel model;
  std::vector<std::string> keys = KeySpace();
  for (std::string k : {std::string("a\0\0", 3), std::string("\0\x01", 2), std::string("\x01\0", 2),
                        std::string(1000, '\xff'), std::string(1000, '\0')}) {
    keys.push_back(k);
  }
  WriteBatch b{1, {}};
  for (size_t i = 0; i < keys.size(); ++i) {
    // Values: empty, NUL and 0xFF bytes, and a key-sized copy of the key.
    std::string value = i % 3 == 0 ? std::string() : keys[i] + std::string("\0\xff", 2);
    b.records.push_back(Put(keys[i], 1, 1, value));
  }
  ApplyBoth(*e, model, b, true);
  // Extreme versions: the encoding must order them right at both ends.
  WriteBatch b2{2,
                {Put(keys[1], UINT64_MAX, UINT32_MAX, "max"), Put(keys[1], UINT64_MAX, 0, "max0"),
                 Put(keys[1], 0, UINT32_MAX, "zero"), Del(keys[2], UINT64_MAX - 1, 7),
                 Put(keys[3], 1, 0, ""), Put(keys[3], 1, UINT32_MAX, std::string(1, '\0'))}};
  ApplyBoth(*e, model, b2, false);
  std::vector<Snapshot> snaps = {Snapshot::Latest(), Snapshot(), Snapshot::AtSite(1, 1),
                                 Snapshot::AtSite(0, UINT64_MAX),
                                 Snapshot::AtSite(UINT32_MAX, UINT64_MAX - 1),
                                 Snapshot::AtSite(7, UINT64_MAX)};
  ExpectSameReads(*e, model, keys, snaps);
  // Bytewise order, with "" first and the 0xFF keys last.
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> scanned;
  CONFORMANCE_ASSERT_OK(e->Scan(ScanOptions{}, Snapshot::AtSite(1, 1), [&](const KeyValue& kv) {
    scanned.push_back(kv.key);
    return true;
  }, nullptr));
  EXPECT_EQ(scanned, sorted);
  e.reset();
  e = OpenOrFail(ctx, dir);
  ASSERT_NE(e, nullptr);
  ExpectSameReads(*e, model, keys, snaps);
}

void SnapshotVisibility(const Context& ctx) {
  TempDir tmp;
  std::unique_ptr<Engine> e = OpenOrFail(ctx, tmp.NewDir());
  ASSERT_NE(e, nullptr);
  CONFORMANCE_ASSERT_OK(e->Apply(
      WriteBatch{1, {Put("k", 5, 1, "v5"), Put("k", 7, 2, "v7"), Del("k", 9, 1)}}, false));
  Snapshot s12;
  s12.Set(1, 5);
  s12.Set(2, 7);
  Snapshot s2only = Snapshot::AtSite(2, 6);
  Snapshot s1late = Snapshot::AtSite(1, 100);
  EXPECT_EQ(GetString(*e, "k", Snapshot::AtSite(1, 5)), "(5,1)=\"v5\"");
  EXPECT_EQ(GetString(*e, "k", Snapshot::AtSite(1, 8)), "(5,1)=\"v5\"");
  EXPECT_EQ(GetString(*e, "k", s12), "(7,2)=\"v7\"");
  EXPECT_EQ(GetString(*e, "k", s1late), "(9,1)=TOMBSTONE");
  EXPECT_EQ(GetString(*e, "k", Snapshot()), "none");
  EXPECT_EQ(GetString(*e, "k", s2only), "none");
  EXPECT_EQ(GetString(*e, "k", Snapshot::AtSite(3, UINT64_MAX)), "none");
  EXPECT_EQ(GetString(*e, "k", Snapshot::Latest()), "(9,1)=TOMBSTONE");
  EXPECT_EQ(GetString(*e, "k2", Snapshot::Latest()), "none");
  // Scan skips a key whose newest visible version is a tombstone.
  EXPECT_EQ(ScanKeys(*e, ScanOptions{}, s12), "k");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{}, s1late), "");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{}, Snapshot::Latest()), "");
  Result<std::optional<Version>> v = e->LatestVersion("k");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(Show(*v), "(9,1)");
  // The same hlc at two sites: the higher site is the newer version.
  CONFORMANCE_ASSERT_OK(e->Apply(WriteBatch{2, {Put("t", 4, 1, "s1"), Put("t", 4, 2, "s2")}}, false));
  EXPECT_EQ(GetString(*e, "t", Snapshot::Latest()), "(4,2)=\"s2\"");
  EXPECT_EQ(GetString(*e, "t", Snapshot::AtSite(1, 4)), "(4,1)=\"s1\"");
  // Rewriting an existing version replaces its value.
  CONFORMANCE_ASSERT_OK(e->Apply(WriteBatch{3, {Put("t", 4, 1, "again")}}, false));
  EXPECT_EQ(GetString(*e, "t", Snapshot::AtSite(1, 4)), "(4,1)=\"again\"");
}

void ScanBoundsLimitAndMore(const Context& ctx) {
  TempDir tmp;
  std::unique_ptr<Engine> e = OpenOrFail(ctx, tmp.NewDir());
  ASSERT_NE(e, nullptr);
  // At s = {1:100}: a, b, e, f live; c deleted; d invisible (site 2 only).
  CONFORMANCE_ASSERT_OK(e->Apply(
      WriteBatch{1,
                 {Put("a", 1, 1, "A"), Put("b", 1, 1, "B"), Put("c", 1, 1, "C"), Del("c", 2, 1),
                  Put("d", 10, 2, "D"), Put("e", 1, 1, "E"), Put("f", 1, 1, "F")}},
      true));
  Snapshot s = Snapshot::AtSite(1, 100);
  EXPECT_EQ(ScanKeys(*e, ScanOptions{}, s), "a,b,e,f");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{}, Snapshot::Latest()), "a,b,d,e,f");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"", "", 2, false}, s), "a,b+more");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"", "", 3, false}, s), "a,b,e+more");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"", "", 4, false}, s), "a,b,e,f") << "no key after the limit";
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"", "", 9, false}, s), "a,b,e,f");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"b", "f", 0, false}, s), "b,e") << "end is exclusive";
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"b", "e", 1, false}, s), "b") << "only dead keys remain";
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"c", "e", 0, false}, s), "");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"f", "f", 0, false}, s), "") << "empty range";
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"g", "a", 0, false}, s), "") << "start > end";
  EXPECT_EQ(ScanKeys(*e, ScanOptions{std::string("a\0", 2), "", 0, false}, s), "b,e,f");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"e", "", 1, false}, s), "e+more");
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"", "", 0, false}, s, 1), "a") << "fn returned false";
  EXPECT_EQ(ScanKeys(*e, ScanOptions{"", "", 2, false}, s, 2), "a,b")
      << "fn returned false at the limit: not `more`";
  bool more = true;
  Status st;
  std::vector<KeyValue> kvs = EngineScan(*e, ScanOptions{"", "", 0, true}, s, 0, &more, &st);
  CONFORMANCE_ASSERT_OK(st);
  EXPECT_FALSE(more);
  ASSERT_EQ(kvs.size(), 4u);
  for (const KeyValue& kv : kvs) {
    EXPECT_TRUE(kv.value.empty()) << "keys_only returned a value for " << kv.key;
    EXPECT_EQ(Show(kv.version), "(1,1)");
  }
  kvs = EngineScan(*e, ScanOptions{"", "", 0, false}, s, 0, &more, &st);
  ASSERT_EQ(kvs.size(), 4u);
  EXPECT_EQ(kvs[3].value, "F");
  // `more` may be null.
  CONFORMANCE_EXPECT_OK(e->Scan(ScanOptions{"", "", 1, false}, s, [](const KeyValue&) {
    return true;
  }, nullptr));
}

void GarbageCollectSemantics(const Context& ctx) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  std::unique_ptr<Engine> e = OpenOrFail(ctx, dir);
  ASSERT_NE(e, nullptr);
  EngineModel model;
  ApplyBoth(*e, model,
            WriteBatch{1,
                       {Put("k", 1, 1, "v1"), Put("k", 3, 1, "v3"), Put("k", 5, 2, "v5"),
                        Del("k", 7, 1), Put("t", 2, 1, "x"), Del("t", 4, 1), Put("u", 9, 2, "y"),
                        Put("r", 2, 1, "x"), Del("r", 3, 1), Put("r", 8, 1, "z")}},
            true);
  Snapshot w;
  w.Set(1, 4);
  w.Set(2, 4);
  Snapshot above;  // sees everything w sees
  above.Set(1, 4);
  above.Set(2, 6);
  std::string before = GetString(*e, "k", above);
  CONFORMANCE_ASSERT_OK(e->GarbageCollect(w));
  model.GarbageCollect(w);
  // k: (1,1) is shadowed by (3,1), which w sees. t: the newest version is a
  // tombstone w sees, so the key goes. u: w sees nothing of it. r: w sees a
  // tombstone that is not the newest version; it stays (a reader between w
  // and (8,1) must not see x again), x under it goes.
  Result<std::vector<Record>> records = ExportAll(*e, nullptr);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Show(*records),
            "\"k\"@(7,1)=TOMBSTONE\n\"k\"@(5,2)=\"v5\"\n\"k\"@(3,1)=\"v3\"\n"
            "\"r\"@(8,1)=\"z\"\n\"r\"@(3,1)=TOMBSTONE\n\"u\"@(9,2)=\"y\"\n");
  EXPECT_EQ(GetString(*e, "r", Snapshot::AtSite(1, 5)), "(3,1)=TOMBSTONE");
  EXPECT_EQ(GetString(*e, "k", above), before) << "a read above the watermark changed";
  EXPECT_EQ(GetString(*e, "k", w), "(3,1)=\"v3\"");
  Result<std::optional<Version>> v = e->LatestVersion("t");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->has_value());
  EXPECT_EQ(e->Stats().applied_index, 1u) << "GC must not move the applied index";
  ExpectSameState(*e, model);

  CONFORMANCE_ASSERT_OK(e->GarbageCollect(Snapshot::Latest()));
  model.GarbageCollect(Snapshot::Latest());
  records = ExportAll(*e, nullptr);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Show(*records), "\"r\"@(8,1)=\"z\"\n\"u\"@(9,2)=\"y\"\n");
  e.reset();
  e = OpenOrFail(ctx, dir);
  ASSERT_NE(e, nullptr);
  ExpectSameState(*e, model);
}

void ExportIngestReplacesContent(const Context& ctx) {
  TempDir tmp;
  std::unique_ptr<Engine> a = OpenOrFail(ctx, tmp.NewDir());
  ASSERT_NE(a, nullptr);
  EngineModel model;
  ApplyBoth(*a, model, WriteBatch{10, {Put("x", 1, 1, "x1"), Put("x", 2, 2, "x2"), Del("y", 3, 1)}},
            false);
  uint64_t index = 0;
  Result<std::vector<Record>> records = ExportAll(*a, &index);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(index, 10u);
  EXPECT_EQ(Show(*records), Show(model.Records()));

  const std::string dir_b = tmp.NewDir();
  std::unique_ptr<Engine> b = OpenOrFail(ctx, dir_b);
  ASSERT_NE(b, nullptr);
  CONFORMANCE_ASSERT_OK(b->Apply(WriteBatch{50, {Put("old", 1, 1, "gone"), Put("x", 9, 9, "z")}},
                                 false));
  // A lower index than b's own is fine: b takes a's history wholesale.
  CONFORMANCE_ASSERT_OK(b->Ingest(*records, index));
  EXPECT_EQ(b->Stats().applied_index, 10u);
  EXPECT_EQ(b->Stats().durable_index, 10u) << "Ingest is durable";
  ExpectSameState(*b, model);
  EXPECT_TRUE(absl::IsInvalidArgument(b->Apply(WriteBatch{10, {}}, false)));
  ApplyBoth(*b, model, WriteBatch{11, {Put("z", 4, 1, "z")}}, false);
  b.reset();
  b = OpenOrFail(ctx, dir_b);
  ASSERT_NE(b, nullptr);
  ExpectSameState(*b, model);
  // Ingesting nothing empties the engine.
  CONFORMANCE_ASSERT_OK(b->Ingest({}, 3));
  model.Ingest({}, 3);
  ExpectSameState(*b, model);
  EXPECT_EQ(ScanKeys(*b, ScanOptions{}, Snapshot::Latest()), "");
}

void ReopenPreservesState(const Context& ctx) {
  Random rnd(Seeds(ctx).front());
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  EngineModel model;
  for (int cycle = 0; cycle < 5; ++cycle) {
    SCOPED_TRACE(absl::StrCat("cycle ", cycle));
    std::unique_ptr<Engine> e = OpenOrFail(ctx, dir);
    ASSERT_NE(e, nullptr);
    ExpectSameState(*e, model);
    EXPECT_EQ(e->Stats().durable_index, model.applied_index()) << "after a clean close";
    // Unsynced batches too: a clean close keeps them.
    for (int i = 0; i < 20; ++i) {
      ApplyBoth(*e, model, RandomBatch(rnd, model.applied_index() + 1), rnd.OneIn(3));
    }
    if (cycle % 2 == 1) {
      CONFORMANCE_ASSERT_OK(e->GarbageCollect(Snapshot::AtSite(1, 10)));
      model.GarbageCollect(Snapshot::AtSite(1, 10));
    }
    ASSERT_FALSE(::testing::Test::HasFailure());
  }
}

void StatsIndexes(const Context& ctx) {
  TempDir tmp;
  std::unique_ptr<Engine> e = OpenOrFail(ctx, tmp.NewDir());
  ASSERT_NE(e, nullptr);
  for (uint64_t i = 1; i <= 3; ++i) {
    CONFORMANCE_ASSERT_OK(e->Apply(WriteBatch{i, {Put("k" + std::to_string(i), i, 1,
                                                      std::string(40 << 10, 'v'))}},
                                   false));
  }
  EngineStats st = e->Stats();
  EXPECT_EQ(st.applied_index, 3u);
  EXPECT_LE(st.durable_index, 3u);
  CONFORMANCE_ASSERT_OK(e->Flush());
  st = e->Stats();
  EXPECT_EQ(st.durable_index, 3u) << "Flush makes everything applied durable";
  EXPECT_GT(st.approximate_size_bytes, 0u);
  CONFORMANCE_ASSERT_OK(e->Apply(WriteBatch{9, {}}, true));
  EXPECT_EQ(e->Stats().applied_index, 9u);
  EXPECT_EQ(e->Stats().durable_index, 9u) << "a synced Apply is durable";
}

void SpaceFigures(const Context& ctx) {
  TempDir tmp;
  std::unique_ptr<Engine> e = OpenOrFail(ctx, tmp.NewDir());
  ASSERT_NE(e, nullptr);
  for (uint64_t i = 1; i <= 8; ++i) {
    CONFORMANCE_ASSERT_OK(e->Apply(WriteBatch{i, {Put("k" + std::to_string(i), i, 1,
                                                      std::string(64 << 10, 'v'))}},
                                   false));
  }
  CONFORMANCE_ASSERT_OK(e->Flush());
  SpaceStats st = e->Space();
  // 512 KiB were written and made durable: they take room on disk.
  EXPECT_GE(st.size_bytes, 512u << 10) << "Space().size_bytes";
  EXPECT_LE(st.live_bytes, st.size_bytes) << "Space().live_bytes";
  EXPECT_GE(st.fragmentation, 0.0);
  EXPECT_LE(st.fragmentation, 1.0);
  EXPECT_GT(st.disk_free_bytes, 0u) << "Space().disk_free_bytes";
}

void ConcurrentReadersSeeWholeBatches(const Context& ctx) {
  TempDir tmp;
  std::unique_ptr<Engine> e = OpenOrFail(ctx, tmp.NewDir());
  ASSERT_NE(e, nullptr);
  constexpr int kKeys = 8;
  constexpr uint64_t kBatches = 300;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> errors{0};
  // Every batch rewrites all keys with one value, so a scan that sees part of
  // a batch sees two different values.
  std::thread writer([&] {
    for (uint64_t i = 1; i <= kBatches && errors == 0; ++i) {
      WriteBatch b{i, {}};
      for (int k = 0; k < kKeys; ++k) {
        b.records.push_back(Put("key" + std::to_string(k), i, 1, std::to_string(i)));
      }
      if (!e->Apply(b, false).ok()) ++errors;
      if (i % 25 == 0 && !e->GarbageCollect(Snapshot::Latest()).ok()) ++errors;
    }
    done = true;
  });
  auto reader = [&] {
    while (!done) {
      std::vector<std::string> values;
      Status s = e->Scan(ScanOptions{}, Snapshot::Latest(), [&](const KeyValue& kv) {
        values.push_back(kv.value);
        return true;
      }, nullptr);
      if (!s.ok()) ++errors;
      if (!values.empty() && (values.size() != kKeys ||
                              std::count(values.begin(), values.end(), values[0]) != kKeys)) {
        ++torn;
      }
      if (!e->Get("key3", Snapshot::AtSite(1, 100)).ok()) ++errors;
      if (!e->LatestVersion("key5").ok()) ++errors;
    }
  };
  std::thread r1(reader);
  std::thread r2(reader);
  writer.join();
  r1.join();
  r2.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(torn.load(), 0) << "a scan saw part of a batch";
  EXPECT_EQ(GetString(*e, "key0", Snapshot::Latest()),
            absl::StrCat("(", kBatches, ",1)=\"", kBatches, "\""));
}

}  // namespace meridian::storage::conformance
