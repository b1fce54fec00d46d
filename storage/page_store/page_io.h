// PageIo: page-granular reads and writes of one page-store file.
//
// On a real file it opens O_DIRECT (the page store caches records itself;
// the OS page cache would only double the memory) and issues I/O through
// io_uring: every request of a batch is queued, submitted with one system
// call, and reaped together; buffers inside the registered arena use
// READ_FIXED/WRITE_FIXED. Where io_uring is refused (seccomp, an old
// kernel, a low RLIMIT_MEMLOCK) it uses pread/pwrite instead, and says so in
// io_path(); where O_DIRECT is refused (some file systems) it runs buffered
// and says that too. On an in-memory or fault-injecting FileSystem it goes
// through File::Read/Write, so tests can crash it and fail its I/O.
//
// Short transfers continue where they stopped; a read past the end of the
// file fills zeros (a page never written reads as a free, zero page). Errors:
// ENOSPC/EDQUOT give RESOURCE_EXHAUSTED, anything else DATA_LOSS, naming
// the file and page.
//
// Thread-safe: concurrent batches use separate rings from a small pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/file_system.h"
#include "common/status.h"
#include "storage/page_store/page.h"

namespace meridian::storage::page_store {

// One transfer of `pages` consecutive pages starting at `page_no`, into or
// out of `buf` (4 KiB-aligned, pages × kPageSize bytes).
struct PageIoRequest {
  uint64_t page_no = 0;
  uint32_t pages = 1;
  char* buf = nullptr;
};

class PageIo {
 public:
  enum class Mode { kAuto, kUring, kPosix };
  struct Options {
    Mode mode = Mode::kAuto;  // kUring fails Open if io_uring is refused
    bool direct = true;       // O_DIRECT on real files (falls back if refused)
    unsigned ring_entries = 64;
    size_t arena_pages = 256;  // registered with every ring: 1 MiB by default
  };

  static Result<std::unique_ptr<PageIo>> Open(FileSystem* fs, const std::string& path,
                                              const Options& options);
  ~PageIo();
  PageIo(const PageIo&) = delete;
  PageIo& operator=(const PageIo&) = delete;

  // Reads/writes every request; returns when all are done. On an error some
  // requests may have completed; a failed write leaves its pages unknown.
  Status Read(std::span<const PageIoRequest> requests);
  Status Write(std::span<const PageIoRequest> requests);
  // fdatasync: every completed write is durable.
  Status Sync();
  // Grows the file (zero-filled, allocated) to at least `pages` pages.
  Status Grow(uint64_t pages);
  uint64_t size_pages() const;

  // "io_uring, O_DIRECT", "pread/pwrite, O_DIRECT (io_uring refused: ...)",
  // "in-memory file" ...: for the engine's start-up log line.
  const std::string& io_path() const { return io_path_; }
  bool uses_uring() const { return uring_; }

  // kPageSize-aligned page buffers registered with the rings; I/O from or
  // into them skips the kernel's per-request page pinning. Callers own the
  // use of slots [0, arena_pages()).
  char* arena_page(size_t i) { return arena_ + i * kPageSize; }
  size_t arena_pages() const { return arena_pages_; }

  // A kPageSize-aligned buffer of `pages` pages for requests (outside the arena).
  static std::unique_ptr<char, void (*)(void*)> AlignedBuffer(size_t pages);

 private:
  struct Ring;
  PageIo() = default;
  Status Transfer(std::span<const PageIoRequest> requests, bool write);
  Status TransferUring(std::span<const PageIoRequest> requests, bool write);
  Status TransferFile(std::span<const PageIoRequest> requests, bool write);
  Status TransferPosix(std::span<const PageIoRequest> requests, bool write);
  Status IoError(const char* what, uint64_t page_no, int err) const;
  Result<std::unique_ptr<Ring>> NewRing();
  std::unique_ptr<Ring> AcquireRing();
  void ReleaseRing(std::unique_ptr<Ring> ring);

  std::string path_;
  std::unique_ptr<File> file_;
  int fd_ = -1;  // >= 0 on a real file
  bool uring_ = false;
  std::string io_path_;
  Options options_;
  char* arena_ = nullptr;
  size_t arena_pages_ = 0;
  mutable absl::Mutex mu_;
  uint64_t size_pages_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::unique_ptr<Ring>> idle_rings_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::storage::page_store
