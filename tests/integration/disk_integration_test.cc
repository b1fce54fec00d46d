// A full disk and a corrupt file: clear errors, nothing acknowledged lost.
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/random.h"
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

TEST(DiskIntegrationTest, FullDiskRefusesWritesClearlyAndLosesNothing) {
  std::string dir = MakeTempDir("fulldisk");
  SmallDisk disk(dir, "320m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << dir;

  TestDaemon daemon(dir + "/data", {"--min-free-disk", "192MiB"});
  ASSERT_TRUE(daemon.Start().ok()) << daemon.Log();
  auto c = daemon.Connect();
  std::map<std::string, std::string> acked;
  Status failure;
  // Incompressible, so that the engine's compression cannot hide the data.
  Random rnd(1);
  std::string value(256 << 10, '\0');
  for (char& ch : value) ch = static_cast<char>(rnd.Next());
  for (int i = 0; i < 2000 && failure.ok(); ++i) {
    std::string key = "big/" + std::to_string(i);
    auto r = c->Put(key, value + std::to_string(i));
    if (r.ok()) {
      acked[key] = value + std::to_string(i);
    } else {
      failure = r.status();
    }
  }
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
  for (const auto& [key, v] : acked) {
    auto r = c->Get(key);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->has_value()) << "acknowledged " << key << " lost";
    EXPECT_EQ((*r)->value, v);
  }
  EXPECT_TRUE(c->Put("after", "space").ok());
  EXPECT_EQ(daemon.Stop(), 0);
}

TEST(DiskIntegrationTest, CorruptEngineFileStopsStartupWithAClearError) {
  TestDaemon daemon;
  ASSERT_TRUE(daemon.Start().ok());
  ASSERT_TRUE(daemon.Connect()->Put("k", "v").ok());
  ASSERT_EQ(daemon.Stop(), 0);
  std::ofstream(daemon.data_dir() + "/engine/CURRENT", std::ios::trunc) << "garbage\n";
  Status s = daemon.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot open the storage engine"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("exited with code 1"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace meridian::testing
