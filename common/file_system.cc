#include "common/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace meridian {
namespace {

Status PosixError(const char* what, const std::string& path, int err) {
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return ResourceExhaustedError(msg + " (disk full)");
  if (err == ENOENT) return absl::NotFoundError(msg);
  return absl::DataLossError(msg);  // EIO and friends: the data may be gone
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }

  Status Write(uint64_t offset, std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("write", path_, errno);
      }
      data.remove_prefix(n);  // a short write continues where it stopped
      offset += n;
    }
    return absl::OkStatus();
  }
  Status Read(uint64_t offset, size_t n, std::string* out) override {
    out->resize(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, out->data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return PosixError("read", path_, errno);
      }
      if (r == 0) break;
      got += r;
    }
    out->resize(got);
    return absl::OkStatus();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return PosixError("fdatasync", path_, errno);
    return absl::OkStatus();
  }
  Status Allocate(uint64_t size) override {
    int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
    if (err != 0) return PosixError("fallocate", path_, err);
    return absl::OkStatus();
  }
  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return PosixError("stat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }
  int fd() const override { return fd_; }

 private:
  int fd_;
  std::string path_;
};

class PosixFs final : public FileSystem {
 public:
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0) return PosixError("open", path, errno);
    return std::unique_ptr<File>(new PosixFile(fd, path));
  }
  Result<std::unique_ptr<File>> OpenFileDirect(const std::string& path, bool create) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_DIRECT | (create ? O_CREAT : 0), 0644);
    if (fd < 0 && errno == EINVAL) {
      return absl::InvalidArgumentError(absl::StrCat("open ", path, ": O_DIRECT refused"));
    }
    if (fd < 0) return PosixError("open", path, errno);
    return std::unique_ptr<File>(new PosixFile(fd, path));
  }
  Status CreateDir(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return PosixError("mkdir", path, ec.value());
    return absl::OkStatus();
  }
  Result<std::vector<std::string>> List(const std::string& dir) override {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      out.push_back(e.path().filename().string());
    }
    if (ec) return PosixError("list", dir, ec.value());
    std::sort(out.begin(), out.end());
    return out;
  }
  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError("unlink", path, errno);
    return absl::OkStatus();
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return PosixError("rename", from, errno);
    return absl::OkStatus();
  }
  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError("open dir", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return PosixError("fsync dir", dir, err);
    return absl::OkStatus();
  }
};

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

}  // namespace

FileSystem* PosixFileSystem() {
  static PosixFs* fs = new PosixFs();
  return fs;
}

class MemFile final : public File {
 public:
  MemFile(MemFileSystem* fs, std::shared_ptr<MemFileSystem::Data> data)
      : fs_(fs), data_(std::move(data)) {}
  Status Write(uint64_t offset, std::string_view bytes) override {
    absl::MutexLock l(&fs_->mu_);
    std::string& c = data_->current;
    if (c.size() < offset + bytes.size()) c.resize(offset + bytes.size(), '\0');
    c.replace(offset, bytes.size(), bytes);
    return absl::OkStatus();
  }
  Status Read(uint64_t offset, size_t n, std::string* out) override {
    absl::MutexLock l(&fs_->mu_);
    const std::string& c = data_->current;
    *out = offset >= c.size() ? std::string() : c.substr(offset, n);
    return absl::OkStatus();
  }
  Status Sync() override {
    absl::MutexLock l(&fs_->mu_);
    data_->synced = data_->current;
    data_->durable = true;
    return absl::OkStatus();
  }
  Status Allocate(uint64_t size) override {
    absl::MutexLock l(&fs_->mu_);
    if (data_->current.size() < size) data_->current.resize(size, '\0');
    return absl::OkStatus();
  }
  Result<uint64_t> Size() override {
    absl::MutexLock l(&fs_->mu_);
    return data_->current.size();
  }

 private:
  MemFileSystem* fs_;
  std::shared_ptr<MemFileSystem::Data> data_;
};

Result<std::unique_ptr<File>> MemFileSystem::OpenFile(const std::string& path, bool create) {
  absl::MutexLock l(&mu_);
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (!create) return absl::NotFoundError(absl::StrCat("open ", path, ": no such file"));
    it = files_.emplace(path, std::make_shared<Data>()).first;
  }
  return std::unique_ptr<File>(new MemFile(this, it->second));
}

Status MemFileSystem::CreateDir(const std::string&) { return absl::OkStatus(); }

Result<std::vector<std::string>> MemFileSystem::List(const std::string& dir) {
  absl::MutexLock l(&mu_);
  std::vector<std::string> out;
  for (const auto& [path, data] : files_) {
    if (DirOf(path) == dir) out.push_back(path.substr(dir.size() + 1));
  }
  return out;
}

Status MemFileSystem::Remove(const std::string& path) {
  absl::MutexLock l(&mu_);
  if (files_.erase(path) == 0) return absl::NotFoundError(absl::StrCat("unlink ", path));
  return absl::OkStatus();
}

Status MemFileSystem::Rename(const std::string& from, const std::string& to) {
  absl::MutexLock l(&mu_);
  auto it = files_.find(from);
  if (it == files_.end()) return absl::NotFoundError(absl::StrCat("rename ", from));
  files_[to] = it->second;
  files_.erase(it);
  return absl::OkStatus();
}

Status MemFileSystem::SyncDir(const std::string& dir) {
  absl::MutexLock l(&mu_);
  for (auto& [path, data] : files_) {
    if (DirOf(path) == dir) data->durable = true;
  }
  return absl::OkStatus();
}

std::unique_ptr<MemFileSystem> MemFileSystem::CrashClone() {
  auto clone = std::make_unique<MemFileSystem>();
  absl::MutexLock l(&mu_);
  for (const auto& [path, data] : files_) {
    if (!data->durable) continue;
    auto copy = std::make_shared<Data>();
    copy->current = copy->synced = data->synced;
    copy->durable = true;
    clone->files_.emplace(path, copy);
  }
  return clone;
}

namespace {

class FaultFile final : public File {
 public:
  FaultFile(FaultFileSystem* fs, std::unique_ptr<File> base, std::string path)
      : fs_(fs), base_(std::move(base)), path_(std::move(path)) {}
  Status Write(uint64_t offset, std::string_view data) override {
    MERIDIAN_RETURN_IF_ERROR(fs_->Check(FaultFileSystem::Op::kWrite, path_));
    return base_->Write(offset, data);
  }
  Status Read(uint64_t offset, size_t n, std::string* out) override {
    return base_->Read(offset, n, out);
  }
  Status Sync() override {
    MERIDIAN_RETURN_IF_ERROR(fs_->Check(FaultFileSystem::Op::kSync, path_));
    return base_->Sync();
  }
  Status Allocate(uint64_t size) override {
    MERIDIAN_RETURN_IF_ERROR(fs_->Check(FaultFileSystem::Op::kAllocate, path_));
    return base_->Allocate(size);
  }
  Result<uint64_t> Size() override { return base_->Size(); }

 private:
  FaultFileSystem* fs_;
  std::unique_ptr<File> base_;
  std::string path_;
};

}  // namespace

void FaultFileSystem::Arm(Op op, std::string path_part, Status error) {
  absl::MutexLock l(&mu_);
  armed_ = true;
  op_ = op;
  path_part_ = std::move(path_part);
  error_ = std::move(error);
}

void FaultFileSystem::Disarm() {
  absl::MutexLock l(&mu_);
  armed_ = false;
}

Status FaultFileSystem::Check(Op op, const std::string& path) {
  absl::MutexLock l(&mu_);
  if (armed_ && op == op_ && path.find(path_part_) != std::string::npos) return error_;
  return absl::OkStatus();
}

Result<std::unique_ptr<File>> FaultFileSystem::OpenFile(const std::string& path, bool create) {
  MERIDIAN_RETURN_IF_ERROR(Check(Op::kOpen, path));
  MERIDIAN_ASSIGN_OR_RETURN(auto base, base_->OpenFile(path, create));
  return std::unique_ptr<File>(new FaultFile(this, std::move(base), path));
}

}  // namespace meridian
