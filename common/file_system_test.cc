#include "common/file_system.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace meridian {
namespace {

void WriteReadSync(FileSystem* fs, const std::string& dir) {
  ASSERT_TRUE(fs->CreateDir(dir).ok());
  auto f = fs->OpenFile(dir + "/a", /*create=*/true);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->Allocate(4096).ok());
  EXPECT_EQ(*(*f)->Size(), 4096u);
  ASSERT_TRUE((*f)->Write(10, "hello").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  std::string out;
  ASSERT_TRUE((*f)->Read(10, 5, &out).ok());
  EXPECT_EQ(out, "hello");
  ASSERT_TRUE((*f)->Read(4094, 100, &out).ok());
  EXPECT_EQ(out.size(), 2u);  // short read at the end
  auto names = fs->List(dir);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"a"});
  ASSERT_TRUE(fs->Rename(dir + "/a", dir + "/b").ok());
  ASSERT_TRUE(fs->SyncDir(dir).ok());
  EXPECT_FALSE(fs->OpenFile(dir + "/a", false).ok());
  ASSERT_TRUE(fs->Remove(dir + "/b").ok());
}

TEST(FileSystemTest, PosixBasics) {
  std::string dir = ::testing::TempDir() + "/meridian_fs_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  WriteReadSync(PosixFileSystem(), dir);
  std::filesystem::remove_all(dir);
}

TEST(FileSystemTest, MemBasics) {
  MemFileSystem fs;
  WriteReadSync(&fs, "/d");
}

TEST(FileSystemTest, CrashCloneKeepsOnlySyncedBytes) {
  MemFileSystem fs;
  auto synced = *fs.OpenFile("/d/synced", true);
  ASSERT_TRUE(synced->Write(0, "durable").ok());
  ASSERT_TRUE(synced->Sync().ok());
  ASSERT_TRUE(synced->Write(7, "-lost").ok());
  auto unsynced = *fs.OpenFile("/d/unsynced", true);
  ASSERT_TRUE(unsynced->Write(0, "gone").ok());

  auto after = fs.CrashClone();
  auto f = after->OpenFile("/d/synced", false);
  ASSERT_TRUE(f.ok());
  std::string out;
  ASSERT_TRUE((*f)->Read(0, 100, &out).ok());
  EXPECT_EQ(out, "durable");
  EXPECT_FALSE(after->OpenFile("/d/unsynced", false).ok());
}

TEST(FileSystemTest, FaultInjectionByOpAndPath) {
  MemFileSystem mem;
  FaultFileSystem fs(&mem);
  auto wal = *fs.OpenFile("/d/wal-1", true);
  auto other = *fs.OpenFile("/d/other", true);
  fs.Arm(FaultFileSystem::Op::kSync, "wal-", ResourceExhaustedError("injected ENOSPC"));
  ASSERT_TRUE(wal->Write(0, "x").ok());
  EXPECT_EQ(wal->Sync().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(other->Sync().ok());
  fs.Disarm();
  EXPECT_TRUE(wal->Sync().ok());
}

}  // namespace
}  // namespace meridian
