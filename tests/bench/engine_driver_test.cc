#include "tests/bench/engine_driver.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <string>
#include <vector>

namespace meridian::bench {
namespace {

// Every directory the tests make (engines of up to 65 MiB each), removed
// when the test program ends.
class TempDirs : public ::testing::Environment {
 public:
  static std::vector<std::string>& All() {
    static std::vector<std::string> dirs;
    return dirs;
  }
  void TearDown() override {
    for (const std::string& d : All()) std::filesystem::remove_all(d);
  }
};
::testing::Environment* const kTempDirs = ::testing::AddGlobalTestEnvironment(new TempDirs);

std::string TempDir() {
  std::string tmpl = ::testing::TempDir() + "/engine_driver_XXXXXX";
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  TempDirs::All().push_back(tmpl);
  return tmpl;
}

std::unique_ptr<Driver> Open(const std::string& dir, bool sync = false,
                             const std::string& engine = "rocksdb", int load_batch = 1000) {
  DriverOptions o;
  o.engine = engine;
  o.engine_dir = dir;
  o.engine_memory_bytes = 8 << 20;
  Result<std::unique_ptr<Driver>> d =
      MakeEngineDriver(o, {.threads = 2, .sync = sync, .load_batch = load_batch});
  EXPECT_TRUE(d.ok()) << d.status();
  return std::move(*d);
}

Status Write(Driver& d, const std::string& k, const std::string& v) {
  std::promise<Status> p;
  d.Write(k, v, [&p](Status s) { p.set_value(s); });
  return p.get_future().get();
}

Status Load(Driver& d, const std::string& k, const std::string& v) {
  std::promise<Status> p;
  d.Load(k, v, [&p](Status s) { p.set_value(s); });
  return p.get_future().get();
}

std::optional<std::string> Read(Driver& d, const std::string& k) {
  std::promise<Result<std::optional<std::string>>> p;
  d.Read(k, [&p](Result<std::optional<std::string>> r) { p.set_value(std::move(r)); });
  Result<std::optional<std::string>> r = p.get_future().get();
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::nullopt;
}

class EngineDriverTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineDriverTest, ReadWriteScanReadModifyWrite) {
  auto d = Open(TempDir(), /*sync=*/true, GetParam());
  EXPECT_EQ(d->Name(), "engine");
  EXPECT_NE(d->Describe().find(GetParam()), std::string::npos) << d->Describe();
  for (const char* k : {"a1", "a2", "a3", "a4"}) ASSERT_TRUE(Write(*d, k, "x").ok());
  EXPECT_EQ(Read(*d, "a1"), "x");
  EXPECT_EQ(Read(*d, "zz"), std::nullopt);

  std::promise<Result<size_t>> scanned;
  d->Scan("a2", 10, [&](Result<size_t> r) { scanned.set_value(r); });
  Result<size_t> n = scanned.get_future().get();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);

  std::promise<Status> rmw;
  d->ReadModifyWrite({"a1", "b"}, "y", [&](Status s, int) { rmw.set_value(s); });
  ASSERT_TRUE(rmw.get_future().get().ok());
  EXPECT_EQ(Read(*d, "a1"), "y");
  EXPECT_EQ(Read(*d, "b"), "y");
}

// Regression test: versions must keep increasing across runs on one
// directory, or a new write would hide behind an old one.
TEST_P(EngineDriverTest, ReopenedDirectoryKeepsNewestWrite) {
  const std::string dir = TempDir();
  ASSERT_TRUE(Write(*Open(dir, false, GetParam()), "k", "old").ok());
  auto d = Open(dir, false, GetParam());
  EXPECT_EQ(Read(*d, "k"), "old");
  ASSERT_TRUE(Write(*d, "k", "new").ok());
  EXPECT_EQ(Read(*d, "k"), "new");
}

// Loaded records are buffered into batches of 3 (the last one partial),
// readable once FinishLoad returns, and still there after a reopen; later
// writes get newer versions than the loaded ones.
TEST_P(EngineDriverTest, BatchedLoadIsReadableAfterFinishLoadAndReopen) {
  const std::string dir = TempDir();
  {
    auto d = Open(dir, /*sync=*/true, GetParam(), /*load_batch=*/3);
    EXPECT_NE(d->DescribeLoad().find("unsynced"), std::string::npos) << d->DescribeLoad();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(Load(*d, "k" + std::to_string(i), "v").ok());
    ASSERT_TRUE(d->FinishLoad().ok());
    for (int i = 0; i < 10; ++i) EXPECT_EQ(Read(*d, "k" + std::to_string(i)), "v") << i;
  }
  auto d = Open(dir, /*sync=*/true, GetParam());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Read(*d, "k" + std::to_string(i)), "v") << i;
  ASSERT_TRUE(Write(*d, "k9", "new").ok());
  EXPECT_EQ(Read(*d, "k9"), "new");
}

TEST_P(EngineDriverTest, LoadBatchZeroWritesEachKey) {
  auto d = Open(TempDir(), /*sync=*/true, GetParam(), /*load_batch=*/0);
  EXPECT_EQ(d->DescribeLoad().find("batched"), std::string::npos) << d->DescribeLoad();
  ASSERT_TRUE(Load(*d, "k", "v").ok());
  EXPECT_EQ(Read(*d, "k"), "v");  // before FinishLoad: written at once
  EXPECT_TRUE(d->FinishLoad().ok());
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineDriverTest, ::testing::Values("rocksdb", "pagestore"));

// Regression test: a load batch that fails to apply after its records were
// acknowledged as buffered must fail the load (FinishLoad), not vanish; and
// records loaded after the failure are refused. PageStore refuses keys
// longer than 1 KiB, which fails one batch without breaking the engine.
TEST(EngineDriverLoadTest, FailedBatchSurfacesInFinishLoad) {
  {
    auto d = Open(TempDir(), false, "pagestore", /*load_batch=*/100);
    ASSERT_TRUE(Load(*d, "a", "v").ok());
    ASSERT_TRUE(Load(*d, std::string(2000, 'k'), "v").ok());  // buffered only
    EXPECT_FALSE(d->FinishLoad().ok());
  }
  auto d = Open(TempDir(), false, "pagestore", /*load_batch=*/2);
  ASSERT_TRUE(Load(*d, "a", "v").ok());
  EXPECT_FALSE(Load(*d, std::string(2000, 'k'), "v").ok());  // fills the batch, which fails
  EXPECT_FALSE(Load(*d, "c", "v").ok());
  EXPECT_FALSE(d->FinishLoad().ok());
}

TEST(EngineDriverOptionsTest, BadOptions) {
  DriverOptions o;
  EXPECT_EQ(MakeEngineDriver(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.engine_dir = TempDir();
  o.engine = "nosuch";
  EXPECT_EQ(MakeEngineDriver(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.engine = "rocksdb";
  EXPECT_EQ(MakeEngineDriver(o, {.load_batch = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace meridian::bench
