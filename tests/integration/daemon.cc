#include "tests/integration/daemon.h"

#include <algorithm>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace meridian::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd,
            const std::vector<std::string>& env = {}) {
  pid_t pid = ::fork();
  if (pid == 0) {
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    if (in_fd >= 0) ::dup2(in_fd, 0);
    if (out_fd >= 0) ::dup2(out_fd, 1);
    if (err_fd >= 0) ::dup2(err_fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int ExitCodeOf(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Test directories (docs/testing.md, "Kept test directories"). Each data dir
// holds engines and WAL segments, and hundreds of failed runs' leftovers once
// filled a 250 GB disk, so what is kept for a look is bounded:
//  - a binary whose tests all passed removes every directory it made;
//  - one with failures keeps only the directories of the failed tests (or of
//    a suite with a failure, for a suite's shared daemon);
//  - when a binary's tests start, the kept directories of earlier runs (by
//    process id; a run still alive is left alone) are removed but for the
//    newest kKeptRuns (MERIDIAN_IT_KEEP_RUNS overrides) younger than kKeptAge.
constexpr int kKeptRuns = 3;
constexpr auto kKeptAge = std::chrono::hours(24);
constexpr std::string_view kDirPrefix = "meridian_it_";

class TempDirs : public ::testing::Environment {
 public:
  static TempDirs& Get() {
    static TempDirs* dirs = [] {
      auto* d = new TempDirs();
      ::testing::AddGlobalTestEnvironment(d);  // gtest owns it
      return d;
    }();
    return *dirs;
  }
  // Records `dir` as made by the running test (or test suite).
  void Add(const std::string& dir) {
    const ::testing::UnitTest* unit = ::testing::UnitTest::GetInstance();
    Owner owner;
    if (const ::testing::TestInfo* t = unit->current_test_info(); t != nullptr) {
      owner = {t->test_suite_name(), t->name()};
    } else if (const ::testing::TestSuite* suite = unit->current_test_suite(); suite != nullptr) {
      owner = {suite->name(), ""};
    }
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back({dir, std::move(owner)});
  }
  void SetUp() override { RemoveEarlierRuns(); }
  void TearDown() override {
    std::lock_guard<std::mutex> lock(mu_);
    size_t kept = 0;
    for (const auto& [dir, owner] : dirs_) {
      if (Failed(owner)) {
        std::fprintf(stderr, "kept %s for a look (%s)\n", dir.c_str(),
                     owner.suite.empty() ? "made outside a test" : Name(owner).c_str());
        ++kept;
        continue;
      }
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
    if (kept > 0) {
      std::fprintf(stderr,
                   "kept %zu test directories; later runs keep the newest %d runs' "
                   "(docs/testing.md)\n",
                   kept, KeptRuns());
    }
    dirs_.clear();
  }

 private:
  // Who made a directory: a test (suite and name), a suite's SetUpTestSuite
  // (name ""), or neither (suite "").
  struct Owner {
    std::string suite;
    std::string test;
  };
  struct Dir {
    std::string path;
    Owner owner;
  };

  static std::string Name(const Owner& o) {
    return o.test.empty() ? o.suite : o.suite + "." + o.test;
  }

  // Whether the owner's directories are worth keeping.
  static bool Failed(const Owner& o) {
    const ::testing::UnitTest* unit = ::testing::UnitTest::GetInstance();
    if (!unit->Failed()) return false;
    if (o.suite.empty()) return true;
    for (int i = 0; i < unit->total_test_suite_count(); ++i) {
      const ::testing::TestSuite* suite = unit->GetTestSuite(i);
      if (o.suite != suite->name()) continue;
      if (o.test.empty()) return suite->Failed() || suite->ad_hoc_test_result().Failed();
      for (int j = 0; j < suite->total_test_count(); ++j) {
        const ::testing::TestInfo* t = suite->GetTestInfo(j);
        if (o.test == t->name()) return t->result()->Failed();
      }
    }
    return true;  // not found: keep rather than guess
  }

  static int KeptRuns() {
    const char* env = std::getenv("MERIDIAN_IT_KEEP_RUNS");
    return env != nullptr && *env != '\0' ? std::max(0, std::atoi(env)) : kKeptRuns;
  }

  // Removes what earlier, finished runs kept beyond the newest KeptRuns()
  // younger than kKeptAge. A run is the process id in the directory names.
  static void RemoveEarlierRuns() {
    namespace fs = std::filesystem;
    struct Run {
      std::vector<fs::path> dirs;
      fs::file_time_type newest = fs::file_time_type::min();
    };
    std::map<pid_t, Run> runs;
    std::error_code ec;
    for (fs::directory_iterator it(::testing::TempDir(), ec), end; !ec && it != end;
         it.increment(ec)) {
      const fs::directory_entry& e = *it;
      const std::string name = e.path().filename().string();
      if (name.rfind(kDirPrefix, 0) != 0) continue;
      const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + kDirPrefix.size()));
      if (pid <= 0) continue;
      // Ours are from an earlier process that had this id: this one has made
      // none yet.
      if (pid != ::getpid() && (::kill(pid, 0) == 0 || errno == EPERM)) continue;
      Run& run = runs[pid];
      run.dirs.push_back(e.path());
      std::error_code time_ec;
      const fs::file_time_type t = fs::last_write_time(e.path(), time_ec);
      if (!time_ec) run.newest = std::max(run.newest, t);
    }
    std::vector<Run*> order;
    for (auto& [pid, run] : runs) order.push_back(&run);
    std::sort(order.begin(), order.end(),
              [](const Run* a, const Run* b) { return a->newest > b->newest; });
    const auto cutoff = fs::file_time_type::clock::now() - kKeptAge;
    const size_t keep = static_cast<size_t>(KeptRuns());
    for (size_t i = 0; i < order.size(); ++i) {
      if (i < keep && order[i]->newest >= cutoff) continue;
      for (const fs::path& dir : order[i]->dirs) fs::remove_all(dir, ec);
    }
  }

  std::mutex mu_;
  std::vector<Dir> dirs_;
};
// Registered before RUN_ALL_TESTS, whether or not a test makes a directory.
const bool kTempDirsRegistered = (TempDirs::Get(), true);

}  // namespace

std::string BinaryPath(const std::string& relative) {
  return std::string(MERIDIAN_BUILD_DIR) + "/" + relative;
}

std::string MakeTempDir(const std::string& name) {
  static int counter = 0;
  std::string dir = ::testing::TempDir() + "/" + std::string(kDirPrefix) +
                    std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  TempDirs::Get().Add(dir);
  return dir;
}

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input,
                         int timeout_seconds) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return {};
  pid_t pid = Spawn(argv, in[0], out[1], err[1]);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // Feed stdin from a thread so a large input cannot deadlock against output.
  std::thread feeder([fd = in[1], input] {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = ::write(fd, input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += n;
    }
    ::close(fd);
  });
  ProcessResult result;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (::poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, n);
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  if (open_fds > 0) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  feeder.join();
  result.exit_code = ExitCodeOf(status);
  return result;
}

TestDaemon::TestDaemon(std::string data_dir, std::vector<std::string> extra_args)
    : data_dir_(data_dir.empty() ? MakeTempDir("data") : std::move(data_dir)),
      extra_args_(std::move(extra_args)) {
  std::string base = MakeTempDir("daemon");
  log_path_ = base + "/stderr.log";
  port_path_ = base + "/port";
}

TestDaemon::~TestDaemon() {
  if (pid_ > 0) Kill();
}

Status TestDaemon::Start() {
  std::filesystem::remove(port_path_);
  std::vector<std::string> argv = {BinaryPath("server/meridiand"), "--dev", "--data-dir",
                                   data_dir_, "--port-file", port_path_};
  // Any free port, unless the caller names one.
  if (std::find(extra_args_.begin(), extra_args_.end(), "--listen") == extra_args_.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  }
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = Spawn(argv, -1, log_fd, log_fd, env_);
  ::close(log_fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return UnavailableError("meridiand exited with code " +
                              std::to_string(ExitCodeOf(status)) + ": " + Log());
    }
    std::string port = ReadFile(port_path_);
    if (!port.empty() && port.back() == '\n') {
      port_ = std::stoi(port);
      auto c = Connect();
      if (c) {
        auto healthy = c->Healthy();
        if (healthy.ok() && *healthy) return absl::OkStatus();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return UnavailableError("meridiand did not come up within 30 s: " + Log());
}

int TestDaemon::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return ExitCodeOf(status);
}

void TestDaemon::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void TestDaemon::Pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void TestDaemon::Resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

bool TestDaemon::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string TestDaemon::Log() const { return ReadFile(log_path_); }

std::unique_ptr<client::Client> TestDaemon::Connect() {
  client::ClientOptions options;
  options.endpoints = {endpoint()};
  options.rpc_timeout = std::chrono::milliseconds(10'000);
  auto c = client::Client::Connect(options);
  if (!c.ok()) return nullptr;
  return std::move(*c);
}

ProcessResult TestDaemon::Ctl(std::vector<std::string> args, const std::string& input) {
  args.insert(args.begin(), {BinaryPath("client/meridianctl"), "--endpoints", endpoint()});
  return RunProcess(args, input);
}

}  // namespace meridian::testing
