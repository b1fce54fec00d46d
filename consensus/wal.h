// Wal: the node's write-ahead log. Every consensus group on the node appends
// to it; one Sync makes everything appended so far durable with a single
// write and a single fdatasync (group commit). Format: docs/formats/wal.md.
//
// Records are checksummed and carry their segment's sequence number, so a
// torn write at the tail is detected and cut off on recovery, and old bytes
// in a reused or preallocated segment never pass for records. A bad record
// anywhere but the tail of the last segment is corruption: Open fails.
//
// Not thread-safe: the replication driver owns it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/status.h"
#include "consensus/types.h"

namespace meridian::consensus {

using GroupId = uint64_t;

// What recovery found for one group.
struct RecoveredGroup {
  HardState hard_state;
  std::map<uint64_t, Entry> entries;  // the last write of each index wins
};

class Wal {
 public:
  struct Options {
    uint64_t segment_bytes = 64ull << 20;  // preallocated size of a segment; >= 4 KiB
  };

  // Opens (creating if needed) the WAL in `dir` and replays it into
  // *recovered. REQUIRES: fs outlives the Wal.
  static Result<std::unique_ptr<Wal>> Open(FileSystem* fs, const std::string& dir,
                                           const Options& options,
                                           std::map<GroupId, RecoveredGroup>* recovered);

  // Buffer records; nothing is written until Sync.
  void AppendHardState(GroupId group, const HardState& h);
  void AppendEntries(GroupId group, const std::vector<Entry>& entries);
  // Writes everything appended since the last Sync and fdatasyncs it.
  // An error is fatal for the WAL: every later call returns it.
  Status Sync();

  uint64_t segment_count() const { return segment_seq_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  struct PendingRecord {
    uint8_t type;
    GroupId group;
    std::string payload;
  };
  Wal(FileSystem* fs, std::string dir, Options options)
      : fs_(fs), dir_(std::move(dir)), options_(options) {}
  Status OpenSegment(uint64_t seq, bool create);
  std::string EncodeRecord(const PendingRecord& r) const;

  FileSystem* const fs_;
  const std::string dir_;
  const Options options_;
  std::unique_ptr<File> file_;
  uint64_t segment_seq_ = 0;   // sequence number of the open segment (from 1)
  uint64_t offset_ = 0;        // next write position in it
  std::vector<PendingRecord> pending_;  // appended, not yet written
  uint64_t bytes_written_ = 0;
  Status error_;
};

}  // namespace meridian::consensus
