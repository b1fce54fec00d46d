#include "consensus/wal.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "consensus/codec.h"

namespace meridian::consensus {
namespace {

constexpr uint8_t kHardStateRecord = 1;
constexpr uint8_t kEntriesRecord = 2;
constexpr size_t kHeaderBytes = 8;         // masked crc32c + body length
constexpr size_t kZeroAfterTail = 1 << 20;  // cleared after a torn tail

std::string SegmentName(uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "wal-%016llx.log", static_cast<unsigned long long>(seq));
  return buf;
}

bool ParseSegmentName(const std::string& name, uint64_t* seq) {
  unsigned long long v = 0;
  char tail[8] = {};
  if (name.size() != 24 || std::sscanf(name.c_str(), "wal-%16llx.%3s", &v, tail) != 2 ||
      std::string(tail) != "log") {
    return false;
  }
  *seq = v;
  return true;
}

// Parses one record at the front of `in`. Returns false at the end of the
// valid records (zeros, a torn write, or bytes from another segment).
bool ParseRecord(std::string_view* in, uint64_t segment_seq, uint8_t* type, GroupId* group,
                 std::string_view* payload) {
  std::string_view p = *in;
  uint32_t masked = 0, length = 0;
  if (!GetFixed32(&p, &masked) || !GetFixed32(&p, &length)) return false;
  if (length == 0 || length > p.size()) return false;
  std::string_view body = p.substr(0, length);
  if (crc32c::Unmask(masked) != crc32c::Value(body)) return false;
  uint64_t seq = 0, g = 0;
  if (!GetVarint64(&body, &seq) || seq != segment_seq || body.empty()) return false;
  *type = static_cast<uint8_t>(body.front());
  body.remove_prefix(1);
  if (!GetVarint64(&body, &g)) return false;
  *group = g;
  *payload = body;
  in->remove_prefix(kHeaderBytes + length);
  return true;
}

Status Replay(uint8_t type, GroupId group, std::string_view payload,
              std::map<GroupId, RecoveredGroup>* out, const std::string& where) {
  RecoveredGroup& g = (*out)[group];
  if (type == kHardStateRecord) {
    if (!DecodeHardState(&payload, &g.hard_state) || !payload.empty()) {
      return CorruptionError(absl::StrCat("malformed hard state record in ", where));
    }
    return absl::OkStatus();
  }
  if (type == kEntriesRecord) {
    uint64_t n = 0;
    if (!GetVarint64(&payload, &n)) return CorruptionError("malformed entries record in " + where);
    for (uint64_t i = 0; i < n; ++i) {
      Entry e;
      if (!DecodeEntry(&payload, &e)) {
        return CorruptionError(absl::StrCat("malformed entry in ", where));
      }
      g.entries[e.index] = std::move(e);
    }
    return absl::OkStatus();
  }
  return CorruptionError(absl::StrCat("unknown record type ", type, " in ", where));
}

}  // namespace

Result<std::unique_ptr<Wal>> Wal::Open(FileSystem* fs, const std::string& dir,
                                       const Options& options,
                                       std::map<GroupId, RecoveredGroup>* recovered) {
  if (options.segment_bytes < 4096) return InvalidArgumentError("WAL segments must be >= 4 KiB");
  MERIDIAN_RETURN_IF_ERROR(fs->CreateDir(dir));
  std::unique_ptr<Wal> wal(new Wal(fs, dir, options));
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(dir));
  std::vector<uint64_t> seqs;
  for (const auto& name : names) {
    uint64_t seq = 0;
    if (ParseSegmentName(name, &seq)) seqs.push_back(seq);
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    const bool last = i + 1 == seqs.size();
    const std::string path = dir + "/" + SegmentName(seqs[i]);
    MERIDIAN_ASSIGN_OR_RETURN(auto file, fs->OpenFile(path, false));
    MERIDIAN_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    std::string data;
    MERIDIAN_RETURN_IF_ERROR(file->Read(0, size, &data));
    std::string_view in = data;
    uint8_t type = 0;
    GroupId group = 0;
    std::string_view payload;
    while (ParseRecord(&in, seqs[i], &type, &group, &payload)) {
      MERIDIAN_RETURN_IF_ERROR(Replay(type, group, payload, recovered, path));
    }
    const uint64_t valid_end = data.size() - in.size();
    const bool rest_is_zero = in.find_first_not_of('\0') == std::string_view::npos;
    if (!last && !rest_is_zero) {
      return CorruptionError(absl::StrCat("WAL segment ", path, " has a bad record at offset ",
                                          valid_end, " and is not the last segment"));
    }
    if (last) {
      wal->file_ = std::move(file);
      wal->segment_seq_ = seqs[i];
      wal->offset_ = valid_end;
      if (!rest_is_zero) {
        // A torn tail: clear it so no fragment of it can follow later
        // records, and make the clearing durable before appending.
        const uint64_t n = std::min<uint64_t>(kZeroAfterTail, size - valid_end);
        MERIDIAN_RETURN_IF_ERROR(wal->file_->Write(valid_end, std::string(n, '\0')));
        MERIDIAN_RETURN_IF_ERROR(wal->file_->Sync());
      }
    }
  }
  if (!wal->file_) MERIDIAN_RETURN_IF_ERROR(wal->OpenSegment(1, /*create=*/true));
  return wal;
}

Status Wal::OpenSegment(uint64_t seq, bool create) {
  const std::string path = dir_ + "/" + SegmentName(seq);
  MERIDIAN_ASSIGN_OR_RETURN(file_, fs_->OpenFile(path, create));
  MERIDIAN_RETURN_IF_ERROR(file_->Allocate(options_.segment_bytes));
  MERIDIAN_RETURN_IF_ERROR(file_->Sync());
  MERIDIAN_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  segment_seq_ = seq;
  offset_ = 0;
  return absl::OkStatus();
}

void Wal::AppendHardState(GroupId group, const HardState& h) {
  std::string payload;
  EncodeHardState(&payload, h);
  pending_.push_back({kHardStateRecord, group, std::move(payload)});
}

void Wal::AppendEntries(GroupId group, const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  std::string payload;
  PutVarint64(&payload, entries.size());
  for (const Entry& e : entries) EncodeEntry(&payload, e);
  pending_.push_back({kEntriesRecord, group, std::move(payload)});
}

std::string Wal::EncodeRecord(const PendingRecord& r) const {
  std::string body;
  PutVarint64(&body, segment_seq_);
  body.push_back(static_cast<char>(r.type));
  PutVarint64(&body, r.group);
  body.append(r.payload);
  std::string record;
  PutFixed32(&record, crc32c::Mask(crc32c::Value(body)));
  PutFixed32(&record, static_cast<uint32_t>(body.size()));
  record.append(body);
  return record;
}

Status Wal::Sync() {
  MERIDIAN_RETURN_IF_ERROR(error_);
  if (pending_.empty()) return absl::OkStatus();
  auto fail = [&](Status s) {
    error_ = s;
    return s;
  };
  std::string batch;
  for (const PendingRecord& r : pending_) {
    std::string record = EncodeRecord(r);
    if (offset_ + batch.size() + record.size() > options_.segment_bytes) {
      // Roll: finish this segment durably, then continue in a fresh one.
      if (!batch.empty()) {
        if (Status s = file_->Write(offset_, batch); !s.ok()) return fail(s);
        offset_ += batch.size();
        bytes_written_ += batch.size();
        batch.clear();
      }
      if (Status s = file_->Sync(); !s.ok()) return fail(s);
      if (Status s = OpenSegment(segment_seq_ + 1, true); !s.ok()) return fail(s);
      record = EncodeRecord(r);  // it names the new segment
      if (record.size() > options_.segment_bytes) {
        return fail(InvalidArgumentError(absl::StrCat(
            "a WAL record of ", record.size(), " bytes does not fit a segment of ",
            options_.segment_bytes)));
      }
    }
    batch.append(record);
  }
  pending_.clear();
  if (Status s = file_->Write(offset_, batch); !s.ok()) return fail(s);
  if (Status s = file_->Sync(); !s.ok()) return fail(s);
  offset_ += batch.size();
  bytes_written_ += batch.size();
  return absl::OkStatus();
}

}  // namespace meridian::consensus
