// FileSystem: the one seam for file I/O used by the WAL (and later the page
// store). Three implementations:
//   - PosixFileSystem(): the real thing (pwrite/pread/fdatasync);
//   - MemFileSystem: in memory; CrashClone() keeps only what was synced;
//   - FaultFileSystem: wraps another and fails chosen operations with EIO or
//     ENOSPC, by operation and path.
//
// Thread-safety: a FileSystem is thread-safe; a File is used by one thread
// at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace meridian {

class File {
 public:
  virtual ~File() = default;
  // Writes all of `data` at `offset`, extending the file if needed.
  virtual Status Write(uint64_t offset, std::string_view data) = 0;
  // Reads up to n bytes at offset into *out (shorter at end of file).
  virtual Status Read(uint64_t offset, size_t n, std::string* out) = 0;
  // Makes every completed Write durable (fdatasync).
  virtual Status Sync() = 0;
  // Reserves space up to `size` bytes (zero-filled), so appends do not
  // change the file's metadata and a full disk shows up early.
  virtual Status Allocate(uint64_t size) = 0;
  virtual Result<uint64_t> Size() = 0;
  // The operating system's descriptor for the file, or -1 when it is not an
  // OS file (in memory, or wrapped to inject faults). Owned by the File and
  // valid while it lives; lets the WAL issue its own I/O through io_uring.
  virtual int fd() const { return -1; }
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual Result<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) = 0;
  // Like OpenFile, bypassing the OS page cache (O_DIRECT) where there is
  // one: then every Read/Write must be 4 KiB-aligned in offset, length and
  // memory. InvalidArgument if the file system refuses direct I/O. In memory
  // it is OpenFile.
  virtual Result<std::unique_ptr<File>> OpenFileDirect(const std::string& path, bool create) {
    return OpenFile(path, create);
  }
  virtual Status CreateDir(const std::string& path) = 0;  // with parents; OK if it exists
  // File names (not paths) in `dir`, sorted.
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Makes creations, renames and removals in `dir` durable.
  virtual Status SyncDir(const std::string& dir) = 0;
};

// The operating system's file system. Never destroyed.
FileSystem* PosixFileSystem();

// In-memory. Each file keeps its current bytes and its last synced bytes; a
// file's existence is durable once the file or its directory was synced.
class MemFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override;
  Status CreateDir(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Status Remove(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;

  // What a machine would find after power loss now: synced bytes only.
  std::unique_ptr<MemFileSystem> CrashClone();

 private:
  friend class MemFile;
  struct Data {
    std::string current;
    std::string synced;
    bool durable = false;  // exists after a crash
  };
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Data>> files_ ABSL_GUARDED_BY(mu_);
};

// Fails operations whose path contains `path_part`, once armed.
class FaultFileSystem final : public FileSystem {
 public:
  enum class Op { kWrite, kSync, kAllocate, kOpen };
  explicit FaultFileSystem(FileSystem* base) : base_(base) {}
  // From now on, `op` on matching paths fails with `error` (EIO or ENOSPC
  // style: absl::DataLossError / ResourceExhaustedError).
  void Arm(Op op, std::string path_part, Status error);
  void Disarm();

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override;
  Status CreateDir(const std::string& path) override { return base_->CreateDir(path); }
  Result<std::vector<std::string>> List(const std::string& dir) override { return base_->List(dir); }
  Status Remove(const std::string& path) override { return base_->Remove(path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return base_->Rename(from, to);
  }
  Status SyncDir(const std::string& dir) override { return base_->SyncDir(dir); }

  // The armed error for (op, path), or OK.
  Status Check(Op op, const std::string& path);

 private:
  FileSystem* const base_;
  absl::Mutex mu_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  Op op_ ABSL_GUARDED_BY(mu_) = Op::kWrite;
  std::string path_part_ ABSL_GUARDED_BY(mu_);
  Status error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian
