#include "common/uring_sync.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/file_system.h"

namespace meridian {
namespace {

class UringSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto u = UringSync::Create();
    if (!u.ok()) GTEST_SKIP() << "io_uring unavailable here: " << u.status();
    uring_ = std::move(*u);
    dir_ = ::testing::TempDir() + "/meridian_uring_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(PosixFileSystem()->CreateDir(dir_).ok());
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<UringSync> uring_;
  std::string dir_;
};

TEST_F(UringSyncTest, WritesAtOffsetAndReadsBackThroughPosix) {
  auto f = *PosixFileSystem()->OpenFile(dir_ + "/f", true);
  ASSERT_GE(f->fd(), 0);
  ASSERT_TRUE(f->Allocate(1 << 20).ok());
  const std::string big(300 << 10, 'b');
  ASSERT_TRUE(uring_->WriteAndSync(f->fd(), 4096, "hello").ok());
  ASSERT_TRUE(uring_->WriteAndSync(f->fd(), 8192, big).ok());
  ASSERT_TRUE(uring_->WriteAndSync(f->fd(), 0, "").ok());  // fdatasync alone
  std::string out;
  ASSERT_TRUE(f->Read(4096, 5, &out).ok());
  EXPECT_EQ(out, "hello");
  ASSERT_TRUE(f->Read(8192, big.size(), &out).ok());
  EXPECT_EQ(out, big);
  EXPECT_EQ(*f->Size(), 1u << 20);  // within the allocation: no growth
}

TEST_F(UringSyncTest, AFailedWriteIsAnError) {
  const std::string path = dir_ + "/ro";
  ASSERT_TRUE(PosixFileSystem()->OpenFile(path, true).ok());
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Status s = uring_->WriteAndSync(fd, 0, "x");  // EBADF: not open for writing
  ::close(fd);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(uring_->WriteAndSync(-1, 0, "").code() == absl::StatusCode::kDataLoss);
}

TEST(FileFdTest, OnlyOsFilesExposeADescriptor) {
  MemFileSystem mem;
  EXPECT_EQ((*mem.OpenFile("/m", true))->fd(), -1);
  FaultFileSystem fault(&mem);
  EXPECT_EQ((*fault.OpenFile("/m", false))->fd(), -1);  // faults must not be bypassed
}

}  // namespace
}  // namespace meridian
