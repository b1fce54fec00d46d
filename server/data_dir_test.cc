#include "server/data_dir.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace meridian::server {
namespace {

TEST(DataDirLockTest, SecondHolderIsRefusedWithTheHoldersPid) {
  std::string dir = ::testing::TempDir() + "/meridian_lock_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto first = DataDirLock::Acquire(dir + "/nested");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = DataDirLock::Acquire(dir + "/nested");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("locked by another meridiand (pid " +
                                           std::to_string(::getpid())),
            absl::string_view::npos)
      << second.status();
  first->reset();
  EXPECT_TRUE(DataDirLock::Acquire(dir + "/nested").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace meridian::server
