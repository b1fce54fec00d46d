// Wal: the node's write-ahead log. Every consensus group on the node appends
// to it; one Sync makes everything appended so far durable with a single
// write and a single fdatasync (group commit), issued through io_uring on
// real files when the kernel allows it. Format: docs/formats/wal.md.
//
// Records are checksummed and carry their segment's sequence number, so a
// torn write at the tail is detected and cut off on recovery, and old bytes
// in a recycled or preallocated segment never pass for records. A segment
// that was rolled away from ends in a seal record. A bad record anywhere but
// the tail of the last segment is corruption: Open fails.
//
// Compaction: AppendTrim says a group no longer needs its entries up to an
// index. A segment whose every record is dead (entries at or below their
// group's trim, hard states and trims superseded by later ones) is renamed
// to a spare and reused for a later segment, or removed when enough spares
// are kept.
//
// Invariants: the open segment is never recycled; a segment is recycled only
// after the records that made it dead are durable; sequence numbers only
// grow, also across restarts. Entry payloads are held only between Append*
// and Sync.
//
// Not thread-safe: the replication driver owns it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_system.h"
#include "common/status.h"
#include "common/uring_sync.h"
#include "consensus/types.h"

namespace meridian::consensus {

// What recovery found for one group.
struct RecoveredGroup {
  HardState hard_state;
  std::map<uint64_t, Entry> entries;  // the last write of each index wins; all > trimmed_through
  uint64_t trimmed_through = 0;       // highest AppendTrim made durable; 0 if never trimmed
};

class Wal {
 public:
  // How Sync writes and fdatasyncs.
  enum class Io {
    kAuto,   // io_uring on OS files if io_uring_queue_init succeeds, else kPosix
    kUring,  // io_uring; Open fails if the kernel refuses it or files are not OS files
    kPosix,  // File::Write + File::Sync: pwrite + fdatasync(2) on real files
  };

  struct Options {
    uint64_t segment_bytes = 64ull << 20;  // capacity of a segment; >= 4 KiB
    // How much of the open segment is allocated ahead of the writes, in
    // steps of this many bytes (the last step stops at segment_bytes). 0,
    // or >= segment_bytes: the whole segment when it starts. A small step
    // keeps a little-used log small on disk; each step costs one fallocate.
    uint64_t preallocate_bytes = 0;
    size_t max_spare_segments = 2;         // recycled segments kept for reuse; more are removed
    Io io = Io::kAuto;
  };

  // Opens (creating if needed) the WAL in `dir` and replays it into
  // *recovered, which then holds only durable records (the last segment is
  // fdatasynced first). Fails with DATA_LOSS on corruption before the tail,
  // kUnimplemented for Io::kUring where io_uring is refused, and
  // INVALID_ARGUMENT for bad options. REQUIRES: fs outlives the Wal.
  static Result<std::unique_ptr<Wal>> Open(FileSystem* fs, const std::string& dir,
                                           const Options& options,
                                           std::map<GroupId, RecoveredGroup>* recovered);

  // "auto", "uring" or "posix" (as in MERIDIAN_WAL_IO) to *io; false if
  // `name` is none of them.
  static bool ParseIo(std::string_view name, Io* io);

  // Buffer records; nothing is written until Sync.
  void AppendHardState(GroupId group, const HardState& h);
  void AppendEntries(GroupId group, const std::vector<Entry>& entries);
  // Records that `group`'s entries with index <= through_index are compacted
  // away (a snapshot or the state machine holds them): recovery drops them
  // and reports trimmed_through. Also re-appends the group's latest hard
  // state, so no older segment is kept alive by it. A trim at or below an
  // earlier one of the group appends nothing.
  void AppendTrim(GroupId group, uint64_t through_index);

  // Writes everything appended since the last Sync and fdatasyncs it, then
  // recycles the segments that became dead (renames made durable with
  // SyncDir). An error is fatal for the WAL: every later call returns it.
  Status Sync();

  // The I/O path Sync uses: kUring or kPosix, never kAuto.
  Io io() const { return io_; }
  uint64_t segment_seq() const { return segment_seq_; }   // of the open segment
  size_t segment_count() const { return segments_.size(); }  // live segment files
  size_t spare_count() const { return spares_.size(); }
  uint64_t segments_recycled() const { return segments_recycled_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  struct PendingRecord {
    uint8_t type;
    GroupId group;
    uint64_t value;  // entries: the highest index; trim: through_index
    std::string payload;
  };
  // Per live segment file: what may keep it alive.
  struct SegmentInfo {
    std::map<GroupId, uint64_t> max_entry;  // highest entry index written, per group
    int pins = 0;  // groups whose latest hard state or trim record is here
  };
  // Per group. hard_state and trim_appended follow Append*; the rest follow
  // what was written to segments.
  struct GroupInfo {
    bool has_hard_state = false;
    HardState hard_state;
    uint64_t trim_appended = 0;
    uint64_t trimmed_through = 0;
    uint64_t hard_state_seq = 0;  // segment of the latest hard state record; 0 = none
    uint64_t trim_seq = 0;        // segment of the latest trim record; 0 = none
  };

  Wal(FileSystem* fs, std::string dir, Options options)
      : fs_(fs), dir_(std::move(dir)), options_(options) {}
  // Opens segment `seq` as the one appended to: a spare renamed, else a new
  // file; preallocated (a step), synced, directory synced.
  Status StartSegment(uint64_t seq);
  // Allocates the open segment's file through at least `end` bytes, in
  // whole preallocation steps. REQUIRES: end <= segment_bytes.
  Status Reserve(uint64_t end);
  std::string EncodeRecord(uint8_t type, GroupId group, std::string_view payload) const;
  // Accounts a record written to segment `seq`.
  void Track(uint64_t seq, uint8_t type, GroupId group, uint64_t value);
  void MovePin(uint64_t* where, uint64_t seq);
  // Writes `data` at offset_ in the open segment and fdatasyncs it.
  Status WriteDurably(std::string_view data);
  // Recycles or removes every dead segment but the open one.
  Status RecycleDead();
  Status SetUpIo();

  FileSystem* const fs_;
  const std::string dir_;
  const Options options_;
  Io io_ = Io::kPosix;
  std::unique_ptr<UringSync> uring_;  // set iff io_ == kUring
  std::unique_ptr<File> file_;
  uint64_t segment_seq_ = 0;  // sequence number of the open segment (from 1)
  uint64_t next_seq_ = 1;     // above every segment and spare ever seen
  uint64_t offset_ = 0;       // next write position in it
  uint64_t allocated_ = 0;    // its file's size: >= offset_
  std::vector<PendingRecord> pending_;  // appended, not yet written
  std::map<uint64_t, SegmentInfo> segments_;  // by sequence number, the open one included
  std::vector<uint64_t> spares_;  // former sequence numbers of the spare files
  std::map<GroupId, GroupInfo> groups_;
  bool check_dead_ = false;  // something may have died since the last RecycleDead
  uint64_t segments_recycled_ = 0;
  uint64_t bytes_written_ = 0;
  Status error_;
};

}  // namespace meridian::consensus
