// A full disk and a corrupt file: clear errors, nothing acknowledged lost.
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "common/random.h"
#include "tests/integration/cluster_fixture.h"
#include "tests/integration/daemon.h"

namespace meridian::testing {
namespace {

// A small tmpfs, so that the disk really fills. Needs CAP_SYS_ADMIN (root in
// CI); the test is skipped, with the reason, where mounting is refused.
class SmallDisk {
 public:
  explicit SmallDisk(const std::string& dir, const std::string& size) : dir_(dir) {
    std::filesystem::create_directories(dir);
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  bool Grow(const std::string& size) {
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// Writes 256 KiB values (incompressible, so that the engine's compression
// cannot hide them) until one is refused or `max_writes` succeeded; records
// every acknowledged write in *acked and returns the refusal.
Status FillUntilRefused(client::Client* c, int max_writes,
                        std::map<std::string, std::string>* acked) {
  Random rnd(1);
  std::string value(256 << 10, '\0');
  for (char& ch : value) ch = static_cast<char>(rnd.Next());
  for (int i = 0; i < max_writes; ++i) {
    std::string key = "big/" + std::to_string(i);
    auto r = c->Put(key, value + std::to_string(i));
    if (!r.ok()) return r.status();
    (*acked)[key] = value + std::to_string(i);
  }
  return absl::OkStatus();
}

// Every acknowledged write reads back with its value.
void ExpectAllPresent(client::Client* c, const std::map<std::string, std::string>& acked) {
  for (const auto& [key, v] : acked) {
    auto r = c->Get(key);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->has_value()) << "acknowledged " << key << " lost";
    EXPECT_EQ((*r)->value, v);
  }
}

TEST(DiskIntegrationTest, FullDiskRefusesWritesClearlyAndLosesNothing) {
  std::string dir = MakeTempDir("fulldisk");
  SmallDisk disk(dir, "320m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << dir;

  TestDaemon daemon(dir + "/data", {"--min-free-disk", "192MiB"});
  ASSERT_TRUE(daemon.Start().ok()) << daemon.Log();
  auto c = daemon.Connect();
  std::map<std::string, std::string> acked;
  const Status failure = FillUntilRefused(c.get(), 2000, &acked);
  ASSERT_FALSE(failure.ok()) << "the disk never filled";
  ASSERT_TRUE(daemon.Running()) << "meridiand died on a full disk: " << daemon.Log();
  EXPECT_EQ(failure.code(), absl::StatusCode::kResourceExhausted) << failure;
  EXPECT_NE(failure.message().find("disk full"), absl::string_view::npos) << failure;
  EXPECT_GT(acked.size(), 5u);

  // Still serving: reads work, and later writes get the same clear refusal.
  auto again = c->Put("small", "x");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kResourceExhausted) << again.status();
  auto first = c->Get("big/0");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_TRUE(daemon.Running());

  // Free space: writes resume without a restart.
  ASSERT_TRUE(disk.Grow("1g"));
  auto grown = c->Put("after-grow", "x");
  EXPECT_TRUE(grown.ok()) << grown.status() << daemon.Log();
  // And after kill -9 and a restart, every acknowledged write is there.
  daemon.Kill();
  ASSERT_TRUE(daemon.Start().ok()) << daemon.Log();
  c = daemon.Connect();
  ExpectAllPresent(c.get(), acked);
  EXPECT_TRUE(c->Put("after", "space").ok());
  EXPECT_EQ(daemon.Stop(), 0);
}

// A replicated group on a filling disk: the leader refuses writes before it
// proposes them, so no replica is ever handed a chosen entry it refuses to
// apply (which could only stop it), and nothing acknowledged is lost.
TEST(DiskIntegrationTest, AGroupOnAFullDiskRefusesWritesAndNoReplicaStops) {
  std::string dir = MakeTempDir("fulldisk-group");
  // A disk of its own for each replica, as in production.
  std::vector<std::unique_ptr<SmallDisk>> disks;
  for (int i = 1; i <= 3; ++i) {
    disks.push_back(std::make_unique<SmallDisk>(dir + "/n" + std::to_string(i), "520m"));
    if (!disks.back()->mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << dir;
  }
  const LoopbackCluster addresses(3);
  const std::vector<std::string>& endpoints = addresses.endpoints;
  const std::string& cluster = addresses.cluster;
  std::vector<std::unique_ptr<TestDaemon>> nodes;
  for (int i = 1; i <= 3; ++i) {
    nodes.push_back(std::make_unique<TestDaemon>(
        dir + "/n" + std::to_string(i) + "/data",
        std::vector<std::string>{"--cluster", cluster, "--member-id", std::to_string(i),
                                 "--min-free-disk", "256MiB"}));
    ASSERT_TRUE(nodes.back()->Start().ok()) << nodes.back()->Log();
  }
  client::ClientOptions o;
  o.endpoints = endpoints;
  o.max_retries = 30;
  o.max_backoff = std::chrono::milliseconds(200);
  auto c = std::move(*client::Client::Connect(o));

  std::map<std::string, std::string> acked;
  const Status failure = FillUntilRefused(c.get(), 3000, &acked);
  ASSERT_FALSE(failure.ok()) << "the disk never filled";
  EXPECT_EQ(failure.code(), absl::StatusCode::kResourceExhausted) << failure;
  EXPECT_NE(failure.message().find("disk full"), absl::string_view::npos) << failure;
  EXPECT_GT(acked.size(), 5u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // followers apply the tail
  for (auto& n : nodes) ASSERT_TRUE(n->Running()) << "a replica died on a full disk: " << n->Log();
  auto first = c->Get("big/0");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());

  // Free space: writes resume; after kill -9 of all three and a restart,
  // every acknowledged write is there.
  for (auto& d : disks) ASSERT_TRUE(d->Grow("1g"));
  auto grown = c->Put("after-grow", "x");
  EXPECT_TRUE(grown.ok()) << grown.status();
  for (auto& n : nodes) n->Kill();
  for (auto& n : nodes) ASSERT_TRUE(n->Start().ok()) << n->Log();
  ExpectAllPresent(c.get(), acked);
  for (auto& n : nodes) EXPECT_EQ(n->Stop(), 0) << n->Log();
}

// A corrupt engine file stops start-up with exit 1 naming the engine and its
// directory, for each engine: PageStore's CHECKPOINT, RocksDB's CURRENT.
TEST(DiskIntegrationTest, CorruptEngineFileStopsStartupWithAClearError) {
  const std::pair<std::string, std::string> cases[] = {{"pagestore", "CHECKPOINT"},
                                                       {"rocksdb", "CURRENT"}};
  for (const auto& [engine, file] : cases) {
    SCOPED_TRACE(engine);
    TestDaemon daemon("", {"--engine", engine});
    ASSERT_TRUE(daemon.Start().ok()) << daemon.Log();
    ASSERT_TRUE(daemon.Connect()->Put("k", "v").ok());
    ASSERT_EQ(daemon.Stop(), 0);
    const std::string path = daemon.data_dir() + "/engine/" + file;
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    std::ofstream(path, std::ios::trunc) << "garbage\n";
    Status s = daemon.Start();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("cannot open the " + engine + " storage engine in " +
                               daemon.data_dir() + "/engine"),
              absl::string_view::npos) << s;
    EXPECT_NE(s.message().find("exited with code 1"), absl::string_view::npos) << s;
  }
}

TEST(DiskIntegrationTest, ADataDirOfANewerFormatOrAnotherEngineIsRefusedUntouched) {
  TestDaemon daemon;
  ASSERT_TRUE(daemon.Start().ok());
  ASSERT_TRUE(daemon.Connect()->Put("k", "v").ok());
  ASSERT_EQ(daemon.Stop(), 0);
  const std::string meta = daemon.data_dir() + "/META";
  auto read_meta = [&] {
    std::ifstream in(meta);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_NE(read_meta().find("engine=pagestore"), std::string::npos) << read_meta();

  const std::string newer = "meridian-data-dir\nformat=9\nengine=pagestore\nwritten_by=meridiand 9.0\n";
  std::ofstream(meta, std::ios::trunc) << newer;
  Status s = daemon.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("has format 9 (written by meridiand 9.0), newer than"),
            absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("exited with code 1"), absl::string_view::npos) << s;
  EXPECT_EQ(read_meta(), newer);

  std::ofstream(meta, std::ios::trunc)
      << "meridian-data-dir\nformat=1\nengine=rocksdb\nwritten_by=meridiand 9.0\n";
  TestDaemon insisting(daemon.data_dir(), {"--engine", "pagestore"});
  s = insisting.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("holds a rocksdb store; start with --engine=rocksdb"),
            absl::string_view::npos) << s;

  // Put back, the data is all there.
  std::ofstream(meta, std::ios::trunc)
      << "meridian-data-dir\nformat=1\nengine=pagestore\nwritten_by=meridiand 0.1.0\n";
  ASSERT_TRUE(insisting.Start().ok()) << insisting.Log();
  auto got = insisting.Connect()->Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, "v");
  EXPECT_EQ(insisting.Stop(), 0);
}

}  // namespace
}  // namespace meridian::testing
