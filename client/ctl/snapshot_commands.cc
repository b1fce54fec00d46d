// meridianctl snapshot save | restore | status (commands.h).
#include <ostream>

#include "absl/strings/str_cat.h"
#include "client/ctl/backup_file.h"
#include "client/ctl/commands.h"
#include "client/ctl/progress.h"
#include "common/crc32c.h"
#include "common/hlc.h"

namespace meridian::ctl {
namespace {

std::string Seconds(uint64_t micros) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fs", static_cast<double>(micros) / 1e6);
  return buf;
}

std::string SnapshotText(uint64_t hlc) { return absl::StrCat(FormatHlc(hlc), " (hlc ", hlc, ")"); }

// With an error from the middle of a restore: what state the cluster is in.
// Keeps the error's kind (its exit code).
Status Unfinished(const Status& s) {
  Status out(s.code(),
             absl::StrCat(s.message(),
                          "; the restore is unfinished and the cluster refuses reads and "
                          "writes until it completes: run the same command again to resume"));
  s.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace

int Commands::SnapshotSave(const std::string& file, bool force, bool progress) {
  Clock* clock = SystemClock();
  Result<std::unique_ptr<BackupWriter>> writer =
      BackupWriter::Create(PosixFileSystem(), file, force);
  if (!writer.ok()) return Fail(writer.status());
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());

  Progress bar(io_.err, clock, "save", progress, io_.err_is_tty);
  BackupWriter& w = **writer;
  v1::BackupHeader header;
  int attempts = 0;
  Result<uint64_t> records = (*c)->Backup(
      [&](const v1::BackupHeader& h) {
        // A retried backup starts over, at a new snapshot, in a new file.
        if (++attempts > 1 && progress) {
          io_.err << (io_.err_is_tty ? "\n" : "")
                  << "the backup stream broke; starting over at a new snapshot\n";
        }
        header = h;
        return w.Start(h);
      },
      [&](const v1::BackupChunk& chunk) {
        Status s = w.AddBlock(chunk.records());
        bar.Update(w.records(), w.bytes());
        return s;
      });
  Status s = records.status();
  if (s.ok()) s = w.Finish();
  bar.Finish(s.ok());
  if (!s.ok()) return Fail(s);  // the writer removes FILE.part

  const uint64_t took = bar.ElapsedMicros();
  switch (options_.format) {
    case OutputFormat::kSimple:
      io_.out << "Snapshot saved to " << file << ": " << w.records() << " records, "
              << w.bytes() << " bytes (" << HumanBytes(w.bytes()) << "), snapshot at "
              << SnapshotText(header.snapshot_hlc()) << ", took " << Seconds(took) << " ("
              << Throughput(w.bytes(), took) << ")\n";
      break;
    case OutputFormat::kJson: {
      JsonWriter j;
      // clang-format off
      j.BeginObject()
          .Key("op").String("snapshot save")
          .Key("file").String(file)
          .Key("records").Uint(w.records())
          .Key("blocks").Uint(w.trailer().block_count)
          .Key("bytes").Uint(w.bytes())
          .Key("snapshot_hlc").Uint(header.snapshot_hlc())
          .Key("site_id").Uint(header.site_id())
          .Key("applied_index").Uint(header.applied_index())
          .Key("source_node_id").String(header.source_node_id())
          .Key("checksum").Uint(w.trailer().checksum)
          .Key("duration_ms").Uint(took / 1000);
      // clang-format on
      Emit(j.EndObject());
      break;
    }
    case OutputFormat::kTable: {
      Table t({"FILE", "RECORDS", "BYTES", "SNAPSHOT", "DURATION"});
      t.AddRow({file, absl::StrCat(w.records()), HumanBytes(w.bytes()),
                SnapshotText(header.snapshot_hlc()), Seconds(took)});
      io_.out << t.Render();
      break;
    }
  }
  return kExitOk;
}

int Commands::SnapshotRestore(const std::string& file, bool progress) {
  Clock* clock = SystemClock();
  FileSystem* fs = PosixFileSystem();
  // All of it first: a corrupt or truncated file sends nothing.
  Result<VerifiedBackup> verified = VerifyBackupFile(fs, file);
  if (!verified.ok()) {
    const Status& e = verified.status();
    return Fail(Status(e.code(), absl::StrCat(e.message(), "; nothing was restored")));
  }
  const v1::RestoreIdentity identity = IdentityOf(*verified);
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());

  Progress bar(io_.err, clock, "restore", progress, io_.err_is_tty);
  bar.SetTotal(identity.record_count());
  Result<v1::RestoreProgress> begun = (*c)->RestoreBegin(identity);
  if (!begun.ok()) return Fail(begun.status());
  const uint64_t resume_at = begun->next_block();
  if (resume_at > 0) {
    io_.err << "resuming the restore of " << file << " at block " << resume_at << " of "
            << identity.block_count() << " (" << begun->records_applied()
            << " records already in)\n";
  }

  // A failure from here on leaves the restore unfinished.
  const auto fail = [&](const Status& s) {
    bar.Finish(false);
    return Fail(Unfinished(s));
  };
  Result<std::unique_ptr<BackupReader>> reader = BackupReader::Open(fs, file);
  if (!reader.ok()) return fail(reader.status());
  v1::RestoreChunkRequest req;
  *req.mutable_backup() = identity;
  std::string payload;
  uint64_t at = 0;
  uint64_t crc = 0;
  uint64_t bytes_sent = 0;
  uint64_t records = begun->records_applied();
  for (uint64_t block = 0;; ++block) {
    Result<bool> more = (*reader)->NextBlock(&payload, &at);
    if (!more.ok()) return fail(more.status());
    if (!*more) break;
    crc = crc32c::Extend(static_cast<uint32_t>(crc), payload.data(), payload.size());
    if (block < resume_at) continue;
    req.set_block(block);
    req.clear_records();
    if (Status s = DecodeBackupBlock(payload, at, req.mutable_records()); !s.ok()) {
      return fail(s);
    }
    Result<v1::RestoreProgress> p = (*c)->RestoreChunk(req);
    if (!p.ok()) return fail(p.status());
    records = p->records_applied();
    bytes_sent += payload.size();
    bar.Update(records, bytes_sent);
  }
  // The file was verified, but it could have changed since: finish only a
  // restore of exactly the verified bytes.
  if (static_cast<uint32_t>(crc) != identity.checksum()) {
    return fail(absl::DataLossError(absl::StrCat(file, " changed while it was being restored")));
  }
  Result<v1::RestoreProgress> finished = (*c)->RestoreFinish(identity);
  if (!finished.ok()) return fail(finished.status());
  bar.Update(finished->records_applied(), bytes_sent);
  bar.Finish(true);

  const uint64_t took = bar.ElapsedMicros();
  const uint64_t restored = finished->records_applied();
  switch (options_.format) {
    case OutputFormat::kSimple:
      io_.out << "Restored " << restored << " records from " << file << " ("
              << verified->file_bytes << " bytes, " << HumanBytes(verified->file_bytes)
              << "), snapshot at " << SnapshotText(identity.snapshot_hlc()) << ", took "
              << Seconds(took) << " (" << Throughput(bytes_sent, took) << ")\n";
      break;
    case OutputFormat::kJson: {
      JsonWriter j;
      // clang-format off
      j.BeginObject()
          .Key("op").String("snapshot restore")
          .Key("file").String(file)
          .Key("records").Uint(restored)
          .Key("blocks").Uint(identity.block_count())
          .Key("bytes").Uint(verified->file_bytes)
          .Key("bytes_sent").Uint(bytes_sent)
          .Key("resumed_at_block").Uint(resume_at)
          .Key("snapshot_hlc").Uint(identity.snapshot_hlc())
          .Key("site_id").Uint(identity.site_id())
          .Key("checksum").Uint(identity.checksum())
          .Key("duration_ms").Uint(took / 1000);
      // clang-format on
      Emit(j.EndObject());
      break;
    }
    case OutputFormat::kTable: {
      Table t({"FILE", "RECORDS", "BYTES", "SNAPSHOT", "DURATION"});
      t.AddRow({file, absl::StrCat(restored), HumanBytes(verified->file_bytes),
                SnapshotText(identity.snapshot_hlc()), Seconds(took)});
      io_.out << t.Render();
      break;
    }
  }
  return kExitOk;
}

int Commands::SnapshotStatus(const std::string& file) {
  Result<VerifiedBackup> v = VerifyBackupFile(PosixFileSystem(), file);
  if (!v.ok()) return Fail(v.status());
  const v1::BackupHeader& h = v->header;
  switch (options_.format) {
    case OutputFormat::kSimple:
      io_.out << file << ": OK, snapshot at " << SnapshotText(h.snapshot_hlc()) << ", site "
              << h.site_id() << ", " << v->trailer.record_count << " records ("
              << v->kv_records << " keys, " << v->cset_records << " cset elements) in "
              << v->trailer.block_count << " blocks, " << v->file_bytes << " bytes, checksum "
              << absl::StrCat(absl::Hex(v->trailer.checksum, absl::kZeroPad8)) << ", from node "
              << h.source_node_id() << " at applied index " << h.applied_index()
              << ", meridiand " << h.server_version() << "\n";
      break;
    case OutputFormat::kJson: {
      JsonWriter j;
      // clang-format off
      j.BeginObject()
          .Key("file").String(file)
          .Key("snapshot_hlc").Uint(h.snapshot_hlc())
          .Key("site_id").Uint(h.site_id())
          .Key("group").Uint(h.group())
          .Key("applied_index").Uint(h.applied_index())
          .Key("source_member_id").Uint(h.source_member_id())
          .Key("source_node_id").String(h.source_node_id())
          .Key("server_version").String(h.server_version())
          .Key("created_unix_ms").Uint(h.created_unix_ms())
          .Key("records").Uint(v->trailer.record_count)
          .Key("kv_records").Uint(v->kv_records)
          .Key("cset_records").Uint(v->cset_records)
          .Key("blocks").Uint(v->trailer.block_count)
          .Key("bytes").Uint(v->file_bytes)
          .Key("checksum").Uint(v->trailer.checksum);
      // clang-format on
      Emit(j.EndObject());
      break;
    }
    case OutputFormat::kTable: {
      Table t({"FILE", "SNAPSHOT", "SITE", "RECORDS", "BLOCKS", "BYTES", "CHECKSUM"});
      t.AddRow({file, SnapshotText(h.snapshot_hlc()), absl::StrCat(h.site_id()),
                absl::StrCat(v->trailer.record_count), absl::StrCat(v->trailer.block_count),
                HumanBytes(v->file_bytes),
                absl::StrCat(absl::Hex(v->trailer.checksum, absl::kZeroPad8))});
      io_.out << t.Render();
      break;
    }
  }
  return kExitOk;
}

}  // namespace meridian::ctl
