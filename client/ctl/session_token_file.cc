#include "client/ctl/session_token_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace meridian::ctl {

Result<std::string> ReadSessionTokenFlag(const std::string& flag) {
  if (!flag.starts_with("@")) return std::string(absl::StripAsciiWhitespace(flag));
  const std::string path = flag.substr(1);
  if (path.empty()) return InvalidArgumentError("--session-token @FILE: the file name is missing");
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return InvalidArgumentError(
        absl::StrCat("--session-token @", path, ": cannot read it: ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

Status WriteSessionTokenFile(const std::string& path, const std::string& token) {
  const std::string tmp = path + ".tmp";
  const auto failed = [&](const char* what) {
    const Status s = absl::InternalError(
        absl::StrCat("--session-token-out ", path, ": cannot ", what, ": ", std::strerror(errno)));
    (void)::unlink(tmp.c_str());
    return s;
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return failed("create it");
  const std::string line = token + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return failed("write it");
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return failed("write it");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return failed("replace it");
  return absl::OkStatus();
}

}  // namespace meridian::ctl
