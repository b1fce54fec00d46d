#include "server/data_dir_meta.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace meridian::server {
namespace {

class DataDirMetaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/meridian_meta_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<DataDirMeta> Open(const std::string& engine, FileSystem* fs = PosixFileSystem()) {
    return OpenDataDirMeta(fs, dir_, engine, "rocksdb", "meridiand test");
  }
  std::string ReadMeta() {
    std::ifstream in(dir_ + "/META");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void WriteMeta(const std::string& text) { std::ofstream(dir_ + "/META") << text; }

  std::string dir_;
};

TEST_F(DataDirMetaTest, ANewDirGetsTheDefaultEngineAndTheCurrentFormat) {
  auto meta = Open("auto");
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->engine, "rocksdb");
  EXPECT_EQ(meta->format, DataDirMeta::kFormat);
  EXPECT_EQ(ReadMeta(), "meridian-data-dir\nformat=1\nengine=rocksdb\nwritten_by=meridiand test\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/META.tmp"));
  // Reopening reads it back.
  auto again = Open("rocksdb");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->written_by, "meridiand test");
}

TEST_F(DataDirMetaTest, ADirFromBeforeMetaIsFormatOneRocksdb) {
  std::filesystem::create_directories(dir_ + "/engine");
  auto meta = Open("auto");
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->engine, "rocksdb");
  EXPECT_NE(ReadMeta().find("engine=rocksdb"), std::string::npos);
}

TEST_F(DataDirMetaTest, AnotherEngineThanTheDirsIsRefusedWithWhatToDo) {
  WriteMeta("meridian-data-dir\nformat=1\nengine=pagestore\nwritten_by=meridiand 9\n");
  auto meta = Open("rocksdb");
  ASSERT_EQ(meta.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(meta.status().message().find("holds a pagestore store; start with --engine=pagestore"),
            std::string::npos)
      << meta.status();
  auto automatic = Open("auto");
  ASSERT_TRUE(automatic.ok()) << automatic.status();
  EXPECT_EQ(automatic->engine, "pagestore");
}

TEST_F(DataDirMetaTest, ANewerFormatIsRefusedAndTheFileLeftAlone) {
  const std::string newer = "meridian-data-dir\nformat=7\nengine=rocksdb\nwritten_by=meridiand 3.0\n";
  WriteMeta(newer);
  auto meta = Open("auto");
  ASSERT_EQ(meta.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(meta.status().message().find("has format 7 (written by meridiand 3.0), newer than"),
            std::string::npos)
      << meta.status();
  EXPECT_EQ(ReadMeta(), newer);
}

TEST_F(DataDirMetaTest, AMalformedFileIsCorruptionNamingIt) {
  for (const char* text : {"", "hello\n", "meridian-data-dir\nengine=rocksdb\n",
                           "meridian-data-dir\nformat=x\nengine=rocksdb\n",
                           "meridian-data-dir\nformat=1\n"}) {
    WriteMeta(text);
    auto meta = Open("auto");
    EXPECT_EQ(meta.status().code(), absl::StatusCode::kDataLoss) << text;
    EXPECT_NE(meta.status().message().find(dir_ + "/META"), std::string::npos) << meta.status();
  }
}

TEST_F(DataDirMetaTest, AFailedWriteLeavesNoMetaAndSaysWhy) {
  FaultFileSystem faulty(PosixFileSystem());
  faulty.Arm(FaultFileSystem::Op::kSync, "META", absl::ResourceExhaustedError("no space"));
  auto meta = Open("auto", &faulty);
  ASSERT_EQ(meta.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(meta.status().message().find("cannot write " + dir_ + "/META"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/META"));
  faulty.Disarm();
  EXPECT_TRUE(Open("auto", &faulty).ok());  // the leftover META.tmp does not get in the way
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/META.tmp"));
}

}  // namespace
}  // namespace meridian::server
