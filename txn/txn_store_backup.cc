// TxnStore: backup export and restore (txn_store.h; docs/formats/backup.md,
// "The restore in the replicated log").
//
// A restore is three kinds of replicated command, ordered in the log with
// the commits:
//
//   begin(backup)          writes the restore marker (and the backup's
//                          snapshot as the last commit timestamp)
//   chunk(backup, n, recs) writes the records with their own versions and
//                          advances the marker to block n + 1
//   finish(backup)         removes the marker and records the backup as
//                          the group's finished restore
//
// Every replica decides from its own applied state whether a command takes
// effect, with the same rules, so all replicas stay equal: a begin applies
// only to a group that never committed and holds no restore, a chunk only
// if it is the next one of the marker's backup, a finish only once every
// chunk and record is in. A command that does not take effect still
// advances the applied index and changes nothing else. The proposer checks
// the same rules first, under the commit lock, to answer with a reason.
#include <algorithm>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "txn/keyspace.h"
#include "txn/txn_store.h"

namespace meridian::txn {

struct TxnStore::RestoreState {
  std::optional<RestoreIdentity> marker;  // a restore in progress
  RestoreProgress progress;               // of `marker`
  std::optional<RestoreIdentity> restored;  // the finished restore
  RestoreProgress restored_progress;
  std::optional<uint64_t> last_commit_hlc;  // set once anything committed (or a restore began)
};

namespace {

constexpr uint32_t kMarkerFormat = 1;
constexpr char kBegin = 'b';
constexpr char kChunk = 'c';
constexpr char kFinish = 'f';

void PutIdentity(std::string* out, const RestoreIdentity& id) {
  PutFixed64(out, id.snapshot_hlc);
  PutFixed32(out, id.site_id);
  PutFixed64(out, id.record_count);
  PutFixed64(out, id.block_count);
  PutFixed32(out, id.checksum);
}

bool GetIdentity(std::string_view* in, RestoreIdentity* id) {
  uint32_t site = 0;
  if (!GetFixed64(in, &id->snapshot_hlc) || !GetFixed32(in, &site) ||
      !GetFixed64(in, &id->record_count) || !GetFixed64(in, &id->block_count) ||
      !GetFixed32(in, &id->checksum)) {
    return false;
  }
  id->site_id = site;
  return true;
}

// The value of the restore marker and of the finished-restore key.
std::string EncodeMarker(const RestoreIdentity& id, const RestoreProgress& p) {
  std::string out;
  PutFixed32(&out, kMarkerFormat);
  PutIdentity(&out, id);
  PutFixed64(&out, p.next_block);
  PutFixed64(&out, p.records_applied);
  return out;
}

bool DecodeMarker(std::string_view in, RestoreIdentity* id, RestoreProgress* p) {
  uint32_t format = 0;
  return GetFixed32(&in, &format) && format == kMarkerFormat && GetIdentity(&in, id) &&
         GetFixed64(&in, &p->next_block) && GetFixed64(&in, &p->records_applied) && in.empty();
}

std::string EncodeHead(char kind, const RestoreIdentity& backup) {
  std::string out;
  out.push_back('\0');  // TxnStore::kRestoreCommandTag
  out.push_back(kind);
  PutIdentity(&out, backup);
  return out;
}

std::string EncodeChunk(const RestoreIdentity& backup, uint64_t block,
                        const std::vector<storage::Record>& records) {
  std::string out = EncodeHead(kChunk, backup);
  PutVarint64(&out, block);
  PutVarint64(&out, records.size());
  for (const storage::Record& r : records) {
    PutLengthPrefixed(&out, r.key);
    PutFixed64(&out, r.version.hlc);
    PutFixed32(&out, r.version.site);
    PutLengthPrefixed(&out, *r.value);  // restored records are never tombstones
  }
  return out;
}

bool DecodeChunk(std::string_view in, uint64_t* block, std::vector<storage::Record>* records) {
  uint64_t n = 0;
  if (!GetVarint64(&in, block) || !GetVarint64(&in, &n) || n > in.size()) return false;
  records->reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view key, value;
    uint64_t hlc = 0;
    uint32_t site = 0;
    if (!GetLengthPrefixed(&in, &key) || !GetFixed64(&in, &hlc) || !GetFixed32(&in, &site) ||
        !GetLengthPrefixed(&in, &value)) {
      return false;
    }
    records->push_back({std::string(key), {hlc, site}, std::string(value)});
  }
  return in.empty();
}

std::string Describe(const RestoreIdentity& id) {
  return absl::StrCat("the backup taken at ", FormatHlc(id.snapshot_hlc), " (", id.record_count,
                      " records in ", id.block_count, " blocks, checksum ",
                      absl::Hex(id.checksum, absl::kZeroPad8), ")");
}

Status Refused(std::string_view message) {
  return absl::FailedPreconditionError(absl::string_view(message.data(), message.size()));
}

uint64_t RecordBytes(const BackupRecord& r) {
  return r.key.size() + r.value.size() + r.element.size();
}

}  // namespace

Status TxnStore::BeginRefusal(const RestoreState& st, const RestoreIdentity& backup) {
  if (st.marker) {
    if (*st.marker == backup) return absl::OkStatus();
    return Refused(absl::StrCat(
        "a restore of another backup is in progress here: ", Describe(*st.marker), ", ",
        st.progress.next_block, " of ", st.marker->block_count,
        " blocks applied; finish it by running that restore again, or restore into a new "
        "cluster"));
  }
  if (st.restored) {
    if (*st.restored == backup) {
      return Refused(absl::StrCat("this group already holds a finished restore of this backup, ",
                                  Describe(backup), "; there is nothing to do"));
    }
    return Refused(absl::StrCat("this group already holds a finished restore of ",
                                Describe(*st.restored),
                                "; a group is restored once: restore into a new cluster"));
  }
  if (st.last_commit_hlc) {
    return Refused(absl::StrCat(
        "this group is not empty: it has committed writes (the newest at ",
        FormatHlc(*st.last_commit_hlc),
        "); a restore needs a new cluster that has never taken a write"));
  }
  return absl::OkStatus();
}

Result<TxnStore::RestoreState> TxnStore::ReadRestoreState() {
  RestoreState st;
  const auto read = [&](const std::string& key, std::optional<RestoreIdentity>* id,
                        RestoreProgress* progress) -> Status {
    MERIDIAN_ASSIGN_OR_RETURN(std::optional<storage::ReadResult> r,
                              engine_->Get(key, storage::Snapshot::Latest()));
    if (!r || !r->value) return absl::OkStatus();
    RestoreIdentity decoded;
    if (!DecodeMarker(*r->value, &decoded, progress)) {
      return CorruptionError(absl::StrCat("the stored ", key.substr(1), " record is malformed"));
    }
    *id = decoded;
    return absl::OkStatus();
  };
  MERIDIAN_RETURN_IF_ERROR(read(keyspace::RestoreMarkerKey(), &st.marker, &st.progress));
  MERIDIAN_RETURN_IF_ERROR(read(keyspace::RestoredKey(), &st.restored, &st.restored_progress));
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<storage::Version> last,
                            engine_->LatestVersion(keyspace::LastCommitKey()));
  if (last) st.last_commit_hlc = last->hlc;
  return st;
}

Status TxnStore::LoadRestoreMarker() {
  MERIDIAN_ASSIGN_OR_RETURN(RestoreState st, ReadRestoreState());
  restoring_hlc_.store(st.marker ? st.marker->snapshot_hlc : 0);
  return absl::OkStatus();
}

Status TxnStore::ProposeLocked(std::string command) {
  if (commit_log_ != nullptr) return commit_log_->Commit(std::move(command));
  absl::MutexLock lock(&apply_mu_);
  MERIDIAN_RETURN_IF_ERROR(ApplyRestoreCommand(next_log_index_, command, /*sync=*/true));
  ++next_log_index_;
  return absl::OkStatus();
}

Status TxnStore::ApplyRestoreCommand(uint64_t index, std::string_view command, bool sync) {
  const auto malformed = [&] {
    return CorruptionError(absl::StrCat("malformed restore command at index ", index));
  };
  std::string_view in = command.substr(1);
  if (in.empty()) return malformed();
  const char kind = in.front();
  in.remove_prefix(1);
  RestoreIdentity backup;
  if (!GetIdentity(&in, &backup)) return malformed();
  MERIDIAN_ASSIGN_OR_RETURN(RestoreState st, ReadRestoreState());
  const bool ours = st.marker && *st.marker == backup;
  // System records are versioned by log index, as the membership is.
  const storage::Version meta{index, options_.site_id};
  std::vector<storage::Record> records;
  std::optional<uint64_t> restoring;  // the new restoring_hlc_, if it changes
  switch (kind) {
    case kBegin:
      if (!in.empty()) return malformed();
      if (!st.marker && BeginRefusal(st, backup).ok()) {
        records.push_back({keyspace::RestoreMarkerKey(), meta, EncodeMarker(backup, {})});
        // The restored versions are at or below the snapshot; as the last
        // commit it keeps every later timestamp above them, also after a
        // restart (TxnStore::Open).
        records.push_back({keyspace::LastCommitKey(),
                           {backup.snapshot_hlc, options_.site_id},
                           std::string()});
        restoring = backup.snapshot_hlc;
      }
      break;
    case kChunk: {
      uint64_t block = 0;
      std::vector<storage::Record> chunk;
      if (!DecodeChunk(in, &block, &chunk)) return malformed();
      if (ours && block == st.progress.next_block) {
        records = std::move(chunk);
        const RestoreProgress next{block + 1, st.progress.records_applied + records.size()};
        records.push_back({keyspace::RestoreMarkerKey(), meta, EncodeMarker(backup, next)});
      }
      break;
    }
    case kFinish:
      if (!in.empty()) return malformed();
      if (ours && st.progress.next_block == backup.block_count &&
          st.progress.records_applied == backup.record_count) {
        records.push_back({keyspace::RestoreMarkerKey(), meta, std::nullopt});
        records.push_back({keyspace::RestoredKey(), meta, EncodeMarker(backup, st.progress)});
        restoring = 0;
      }
      break;
    default:
      return malformed();
  }
  MERIDIAN_RETURN_IF_ERROR(engine_->Apply({index, std::move(records), /*chosen=*/true}, sync));
  if (restoring && *restoring != 0) {
    // New commits get later timestamps, and the visible timestamp covers
    // the restored versions (nobody reads them before finish).
    (void)hlc_->Observe(*restoring);
    uint64_t visible = visible_hlc_.load();
    while (visible < *restoring && !visible_hlc_.compare_exchange_weak(visible, *restoring)) {
    }
  }
  if (restoring) restoring_hlc_.store(*restoring);
  return absl::OkStatus();
}

Result<RestoreProgress> TxnStore::RestoreBegin(const RestoreIdentity& backup) {
  if (backup.snapshot_hlc == 0) return InvalidArgumentError("restore: the backup has no snapshot timestamp");
  if (backup.site_id != options_.site_id) {
    return Refused(absl::StrCat("the backup holds versions of site ", backup.site_id,
                                ", and this cluster is site ", options_.site_id,
                                " (--site-id): restore it into a cluster with --site-id ",
                                backup.site_id));
  }
  ReadWriteLock lock(this);
  MERIDIAN_ASSIGN_OR_RETURN(RestoreState st, ReadRestoreState());
  MERIDIAN_RETURN_IF_ERROR(BeginRefusal(st, backup));
  if (st.marker) return st.progress;  // this backup, cut short before: resume
  if (!hlc_->Observe(backup.snapshot_hlc).ok()) {
    return Refused(absl::StrCat("the backup's snapshot ", FormatHlc(backup.snapshot_hlc),
                                " is ahead of this node's clock by more than the max clock "
                                "offset; fix the clock before restoring"));
  }
  MERIDIAN_RETURN_IF_ERROR(ProposeLocked(EncodeHead(kBegin, backup)));
  MERIDIAN_ASSIGN_OR_RETURN(st, ReadRestoreState());
  if (st.marker && *st.marker == backup) return st.progress;
  MERIDIAN_RETURN_IF_ERROR(BeginRefusal(st, backup));
  return UnavailableError("restore: the group changed while the restore began; retry");
}

Result<RestoreProgress> TxnStore::RestoreChunk(const RestoreIdentity& backup, uint64_t block,
                                               const std::vector<BackupRecord>& records) {
  // Every record is checked before anything is proposed.
  uint64_t bytes = 0;
  for (const BackupRecord& r : records) bytes += RecordBytes(r);
  if (bytes > kMaxRestoreChunkBytes && records.size() > 1) {
    return InvalidArgumentError(absl::StrCat("restore: block ", block, " holds ", bytes,
                                             " bytes of records, over the limit of ",
                                             kMaxRestoreChunkBytes, " per block"));
  }
  std::vector<storage::Record> out;
  out.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const BackupRecord& r = records[i];
    const auto bad = [&](const Status& s) {
      return Status(s.code(), absl::StrCat("restore: block ", block, ", record ", i, ": ",
                                           s.message()));
    };
    if (Status s = ValidateKey(options_.limits, r.key); !s.ok()) return bad(s);
    if (r.version.site != backup.site_id || r.version.hlc == 0 ||
        r.version.hlc > backup.snapshot_hlc) {
      return bad(InvalidArgumentError(
          absl::StrCat("version ", FormatHlc(r.version.hlc), "@", r.version.site,
                       " is not of site ", backup.site_id, " at or before the snapshot ",
                       FormatHlc(backup.snapshot_hlc))));
    }
    switch (r.kind) {
      case BackupRecord::Kind::kKv:
        if (Status s = ValidateValue(options_.limits, r.value); !s.ok()) return bad(s);
        out.push_back({keyspace::KvKey(r.key), r.version, r.value});
        break;
      case BackupRecord::Kind::kCsetElement:
        if (r.count == 0) return bad(InvalidArgumentError("cset element with a count of 0"));
        if (r.element.size() > options_.limits.max_key_bytes) {
          return bad(LimitExceededError(
              "max_key_bytes", options_.limits.max_key_bytes,
              absl::StrCat("cset element is ", r.element.size(), " bytes, over max_key_bytes (",
                           options_.limits.max_key_bytes, ")")));
        }
        out.push_back({keyspace::CsetEntryKey(r.key, r.element), r.version,
                       keyspace::EncodeCount(r.count)});
        break;
    }
  }

  ReadWriteLock lock(this);
  const auto check = [&](const RestoreState& st) -> Status {
    if (!st.marker) {
      return Refused(st.restored && *st.restored == backup
                         ? "the restore of this backup has already finished"
                         : "no restore is in progress: begin it first (RestoreBegin)");
    }
    if (*st.marker != backup) {
      return Refused(absl::StrCat("another backup is being restored here: ", Describe(*st.marker)));
    }
    if (block > st.progress.next_block) {
      return Refused(absl::StrCat("restore: block ", block,
                                  " is out of order: the restore expects block ",
                                  st.progress.next_block, " next"));
    }
    return absl::OkStatus();
  };
  MERIDIAN_ASSIGN_OR_RETURN(RestoreState st, ReadRestoreState());
  MERIDIAN_RETURN_IF_ERROR(check(st));
  if (block < st.progress.next_block) return st.progress;  // applied before
  MERIDIAN_RETURN_IF_ERROR(CheckSpaceToPropose(out));
  MERIDIAN_RETURN_IF_ERROR(ProposeLocked(EncodeChunk(backup, block, out)));
  MERIDIAN_ASSIGN_OR_RETURN(st, ReadRestoreState());
  MERIDIAN_RETURN_IF_ERROR(check(st));
  if (block < st.progress.next_block) return st.progress;
  return UnavailableError("restore: the block was not applied (the group changed); retry");
}

Result<RestoreProgress> TxnStore::RestoreFinish(const RestoreIdentity& backup) {
  ReadWriteLock lock(this);
  // OK: finished, with its progress. Else why it cannot finish.
  const auto check = [&](const RestoreState& st) -> Result<std::optional<RestoreProgress>> {
    if (!st.marker) {
      if (st.restored && *st.restored == backup) {
        return std::optional<RestoreProgress>(st.restored_progress);  // finished before
      }
      return Refused("no restore of this backup is in progress: begin it first (RestoreBegin)");
    }
    if (*st.marker != backup) {
      return Refused(absl::StrCat("another backup is being restored here: ", Describe(*st.marker)));
    }
    if (st.progress.next_block != backup.block_count) {
      return Refused(absl::StrCat("the restore is incomplete: ", st.progress.next_block, " of ",
                                  backup.block_count,
                                  " blocks applied; send the rest (run the restore again)"));
    }
    if (st.progress.records_applied != backup.record_count) {
      return Refused(absl::StrCat(
          "the restore applied ", st.progress.records_applied, " records but the backup says ",
          backup.record_count,
          "; the backup is inconsistent. This group stays closed to clients: restore a good "
          "backup into a new cluster"));
    }
    return std::optional<RestoreProgress>();
  };
  MERIDIAN_ASSIGN_OR_RETURN(RestoreState st, ReadRestoreState());
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<RestoreProgress> done, check(st));
  if (done) return *done;
  MERIDIAN_RETURN_IF_ERROR(ProposeLocked(EncodeHead(kFinish, backup)));
  MERIDIAN_ASSIGN_OR_RETURN(st, ReadRestoreState());
  MERIDIAN_ASSIGN_OR_RETURN(done, check(st));
  if (done) return *done;
  return UnavailableError("restore: the finish was not applied (the group changed); retry");
}

Status TxnStore::ExportBackup(const std::function<Status(const BackupSnapshot&)>& start,
                              const std::function<Status(const BackupRecord&)>& fn) {
  MERIDIAN_RETURN_IF_ERROR(CheckNotRestoring());
  uint64_t snap = 0;
  {
    // Read under txns_mu_, so that a garbage collection either sees this
    // hold or ran at a watermark <= snap (it reads the visible timestamp
    // before it looks at the holds), and never drops a version the export
    // reads (the newest at or below snap).
    absl::MutexLock lock(&txns_mu_);
    // A store that never committed sees nothing at 0; 1 sees the same (no
    // commit timestamp is that small) and is a valid restore identity.
    snap = std::max<uint64_t>(visible_hlc_.load(), 1);
    held_snapshots_.insert(snap);
  }
  absl::Cleanup release = [&] {
    absl::MutexLock lock(&txns_mu_);
    held_snapshots_.erase(held_snapshots_.find(snap));
  };
  MERIDIAN_RETURN_IF_ERROR(start(BackupSnapshot{snap, AppliedIndex()}));
  const storage::Snapshot at = SnapshotAt(snap);
  Status error;
  BackupRecord rec;

  storage::ScanOptions csets{keyspace::kCsetRangeStart, keyspace::kCsetRangeEnd, 0, false};
  rec.kind = BackupRecord::Kind::kCsetElement;
  MERIDIAN_RETURN_IF_ERROR(engine_->Scan(
      csets, at,
      [&](const storage::KeyValue& kv) {
        if (!keyspace::ParseCsetEntryKey(kv.key, &rec.key, &rec.element) ||
            !keyspace::DecodeCount(kv.value, &rec.count)) {
          error = CorruptionError("backup: a stored cset entry is malformed");
          return false;
        }
        if (rec.count == 0) return true;  // never stored: a zero count is deleted
        rec.version = kv.version;
        error = fn(rec);
        return error.ok();
      },
      nullptr));
  MERIDIAN_RETURN_IF_ERROR(error);

  storage::ScanOptions kvs{keyspace::kKvRangeStart, keyspace::kKvRangeEnd, 0, false};
  rec = BackupRecord();
  rec.kind = BackupRecord::Kind::kKv;
  MERIDIAN_RETURN_IF_ERROR(engine_->Scan(
      kvs, at,
      [&](const storage::KeyValue& kv) {
        rec.key.assign(keyspace::UserKeyOf(kv.key));
        rec.value = kv.value;
        rec.version = kv.version;
        error = fn(rec);
        return error.ok();
      },
      nullptr));
  return error;
}

}  // namespace meridian::txn
