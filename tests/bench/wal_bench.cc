// wal-bench: group-commit rate of the node WAL, io_uring against posix.
// Each round appends one entry of --bytes and Syncs (one write + one
// fdatasync), --syncs times, in a fresh WAL under --dir; prints syncs/s per
// I/O path. Run it on the disk the WAL will live on: on tmpfs fdatasync is
// free and the figures mean nothing.
//
//   wal-bench [--dir=/path] [--syncs=2000] [--bytes=4096]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/file_system.h"
#include "consensus/wal.h"

namespace meridian {
namespace {

int Run(int argc, char** argv) {
  std::string dir = std::filesystem::temp_directory_path().string() + "/meridian_wal_bench_" +
                    std::to_string(::getpid());
  uint64_t syncs = 2000, bytes = 4096;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("--dir=")) {
      dir = std::string(a.substr(6)) + "/meridian_wal_bench";
    } else if (a.starts_with("--syncs=")) {
      syncs = std::strtoull(argv[i] + 8, nullptr, 10);
    } else if (a.starts_with("--bytes=")) {
      bytes = std::strtoull(argv[i] + 8, nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: wal-bench [--dir=DIR] [--syncs=N] [--bytes=B]\n");
      return 2;
    }
  }
  using consensus::Wal;
  for (Wal::Io io : {Wal::Io::kUring, Wal::Io::kPosix}) {
    const char* name = io == Wal::Io::kUring ? "uring" : "posix";
    std::filesystem::remove_all(dir);
    std::map<consensus::GroupId, consensus::RecoveredGroup> recovered;
    Wal::Options o{.segment_bytes = 64ull << 20, .io = io};
    auto wal = Wal::Open(PosixFileSystem(), dir, o, &recovered);
    if (!wal.ok()) {
      std::printf("%-5s  unavailable: %s\n", name, wal.status().ToString().c_str());
      continue;
    }
    const std::string command(bytes, 'w');
    const uint64_t start = SystemClock()->NowMonotonicMicros();
    for (uint64_t i = 1; i <= syncs; ++i) {
      (*wal)->AppendEntries(1, {consensus::Entry{i, consensus::Ballot{1, 1}, command, false}});
      if (Status s = (*wal)->Sync(); !s.ok()) {
        std::fprintf(stderr, "%s: sync failed: %s\n", name, s.ToString().c_str());
        return 1;
      }
    }
    const double secs = (SystemClock()->NowMonotonicMicros() - start) / 1e6;
    std::printf("%-5s  %llu syncs of %llu B in %.3f s: %.0f syncs/s, %.1f us/sync\n", name,
                static_cast<unsigned long long>(syncs), static_cast<unsigned long long>(bytes),
                secs, syncs / secs, secs * 1e6 / syncs);
    wal->reset();
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace meridian

int main(int argc, char** argv) { return meridian::Run(argc, argv); }
