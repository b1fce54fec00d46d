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

Result<std::unique_ptr<RedoLog>> RedoLog::Open(FileSystem* fs, const std::string& dir,
                                               const consensus::Wal::Options& options,
                                               uint64_t group, uint64_t after_index,
                                               std::vector<WriteBatch>* replay) {
  std::map<consensus::GroupId, consensus::RecoveredGroup> recovered;
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<consensus::Wal> wal,
                            consensus::Wal::Open(fs, dir, options, &recovered));
  replay->clear();
  bool stale = false;
  for (auto& [g, rec] : recovered) {
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
  std::unique_ptr<RedoLog> log(new RedoLog(std::move(wal), group));
  if (stale) MERIDIAN_RETURN_IF_ERROR(log->wal_->Sync());
  return log;
}

void RedoLog::Append(const WriteBatch& batch) {
  consensus::Entry e;
  e.index = batch.log_index;
  e.command = EncodeBatch(batch);
  pending_bytes_ += e.command.size() + 16;
  bytes_since_trim_ += e.command.size() + 16;
  wal_->AppendEntries(group_, {std::move(e)});
}

Status RedoLog::Sync() {
  pending_bytes_ = 0;
  return wal_->Sync();
}

Status RedoLog::Trim(uint64_t index) {
  wal_->AppendTrim(group_, index);
  bytes_since_trim_ = 0;
  return Sync();
}

Status RedoLog::SwitchGroup(uint64_t group) {
  wal_->AppendTrim(group_, std::numeric_limits<uint64_t>::max());
  group_ = group;
  bytes_since_trim_ = 0;
  return Sync();
}

}  // namespace meridian::storage::page_store
