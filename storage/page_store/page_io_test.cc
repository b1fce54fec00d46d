#include "storage/page_store/page_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace meridian::storage::page_store {
namespace {

std::string TempPath(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/meridian_page_io_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}

// Writes a batch of mixed requests (arena and heap buffers, 1..16 pages, out
// of order), reads it back in another batch, and compares.
void RoundTrip(PageIo* io, uint32_t seed) {
  std::mt19937 rng(seed);
  struct Expect {
    PageIoRequest req;
    std::string bytes;
  };
  std::vector<std::unique_ptr<char, void (*)(void*)>> owned;
  std::vector<Expect> writes;
  uint64_t next_page = 0;
  size_t arena_used = 0;
  for (int i = 0; i < 40; ++i) {
    const uint32_t pages = 1 + rng() % 16;
    char* buf;
    if (i % 3 == 0 && arena_used + pages <= io->arena_pages()) {
      buf = io->arena_page(arena_used);
      arena_used += pages;
    } else {
      owned.push_back(PageIo::AlignedBuffer(pages));
      buf = owned.back().get();
    }
    for (size_t b = 0; b < pages * kPageSize; ++b) buf[b] = static_cast<char>(rng());
    writes.push_back({{next_page, pages, buf}, std::string(buf, pages * kPageSize)});
    next_page += pages + rng() % 3;  // leave holes
  }
  std::shuffle(writes.begin(), writes.end(), rng);
  std::vector<PageIoRequest> reqs;
  for (const Expect& e : writes) reqs.push_back(e.req);
  ASSERT_TRUE(io->Write(reqs).ok());
  ASSERT_TRUE(io->Sync().ok());
  EXPECT_GE(io->size_pages(), next_page - 2);
  // Read back into fresh buffers (half of them in the arena).
  std::vector<PageIoRequest> reads;
  std::vector<std::unique_ptr<char, void (*)(void*)>> read_bufs;
  for (const Expect& e : writes) {
    read_bufs.push_back(PageIo::AlignedBuffer(e.req.pages));
    reads.push_back({e.req.page_no, e.req.pages, read_bufs.back().get()});
  }
  ASSERT_TRUE(io->Read(reads).ok());
  for (size_t i = 0; i < writes.size(); ++i) {
    ASSERT_EQ(std::string(reads[i].buf, reads[i].pages * kPageSize), writes[i].bytes)
        << "request " << i << " page " << reads[i].page_no;
  }
}

TEST(PageIoTest, UringRoundTripsBatchesWithRegisteredBuffers) {
  const std::string path = TempPath("uring");
  PageIo::Options options;
  options.mode = PageIo::Mode::kUring;
  options.ring_entries = 8;  // smaller than a batch: several submissions
  auto io = PageIo::Open(PosixFileSystem(), path, options);
  ASSERT_TRUE(io.ok()) << io.status();
  EXPECT_TRUE((*io)->uses_uring());
  EXPECT_NE((*io)->io_path().find("io_uring, O_DIRECT"), std::string::npos) << (*io)->io_path();
  RoundTrip(io->get(), 1);
  io->reset();
  // What was written is there for a new handle too.
  auto again = PageIo::Open(PosixFileSystem(), path, options);
  ASSERT_TRUE(again.ok());
  RoundTrip(again->get(), 2);
}

TEST(PageIoTest, PosixAndFileSystemPathsRoundTrip) {
  PageIo::Options posix;
  posix.mode = PageIo::Mode::kPosix;
  auto io = PageIo::Open(PosixFileSystem(), TempPath("posix"), posix);
  ASSERT_TRUE(io.ok()) << io.status();
  EXPECT_FALSE((*io)->uses_uring());
  RoundTrip(io->get(), 3);

  MemFileSystem mem;
  auto in_memory = PageIo::Open(&mem, "/mem/pages", PageIo::Options());
  ASSERT_TRUE(in_memory.ok()) << in_memory.status();
  EXPECT_NE((*in_memory)->io_path().find("file-system calls"), std::string::npos);
  RoundTrip(in_memory->get(), 4);
}

TEST(PageIoTest, AReadPastTheEndOfTheFileIsZerosAfterAShortRead) {
  const std::string path = TempPath("short");
  std::ofstream(path, std::ios::binary) << std::string(kPageSize + 100, 'x');  // 1 page + 100 B
  for (PageIo::Mode mode : {PageIo::Mode::kUring, PageIo::Mode::kPosix}) {
    PageIo::Options options;
    options.mode = mode;
    auto io = PageIo::Open(PosixFileSystem(), path, options);
    ASSERT_TRUE(io.ok()) << io.status();
    auto buf = PageIo::AlignedBuffer(3);
    std::memset(buf.get(), 'y', 3 * kPageSize);
    PageIoRequest req{0, 3, buf.get()};
    ASSERT_TRUE((*io)->Read({&req, 1}).ok());
    EXPECT_EQ(std::string(buf.get(), kPageSize + 100), std::string(kPageSize + 100, 'x'));
    EXPECT_EQ(std::string(buf.get() + kPageSize + 100, 2 * kPageSize - 100),
              std::string(2 * kPageSize - 100, '\0'));
  }
}

TEST(PageIoTest, InjectedFaultsSurfaceAsDataLossOrDiskFull) {
  MemFileSystem mem;
  FaultFileSystem faulty(&mem);
  auto io = PageIo::Open(&faulty, "/f/pages", PageIo::Options());
  ASSERT_TRUE(io.ok());
  auto buf = PageIo::AlignedBuffer(1);
  PageIoRequest req{5, 1, buf.get()};
  faulty.Arm(FaultFileSystem::Op::kWrite, "pages", absl::DataLossError("EIO"));
  EXPECT_EQ((*io)->Write({&req, 1}).code(), absl::StatusCode::kDataLoss);
  faulty.Arm(FaultFileSystem::Op::kWrite, "pages", ResourceExhaustedError("ENOSPC"));
  EXPECT_EQ((*io)->Write({&req, 1}).code(), absl::StatusCode::kResourceExhausted);
  faulty.Arm(FaultFileSystem::Op::kSync, "pages", absl::DataLossError("EIO"));
  EXPECT_EQ((*io)->Sync().code(), absl::StatusCode::kDataLoss);
  faulty.Disarm();
  EXPECT_TRUE((*io)->Write({&req, 1}).ok());
}

// In a child process whose seccomp filter refuses io_uring_setup with EPERM
// (as Docker's default profile does), kAuto falls back to pread/pwrite, says
// why, and works; kUring refuses to open.
TEST(PageIoTest, FallsBackToPreadPwriteWhenTheKernelRefusesIoUring) {
  const std::string path = TempPath("seccomp");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      ::_exit(10);
    }
    PageIo::Options uring_only;
    uring_only.mode = PageIo::Mode::kUring;
    if (PageIo::Open(PosixFileSystem(), path, uring_only).ok()) ::_exit(11);
    auto io = PageIo::Open(PosixFileSystem(), path, PageIo::Options());
    if (!io.ok() || (*io)->uses_uring()) ::_exit(12);
    if ((*io)->io_path().find("io_uring refused") == std::string::npos) ::_exit(13);
    auto buf = PageIo::AlignedBuffer(2);
    std::memset(buf.get(), 'q', 2 * kPageSize);
    PageIoRequest w{3, 2, buf.get()};
    if (!(*io)->Write({&w, 1}).ok() || !(*io)->Sync().ok()) ::_exit(14);
    auto back = PageIo::AlignedBuffer(2);
    PageIoRequest r{3, 2, back.get()};
    if (!(*io)->Read({&r, 1}).ok() || std::memcmp(buf.get(), back.get(), 2 * kPageSize) != 0) {
      ::_exit(15);
    }
    ::_exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0) << "10 seccomp, 11 kUring opened, 12 no fallback, "
                                        "13 no reason given, 14 write, 15 read";
}

}  // namespace
}  // namespace meridian::storage::page_store
