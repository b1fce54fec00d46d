// Checks Journal against a dumb model: random writes, truncates and
// fallocates on real files (through write-only and read-write descriptors),
// random fsyncs, and random power losses; after every loss each file must
// equal the model's content at its last fsync, byte for byte and in size.
//
// Usage: lossyfs_journal_test [seed] [ops]   (exit 0 = pass)
#include "jepsen/lossyfs/undo_journal.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace meridian::lossyfs {
namespace {

struct ModelFile {
  std::string path;
  int rw_fd = -1;
  int wo_fd = -1;
  std::string current;
  std::string durable;
};

std::string ReadAll(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "<open failed>";
  char buf[65536];
  ssize_t r;
  while ((r = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(r));
  ::close(fd);
  return out;
}

bool Check(const ModelFile& f, const std::string& expected, const char* when, long step) {
  std::string actual = ReadAll(f.path);
  if (actual == expected) return true;
  size_t i = 0;
  while (i < actual.size() && i < expected.size() && actual[i] == expected[i]) i++;
  std::fprintf(stderr, "FAIL %s at step %ld: %s size %zu, expected %zu, first difference at %zu\n",
               when, step, f.path.c_str(), actual.size(), expected.size(), i);
  return false;
}

int Run(unsigned seed, long ops) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](uint64_t lo, uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  char dir_template[] = "/tmp/lossyfs-journal-test.XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) return 2;
  std::string dir = dir_template;

  std::vector<ModelFile> files(3);
  for (size_t i = 0; i < files.size(); i++) {
    ModelFile& f = files[i];
    f.path = dir + "/f" + std::to_string(i);
    f.rw_fd = ::open(f.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    f.wo_fd = ::open(f.path.c_str(), O_WRONLY | O_CLOEXEC);
    if (f.rw_fd < 0 || f.wo_fd < 0) return 2;
  }
  bool zero_range_ok = true;
  Journal journal;
  long losses = 0;
  for (long step = 0; step < ops; step++) {
    ModelFile& f = files[uniform(0, files.size() - 1)];
    int fd = uniform(0, 1) ? f.rw_fd : f.wo_fd;
    uint64_t op = uniform(0, 99);
    if (op < 55) {  // write, often overlapping, sometimes past the end
      uint64_t off = uniform(0, 40000);
      std::string data(uniform(1, 9000), '\0');
      for (char& c : data) c = static_cast<char>(uniform(1, 255));
      if (journal.BeforeModify(fd, off, off + data.size()) != 0) return 3;
      if (::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off)) !=
          static_cast<ssize_t>(data.size())) {
        return 3;
      }
      if (f.current.size() < off + data.size()) f.current.resize(off + data.size(), '\0');
      f.current.replace(off, data.size(), data);
    } else if (op < 68) {  // truncate, shrinking or growing
      uint64_t size = uniform(0, 45000);
      if (journal.BeforeTruncate(fd, size) != 0) return 3;
      if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return 3;
      f.current.resize(size, '\0');
    } else if (op < 78) {  // fallocate: grow, keep size, punch, zero range
      uint64_t off = uniform(0, 40000), len = uniform(1, 9000);
      int modes[] = {0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     FALLOC_FL_ZERO_RANGE};
      int mode = modes[uniform(0, zero_range_ok ? 3 : 2)];
      bool destroys = (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) != 0;
      if (journal.BeforeModify(fd, destroys ? off : 0, destroys ? off + len : 0) != 0) return 3;
      if (::fallocate(fd, mode, static_cast<off_t>(off), static_cast<off_t>(len)) != 0) {
        if (errno == EOPNOTSUPP && mode == FALLOC_FL_ZERO_RANGE) {
          zero_range_ok = false;
          continue;
        }
        std::perror("fallocate");
        return 3;
      }
      if (mode == 0 || mode == FALLOC_FL_ZERO_RANGE) {
        if (f.current.size() < off + len) f.current.resize(off + len, '\0');
      }
      if (destroys) {
        for (uint64_t i = off; i < off + len && i < f.current.size(); i++) f.current[i] = '\0';
      }
    } else if (op < 90) {  // fsync
      if (::fdatasync(fd) != 0) return 3;
      journal.MarkDurable(fd);
      f.durable = f.current;
    } else if (op < 92) {  // power loss
      Journal::Totals t = journal.LoseAll();
      if (t.error != 0) {
        std::fprintf(stderr, "FAIL lose error %d at step %ld\n", t.error, step);
        return 1;
      }
      losses++;
      for (ModelFile& g : files) {
        if (!Check(g, g.durable, "after lose", step)) return 1;
        g.current = g.durable;
      }
      continue;
    } else {
      continue;
    }
    if (!Check(f, f.current, "after op", step)) return 1;
  }
  Journal::Totals t = journal.LoseAll();
  for (ModelFile& g : files) {
    if (t.error != 0 || !Check(g, g.durable, "final lose", ops)) return 1;
    ::close(g.rw_fd);
    ::close(g.wo_fd);
    ::unlink(g.path.c_str());
  }
  ::rmdir(dir.c_str());
  std::printf("ok: seed %u, %ld ops, %ld losses, zero_range %s\n", seed, ops, losses + 1,
              zero_range_ok ? "tested" : "unsupported here");
  return 0;
}

}  // namespace
}  // namespace meridian::lossyfs

int main(int argc, char** argv) {
  unsigned seed = argc > 1 ? static_cast<unsigned>(std::strtoul(argv[1], nullptr, 10)) : 1;
  long ops = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 20000;
  int rc = meridian::lossyfs::Run(seed, ops);
  if (rc != 0 && rc != 1)
    std::fprintf(stderr, "FAIL: setup or syscall error (rc %d, seed %u)\n", rc, seed);
  if (rc != 0) std::fprintf(stderr, "seed %u\n", seed);
  return rc;
}
