#include "consensus/wal.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "consensus/codec.h"

namespace meridian::consensus {
namespace {

constexpr uint8_t kHardStateRecord = 1;
constexpr uint8_t kEntriesRecord = 2;
constexpr uint8_t kTrimRecord = 3;
constexpr uint8_t kSealRecord = 4;
constexpr size_t kHeaderBytes = 8;  // masked crc32c + body length
// The largest seal record (a 10-byte sequence varint); every segment keeps
// room for one.
constexpr size_t kSealBytes = kHeaderBytes + 10 + 1 + 1;
constexpr size_t kZeroAfterTail = 1 << 20;  // cleared after a torn tail
constexpr std::string_view kSegmentPrefix = "wal-";
constexpr std::string_view kSparePrefix = "spare-";

// "<prefix><16 hex digits>.log"
std::string FileName(std::string_view prefix, uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llx.log", static_cast<unsigned long long>(seq));
  return std::string(prefix) + buf;
}

bool ParseFileName(std::string_view name, std::string_view prefix, uint64_t* seq) {
  if (name.size() != prefix.size() + 16 + 4 || !name.starts_with(prefix) ||
      !name.ends_with(".log")) {
    return false;
  }
  std::string hex(name.substr(prefix.size(), 16));
  if (hex.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
  *seq = std::strtoull(hex.c_str(), nullptr, 16);
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

// Applies one record to *out. *value gets what the WAL tracks for it: the
// highest index of an entries record, the index of a trim record.
Status Replay(uint8_t type, GroupId group, std::string_view payload,
              std::map<GroupId, RecoveredGroup>* out, const std::string& where,
              uint64_t* value) {
  RecoveredGroup& g = (*out)[group];
  *value = 0;
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
      *value = std::max(*value, e.index);
      g.entries[e.index] = std::move(e);
    }
    return absl::OkStatus();
  }
  if (type == kTrimRecord) {
    uint64_t through = 0;
    if (!GetVarint64(&payload, &through) || !payload.empty()) {
      return CorruptionError(absl::StrCat("malformed trim record in ", where));
    }
    g.trimmed_through = std::max(g.trimmed_through, through);
    *value = through;
    return absl::OkStatus();
  }
  return CorruptionError(absl::StrCat("unknown record type ", type, " in ", where));
}

}  // namespace

bool Wal::ParseIo(std::string_view name, Io* io) {
  if (name == "auto") {
    *io = Io::kAuto;
  } else if (name == "uring") {
    *io = Io::kUring;
  } else if (name == "posix") {
    *io = Io::kPosix;
  } else {
    return false;
  }
  return true;
}

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
    if (ParseFileName(name, kSegmentPrefix, &seq)) seqs.push_back(seq);
    if (ParseFileName(name, kSparePrefix, &seq)) wal->spares_.push_back(seq);
  }
  std::sort(seqs.begin(), seqs.end());
  // A spare's stale records name its old sequence number; a new segment
  // must never take that number, or they would parse again.
  for (uint64_t s : wal->spares_) wal->next_seq_ = std::max(wal->next_seq_, s + 1);

  for (size_t i = 0; i < seqs.size(); ++i) {
    const bool last = i + 1 == seqs.size();
    const uint64_t seq = seqs[i];
    wal->next_seq_ = std::max(wal->next_seq_, seq + 1);
    wal->segments_[seq];
    const std::string path = dir + "/" + FileName(kSegmentPrefix, seq);
    MERIDIAN_ASSIGN_OR_RETURN(auto file, fs->OpenFile(path, false));
    MERIDIAN_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    std::string data;
    MERIDIAN_RETURN_IF_ERROR(file->Read(0, size, &data));
    std::string_view in = data;
    uint8_t type = 0;
    GroupId group = 0;
    std::string_view payload;
    bool sealed = false;
    while (ParseRecord(&in, seq, &type, &group, &payload)) {
      if (type == kSealRecord) {
        sealed = true;  // what follows is stale bytes of a recycled file
        break;
      }
      uint64_t value = 0;
      MERIDIAN_RETURN_IF_ERROR(Replay(type, group, payload, recovered, path, &value));
      wal->Track(seq, type, group, value);
    }
    if (sealed) continue;  // if it is the last, a new segment follows
    const uint64_t valid_end = data.size() - in.size();
    const bool rest_is_zero = in.find_first_not_of('\0') == std::string_view::npos;
    if (!last && !rest_is_zero) {
      return CorruptionError(absl::StrCat("WAL segment ", path, " has a bad record at offset ",
                                          valid_end, " and is not the last segment"));
    }
    if (last) {
      wal->file_ = std::move(file);
      wal->segment_seq_ = seq;
      wal->offset_ = valid_end;
      wal->allocated_ = size;
      if (!rest_is_zero) {
        // A torn tail (or a recycled file's stale bytes): clear it so no
        // fragment of a torn record can follow later records.
        const uint64_t n = std::min<uint64_t>(kZeroAfterTail, size - valid_end);
        MERIDIAN_RETURN_IF_ERROR(wal->file_->Write(valid_end, std::string(n, '\0')));
      }
      // A previous process may have died between its write and its
      // fdatasync: make what was just replayed durable before the caller
      // acts on it, and before it justifies recycling older segments.
      MERIDIAN_RETURN_IF_ERROR(wal->file_->Sync());
    }
  }

  for (auto& [id, g] : *recovered) {
    g.entries.erase(g.entries.begin(), g.entries.upper_bound(g.trimmed_through));
    GroupInfo& info = wal->groups_[id];
    info.has_hard_state = info.hard_state_seq != 0;
    info.hard_state = g.hard_state;
    info.trim_appended = g.trimmed_through;
  }

  std::sort(wal->spares_.begin(), wal->spares_.end());
  if (wal->spares_.size() > options.max_spare_segments) {
    while (wal->spares_.size() > options.max_spare_segments) {
      MERIDIAN_RETURN_IF_ERROR(fs->Remove(dir + "/" + FileName(kSparePrefix, wal->spares_.back())));
      wal->spares_.pop_back();
    }
    MERIDIAN_RETURN_IF_ERROR(fs->SyncDir(dir));
  }
  if (!wal->file_) MERIDIAN_RETURN_IF_ERROR(wal->StartSegment(wal->next_seq_));
  MERIDIAN_RETURN_IF_ERROR(wal->SetUpIo());
  wal->check_dead_ = true;
  MERIDIAN_RETURN_IF_ERROR(wal->RecycleDead());
  return wal;
}

Status Wal::SetUpIo() {
  io_ = Io::kPosix;
  if (options_.io == Io::kPosix) return absl::OkStatus();
  if (file_->fd() < 0) {
    if (options_.io == Io::kAuto) return absl::OkStatus();
    return InvalidArgumentError("Wal::Io::kUring needs OS files; this FileSystem's have no fd");
  }
  Result<std::unique_ptr<UringSync>> uring = UringSync::Create();
  if (!uring.ok()) {
    if (options_.io == Io::kAuto) return absl::OkStatus();  // refused: fall back
    return uring.status();
  }
  uring_ = std::move(*uring);
  io_ = Io::kUring;
  return absl::OkStatus();
}

Status Wal::StartSegment(uint64_t seq) {
  const std::string path = dir_ + "/" + FileName(kSegmentPrefix, seq);
  file_.reset();
  if (!spares_.empty()) {
    // Its old records name another segment, so they never parse here.
    MERIDIAN_RETURN_IF_ERROR(fs_->Rename(dir_ + "/" + FileName(kSparePrefix, spares_.back()), path));
    spares_.pop_back();
  }
  MERIDIAN_ASSIGN_OR_RETURN(file_, fs_->OpenFile(path, /*create=*/true));
  MERIDIAN_ASSIGN_OR_RETURN(allocated_, file_->Size());  // a spare keeps its size
  MERIDIAN_RETURN_IF_ERROR(Reserve(1));
  MERIDIAN_RETURN_IF_ERROR(file_->Sync());
  MERIDIAN_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  segments_[seq];
  segment_seq_ = seq;
  next_seq_ = seq + 1;
  offset_ = 0;
  check_dead_ = true;  // the segment just closed may be dead already
  return absl::OkStatus();
}

void Wal::AppendHardState(GroupId group, const HardState& h) {
  GroupInfo& g = groups_[group];
  g.has_hard_state = true;
  g.hard_state = h;
  std::string payload;
  EncodeHardState(&payload, h);
  pending_.push_back({kHardStateRecord, group, 0, std::move(payload)});
}

void Wal::AppendEntries(GroupId group, const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  std::string payload;
  uint64_t max_index = 0;
  PutVarint64(&payload, entries.size());
  for (const Entry& e : entries) {
    EncodeEntry(&payload, e);
    max_index = std::max(max_index, e.index);
  }
  pending_.push_back({kEntriesRecord, group, max_index, std::move(payload)});
}

void Wal::AppendTrim(GroupId group, uint64_t through_index) {
  GroupInfo& g = groups_[group];
  if (through_index <= g.trim_appended) return;
  g.trim_appended = through_index;
  std::string payload;
  PutVarint64(&payload, through_index);
  pending_.push_back({kTrimRecord, group, through_index, std::move(payload)});
  if (g.has_hard_state) AppendHardState(group, g.hard_state);  // unpins older segments
}

std::string Wal::EncodeRecord(uint8_t type, GroupId group, std::string_view payload) const {
  std::string body;
  PutVarint64(&body, segment_seq_);
  body.push_back(static_cast<char>(type));
  PutVarint64(&body, group);
  body.append(payload);
  std::string record;
  PutFixed32(&record, crc32c::Mask(crc32c::Value(body)));
  PutFixed32(&record, static_cast<uint32_t>(body.size()));
  record.append(body);
  return record;
}

void Wal::MovePin(uint64_t* where, uint64_t seq) {
  if (*where != 0) {
    auto it = segments_.find(*where);
    if (it != segments_.end()) --it->second.pins;
  }
  *where = seq;
  ++segments_[seq].pins;
}

void Wal::Track(uint64_t seq, uint8_t type, GroupId group, uint64_t value) {
  GroupInfo& g = groups_[group];
  if (type == kEntriesRecord) {
    uint64_t& m = segments_[seq].max_entry[group];
    m = std::max(m, value);
  } else if (type == kHardStateRecord) {
    if (g.hard_state_seq != seq) {
      MovePin(&g.hard_state_seq, seq);
      check_dead_ = true;
    }
  } else if (type == kTrimRecord && value >= g.trimmed_through) {
    g.trimmed_through = value;
    if (g.trim_seq != seq) MovePin(&g.trim_seq, seq);
    check_dead_ = true;
  }
}

Status Wal::Reserve(uint64_t end) {
  if (end <= allocated_) return absl::OkStatus();
  const uint64_t step = options_.preallocate_bytes == 0
                            ? options_.segment_bytes
                            : std::min(options_.preallocate_bytes, options_.segment_bytes);
  const uint64_t target = std::min((end + step - 1) / step * step, options_.segment_bytes);
  MERIDIAN_RETURN_IF_ERROR(file_->Allocate(target));
  allocated_ = target;
  return absl::OkStatus();
}

Status Wal::WriteDurably(std::string_view data) {
  // The sync below makes the grown size durable along with the data.
  MERIDIAN_RETURN_IF_ERROR(Reserve(offset_ + data.size()));
  if (uring_) {
    MERIDIAN_RETURN_IF_ERROR(uring_->WriteAndSync(file_->fd(), offset_, data));
  } else {
    MERIDIAN_RETURN_IF_ERROR(file_->Write(offset_, data));
    MERIDIAN_RETURN_IF_ERROR(file_->Sync());
  }
  offset_ += data.size();
  bytes_written_ += data.size();
  return absl::OkStatus();
}

Status Wal::RecycleDead() {
  check_dead_ = false;
  bool changed = false;
  for (auto it = segments_.begin(); it != segments_.end();) {
    const SegmentInfo& info = it->second;
    bool dead = it->first != segment_seq_ && info.pins == 0;
    for (auto e = info.max_entry.begin(); dead && e != info.max_entry.end(); ++e) {
      dead = e->second <= groups_[e->first].trimmed_through;
    }
    if (!dead) {
      ++it;
      continue;
    }
    const std::string path = dir_ + "/" + FileName(kSegmentPrefix, it->first);
    if (spares_.size() < options_.max_spare_segments) {
      MERIDIAN_RETURN_IF_ERROR(fs_->Rename(path, dir_ + "/" + FileName(kSparePrefix, it->first)));
      spares_.push_back(it->first);
      ++segments_recycled_;
    } else {
      MERIDIAN_RETURN_IF_ERROR(fs_->Remove(path));
    }
    it = segments_.erase(it);
    changed = true;
  }
  if (changed) MERIDIAN_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  return absl::OkStatus();
}

Status Wal::Sync() {
  MERIDIAN_RETURN_IF_ERROR(error_);
  if (pending_.empty()) return absl::OkStatus();
  auto fail = [&](Status s) {
    error_ = s;
    pending_.clear();
    return s;
  };
  std::string batch;
  for (const PendingRecord& r : pending_) {
    std::string record = EncodeRecord(r.type, r.group, r.payload);
    if (record.size() + kSealBytes > options_.segment_bytes) {
      return fail(InvalidArgumentError(absl::StrCat("a WAL record of ", record.size(),
                                                    " bytes does not fit a segment of ",
                                                    options_.segment_bytes)));
    }
    if (offset_ + batch.size() + record.size() + kSealBytes > options_.segment_bytes) {
      // Roll: seal this segment durably, then continue in the next one.
      batch.append(EncodeRecord(kSealRecord, 0, {}));
      if (Status s = WriteDurably(batch); !s.ok()) return fail(s);
      batch.clear();
      if (Status s = StartSegment(next_seq_); !s.ok()) return fail(s);
      record = EncodeRecord(r.type, r.group, r.payload);  // it names the new segment
      if (record.size() + kSealBytes > options_.segment_bytes) {
        return fail(InvalidArgumentError("a WAL record does not fit an empty segment"));
      }
    }
    Track(segment_seq_, r.type, r.group, r.value);
    batch.append(record);
  }
  pending_.clear();
  if (Status s = WriteDurably(batch); !s.ok()) return fail(s);
  // Only now are the trims durable that may have made segments dead.
  if (check_dead_) {
    if (Status s = RecycleDead(); !s.ok()) return fail(s);
  }
  return absl::OkStatus();
}

}  // namespace meridian::consensus
