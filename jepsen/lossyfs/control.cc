#include "jepsen/lossyfs/control.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace meridian::lossyfs {
namespace {

constexpr size_t kMaxLine = 256;

int MakeAddress(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return -ENAMETOOLONG;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return 0;
}

int Connect(const sockaddr_un& addr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

// Reads until '\n' or EOF (at most kMaxLine bytes); the newline is dropped.
int ReadLine(int fd, std::string* line) {
  line->clear();
  char c;
  while (line->size() < kMaxLine) {
    ssize_t r = ::read(fd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0 || c == '\n') return 0;
    line->push_back(c);
  }
  return 0;
}

int WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t r = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    done += static_cast<size_t>(r);
  }
  return 0;
}

double Now() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int ControlServer::Listen(const std::string& path) {
  sockaddr_un addr;
  if (int err = MakeAddress(path, &addr); err != 0) return err;
  int probe = Connect(addr);
  if (probe >= 0) {
    ::close(probe);
    return -EADDRINUSE;
  }
  ::unlink(path.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return -errno;
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    int err = errno;
    ::close(listen_fd_);
    listen_fd_ = -1;
    return -err;
  }
  path_ = path;
  return 0;
}

void ControlServer::Start(Handler handler) {
  handler_ = std::move(handler);
  thread_ = std::thread([this] { Serve(); });
}

void ControlServer::Stop() {
  if (listen_fd_ < 0) return;
  // Wakes accept() with an error; Serve() then returns.
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
  ::unlink(path_.c_str());
}

void ControlServer::Serve() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    std::string line;
    if (ReadLine(fd, &line) == 0) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      WriteAll(fd, handler_(line) + "\n");
    }
    ::close(fd);
  }
}

int SendControlCommand(const std::string& path, const std::string& command, double wait_seconds,
                       std::string* reply) {
  sockaddr_un addr;
  if (int err = MakeAddress(path, &addr); err != 0) return err;
  double deadline = Now() + wait_seconds;
  int fd;
  for (;;) {
    fd = Connect(addr);
    if (fd >= 0) break;
    if (Now() >= deadline || (fd != -ENOENT && fd != -ECONNREFUSED)) return fd;
    ::usleep(50 * 1000);
  }
  int err = WriteAll(fd, command + "\n");
  if (err == 0) err = ReadLine(fd, reply);
  ::close(fd);
  return err;
}

}  // namespace meridian::lossyfs
