#include "storage/rocks/rocks_engine.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/coding.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "storage/conformance_util.h"
#include "storage/engine_conformance.h"

namespace meridian::storage {
namespace {

using conformance::TempDir;

RocksEngine::Options TestOptions(const std::string& dir) {
  RocksEngine::Options o;
  o.path = dir;
  o.block_cache_bytes = 8 << 20;
  return o;
}

Result<std::unique_ptr<Engine>> OpenForConformance(const std::string& dir) {
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<RocksEngine> e, RocksEngine::Open(TestOptions(dir)));
  return std::unique_ptr<Engine>(std::move(e));
}

const bool kRegistered = [] {
  RegisterEngineConformance("RocksEngineConformance", OpenForConformance);
  return true;
}();

std::unique_ptr<RocksEngine> MustOpen(const RocksEngine::Options& o) {
  Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << contents;
}

// Creates a store with one record and closes it.
void CreateStore(const std::string& dir) {
  std::unique_ptr<RocksEngine> e = MustOpen(TestOptions(dir));
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->Apply(WriteBatch{1, {Record{"k", Version{1, 1}, "v"}}}, true).ok());
}

TEST(RocksEngineTest, OpenMissingWithoutCreateIsNotFound) {
  TempDir tmp;
  RocksEngine::Options o = TestOptions(tmp.NewDir() + "/absent");
  o.create_if_missing = false;
  Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(o);
  EXPECT_TRUE(absl::IsNotFound(e.status())) << e.status();
  o.path = tmp.NewDir();  // exists, but empty
  e = RocksEngine::Open(o);
  EXPECT_TRUE(absl::IsNotFound(e.status())) << e.status();
}

TEST(RocksEngineTest, EmptyPathIsInvalid) {
  EXPECT_TRUE(absl::IsInvalidArgument(RocksEngine::Open(RocksEngine::Options{}).status()));
}

TEST(RocksEngineTest, DirectoryThatIsNotRocksDbIsRejected) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  WriteFile(dir + "/segment-000001.pages", "pagestore data");
  Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(TestOptions(dir));
  EXPECT_TRUE(absl::IsFailedPrecondition(e.status())) << e.status();
  EXPECT_NE(e.status().message().find(dir), std::string::npos) << e.status();
  EXPECT_NE(e.status().message().find("segment-000001.pages"), std::string::npos) << e.status();
  EXPECT_FALSE(std::filesystem::exists(dir + "/CURRENT")) << "Open created a store anyway";
}

TEST(RocksEngineTest, PathThatIsAFileIsRejected) {
  TempDir tmp;
  const std::string path = tmp.NewDir() + "/file";
  WriteFile(path, "x");
  EXPECT_FALSE(RocksEngine::Open(TestOptions(path)).ok());
}

TEST(RocksEngineTest, CorruptCurrentIsAClearError) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  ASSERT_NO_FATAL_FAILURE(CreateStore(dir));
  WriteFile(dir + "/CURRENT", "\x01garbage-not-a-manifest\n");
  Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(TestOptions(dir));
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(absl::IsDataLoss(e.status())) << e.status();
  EXPECT_NE(e.status().message().find(dir), std::string::npos) << e.status();
  WriteFile(dir + "/CURRENT", "");  // truncated
  e = RocksEngine::Open(TestOptions(dir));
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(absl::IsDataLoss(e.status())) << e.status();
}

TEST(RocksEngineTest, CorruptManifestIsAClearError) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  ASSERT_NO_FATAL_FAILURE(CreateStore(dir));
  int corrupted = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().starts_with("MANIFEST-")) {
      WriteFile(entry.path().string(), std::string(4096, '\x5a'));
      ++corrupted;
    }
  }
  ASSERT_GT(corrupted, 0);
  Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(TestOptions(dir));
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(absl::IsDataLoss(e.status())) << e.status();
  EXPECT_NE(e.status().message().find(dir), std::string::npos) << e.status();
}

TEST(RocksEngineTest, SecondOpenWhileOpenFails) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  std::unique_ptr<RocksEngine> first = MustOpen(TestOptions(dir));
  ASSERT_NE(first, nullptr);
  Result<std::unique_ptr<RocksEngine>> second = RocksEngine::Open(TestOptions(dir));
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_NE(second.status().message().find("already open"), std::string::npos) << second.status();
  first.reset();
  EXPECT_NE(MustOpen(TestOptions(dir)), nullptr) << "the lock outlived the engine";
}

TEST(RocksEngineTest, OpenWhileAnotherProcessHasItOpenFails) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "TSan does not support fork() in a multithreaded process";
#endif
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  ASSERT_NO_FATAL_FAILURE(CreateStore(dir));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Holds the store open until killed.
    Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(TestOptions(dir));
    char c = e.ok() ? 'y' : 'n';
    if (write(fds[1], &c, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(fds[1]);
  char c = 0;
  ASSERT_EQ(read(fds[0], &c, 1), 1);
  close(fds[0]);
  EXPECT_EQ(c, 'y') << "the child could not open the store";
  Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(TestOptions(dir));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(e.status())) << e.status();
  EXPECT_NE(e.status().message().find("already open"), std::string::npos) << e.status();
  EXPECT_NE(MustOpen(TestOptions(dir)), nullptr) << "the dead process's lock outlived it";
}

// Writes raw keys into a RocksDB store at `dir`, outside the engine.
void PutRaw(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& kvs) {
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, dir, &raw);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::unique_ptr<rocksdb::DB> db(raw);
  for (const auto& [k, v] : kvs) ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), k, v).ok());
  ASSERT_TRUE(db->Close().ok());
}

TEST(RocksEngineTest, ForeignRocksDbIsRejected) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  ASSERT_NO_FATAL_FAILURE(PutRaw(dir, {{"hello", "world"}}));
  Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(TestOptions(dir));
  EXPECT_TRUE(absl::IsDataLoss(e.status())) << e.status();
  EXPECT_NE(e.status().message().find("not written by this engine"), std::string::npos)
      << e.status();
}

TEST(RocksEngineTest, UnknownFormatVersionIsRejected) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  ASSERT_NO_FATAL_FAILURE(CreateStore(dir));
  ASSERT_NO_FATAL_FAILURE(PutRaw(dir, {{"mformat", "meridian.rocks_engine.v2"}}));
  Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(TestOptions(dir));
  EXPECT_TRUE(absl::IsDataLoss(e.status())) << e.status();
  EXPECT_NE(e.status().message().find("v2"), std::string::npos) << e.status();
}

std::string RawKey(std::string_view key, uint64_t hlc, uint32_t site) {
  std::string k = "v";
  PutOrderedBytes(&k, key);
  PutBigEndian64(&k, ~hlc);
  PutBigEndian32(&k, ~site);
  return k;
}

TEST(RocksEngineTest, CorruptRecordFailsReadsAndLatches) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  ASSERT_NO_FATAL_FAILURE(CreateStore(dir));
  // A bad value tag, and a key with a truncated version, between good keys.
  ASSERT_NO_FATAL_FAILURE(PutRaw(dir, {{RawKey("b", 1, 1), "\x07junk"},
                                       {RawKey("c", 1, 1).substr(0, 10), "\x01x"},
                                       {RawKey("z", 1, 1), "\x01ok"}}));
  std::unique_ptr<RocksEngine> e = MustOpen(TestOptions(dir));
  ASSERT_NE(e, nullptr);
  Result<std::optional<ReadResult>> k = e->Get("k", Snapshot::Latest());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ((*k)->value, "v");
  Status s = e->Scan(ScanOptions{}, Snapshot::Latest(), [](const KeyValue&) { return true; },
                     nullptr);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  // Fail-stop: every later call reports it, even ones that would succeed.
  EXPECT_TRUE(absl::IsDataLoss(e->Get("k", Snapshot::Latest()).status()));
  EXPECT_TRUE(absl::IsDataLoss(e->Apply(WriteBatch{2, {}}, true)));
  EXPECT_TRUE(absl::IsDataLoss(e->Flush()));
}

TEST(RocksEngineTest, OnDiskEncodingMatchesTheFormatDoc) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  {
    std::unique_ptr<RocksEngine> e = MustOpen(TestOptions(dir));
    ASSERT_NE(e, nullptr);
    ASSERT_TRUE(e->Apply(WriteBatch{7,
                                    {Record{std::string("a\0", 2), Version{5, 2}, "val"},
                                     Record{"a", Version{6, 1}, std::nullopt}}},
                         true)
                    .ok());
  }
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::vector<std::pair<std::string, std::string>> all;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    all.emplace_back(it->key().ToString(), it->value().ToString());
  }
  std::string index;
  PutFixed64(&index, 7);
  std::vector<std::pair<std::string, std::string>> want = {
      {"mapplied_index", index},
      {"mformat", "meridian.rocks_engine.v1"},
      {std::string("va\0\x01", 4) + std::string(7, '\xff') + "\xf9" + "\xff\xff\xff\xfe",
       std::string(1, '\0')},
      {std::string("va\0\xff\0\x01", 6) + std::string(7, '\xff') + "\xfa" + "\xff\xff\xff\xfd",
       "\x01val"},
  };
  EXPECT_EQ(all, want);
}

// A FileSystem whose writable files fail every Append and Sync once armed.
class FaultyFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FaultyFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "MeridianFaultyFileSystem"; }
  void Arm() { armed_ = true; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, r, dbg);
    if (s.ok()) *r = std::make_unique<File>(std::move(*r), &armed_);
    return s;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f, const std::atomic<bool>* armed)
        : FSWritableFileOwnerWrapper(std::move(f)), armed_(armed) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      if (*armed_) return rocksdb::IOStatus::IOError("injected write error");
      return FSWritableFileOwnerWrapper::Append(d, o, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* dbg) override {
      if (*armed_) return rocksdb::IOStatus::IOError("injected write error");
      return FSWritableFileOwnerWrapper::Append(d, o, v, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (*armed_) return rocksdb::IOStatus::IOError("injected sync error");
      return FSWritableFileOwnerWrapper::Sync(o, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (*armed_) return rocksdb::IOStatus::IOError("injected sync error");
      return FSWritableFileOwnerWrapper::Fsync(o, dbg);
    }

   private:
    const std::atomic<bool>* armed_;
  };

  std::atomic<bool> armed_{false};
};

TEST(RocksEngineTest, WriteErrorIsFailStop) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  auto fs = std::make_shared<FaultyFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  RocksEngine::Options o = TestOptions(dir);
  o.env = env.get();
  std::unique_ptr<RocksEngine> e = MustOpen(o);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->Apply(WriteBatch{1, {Record{"a", Version{1, 1}, "1"}}}, true).ok());
  fs->Arm();
  Status s = e->Apply(WriteBatch{2, {Record{"b", Version{2, 1}, "2"}}}, true);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("injected"), std::string::npos) << s;
  // Every later call fails with the same error, reads included.
  EXPECT_EQ(e->Apply(WriteBatch{3, {}}, false), s);
  EXPECT_EQ(e->Get("a", Snapshot::Latest()).status(), s);
  EXPECT_EQ(e->LatestVersion("a").status(), s);
  EXPECT_EQ(e->Flush(), s);
  EXPECT_EQ(e->GarbageCollect(Snapshot::Latest()), s);
  EXPECT_EQ(e->Scan(ScanOptions{}, Snapshot::Latest(), [](const KeyValue&) { return true; },
                    nullptr),
            s);
  EXPECT_EQ(e->Export([](const Record&) { return absl::OkStatus(); }, nullptr), s);
  EXPECT_EQ(e->Ingest({}, 9), s);
  EXPECT_EQ(e->Stats().applied_index, 1u);
  e.reset();

  // Reopened on a healthy file system: the acknowledged batch is there, and
  // the failed one is either wholly there or wholly absent.
  e = MustOpen(TestOptions(dir));
  ASSERT_NE(e, nullptr);
  uint64_t applied = e->Stats().applied_index;
  EXPECT_TRUE(applied == 1 || applied == 2) << applied;
  Result<std::optional<ReadResult>> a = e->Get("a", Snapshot::Latest());
  ASSERT_TRUE(a.ok() && a->has_value());
  Result<std::optional<ReadResult>> b = e->Get("b", Snapshot::Latest());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->has_value(), applied == 2);
}

TEST(RocksEngineTest, DirectIoAndNoBlockCache) {
  TempDir tmp;
  RocksEngine::Options o = TestOptions(tmp.NewDir());
  o.use_direct_io = true;
  o.block_cache_bytes = 0;
  Result<std::unique_ptr<RocksEngine>> e = RocksEngine::Open(o);
  if (!e.ok()) GTEST_SKIP() << "no O_DIRECT here: " << e.status();
  ASSERT_TRUE((*e)->Apply(WriteBatch{1, {Record{"k", Version{1, 1}, "v"}}}, true).ok());
  ASSERT_TRUE((*e)->Flush().ok());
  Result<std::optional<ReadResult>> r = (*e)->Get("k", Snapshot::Latest());
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->value, "v");
}

// Regression test for the flush-duration metric: a memtable flush is timed
// through the listener, and the time is plausible.
TEST(RocksEngineTest, MemtableFlushesAreTimed) {
  TempDir tmp;
  RocksEngine::Options o = TestOptions(tmp.NewDir());
  o.memtable_bytes = 64 << 10;
  std::mutex mu;
  std::vector<double> flushes;
  o.on_flush = [&](double seconds) {
    std::lock_guard<std::mutex> lock(mu);
    flushes.push_back(seconds);
  };
  std::unique_ptr<RocksEngine> e = MustOpen(o);
  ASSERT_NE(e, nullptr);
  // 1 MiB through 64 KiB memtables: several flushes.
  for (uint64_t i = 1; i <= 64; ++i) {
    ASSERT_TRUE(
        e->Apply(WriteBatch{i, {Record{"k" + std::to_string(i), Version{i, 1},
                                       std::string(16 << 10, 'x')}}},
                 false)
            .ok());
  }
  // Waits for the flushes the writes started and flushes what is left; the
  // listener has run for each by the time it returns.
  ASSERT_TRUE(e->FlushMemtables().ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_GT(flushes.size(), 0u) << "no memtable flush was reported";
  }
  e.reset();  // no callback after the engine is closed
  for (double s : flushes) {
    EXPECT_GT(s, 0.0);
    EXPECT_LT(s, 10.0);
  }
}

// Regression test for the fragmentation figure (Space()): one SST file is
// all live; a second one over the same key range makes RocksDB count half
// of the SST bytes as not live until compaction merges them.
TEST(RocksEngineTest, FragmentationFollowsOverlappingSstFiles) {
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  RocksEngine::Options o = TestOptions(dir);
  // Each round stays in the memtable; reopening flushes it (WAL recovery)
  // into one L0 file, and two L0 files are below the compaction trigger.
  uint64_t seed = 42;
  auto incompressible = [&] {
    std::string v(1 << 10, '\0');
    for (char& c : v) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      c = static_cast<char>(seed >> 56);
    }
    return v;
  };
  auto round = [&](uint64_t first_index, uint64_t hlc) {
    std::unique_ptr<RocksEngine> e = MustOpen(o);
    ASSERT_NE(e, nullptr);
    for (uint64_t k = 0; k < 100; ++k) {
      ASSERT_TRUE(e->Apply(WriteBatch{first_index + k,
                                      {Record{"key" + std::to_string(1000 + k), Version{hlc, 1},
                                              incompressible()}}},
                           false)
                      .ok());
    }
    ASSERT_TRUE(e->Flush().ok());
  };
  round(1, 10);
  std::unique_ptr<RocksEngine> e = MustOpen(o);
  ASSERT_NE(e, nullptr);
  SpaceStats one = e->Space();
  e.reset();
  EXPECT_GT(one.live_bytes, 50u << 10);
  EXPECT_LT(one.fragmentation, 0.1) << "one SST file is all live";
  EXPECT_GE(one.size_bytes, one.live_bytes);

  round(101, 20);
  e = MustOpen(o);
  ASSERT_NE(e, nullptr);
  SpaceStats two = e->Space();
  EXPECT_GT(two.fragmentation, 0.3) << "live " << two.live_bytes << " of " << two.size_bytes;
  EXPECT_LT(two.fragmentation, 0.7) << "live " << two.live_bytes << " of " << two.size_bytes;
  EXPECT_GT(two.size_bytes, one.size_bytes);
}

}  // namespace
}  // namespace meridian::storage
