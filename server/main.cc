// meridiand: the Meridian daemon.
#include <signal.h>

#include <cstdio>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "server/config.h"
#include "server/log.h"
#include "server/node.h"

int main(int argc, char** argv) {
  using namespace meridian::server;
  // Debian's Abseil is built with mutex deadlock detection on, which keeps
  // a lock graph on every absl::Mutex acquisition (measured at ~1-2% of the
  // daemon's CPU under load). The tests keep it; the daemon does not.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  bool exit_now = false;
  std::string message;
  auto config = LoadConfig(argc, argv, &exit_now, &message);
  if (exit_now) {
    std::fputs(message.c_str(), stdout);
    std::fputs("\n", stdout);
    return 0;
  }
  if (!config.ok()) {
    std::fprintf(stderr, "meridiand: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  InitLogging(config->log_level, config->log_format);

  // Signals are taken by one thread with sigwait, so shutdown runs as
  // ordinary code rather than inside a handler. Block them before any thread
  // starts so every thread inherits the mask.
  // A shell that starts us in the background may have set SIGINT to ignored;
  // an ignored signal never reaches sigwait, so take both back first.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto node = Node::Start(*config);
  if (!node.ok()) {
    Log(Level::kError, "cannot start", {{"error", std::string(node.status().message())}});
    std::fprintf(stderr, "meridiand: %s\n", std::string(node.status().message()).c_str());
    return 1;
  }
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    Log(Level::kInfo, "signal received", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    (*node)->Shutdown();
  });
  (*node)->Wait();
  signal_thread.join();
  return 0;
}
