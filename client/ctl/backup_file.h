// The backup file of `meridianctl snapshot save` and `snapshot restore`
// (docs/formats/backup.md has the byte layout):
//
//   magic "MRDNBKUP", format version
//   a header frame        what the backup is of (snapshot, site, source)
//   block frames          records, about 1 MiB each
//   a trailer frame       record count, block count, checksum of all blocks
//
// Every frame carries its length and a CRC-32C. A file is complete only
// with its trailer, and BackupWriter writes FILE.part and renames it to FILE
// only after the trailer is durable, so an interrupted save never leaves a
// FILE that looks complete.
//
// Not thread-safe: one writer or reader per file at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/file_system.h"
#include "common/status.h"
#include "meridian/v1/admin.pb.h"

namespace meridian::ctl {

inline constexpr char kBackupMagic[] = "MRDNBKUP";  // 8 bytes on disk
inline constexpr uint32_t kBackupFormatVersion = 1;
// A frame longer than this is treated as corrupt.
inline constexpr uint32_t kMaxBackupFrameBytes = 256u << 20;

// What the trailer says, and what a verified file adds up to.
struct BackupTrailer {
  uint64_t record_count = 0;
  uint64_t block_count = 0;
  uint32_t checksum = 0;  // CRC-32C over every block's payload, in order (unmasked)
};

// Appends `record` to a block payload (without the block's record count).
void AppendBackupRecord(const v1::BackupRecord& record, std::string* records);
// A block payload: the record count, then the records.
std::string EncodeBackupBlock(uint64_t count, std::string_view records);
// Decodes a block payload into `out` (appended). `offset` (of the block in
// the file) only names the place in the error. INVALID_ARGUMENT (DATA_LOSS
// code) if malformed.
Status DecodeBackupBlock(std::string_view payload, uint64_t offset,
                         google::protobuf::RepeatedPtrField<v1::BackupRecord>* out);

// Writes a backup to `path` through `fs`. Start (again) on every new
// attempt; AddBlock per chunk; Finish makes it FILE. Destroying an
// unfinished writer removes FILE.part.
class BackupWriter {
 public:
  // ALREADY_EXISTS if `path` exists and !overwrite. Creates nothing yet.
  static Result<std::unique_ptr<BackupWriter>> Create(FileSystem* fs, std::string path,
                                                      bool overwrite);
  ~BackupWriter();

  // Starts FILE.part over with `header` (dropping anything written before).
  Status Start(const v1::BackupHeader& header);
  // One block of records. REQUIRES: Start.
  Status AddBlock(const google::protobuf::RepeatedPtrField<v1::BackupRecord>& records);
  // Writes the trailer, fdatasyncs, renames FILE.part to FILE and syncs the
  // directory. REQUIRES: Start.
  Status Finish();

  const std::string& part_path() const { return part_path_; }
  uint64_t bytes() const { return offset_; }
  uint64_t records() const { return trailer_.record_count; }
  const BackupTrailer& trailer() const { return trailer_; }

 private:
  BackupWriter(FileSystem* fs, std::string path);
  Status WriteFrame(char type, std::string_view payload);

  FileSystem* const fs_;
  const std::string path_;
  const std::string part_path_;
  std::unique_ptr<File> file_;
  uint64_t offset_ = 0;
  BackupTrailer trailer_;
  uint32_t crc_ = 0;  // running checksum of block payloads
  bool finished_ = false;
};

// Reads a backup file frame by frame, checking each frame's CRC as it goes.
// Every error names the file and the byte offset where it was found.
class BackupReader {
 public:
  // Reads and checks the magic, the format version and the header.
  static Result<std::unique_ptr<BackupReader>> Open(FileSystem* fs, const std::string& path);

  const v1::BackupHeader& header() const { return header_; }
  uint64_t file_size() const { return size_; }
  // Offset of the next frame.
  uint64_t offset() const { return offset_; }

  // The next block's payload in `*payload` and its offset in `*at`; false
  // once the trailer has been read (then trailer() is set and the file is
  // known to end right after it).
  Result<bool> NextBlock(std::string* payload, uint64_t* at);
  const BackupTrailer& trailer() const { return trailer_; }

 private:
  BackupReader(std::unique_ptr<File> file, std::string path, uint64_t size);
  // Reads the frame at offset_: its type and checked payload.
  Status ReadFrame(char* type, std::string* payload);
  Status Corrupt(uint64_t at, std::string_view what) const;

  std::unique_ptr<File> file_;
  const std::string path_;
  const uint64_t size_;
  uint64_t offset_ = 0;
  v1::BackupHeader header_;
  BackupTrailer trailer_;
};

// Reads the whole file: every frame's CRC, every record's encoding, and the
// trailer's counts and checksum against what the blocks hold. The reader's
// errors otherwise. On success, what the file holds.
struct VerifiedBackup {
  v1::BackupHeader header;
  BackupTrailer trailer;
  uint64_t file_bytes = 0;
  uint64_t kv_records = 0;
  uint64_t cset_records = 0;
};
Result<VerifiedBackup> VerifyBackupFile(FileSystem* fs, const std::string& path);

// The identity a restore of this backup goes by (admin.proto).
v1::RestoreIdentity IdentityOf(const VerifiedBackup& backup);

}  // namespace meridian::ctl
