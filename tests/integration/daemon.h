// Test helpers that run real meridiand and meridianctl processes on
// loopback. Each TestDaemon gets its own temporary data directory and a free
// port chosen by the kernel (--listen 127.0.0.1:0 --port-file).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/status.h"
#include "meridian/client.h"

namespace meridian::testing {

// Path of a built binary ("server/meridiand", "client/meridianctl").
std::string BinaryPath(const std::string& relative);

// A fresh, empty directory under the test temp dir.
std::string MakeTempDir(const std::string& name);

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal
  std::string out;
  std::string err;
};

// Runs a program to completion with `input` on stdin.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "",
                         int timeout_seconds = 60);

class TestDaemon {
 public:
  // `data_dir` "" = a fresh temp dir. `extra_args` go after the defaults.
  explicit TestDaemon(std::string data_dir = "", std::vector<std::string> extra_args = {});
  ~TestDaemon();  // SIGKILLs the process if still running

  // Starts and waits until it serves (health SERVING). Returns the error and
  // the daemon's stderr if it exits or does not come up within 30 s.
  Status Start();
  // SIGTERM and wait; returns the exit code.
  int Stop();
  // SIGKILL and wait.
  void Kill();
  // SIGSTOP / SIGCONT: the process freezes with its sockets open, as a node
  // stalled by GC, swap or a VM pause would.
  void Pause();
  void Resume();
  bool Running();

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& data_dir() const { return data_dir_; }
  std::string Log() const;  // the daemon's stderr so far
  std::unique_ptr<client::Client> Connect();

  // Runs meridianctl against this daemon.
  ProcessResult Ctl(std::vector<std::string> args, const std::string& input = "");

  // "NAME=value" entries added to the daemon's environment from the next
  // Start on (e.g. LD_PRELOAD of libfaketime).
  void SetEnv(std::vector<std::string> env) { env_ = std::move(env); }

 private:
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::vector<std::string> env_;
  std::string log_path_;
  std::string port_path_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A fixture whose tests share one daemon, started once for the suite and
// stopped (gracefully, checking exit code 0) after it. Derived suites may
// define `static std::vector<std::string> DaemonArgs()` for extra flags.
template <typename Derived>
class SharedDaemonTest : public ::testing::Test {
 protected:
  static std::vector<std::string> DaemonArgs() { return {}; }
  static void SetUpTestSuite() {
    daemon_ = new TestDaemon("", Derived::DaemonArgs());
    Status s = daemon_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(daemon_->Stop(), 0) << daemon_->Log();
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    client_ = daemon_->Connect();
    ASSERT_NE(client_, nullptr);
  }

  static inline TestDaemon* daemon_ = nullptr;
  std::unique_ptr<client::Client> client_;
};

}  // namespace meridian::testing
