// RedoLog: the page store's redo log, the node WAL (consensus/wal.h) used
// with one group: one Entry per applied batch, its index the batch's log
// index, its command the encoded records. Sync is the WAL's group commit
// (everything appended since the last Sync, one write, one fdatasync).
//
// The group is the checkpoint's log group: 0 for a new store, one more after
// each Ingest, so that entries from before an Ingest can never replay over
// the ingested content (the old group is trimmed away entirely).
//
// A second group (the first with kPageWritesBit set) records, per page
// write-back, the pages it allocated and the data pages it wrote, indexed by
// the write's first lsn: recovery uses it to tell which pages the last
// checkpoint calls free are in use by pages written since.
//
// Not thread-safe: PageStore serializes calls with its log mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/status.h"
#include "consensus/wal.h"
#include "storage/engine.h"

namespace meridian::storage::page_store {

inline constexpr uint64_t kPageWritesBit = 1ull << 63;

// One page write-back as the log records it.
struct PageWrites {
  uint64_t lsn = 0;                 // the first lsn of the write-back
  std::vector<uint32_t> allocated;  // pages taken from the free list or the file's end
  std::vector<uint32_t> written;    // data and overflow pages written
};

std::string EncodeBatch(const WriteBatch& batch);
// DataLoss on a malformed command.
Status DecodeBatch(uint64_t index, std::string_view command, WriteBatch* batch);

class RedoLog {
 public:
  // Opens the log in `dir` and returns in *replay, in index order, the
  // batches of `group` with log index > `after_index`, and in *page_writes
  // the page write-backs with lsn >= `from_lsn`. Entries of other groups are
  // trimmed away.
  static Result<std::unique_ptr<RedoLog>> Open(FileSystem* fs, const std::string& dir,
                                               const consensus::Wal::Options& options,
                                               uint64_t group, uint64_t after_index,
                                               uint64_t from_lsn, std::vector<WriteBatch>* replay,
                                               std::vector<PageWrites>* page_writes);

  // Buffers the batch; nothing is written until Sync. InvalidArgument,
  // nothing buffered, for a batch larger than a log segment can hold.
  Status Append(const WriteBatch& batch);
  // Buffers a page write-back record; nothing is written until Sync.
  void AppendPageWrites(const PageWrites& w);
  // Writes and fdatasyncs everything appended. An error is permanent.
  Status Sync();
  // Batches up to `index` and page write-backs with lsn < `next_lsn` are no
  // longer needed (a checkpoint holds them).
  Status Trim(uint64_t index, uint64_t next_lsn);
  // Moves to `group`, dropping every entry of the current one. Durable when
  // this returns OK.
  Status SwitchGroup(uint64_t group);

  bool has_pending() const { return pending_bytes_ > 0; }
  uint64_t pending_bytes() const { return pending_bytes_; }
  // Bytes appended since the last Trim or SwitchGroup (the checkpoint trigger).
  uint64_t bytes_since_trim() const { return bytes_since_trim_; }
  uint64_t group() const { return group_; }

 private:
  RedoLog(std::unique_ptr<consensus::Wal> wal, uint64_t group, uint64_t max_entry_bytes)
      : wal_(std::move(wal)), group_(group), max_entry_bytes_(max_entry_bytes) {}

  std::unique_ptr<consensus::Wal> wal_;
  uint64_t group_;
  // The largest encoded batch a segment holds with room for the WAL's framing.
  uint64_t max_entry_bytes_;
  uint64_t pending_bytes_ = 0;
  uint64_t bytes_since_trim_ = 0;
};

}  // namespace meridian::storage::page_store
