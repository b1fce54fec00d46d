// DoubleWriteBuffer: protection of in-place page writes against tearing
// (docs/formats/page_store.md, "Torn pages").
//
// Every page the store writes goes first to the `dwb` file, a ring of page
// slots, which is fdatasynced; only then is the page written in place. The
// in-place writes are not synced one by one: before the ring wraps over
// slots whose pages may not be durable yet, the page file is fdatasynced.
// So at any crash, every page whose in-place write may be torn has an intact
// copy in the ring (each copy carries its page number, lsn and checksum).
//
// Repair (at open): for each page number, the ring's copy with the highest
// lsn replaces the in-place page if that one fails its checksum or has a
// lower lsn; then the page file is synced.
//
// Not thread-safe: the page store's writer uses it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/file_system.h"
#include "common/status.h"
#include "storage/page_store/page_io.h"

namespace meridian::storage::page_store {

class DoubleWriteBuffer {
 public:
  // Opens (creating) the buffer file at `path` with `slots` page slots.
  static Result<std::unique_ptr<DoubleWriteBuffer>> Open(FileSystem* fs, const std::string& path,
                                                         const PageIo::Options& io_options,
                                                         uint32_t slots);

  // Writes `pages` (sealed images, 4 KiB-aligned buffers of one page each)
  // to the ring, syncs it, then writes them in place in `target`. Errors are
  // the I/O layer's (DataLoss, or ResourceExhausted when the disk is full);
  // after one the page file's content is unknown.
  Status Write(PageIo* target, std::span<const PageIoRequest> pages);

  // Repairs `target` from the ring as described above; *repaired counts the
  // pages copied; *max_lsn is the highest lsn in the ring (0 if empty).
  Status Repair(PageIo* target, uint64_t* repaired, uint64_t* max_lsn);

  uint32_t slots() const { return slots_; }
  uint64_t pages_written() const { return pages_written_; }

 private:
  DoubleWriteBuffer(std::unique_ptr<PageIo> io, uint32_t slots) : io_(std::move(io)), slots_(slots) {}

  std::unique_ptr<PageIo> io_;
  const uint32_t slots_;
  uint32_t next_slot_ = 0;
  uint64_t pages_written_ = 0;
};

}  // namespace meridian::storage::page_store
