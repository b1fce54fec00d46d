#include "storage/page_store/double_write.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "storage/page_store/blob.h"

namespace meridian::storage::page_store {

Result<std::unique_ptr<DoubleWriteBuffer>> DoubleWriteBuffer::Open(
    FileSystem* fs, const std::string& path, const PageIo::Options& io_options, uint32_t slots) {
  if (slots == 0) return InvalidArgumentError("double-write buffer: slots must be > 0");
  PageIo::Options o = io_options;
  o.arena_pages = 0;
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<PageIo> io, PageIo::Open(fs, path, o));
  return std::unique_ptr<DoubleWriteBuffer>(new DoubleWriteBuffer(std::move(io), slots));
}

Status DoubleWriteBuffer::Write(PageIo* target, std::span<const PageIoRequest> pages) {
  size_t done = 0;
  while (done < pages.size()) {
    if (next_slot_ == slots_) {
      // Wrapping over slots whose in-place writes may still be in flight:
      // make every in-place write durable first.
      MERIDIAN_RETURN_IF_ERROR(target->Sync());
      next_slot_ = 0;
    }
    const size_t n = std::min<size_t>(pages.size() - done, slots_ - next_slot_);
    auto staging = PageIo::AlignedBuffer(n);
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(staging.get() + i * kPageSize, pages[done + i].buf, kPageSize);
    }
    const PageIoRequest ring{next_slot_, static_cast<uint32_t>(n), staging.get()};
    MERIDIAN_RETURN_IF_ERROR(io_->Write(std::span<const PageIoRequest>(&ring, 1)));
    MERIDIAN_RETURN_IF_ERROR(io_->Sync());
    MERIDIAN_RETURN_IF_ERROR(target->Write(pages.subspan(done, n)));
    next_slot_ += static_cast<uint32_t>(n);
    pages_written_ += n;
    done += n;
  }
  return absl::OkStatus();
}

Status DoubleWriteBuffer::Repair(PageIo* target, uint64_t* repaired, uint64_t* max_lsn) {
  *repaired = 0;
  *max_lsn = 0;
  const uint64_t have = std::min<uint64_t>(io_->size_pages(), slots_);
  if (have == 0) return absl::OkStatus();
  auto ring = PageIo::AlignedBuffer(have);
  const PageIoRequest all{0, static_cast<uint32_t>(have), ring.get()};
  MERIDIAN_RETURN_IF_ERROR(io_->Read(std::span<const PageIoRequest>(&all, 1)));
  // Per page number, the slot with its newest intact copy.
  std::map<uint32_t, size_t> newest;
  for (size_t i = 0; i < have; ++i) {
    const char* img = ring.get() + i * kPageSize;
    uint32_t no = 0;
    std::memcpy(&no, img + 12, 4);
    if (no == 0 || !IsSealedPage(img, no)) continue;
    const uint64_t lsn = Page(const_cast<char*>(img)).lsn();
    *max_lsn = std::max(*max_lsn, lsn);
    auto [it, inserted] = newest.emplace(no, i);
    if (!inserted && Page(ring.get() + it->second * kPageSize).lsn() < lsn) it->second = i;
  }
  if (newest.empty()) return absl::OkStatus();
  auto current = PageIo::AlignedBuffer(newest.size());
  std::vector<PageIoRequest> reads;
  for (const auto& [no, slot] : newest) {
    reads.push_back(PageIoRequest{no, 1, current.get() + reads.size() * kPageSize});
  }
  MERIDIAN_RETURN_IF_ERROR(target->Read(reads));
  std::vector<PageIoRequest> writes;
  size_t i = 0;
  for (const auto& [no, slot] : newest) {
    char* in_place = current.get() + (i++) * kPageSize;
    char* copy = ring.get() + slot * kPageSize;
    if (!IsSealedPage(in_place, no) || Page(in_place).lsn() < Page(copy).lsn()) {
      writes.push_back(PageIoRequest{no, 1, copy});
    }
  }
  MERIDIAN_RETURN_IF_ERROR(target->Write(writes));
  MERIDIAN_RETURN_IF_ERROR(target->Sync());
  *repaired = writes.size();
  return absl::OkStatus();
}

}  // namespace meridian::storage::page_store
