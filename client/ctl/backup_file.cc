#include "client/ctl/backup_file.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/absl_view.h"
#include "common/coding.h"
#include "common/crc32c.h"

namespace meridian::ctl {
namespace {

using client::AbslView;

constexpr size_t kMagicBytes = 8;
constexpr size_t kPreambleBytes = kMagicBytes + 4;  // magic, format version
constexpr size_t kFrameHeadBytes = 9;               // type, length, crc
constexpr char kHeaderFrame = 'H';
constexpr char kBlockFrame = 'B';
constexpr char kTrailerFrame = 'T';
constexpr char kKvRecord = 1;
constexpr char kCsetRecord = 2;

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The masked CRC-32C a frame stores: over its type, length and payload.
uint32_t FrameCrc(std::string_view head5, std::string_view payload) {
  uint32_t crc = crc32c::Extend(0, head5.data(), head5.size());
  return crc32c::Mask(crc32c::Extend(crc, payload.data(), payload.size()));
}

std::string EncodeHeader(const v1::BackupHeader& h) {
  std::string out;
  PutFixed64(&out, h.snapshot_hlc());
  PutFixed32(&out, h.site_id());
  PutFixed64(&out, h.group());
  PutFixed64(&out, h.applied_index());
  PutFixed32(&out, h.source_member_id());
  PutFixed64(&out, h.created_unix_ms());
  PutFixed64(&out, h.record_count());
  PutLengthPrefixed(&out, h.source_node_id());
  PutLengthPrefixed(&out, h.server_version());
  return out;
}

// Later format revisions may append fields; they are ignored here.
bool DecodeHeader(std::string_view in, v1::BackupHeader* h) {
  uint64_t snapshot = 0, group = 0, applied = 0, created = 0, count = 0;
  uint32_t site = 0, member = 0;
  std::string_view node, version;
  if (!GetFixed64(&in, &snapshot) || !GetFixed32(&in, &site) || !GetFixed64(&in, &group) ||
      !GetFixed64(&in, &applied) || !GetFixed32(&in, &member) || !GetFixed64(&in, &created) ||
      !GetFixed64(&in, &count) || !GetLengthPrefixed(&in, &node) ||
      !GetLengthPrefixed(&in, &version)) {
    return false;
  }
  h->set_snapshot_hlc(snapshot);
  h->set_site_id(site);
  h->set_group(group);
  h->set_applied_index(applied);
  h->set_source_member_id(member);
  h->set_created_unix_ms(created);
  h->set_record_count(count);
  h->set_source_node_id(std::string(node));
  h->set_server_version(std::string(version));
  return true;
}

std::string EncodeTrailer(const BackupTrailer& t) {
  std::string out;
  PutFixed64(&out, t.record_count);
  PutFixed64(&out, t.block_count);
  PutFixed32(&out, crc32c::Mask(t.checksum));
  return out;
}

bool DecodeTrailer(std::string_view in, BackupTrailer* t) {
  uint32_t masked = 0;
  if (!GetFixed64(&in, &t->record_count) || !GetFixed64(&in, &t->block_count) ||
      !GetFixed32(&in, &masked)) {
    return false;
  }
  t->checksum = crc32c::Unmask(masked);
  return true;
}

std::string FrameName(char type) {
  switch (type) {
    case kHeaderFrame: return "header";
    case kBlockFrame: return "block";
    case kTrailerFrame: return "trailer";
  }
  return absl::StrCat("unknown (type 0x", absl::Hex(static_cast<unsigned char>(type)), ")");
}

}  // namespace

void AppendBackupRecord(const v1::BackupRecord& r, std::string* out) {
  const bool cset = r.kind() == v1::BackupRecord::CSET_ELEMENT;
  out->push_back(cset ? kCsetRecord : kKvRecord);
  PutFixed64(out, r.version().hlc());
  PutFixed32(out, r.version().site_id());
  PutLengthPrefixed(out, r.key());
  if (cset) {
    PutLengthPrefixed(out, r.element());
    PutFixed64(out, static_cast<uint64_t>(r.count()));
  } else {
    PutLengthPrefixed(out, r.value());
  }
}

std::string EncodeBackupBlock(uint64_t count, std::string_view records) {
  std::string out;
  PutVarint64(&out, count);
  out.append(records);
  return out;
}

Status DecodeBackupBlock(std::string_view in, uint64_t offset,
                         google::protobuf::RepeatedPtrField<v1::BackupRecord>* out) {
  const auto bad = [&](uint64_t i, std::string_view what) {
    return absl::DataLossError(absl::StrCat("block at offset ", offset, ": record ", i, ": ",
                                            AbslView(what)));
  };
  uint64_t n = 0;
  if (!GetVarint64(&in, &n) || n > in.size()) return bad(0, "bad record count");
  out->Reserve(out->size() + static_cast<int>(n));
  for (uint64_t i = 0; i < n; ++i) {
    if (in.empty()) return bad(i, "the block ends early");
    const char kind = in.front();
    in.remove_prefix(1);
    if (kind != kKvRecord && kind != kCsetRecord) return bad(i, "unknown record kind");
    uint64_t hlc = 0, count = 0;
    uint32_t site = 0;
    std::string_view key, second;
    if (!GetFixed64(&in, &hlc) || !GetFixed32(&in, &site) || !GetLengthPrefixed(&in, &key) ||
        !GetLengthPrefixed(&in, &second) || (kind == kCsetRecord && !GetFixed64(&in, &count))) {
      return bad(i, "the block ends inside the record");
    }
    v1::BackupRecord* r = out->Add();
    r->mutable_version()->set_hlc(hlc);
    r->mutable_version()->set_site_id(site);
    r->set_key(std::string(key));
    if (kind == kCsetRecord) {
      r->set_kind(v1::BackupRecord::CSET_ELEMENT);
      r->set_element(std::string(second));
      r->set_count(static_cast<int64_t>(count));
    } else {
      r->set_value(std::string(second));
    }
  }
  if (!in.empty()) return bad(n, absl::StrCat(in.size(), " bytes after the last record"));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// BackupWriter

BackupWriter::BackupWriter(FileSystem* fs, std::string path)
    : fs_(fs), path_(std::move(path)), part_path_(path_ + ".part") {}

Result<std::unique_ptr<BackupWriter>> BackupWriter::Create(FileSystem* fs, std::string path,
                                                           bool overwrite) {
  if (path.empty()) return InvalidArgumentError("the backup file name is empty");
  if (!overwrite) {
    Result<std::unique_ptr<File>> existing = fs->OpenFile(path, /*create=*/false);
    if (existing.ok()) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " exists; pass --force to overwrite it"));
    }
    if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  }
  return std::unique_ptr<BackupWriter>(new BackupWriter(fs, std::move(path)));
}

BackupWriter::~BackupWriter() {
  if (file_ != nullptr && !finished_) {
    file_.reset();
    (void)fs_->Remove(part_path_);
  }
}

Status BackupWriter::Start(const v1::BackupHeader& header) {
  // A leftover FILE.part (ours, from an earlier attempt or save) goes.
  file_.reset();
  if (Status s = fs_->Remove(part_path_); !s.ok() && s.code() != absl::StatusCode::kNotFound) {
    return s;
  }
  MERIDIAN_ASSIGN_OR_RETURN(file_, fs_->OpenFile(part_path_, /*create=*/true));
  offset_ = 0;
  trailer_ = BackupTrailer();
  crc_ = 0;
  std::string preamble(kBackupMagic, kMagicBytes);
  PutFixed32(&preamble, kBackupFormatVersion);
  MERIDIAN_RETURN_IF_ERROR(file_->Write(0, preamble));
  offset_ = preamble.size();
  return WriteFrame(kHeaderFrame, EncodeHeader(header));
}

Status BackupWriter::WriteFrame(char type, std::string_view payload) {
  std::string frame(1, type);
  PutFixed32(&frame, static_cast<uint32_t>(payload.size()));
  PutFixed32(&frame, FrameCrc(frame, payload));
  frame.append(payload);
  MERIDIAN_RETURN_IF_ERROR(file_->Write(offset_, frame));
  offset_ += frame.size();
  return absl::OkStatus();
}

Status BackupWriter::AddBlock(const google::protobuf::RepeatedPtrField<v1::BackupRecord>& records) {
  std::string body;
  for (const v1::BackupRecord& r : records) AppendBackupRecord(r, &body);
  const std::string payload = EncodeBackupBlock(static_cast<uint64_t>(records.size()), body);
  if (payload.size() > kMaxBackupFrameBytes) {
    return InvalidArgumentError(absl::StrCat("a block of ", payload.size(),
                                             " bytes is over the format's limit"));
  }
  MERIDIAN_RETURN_IF_ERROR(WriteFrame(kBlockFrame, payload));
  crc_ = crc32c::Extend(crc_, payload.data(), payload.size());
  trailer_.record_count += static_cast<uint64_t>(records.size());
  ++trailer_.block_count;
  return absl::OkStatus();
}

Status BackupWriter::Finish() {
  trailer_.checksum = crc_;
  MERIDIAN_RETURN_IF_ERROR(WriteFrame(kTrailerFrame, EncodeTrailer(trailer_)));
  // Data before name: FILE appears only once all of it is on disk.
  MERIDIAN_RETURN_IF_ERROR(file_->Sync());
  file_.reset();
  MERIDIAN_RETURN_IF_ERROR(fs_->Rename(part_path_, path_));
  finished_ = true;
  return fs_->SyncDir(DirOf(path_));
}

// ---------------------------------------------------------------------------
// BackupReader

BackupReader::BackupReader(std::unique_ptr<File> file, std::string path, uint64_t size)
    : file_(std::move(file)), path_(std::move(path)), size_(size) {}

Status BackupReader::Corrupt(uint64_t at, std::string_view what) const {
  return absl::DataLossError(absl::StrCat(path_, ": at offset ", at, ": ", AbslView(what)));
}

Result<std::unique_ptr<BackupReader>> BackupReader::Open(FileSystem* fs, const std::string& path) {
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->OpenFile(path, /*create=*/false));
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::unique_ptr<BackupReader> r(new BackupReader(std::move(file), path, size));
  std::string preamble;
  MERIDIAN_RETURN_IF_ERROR(r->file_->Read(0, kPreambleBytes, &preamble));
  if (preamble.size() < kMagicBytes ||
      std::string_view(preamble).substr(0, kMagicBytes) != kBackupMagic) {
    return r->Corrupt(0, "not a Meridian backup file (bad magic)");
  }
  std::string_view version_bytes = std::string_view(preamble).substr(kMagicBytes);
  uint32_t version = 0;
  if (!GetFixed32(&version_bytes, &version)) {
    return r->Corrupt(kMagicBytes, "truncated: the file ends inside its format version");
  }
  if (version != kBackupFormatVersion) {
    return r->Corrupt(kMagicBytes, absl::StrCat("format version ", version,
                                                 "; this meridianctl reads version ",
                                                 kBackupFormatVersion));
  }
  r->offset_ = kPreambleBytes;
  const uint64_t at = r->offset_;
  char type = 0;
  std::string payload;
  MERIDIAN_RETURN_IF_ERROR(r->ReadFrame(&type, &payload));
  if (type != kHeaderFrame) {
    return r->Corrupt(at, absl::StrCat("expected the header frame, found a ", FrameName(type),
                                       " frame"));
  }
  if (!DecodeHeader(payload, &r->header_)) return r->Corrupt(at, "malformed header");
  return r;
}

Status BackupReader::ReadFrame(char* type, std::string* payload) {
  const uint64_t at = offset_;
  if (at == size_) {
    return Corrupt(at, "the file ends here, without a trailer: it is incomplete (an "
                       "interrupted save, or a truncated copy)");
  }
  if (size_ - at < kFrameHeadBytes) {
    return Corrupt(at, absl::StrCat("truncated: the file ends ", size_ - at,
                                    " bytes into a frame header"));
  }
  std::string head;
  MERIDIAN_RETURN_IF_ERROR(file_->Read(at, kFrameHeadBytes, &head));
  if (head.size() != kFrameHeadBytes) return Corrupt(at, "short read (the file shrank?)");
  std::string_view in(head);
  *type = in.front();
  in.remove_prefix(1);
  uint32_t length = 0, stored = 0;
  GetFixed32(&in, &length);
  GetFixed32(&in, &stored);
  if (*type != kHeaderFrame && *type != kBlockFrame && *type != kTrailerFrame) {
    return Corrupt(at, absl::StrCat("a frame of ", FrameName(*type), ": the file is corrupt"));
  }
  if (length > kMaxBackupFrameBytes) {
    return Corrupt(at, absl::StrCat("a ", FrameName(*type), " frame of ", length,
                                    " bytes, over the limit of ", kMaxBackupFrameBytes,
                                    ": the file is corrupt"));
  }
  if (size_ - at - kFrameHeadBytes < length) {
    return Corrupt(at, absl::StrCat("truncated: a ", FrameName(*type), " frame of ", length,
                                    " bytes starts here, but the file ends after ",
                                    size_ - at - kFrameHeadBytes));
  }
  MERIDIAN_RETURN_IF_ERROR(file_->Read(at + kFrameHeadBytes, length, payload));
  if (payload->size() != length) return Corrupt(at, "short read (the file shrank?)");
  const uint32_t computed = FrameCrc(std::string_view(head).substr(0, 5), *payload);
  if (computed != stored) {
    return Corrupt(at, absl::StrCat("checksum mismatch in a ", FrameName(*type), " frame of ",
                                    length, " bytes (stored ", absl::Hex(stored, absl::kZeroPad8),
                                    ", computed ", absl::Hex(computed, absl::kZeroPad8),
                                    "): the file is corrupt"));
  }
  offset_ = at + kFrameHeadBytes + length;
  return absl::OkStatus();
}

Result<bool> BackupReader::NextBlock(std::string* payload, uint64_t* at) {
  *at = offset_;
  char type = 0;
  MERIDIAN_RETURN_IF_ERROR(ReadFrame(&type, payload));
  if (type == kBlockFrame) return true;
  if (type != kTrailerFrame) {
    return Corrupt(*at, absl::StrCat("a second ", FrameName(type), " frame"));
  }
  if (!DecodeTrailer(*payload, &trailer_)) return Corrupt(*at, "malformed trailer");
  if (offset_ != size_) {
    return Corrupt(offset_, absl::StrCat(size_ - offset_, " bytes after the trailer"));
  }
  return false;
}

Result<VerifiedBackup> VerifyBackupFile(FileSystem* fs, const std::string& path) {
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<BackupReader> reader, BackupReader::Open(fs, path));
  VerifiedBackup out;
  out.header = reader->header();
  out.file_bytes = reader->file_size();
  uint32_t crc = 0;
  uint64_t blocks = 0;
  std::string payload;
  uint64_t at = 0;
  google::protobuf::RepeatedPtrField<v1::BackupRecord> records;
  for (;;) {
    MERIDIAN_ASSIGN_OR_RETURN(bool block, reader->NextBlock(&payload, &at));
    if (!block) break;
    records.Clear();
    Status s = DecodeBackupBlock(payload, at, &records);
    if (!s.ok()) return absl::DataLossError(absl::StrCat(path, ": ", s.message()));
    for (const v1::BackupRecord& r : records) {
      ++(r.kind() == v1::BackupRecord::CSET_ELEMENT ? out.cset_records : out.kv_records);
    }
    crc = crc32c::Extend(crc, payload.data(), payload.size());
    ++blocks;
  }
  out.trailer = reader->trailer();
  const uint64_t records_seen = out.kv_records + out.cset_records;
  const auto mismatch = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": at offset ", at, " (the trailer): ",
                                            AbslView(what), ": the file is corrupt"));
  };
  if (out.trailer.block_count != blocks) {
    return mismatch(absl::StrCat("it says ", out.trailer.block_count,
                                 " blocks, the file holds ", blocks));
  }
  if (out.trailer.record_count != records_seen) {
    return mismatch(absl::StrCat("it says ", out.trailer.record_count,
                                 " records, the blocks hold ", records_seen));
  }
  if (out.trailer.checksum != crc) {
    return mismatch(absl::StrCat("its checksum over all blocks is ",
                                 absl::Hex(out.trailer.checksum, absl::kZeroPad8),
                                 ", the blocks add up to ", absl::Hex(crc, absl::kZeroPad8)));
  }
  return out;
}

v1::RestoreIdentity IdentityOf(const VerifiedBackup& backup) {
  v1::RestoreIdentity id;
  id.set_snapshot_hlc(backup.header.snapshot_hlc());
  id.set_site_id(backup.header.site_id());
  id.set_record_count(backup.trailer.record_count);
  id.set_block_count(backup.trailer.block_count);
  id.set_checksum(backup.trailer.checksum);
  return id;
}

}  // namespace meridian::ctl
