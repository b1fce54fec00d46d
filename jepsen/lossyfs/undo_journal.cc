#include "jepsen/lossyfs/undo_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iterator>

namespace meridian::lossyfs {
namespace {

// Reads exactly n bytes at offset; -EIO if the file ends first.
int ReadFully(int fd, uint64_t offset, char* buf, uint64_t n) {
  uint64_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) return -EIO;
    got += static_cast<uint64_t>(r);
  }
  return 0;
}

int WriteFully(int fd, uint64_t offset, const char* buf, uint64_t n) {
  uint64_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    done += static_cast<uint64_t>(r);
  }
  return 0;
}

// An O_RDWR descriptor of the file behind fd, which may be write-only.
int ReopenReadWrite(int fd) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  int rw = ::open(path, O_RDWR | O_CLOEXEC);
  if (rw >= 0) return rw;
  int err = errno;
  // Without /proc, a read-write fd can simply be duplicated.
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_ACCMODE) == O_RDWR) {
    rw = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (rw >= 0) return rw;
    err = errno;
  }
  return -err;
}

}  // namespace

FileUndo::FileUndo(int fd, uint64_t durable_size) : fd_(fd), durable_size_(durable_size) {}

FileUndo::~FileUndo() { ::close(fd_); }

int FileUndo::Save(uint64_t begin, uint64_t end) {
  if (end > durable_size_) end = durable_size_;
  if (begin >= end) return 0;
  uint64_t pos = begin;
  auto it = saved_.upper_bound(pos);
  if (it != saved_.begin()) {
    auto prev = std::prev(it);
    uint64_t prev_end = prev->first + prev->second.size();
    if (prev_end > pos) pos = prev_end;
  }
  // Walk the gaps between saved ranges inside [pos, end).
  while (pos < end) {
    uint64_t gap_end = it == saved_.end() ? end : std::min(end, it->first);
    if (pos < gap_end) {
      std::string old(gap_end - pos, '\0');
      if (int err = ReadFully(fd_, pos, old.data(), old.size()); err != 0) {
        std::fprintf(stderr, "lossyfs: cannot save bytes [%llu, %llu): %d\n",
                     static_cast<unsigned long long>(pos), static_cast<unsigned long long>(gap_end),
                     err);
        return err;
      }
      saved_bytes_ += old.size();
      saved_.emplace_hint(it, pos, std::move(old));
    }
    if (it == saved_.end()) break;
    uint64_t it_end = it->first + it->second.size();
    if (it_end > pos) pos = it_end;
    ++it;
  }
  return 0;
}

int FileUndo::RollBack() {
  int first_error = 0;
  for (const auto& [offset, bytes] : saved_) {
    int err = WriteFully(fd_, offset, bytes.data(), bytes.size());
    if (err != 0 && first_error == 0) first_error = err;
  }
  if (::ftruncate(fd_, static_cast<off_t>(durable_size_)) != 0 && first_error == 0) {
    first_error = -errno;
  }
  return first_error;
}

FileUndo* Journal::Find(int fd, uint64_t* size, int* err) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    *err = -errno;
    return nullptr;
  }
  *size = static_cast<uint64_t>(st.st_size);
  Key key{st.st_dev, st.st_ino};
  auto it = files_.find(key);
  if (it != files_.end()) return it->second.get();
  int rw = ReopenReadWrite(fd);
  if (rw < 0) {
    *err = rw;
    return nullptr;
  }
  auto record = std::make_unique<FileUndo>(rw, *size);
  FileUndo* raw = record.get();
  files_.emplace(key, std::move(record));
  return raw;
}

int Journal::BeforeModify(int fd, uint64_t begin, uint64_t end) {
  uint64_t size = 0;
  int err = 0;
  FileUndo* record = Find(fd, &size, &err);
  if (record == nullptr) return err;
  return record->Save(begin, end);
}

int Journal::BeforeTruncate(int fd, uint64_t new_size) {
  uint64_t size = 0;
  int err = 0;
  FileUndo* record = Find(fd, &size, &err);
  if (record == nullptr) return err;
  return new_size < size ? record->Save(new_size, size) : 0;
}

void Journal::MarkDurable(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return;
  files_.erase(Key{st.st_dev, st.st_ino});
}

Journal::Totals Journal::LoseAll() {
  Totals totals;
  for (auto& [key, record] : files_) {
    int err = record->RollBack();
    if (err != 0 && totals.error == 0) totals.error = err;
    totals.files++;
    totals.bytes += record->saved_bytes();
  }
  files_.clear();
  return totals;
}

Journal::Totals Journal::SyncAll() {
  Totals totals;
  totals.files = files_.size();
  totals.bytes = saved_bytes();
  files_.clear();
  return totals;
}

uint64_t Journal::saved_bytes() const {
  uint64_t total = 0;
  for (const auto& [key, record] : files_) total += record->saved_bytes();
  return total;
}

}  // namespace meridian::lossyfs
