// lossyfs-ctl: sends one command to a running lossyfs and prints the reply.
// It returns only after lossyfs has finished the command.
//
// Usage: lossyfs-ctl [--wait SECONDS] <control-socket> lose|sync|stats|ping
// Exit: 0 reply "done"/"ok", 1 reply "error", 2 usage or connection failure.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "jepsen/lossyfs/control.h"

int main(int argc, char** argv) {
  double wait_seconds = 0;
  int i = 1;
  if (i + 1 < argc && std::strcmp(argv[i], "--wait") == 0) {
    wait_seconds = std::strtod(argv[i + 1], nullptr);
    i += 2;
  }
  if (argc - i != 2) {
    std::fprintf(stderr, "usage: %s [--wait SECONDS] <control-socket> lose|sync|stats|ping\n",
                 argv[0]);
    return 2;
  }
  std::string reply;
  int err = meridian::lossyfs::SendControlCommand(argv[i], argv[i + 1], wait_seconds, &reply);
  if (err != 0) {
    std::fprintf(stderr, "lossyfs-ctl: %s: %s\n", argv[i], std::strerror(-err));
    return 2;
  }
  std::printf("%s\n", reply.c_str());
  return reply.rfind("done", 0) == 0 || reply.rfind("ok", 0) == 0 ? 0 : 1;
}
