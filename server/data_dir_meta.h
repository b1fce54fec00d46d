// The data directory's identity card: <data_dir>/META, a small text file
// naming the on-disk format generation and the storage engine that wrote
// the directory. meridiand reads it before opening anything else, so a
// binary never opens a directory in a format it does not know, and a store
// is never opened by the wrong engine. Format: docs/operations.md,
// "Upgrades".
#pragma once

#include <cstdint>
#include <string>

#include "common/file_system.h"
#include "common/status.h"

namespace meridian::server {

struct DataDirMeta {
  // Generation of the whole directory's layout (engine/, wal/, groups/).
  // Raised when a change cannot be read by the previous release.
  static constexpr uint32_t kFormat = 1;
  // The oldest generation this binary still opens (upgrading it in place).
  static constexpr uint32_t kOldestFormat = 1;

  uint32_t format = kFormat;
  std::string engine;      // "rocksdb"
  std::string written_by;  // "meridiand <version>" that created or last upgraded it

  std::string Encode() const;
  // Corruption naming `path` on anything malformed.
  static Result<DataDirMeta> Decode(std::string_view text, const std::string& path);
};

// Reads <dir>/META, or writes it for a new directory. `engine` is the
// configured engine ("auto" = whatever the directory holds, or
// `default_engine` for a new one). Returns the directory's META, whose
// engine is the one to open. Refuses, with FailedPrecondition and what to do:
// a format newer than kFormat or older than kOldestFormat; an engine other
// than a non-auto `engine`. A directory holding data from before META
// existed (an engine/ or wal/ subdirectory) is format 1 with a RocksDB store,
// and gets its META written.
Result<DataDirMeta> OpenDataDirMeta(FileSystem* fs, const std::string& dir,
                                    const std::string& engine, const std::string& default_engine,
                                    const std::string& written_by);

}  // namespace meridian::server
