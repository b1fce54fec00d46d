#include "storage/page_store/page_io.h"

#include <liburing.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace meridian::storage::page_store {

struct PageIo::Ring {
  io_uring ring;
  bool initialized = false;
  bool fixed_buffers = false;  // the arena is registered as buffer 0
  bool fixed_file = false;     // the file is registered as file 0
  ~Ring() {
    if (initialized) io_uring_queue_exit(&ring);
  }
};

std::unique_ptr<char, void (*)(void*)> PageIo::AlignedBuffer(size_t pages) {
  void* p = std::aligned_alloc(kPageSize, std::max<size_t>(pages, 1) * kPageSize);
  if (p == nullptr) std::abort();
  std::memset(p, 0, std::max<size_t>(pages, 1) * kPageSize);
  return {static_cast<char*>(p), &std::free};
}

Result<std::unique_ptr<PageIo>> PageIo::Open(FileSystem* fs, const std::string& path,
                                             const Options& options) {
  std::unique_ptr<PageIo> io(new PageIo());
  io->path_ = path;
  io->options_ = options;
  std::string direct_note = options.direct ? ", O_DIRECT" : ", buffered";
  if (options.direct) {
    Result<std::unique_ptr<File>> file = fs->OpenFileDirect(path, /*create=*/true);
    if (file.status().code() == absl::StatusCode::kInvalidArgument) {
      direct_note = ", buffered (O_DIRECT refused by the file system)";
      file = fs->OpenFile(path, /*create=*/true);
    }
    MERIDIAN_RETURN_IF_ERROR(file.status());
    io->file_ = std::move(*file);
  } else {
    MERIDIAN_ASSIGN_OR_RETURN(io->file_, fs->OpenFile(path, /*create=*/true));
  }
  io->fd_ = io->file_->fd();
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t bytes, io->file_->Size());
  io->size_pages_ = (bytes + kPageSize - 1) / kPageSize;
  io->arena_pages_ = options.arena_pages;
  if (io->arena_pages_ > 0) {
    void* arena = std::aligned_alloc(kPageSize, io->arena_pages_ * kPageSize);
    if (arena == nullptr) return ResourceExhaustedError("cannot allocate the page I/O arena");
    std::memset(arena, 0, io->arena_pages_ * kPageSize);
    io->arena_ = static_cast<char*>(arena);
  }

  if (io->fd_ < 0) {
    if (options.mode == Mode::kUring) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is not an operating-system file: io_uring cannot reach it"));
    }
    io->io_path_ = "file-system calls (in-memory or fault-injecting file)";
    return io;
  }
  if (options.mode == Mode::kPosix) {
    io->io_path_ = "pread/pwrite" + direct_note + " (chosen)";
    return io;
  }
  Result<std::unique_ptr<Ring>> ring = io->NewRing();
  if (!ring.ok()) {
    if (options.mode == Mode::kUring) return ring.status();
    io->io_path_ = absl::StrCat("pread/pwrite", direct_note, " (io_uring refused: ",
                                ring.status().message(), ")");
    return io;
  }
  io->uring_ = true;
  io->io_path_ = absl::StrCat("io_uring", direct_note,
                              (*ring)->fixed_buffers ? ", registered buffers" : "",
                              (*ring)->fixed_file ? ", registered file" : "");
  absl::MutexLock lock(&io->mu_);
  io->idle_rings_.push_back(std::move(*ring));
  return io;
}

PageIo::~PageIo() {
  {
    absl::MutexLock lock(&mu_);
    idle_rings_.clear();
  }
  file_.reset();
  std::free(arena_);
}

Result<std::unique_ptr<PageIo::Ring>> PageIo::NewRing() {
  auto ring = std::make_unique<Ring>();
  int rc = io_uring_queue_init(options_.ring_entries, &ring->ring, 0);
  ring->initialized = rc == 0;
  if (rc < 0) {
    return absl::UnimplementedError(absl::StrCat("io_uring_queue_init: ", std::strerror(-rc)));
  }
  if (arena_ != nullptr) {
    iovec iov{arena_, arena_pages_ * kPageSize};
    ring->fixed_buffers = io_uring_register_buffers(&ring->ring, &iov, 1) == 0;
  }
  ring->fixed_file = io_uring_register_files(&ring->ring, &fd_, 1) == 0;
  return ring;
}

std::unique_ptr<PageIo::Ring> PageIo::AcquireRing() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_rings_.empty()) {
      std::unique_ptr<Ring> ring = std::move(idle_rings_.back());
      idle_rings_.pop_back();
      return ring;
    }
  }
  Result<std::unique_ptr<Ring>> ring = NewRing();
  return ring.ok() ? std::move(*ring) : nullptr;
}

void PageIo::ReleaseRing(std::unique_ptr<Ring> ring) {
  absl::MutexLock lock(&mu_);
  idle_rings_.push_back(std::move(ring));
}

Status PageIo::IoError(const char* what, uint64_t page_no, int err) const {
  std::string msg = absl::StrCat(what, " ", path_, " page ", page_no, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return ResourceExhaustedError(msg + " (disk full)");
  return absl::DataLossError(msg);
}

Status PageIo::Read(std::span<const PageIoRequest> requests) { return Transfer(requests, false); }
Status PageIo::Write(std::span<const PageIoRequest> requests) { return Transfer(requests, true); }

Status PageIo::Transfer(std::span<const PageIoRequest> requests, bool write) {
  if (requests.empty()) return absl::OkStatus();
  Status s = fd_ < 0 ? TransferFile(requests, write)
             : uring_ ? TransferUring(requests, write)
                      : TransferPosix(requests, write);
  if (s.ok() && write) {
    uint64_t end = 0;
    for (const PageIoRequest& r : requests) end = std::max(end, r.page_no + r.pages);
    absl::MutexLock lock(&mu_);
    size_pages_ = std::max(size_pages_, end);
  }
  return s;
}

Status PageIo::TransferUring(std::span<const PageIoRequest> requests, bool write) {
  std::unique_ptr<Ring> ring = AcquireRing();
  if (ring == nullptr) return TransferPosix(requests, write);
  io_uring* r = &ring->ring;
  const char* arena_end = arena_ + arena_pages_ * kPageSize;
  // Bytes done per request; a request is queued again until it is complete.
  std::vector<size_t> done(requests.size(), 0);
  std::vector<size_t> pending;
  for (size_t i = 0; i < requests.size(); ++i) pending.push_back(i);
  Status status;
  while (!pending.empty() && status.ok()) {
    const size_t batch = std::min<size_t>(pending.size(), options_.ring_entries);
    for (size_t j = 0; j < batch; ++j) {
      const size_t i = pending[pending.size() - 1 - j];
      const PageIoRequest& q = requests[i];
      const size_t len = static_cast<size_t>(q.pages) * kPageSize - done[i];
      char* buf = q.buf + done[i];
      const uint64_t offset = q.page_no * kPageSize + done[i];
      io_uring_sqe* sqe = io_uring_get_sqe(r);
      const int fd = ring->fixed_file ? 0 : fd_;
      const bool fixed = ring->fixed_buffers && buf >= arena_ && buf + len <= arena_end;
      if (write) {
        fixed ? io_uring_prep_write_fixed(sqe, fd, buf, len, offset, 0)
              : io_uring_prep_write(sqe, fd, buf, len, offset);
      } else {
        fixed ? io_uring_prep_read_fixed(sqe, fd, buf, len, offset, 0)
              : io_uring_prep_read(sqe, fd, buf, len, offset);
      }
      if (ring->fixed_file) sqe->flags |= IOSQE_FIXED_FILE;
      io_uring_sqe_set_data64(sqe, i);
    }
    pending.resize(pending.size() - batch);
    int rc;
    do {
      rc = io_uring_submit_and_wait(r, batch);
    } while (rc == -EINTR);
    if (rc < 0) {
      // The ring may hold unreaped work: it is dropped, not reused.
      return IoError(write ? "io_uring write" : "io_uring read", requests[0].page_no, -rc);
    }
    for (size_t reaped = 0; reaped < batch; ++reaped) {
      io_uring_cqe* cqe = nullptr;
      do {
        rc = io_uring_wait_cqe(r, &cqe);
      } while (rc == -EINTR);
      if (rc < 0) return IoError("io_uring wait", requests[0].page_no, -rc);  // ring dropped
      const size_t i = io_uring_cqe_get_data64(cqe);
      const int res = cqe->res;
      io_uring_cqe_seen(r, cqe);
      const PageIoRequest& q = requests[i];
      const size_t want = static_cast<size_t>(q.pages) * kPageSize;
      if (res == -EINTR || res == -EAGAIN) {
        pending.push_back(i);
      } else if (res < 0) {
        if (status.ok()) status = IoError(write ? "write" : "read", q.page_no, -res);
      } else if (res == 0 && !write) {
        std::memset(q.buf + done[i], 0, want - done[i]);  // past the end of the file
      } else if (res == 0) {
        if (status.ok()) status = IoError("write", q.page_no, EIO);  // no progress
      } else {
        done[i] += static_cast<size_t>(res);
        if (done[i] < want) pending.push_back(i);  // short: continue where it stopped
      }
    }
  }
  ReleaseRing(std::move(ring));  // every queued request was reaped
  return status;
}

Status PageIo::TransferPosix(std::span<const PageIoRequest> requests, bool write) {
  for (const PageIoRequest& q : requests) {
    const size_t want = static_cast<size_t>(q.pages) * kPageSize;
    size_t done = 0;
    while (done < want) {
      const off_t offset = static_cast<off_t>(q.page_no * kPageSize + done);
      const ssize_t n = write ? ::pwrite(fd_, q.buf + done, want - done, offset)
                              : ::pread(fd_, q.buf + done, want - done, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError(write ? "write" : "read", q.page_no, errno);
      if (n == 0 && write) return IoError("write", q.page_no, EIO);
      if (n == 0) {
        std::memset(q.buf + done, 0, want - done);  // past the end of the file
        break;
      }
      done += static_cast<size_t>(n);
    }
  }
  return absl::OkStatus();
}

Status PageIo::TransferFile(std::span<const PageIoRequest> requests, bool write) {
  std::string data;
  for (const PageIoRequest& q : requests) {
    const size_t want = static_cast<size_t>(q.pages) * kPageSize;
    const uint64_t offset = q.page_no * kPageSize;
    if (write) {
      MERIDIAN_RETURN_IF_ERROR(file_->Write(offset, std::string_view(q.buf, want)));
      continue;
    }
    MERIDIAN_RETURN_IF_ERROR(file_->Read(offset, want, &data));
    std::memcpy(q.buf, data.data(), data.size());
    std::memset(q.buf + data.size(), 0, want - data.size());
  }
  return absl::OkStatus();
}

Status PageIo::Sync() { return file_->Sync(); }

Status PageIo::Grow(uint64_t pages) {
  absl::MutexLock lock(&mu_);
  if (pages <= size_pages_) return absl::OkStatus();
  MERIDIAN_RETURN_IF_ERROR(file_->Allocate(pages * kPageSize));
  size_pages_ = pages;
  return absl::OkStatus();
}

uint64_t PageIo::size_pages() const {
  absl::MutexLock lock(&mu_);
  return size_pages_;
}

}  // namespace meridian::storage::page_store
