// The CHECKPOINT file: everything the page store needs at open besides the
// pages themselves and the redo log (docs/formats/page_store.md,
// "Checkpoint"). Written whole to CHECKPOINT.tmp, fdatasynced, renamed over
// CHECKPOINT, directory synced: a crash leaves the old or the new one.
//
//   magic "MRDNPSC" + format version digit ('2'; '1' is still read)
//   varint applied index, varint log group, varint pages generation,
//   varint next write sequence (lsn), varint page count (file high-water mark)
//   varint segments; each: lower (length-prefixed), varint first page,
//     u8 pages, prefix (length-prefixed), 8 bytes lo, 8 bytes hi,
//     varint base, u64 slope bits,
//     per page: varint overflow page, varint used, varint overflow used,
//       varint inserts (version 2 only)
//     varint appends (version 2 only)
//   varint free pages; each varint delta from the previous
//   varint pinned keys; each: key (length-prefixed), varint versions; each:
//     varint hlc, varint site, u8 (1 live), value (length-prefixed, if live)
//   u32 masked CRC-32C of everything before it
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/file_system.h"
#include "common/status.h"
#include "storage/page_store/record_cache.h"
#include "storage/page_store/segment.h"

namespace meridian::storage::page_store {

struct CheckpointHeader {
  uint64_t applied_index = 0;
  uint64_t log_group = 0;
  uint64_t pages_generation = 1;
  uint64_t next_lsn = 1;
  uint64_t page_count = 1;  // pages [0, page_count) exist; page 0 is never used
};

// The format version CheckpointEncoder writes. Version 1 lacks the
// segments' insert history, which then starts at zero.
inline constexpr int kCheckpointVersion = 2;

// Builds the file's bytes in order: header, segments, free pages, pinned keys.
class CheckpointEncoder {
 public:
  // REQUIRES: version 1 (tests of old files) or kCheckpointVersion.
  explicit CheckpointEncoder(const CheckpointHeader& h, int version = kCheckpointVersion);
  void BeginSegments(size_t n);
  void AddSegment(const Segment& s);
  void SetFreePages(const std::vector<uint32_t>& sorted);
  void BeginPinned(size_t n);
  void AddPinned(std::string_view key, const VersionChain& versions);
  // The finished file (checksum appended).
  std::string Finish();

 private:
  int version_;
  std::string out_;
};

struct CheckpointData {
  CheckpointHeader header;
  std::vector<Segment> segments;  // in key order
  std::vector<uint32_t> free_pages;
  std::vector<std::pair<std::string, VersionChain>> pinned;
};

// DataLoss (CorruptionError) on a bad magic, checksum or encoding, or a
// format version newer than kCheckpointVersion (named in the message).
Status DecodeCheckpoint(std::string_view bytes, CheckpointData* out);

// The atomic write described above.
Status WriteCheckpointFile(FileSystem* fs, const std::string& dir, const std::string& bytes);
// The bytes of dir/CHECKPOINT; nullopt if there is none.
Result<std::optional<std::string>> ReadCheckpointFile(FileSystem* fs, const std::string& dir);

}  // namespace meridian::storage::page_store
