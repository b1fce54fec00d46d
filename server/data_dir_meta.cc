#include "server/data_dir_meta.h"

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace meridian::server {
namespace {

constexpr absl::string_view kFirstLine = "meridian-data-dir";
constexpr size_t kMaxMetaBytes = 4096;

bool HoldsPreMetaData(const std::vector<std::string>& names) {
  for (const char* legacy : {"engine", "wal", "groups"}) {
    if (std::find(names.begin(), names.end(), legacy) != names.end()) return true;
  }
  return false;
}

Status WriteMeta(FileSystem* fs, const std::string& dir, const DataDirMeta& meta) {
  const std::string tmp = dir + "/META.tmp";
  (void)fs->Remove(tmp);  // a leftover of a crash mid-write; absent is fine
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->OpenFile(tmp, /*create=*/true));
  MERIDIAN_RETURN_IF_ERROR(file->Write(0, meta.Encode()));
  MERIDIAN_RETURN_IF_ERROR(file->Sync());
  file.reset();
  MERIDIAN_RETURN_IF_ERROR(fs->Rename(tmp, dir + "/META"));
  return fs->SyncDir(dir);
}

Result<std::string> ReadAll(FileSystem* fs, const std::string& path) {
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->OpenFile(path, /*create=*/false));
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size > kMaxMetaBytes) {
    return CorruptionError(absl::StrCat(path, " is ", size, " bytes; a META file is a few lines"));
  }
  std::string text;
  MERIDIAN_RETURN_IF_ERROR(file->Read(0, size, &text));
  return text;
}

}  // namespace

std::string DataDirMeta::Encode() const {
  return absl::StrCat(kFirstLine, "\nformat=", format, "\nengine=", engine,
                      "\nwritten_by=", written_by, "\n");
}

Result<DataDirMeta> DataDirMeta::Decode(std::string_view text, const std::string& path) {
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(text.data(), text.size()), '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kFirstLine) {
    return CorruptionError(
        absl::StrCat(path, " is not a Meridian META file (its first line must be '", kFirstLine,
                     "')"));
  }
  DataDirMeta meta;
  meta.format = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(lines[i], absl::MaxSplits('=', 1));
    if (kv.first == "format") {
      if (!absl::SimpleAtoi(kv.second, &meta.format) || meta.format == 0) {
        return CorruptionError(absl::StrCat(path, ": bad format '", kv.second, "'"));
      }
    } else if (kv.first == "engine") {
      meta.engine = std::string(kv.second);
    } else if (kv.first == "written_by") {
      meta.written_by = std::string(kv.second);
    }
    // Unknown keys are kept for newer releases' use: ignored here.
  }
  if (meta.format == 0 || meta.engine.empty()) {
    return CorruptionError(absl::StrCat(path, " lacks its format or engine line"));
  }
  return meta;
}

Result<DataDirMeta> OpenDataDirMeta(FileSystem* fs, const std::string& dir,
                                    const std::string& engine, const std::string& default_engine,
                                    const std::string& written_by) {
  const std::string path = dir + "/META";
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(dir));
  if (std::find(names.begin(), names.end(), "META") == names.end()) {
    DataDirMeta meta;
    meta.written_by = written_by;
    // Before META existed every directory was format 1 and RocksDB.
    meta.engine = HoldsPreMetaData(names) ? "rocksdb" : (engine == "auto" ? default_engine : engine);
    if (engine != "auto" && engine != meta.engine) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir ", dir, " holds a ", meta.engine, " store from before META files; start with "
          "--engine=", meta.engine, " (or --engine=auto), not --engine=", engine));
    }
    if (Status s = WriteMeta(fs, dir, meta); !s.ok()) {
      return Status(s.code(), absl::StrCat("cannot write ", path, ": ", s.message()));
    }
    return meta;
  }
  Result<std::string> text = ReadAll(fs, path);
  if (!text.ok()) {
    return Status(text.status().code(),
                  absl::StrCat("cannot read ", path, ": ", text.status().message()));
  }
  MERIDIAN_ASSIGN_OR_RETURN(DataDirMeta meta, DataDirMeta::Decode(*text, path));
  if (meta.format > DataDirMeta::kFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", dir, " has format ", meta.format, " (written by ", meta.written_by,
        "), newer than this meridiand reads (", DataDirMeta::kFormat,
        "); run that release or newer, or restore a backup into a new cluster"));
  }
  if (meta.format < DataDirMeta::kOldestFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", dir, " has format ", meta.format, ", older than this meridiand reads (",
        DataDirMeta::kOldestFormat, " and later); upgrade through an intermediate release "
        "(docs/operations.md, Upgrades)"));
  }
  if (engine != "auto" && engine != meta.engine) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", dir, " holds a ", meta.engine, " store; start with --engine=",
                     meta.engine, " (or --engine=auto), not --engine=", engine,
                     ". To change engines, back up and restore into a new cluster"));
  }
  return meta;
}

}  // namespace meridian::server
