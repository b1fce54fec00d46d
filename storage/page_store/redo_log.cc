#include "storage/page_store/redo_log.h"

#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/coding.h"

namespace meridian::storage::page_store {

std::string EncodeBatch(const WriteBatch& batch) {
  std::string out;
  PutVarint64(&out, batch.records.size());
  for (const Record& r : batch.records) {
    PutLengthPrefixed(&out, r.key);
    PutVarint64(&out, r.version.hlc);
    PutVarint64(&out, r.version.site);
    out.push_back(r.value ? 1 : 0);
    if (r.value) PutLengthPrefixed(&out, *r.value);
  }
  return out;
}

Status DecodeBatch(uint64_t index, std::string_view in, WriteBatch* batch) {
  auto bad = [&] {
    return CorruptionError(absl::StrCat("page store redo log: entry ", index, " is malformed"));
  };
  batch->log_index = index;
  batch->records.clear();
  uint64_t n = 0;
  if (!GetVarint64(&in, &n)) return bad();
  for (uint64_t i = 0; i < n; ++i) {
    Record r;
    std::string_view key;
    uint64_t site = 0;
    if (!GetLengthPrefixed(&in, &key) || !GetVarint64(&in, &r.version.hlc) ||
        !GetVarint64(&in, &site) || site > std::numeric_limits<SiteId>::max() || in.empty()) {
      return bad();
    }
    r.key = std::string(key);
    r.version.site = static_cast<SiteId>(site);
    const bool live = in[0] != 0;
    in.remove_prefix(1);
    if (live) {
      std::string_view value;
      if (!GetLengthPrefixed(&in, &value)) return bad();
      r.value = std::string(value);
    }
    batch->records.push_back(std::move(r));
  }
  if (!in.empty()) return bad();
  return absl::OkStatus();
}

namespace {

std::string EncodePageWrites(const PageWrites& w) {
  std::string out;
  for (const std::vector<uint32_t>* v : {&w.allocated, &w.written}) {
    PutVarint64(&out, v->size());
    for (uint32_t p : *v) PutVarint64(&out, p);
  }
  return out;
}

Status DecodePageWrites(uint64_t lsn, std::string_view in, PageWrites* w) {
  w->lsn = lsn;
  for (std::vector<uint32_t>* v : {&w->allocated, &w->written}) {
    uint64_t n = 0;
    if (!GetVarint64(&in, &n) || n > in.size()) {
      return CorruptionError(absl::StrCat("page store redo log: page writes ", lsn, " malformed"));
    }
    v->clear();
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t p = 0;
      if (!GetVarint64(&in, &p) || p > std::numeric_limits<uint32_t>::max()) {
        return CorruptionError(absl::StrCat("page store redo log: page writes ", lsn, " malformed"));
      }
      v->push_back(static_cast<uint32_t>(p));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Result<std::unique_ptr<RedoLog>> RedoLog::Open(FileSystem* fs, const std::string& dir,
                                               const consensus::Wal::Options& options,
                                               uint64_t group, uint64_t after_index,
                                               uint64_t from_lsn, std::vector<WriteBatch>* replay,
                                               std::vector<PageWrites>* page_writes) {
  std::map<consensus::GroupId, consensus::RecoveredGroup> recovered;
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<consensus::Wal> wal,
                            consensus::Wal::Open(fs, dir, options, &recovered));
  replay->clear();
  page_writes->clear();
  bool stale = false;
  for (auto& [g, rec] : recovered) {
    if (g == (group | kPageWritesBit)) {
      for (const auto& [lsn, entry] : rec.entries) {
        if (lsn < from_lsn) continue;
        PageWrites w;
        MERIDIAN_RETURN_IF_ERROR(DecodePageWrites(lsn, entry.command, &w));
        page_writes->push_back(std::move(w));
      }
      continue;
    }
    if (g != group) {
      // Left by a store that was replaced by Ingest: never replayed.
      if (!rec.entries.empty()) {
        wal->AppendTrim(g, std::numeric_limits<uint64_t>::max());
        stale = true;
      }
      continue;
    }
    for (const auto& [index, entry] : rec.entries) {
      if (index <= after_index) continue;
      WriteBatch b;
      MERIDIAN_RETURN_IF_ERROR(DecodeBatch(index, entry.command, &b));
      replay->push_back(std::move(b));
    }
  }
  // 4 KiB of framing: the WAL's record header and seal take far less.
  const uint64_t max_entry = options.segment_bytes > 8192 ? options.segment_bytes - 4096 : 4096;
  std::unique_ptr<RedoLog> log(new RedoLog(std::move(wal), group, max_entry));
  if (stale) MERIDIAN_RETURN_IF_ERROR(log->wal_->Sync());
  return log;
}

Status RedoLog::Append(const WriteBatch& batch) {
  consensus::Entry e;
  e.index = batch.log_index;
  e.command = EncodeBatch(batch);
  if (e.command.size() > max_entry_bytes_) {
    return InvalidArgumentError(absl::StrCat(
        "page store: a batch of ", e.command.size(), " bytes is larger than the redo log takes (",
        max_entry_bytes_, " bytes, its segment size less framing); nothing was written"));
  }
  pending_bytes_ += e.command.size() + 16;
  bytes_since_trim_ += e.command.size() + 16;
  wal_->AppendEntries(group_, {std::move(e)});
  return absl::OkStatus();
}

void RedoLog::AppendPageWrites(const PageWrites& w) {
  consensus::Entry e;
  e.index = w.lsn;
  e.command = EncodePageWrites(w);
  pending_bytes_ += e.command.size() + 16;
  wal_->AppendEntries(group_ | kPageWritesBit, {std::move(e)});
}

Status RedoLog::Sync() {
  pending_bytes_ = 0;
  return wal_->Sync();
}

Status RedoLog::Trim(uint64_t index, uint64_t next_lsn) {
  wal_->AppendTrim(group_, index);
  if (next_lsn > 1) wal_->AppendTrim(group_ | kPageWritesBit, next_lsn - 1);
  bytes_since_trim_ = 0;
  return Sync();
}

Status RedoLog::SwitchGroup(uint64_t group) {
  wal_->AppendTrim(group_, std::numeric_limits<uint64_t>::max());
  wal_->AppendTrim(group_ | kPageWritesBit, std::numeric_limits<uint64_t>::max());
  group_ = group;
  bytes_since_trim_ = 0;
  return Sync();
}

}  // namespace meridian::storage::page_store
