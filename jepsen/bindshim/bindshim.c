// An LD_PRELOAD shim for the jepsen/ harness: outgoing IPv4 TCP connections
// to another 127.0.0.0/8 address leave from this node's own loopback address
// ($JEPSEN_SOURCE_ADDR) instead of 127.0.0.1.
//
// Every node of a jepsen run lives in one network namespace and listens on its
// own 127.0.0.x. The kernel would source every loopback connection from
// 127.0.0.1, so nftables could not tell which node sent a packet; with the
// shim, a partition is a rule on (source, destination) node addresses.
// gRPC C++ has no public option for a client source address, so the shim sits
// below it, in connect(2). Test tooling only: never loaded in production.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr*, socklen_t);

static int IsLoopback(const struct sockaddr_in* a) {
  return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
}

int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  static connect_fn real_connect;
  if (!real_connect) real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
  const char* source = getenv("JEPSEN_SOURCE_ADDR");
  if (source != NULL && addr != NULL && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in) &&
      IsLoopback((const struct sockaddr_in*)addr)) {
    struct sockaddr_in local;
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    local.sin_port = 0;
    if (inet_pton(AF_INET, source, &local.sin_addr) == 1 &&
        local.sin_addr.s_addr != ((const struct sockaddr_in*)addr)->sin_addr.s_addr) {
      int saved = errno;
      // Fails harmlessly (EINVAL) if the socket is already bound.
      (void)bind(fd, (const struct sockaddr*)&local, sizeof local);
      errno = saved;
    }
  }
  return real_connect(fd, addr, len);
}
