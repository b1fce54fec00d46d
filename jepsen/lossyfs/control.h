// The control channel of lossyfs: a UNIX stream socket outside the mount.
//
// Protocol: a client connects, writes one command line ("lose\n", "sync\n",
// "stats\n" or "ping\n"), and reads one reply line; the server then closes the
// connection. The reply is sent only after the command has completed, so a
// client that has read it knows the roll-back (or sync) is done. Replies start
// with "done" or "ok" on success and "error" otherwise.
//
// Thread-safety: Start/Stop from one thread; the handler runs on the server's
// own thread, one connection at a time.
#ifndef MERIDIAN_JEPSEN_LOSSYFS_CONTROL_H_
#define MERIDIAN_JEPSEN_LOSSYFS_CONTROL_H_

#include <functional>
#include <string>
#include <thread>

namespace meridian::lossyfs {

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& command)>;

  // Binds and listens on path. A stale socket file (nobody accepting) is
  // replaced; a live one is an error (-EADDRINUSE). Returns 0 or -errno.
  // Connections queue in the backlog until Start().
  int Listen(const std::string& path);

  // Starts serving on a new thread. REQUIRES: Listen() returned 0.
  void Start(Handler handler);

  // Stops the thread and removes the socket file.
  void Stop();

 private:
  void Serve();

  std::string path_;
  int listen_fd_ = -1;
  Handler handler_;
  std::thread thread_;
};

// Client side: sends command to the socket at path and returns the reply
// line in *reply. Returns 0 or -errno. Waits up to wait_seconds for the
// socket to accept connections (0 = one attempt).
int SendControlCommand(const std::string& path, const std::string& command, double wait_seconds,
                       std::string* reply);

}  // namespace meridian::lossyfs

#endif  // MERIDIAN_JEPSEN_LOSSYFS_CONTROL_H_
