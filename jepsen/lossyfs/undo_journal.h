// The undo journal of lossyfs: for every backing file written since its last
// fsync, the bytes those writes destroyed and the size the file had, so that a
// simulated power loss can put the file back to its last durable state.
//
// Model. A file's durable state is its content at its last fsync/fdatasync
// (or when lossyfs first saw it modified). Writes go straight through to the
// backing file; before a byte below the durable size is changed for the first
// time since that sync, its old value is saved. Restoring every saved byte and
// truncating to the durable size is the same as applying a classic per-write
// undo log newest first, with memory bounded by the durable size.
//
// Invariant (per file): every byte in [0, durable_size) that is not saved is
// unchanged since the sync and lies below the current file size (any
// operation that shrinks the file or rewrites bytes saves them first).
//
// Files are keyed by the backing inode (st_dev, st_ino), so a record follows
// its file across rename and across every descriptor and hard link. Each
// record holds its own O_RDWR descriptor, which also keeps the inode (and its
// number) alive while the record exists.
//
// Not thread-safe: the caller serializes every call (lossyfs holds one mutex
// around each mutating file operation and around lose/sync).
#ifndef MERIDIAN_JEPSEN_LOSSYFS_UNDO_JOURNAL_H_
#define MERIDIAN_JEPSEN_LOSSYFS_UNDO_JOURNAL_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace meridian::lossyfs {

// The not-yet-durable changes of one file.
class FileUndo {
 public:
  // Takes ownership of fd, an O_RDWR descriptor of the backing file whose
  // current size is durable_size.
  FileUndo(int fd, uint64_t durable_size);
  ~FileUndo();
  FileUndo(const FileUndo&) = delete;
  FileUndo& operator=(const FileUndo&) = delete;

  // Saves the current bytes of [begin, end) ∩ [0, durable_size) that are not
  // saved yet. Call before changing them. Returns 0 or -errno (-EIO if the
  // file is shorter than the invariant allows).
  int Save(uint64_t begin, uint64_t end);

  // Writes every saved byte back and truncates to the durable size.
  // Returns 0 or the first -errno (it still tries every range).
  int RollBack();

  uint64_t durable_size() const { return durable_size_; }
  uint64_t saved_bytes() const { return saved_bytes_; }

 private:
  int fd_;
  uint64_t durable_size_;
  uint64_t saved_bytes_ = 0;
  std::map<uint64_t, std::string> saved_;  // offset -> old bytes; disjoint
};

// The undo records of all files.
class Journal {
 public:
  struct Totals {
    uint64_t files = 0;
    uint64_t bytes = 0;  // saved bytes written back (lose) or dropped (sync)
    int error = 0;       // first -errno met, 0 if none
  };

  // Call before changing [begin, end) of the file open as fd (a write, a
  // hole punch). Creates the file's record if absent (durable size = its size
  // now), so call it also before an operation that only grows the file.
  // Returns 0 or -errno; on error the caller must not modify the file.
  int BeforeModify(int fd, uint64_t begin, uint64_t end);

  // Call before ftruncate(fd, new_size). Returns 0 or -errno.
  int BeforeTruncate(int fd, uint64_t new_size);

  // The file open as fd was fsynced: its current state is durable.
  void MarkDurable(int fd);

  // Power loss: rolls every file back to its last durable state and forgets
  // all records.
  Totals LoseAll();

  // Everything is durable now: forgets all records.
  Totals SyncAll();

  uint64_t dirty_files() const { return files_.size(); }
  uint64_t saved_bytes() const;

 private:
  struct Key {
    dev_t dev;
    ino_t ino;
    auto operator<=>(const Key&) const = default;
  };
  // Returns the record of the file open as fd, creating it; nullptr and
  // *err = -errno on failure. *size is set to the file's current size.
  FileUndo* Find(int fd, uint64_t* size, int* err);

  std::map<Key, std::unique_ptr<FileUndo>> files_;
};

}  // namespace meridian::lossyfs

#endif  // MERIDIAN_JEPSEN_LOSSYFS_UNDO_JOURNAL_H_
