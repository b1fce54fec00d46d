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

// gRPC connects from dual-stack AF_INET6 sockets, to v4-mapped addresses
// (::ffff:127.0.0.x), so both families are handled.
static int IsLoopbackV4(in_addr_t a) { return (ntohl(a) >> 24) == 127; }

static const struct in_addr* MappedV4(const struct in6_addr* a) {
  return IN6_IS_ADDR_V4MAPPED(a) ? (const struct in_addr*)&a->s6_addr[12] : NULL;
}

static void BindSource(int fd, const struct sockaddr* addr, socklen_t len, const char* source) {
  struct in_addr src;
  if (inet_pton(AF_INET, source, &src) != 1) return;
  int saved = errno;
  if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in* dst = (const struct sockaddr_in*)addr;
    if (IsLoopbackV4(dst->sin_addr.s_addr) && dst->sin_addr.s_addr != src.s_addr) {
      struct sockaddr_in local;
      memset(&local, 0, sizeof local);
      local.sin_family = AF_INET;
      local.sin_addr = src;
      (void)bind(fd, (const struct sockaddr*)&local, sizeof local);  // EINVAL if already bound
    }
  } else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct in_addr* dst = MappedV4(&((const struct sockaddr_in6*)addr)->sin6_addr);
    if (dst != NULL && IsLoopbackV4(dst->s_addr) && dst->s_addr != src.s_addr) {
      struct sockaddr_in6 local;
      memset(&local, 0, sizeof local);
      local.sin6_family = AF_INET6;
      local.sin6_addr.s6_addr[10] = 0xff;
      local.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&local.sin6_addr.s6_addr[12], &src, 4);
      (void)bind(fd, (const struct sockaddr*)&local, sizeof local);
    }
  }
  errno = saved;
}

int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  static connect_fn real_connect;
  if (!real_connect) real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
  const char* source = getenv("JEPSEN_SOURCE_ADDR");
  if (source != NULL && addr != NULL) BindSource(fd, addr, len, source);
  return real_connect(fd, addr, len);
}
