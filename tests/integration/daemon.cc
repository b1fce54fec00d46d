#include "tests/integration/daemon.h"

#include <algorithm>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

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

}  // namespace

std::string BinaryPath(const std::string& relative) {
  return std::string(MERIDIAN_BUILD_DIR) + "/" + relative;
}

// The directories MakeTempDir made, removed when the test binary ends with
// every test passed (kept for a look when one failed): each daemon's data dir
// preallocates WAL segments, and hundreds of runs' leftovers fill a disk.
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
  void Add(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(dir);
  }
  void TearDown() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (::testing::UnitTest::GetInstance()->Failed()) {
      std::fprintf(stderr, "kept %zu test directories under %s for a look\n", dirs_.size(),
                   ::testing::TempDir().c_str());
      return;
    }
    for (const std::string& dir : dirs_) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
    dirs_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> dirs_;
};
// Registered before RUN_ALL_TESTS, whether or not a test makes a directory.
const bool kTempDirsRegistered = (TempDirs::Get(), true);

std::string MakeTempDir(const std::string& name) {
  static int counter = 0;
  std::string dir = ::testing::TempDir() + "/meridian_it_" + std::to_string(::getpid()) + "_" +
                    std::to_string(counter++) + "_" + name;
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
