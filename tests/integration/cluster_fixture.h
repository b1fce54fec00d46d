// ClusterTest: a replicated 3-node group of real meridiand processes on
// loopback, started fresh for each test, with helpers to find the leader and
// wait for catch-up. Derived fixtures add flags through ExtraArgs().
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/daemon.h"

namespace meridian::testing {

// A port the kernel just handed out and released.
inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Loopback addresses for members 1..n and the --cluster value naming them.
struct LoopbackCluster {
  explicit LoopbackCluster(int n) {
    for (int i = 1; i <= n; ++i) {
      endpoints.push_back(absl::StrCat("127.0.0.1:", FreePort()));
      absl::StrAppend(&cluster, i > 1 ? "," : "", i, "=", endpoints.back());
    }
  }
  std::vector<std::string> endpoints;
  std::string cluster;
};

// Index (0-based) of the running node of `nodes` that says it leads group 1, or -1.
inline int RunningLeaderIndex(const std::vector<std::unique_ptr<TestDaemon>>& nodes) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i]->Running()) continue;
    auto c = nodes[i]->Connect();
    auto s = c ? c->NodeStatus() : Result<v1::StatusResponse>(absl::UnavailableError(""));
    if (s.ok() && s->is_leader()) return static_cast<int>(i);
  }
  return -1;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const LoopbackCluster addresses(3);
    endpoints_ = addresses.endpoints;
    for (int i = 1; i <= 3; ++i) {
      std::vector<std::string> args{"--cluster", addresses.cluster, "--member-id", std::to_string(i)};
      for (const std::string& a : ExtraArgs()) args.push_back(a);
      nodes_.push_back(std::make_unique<TestDaemon>("", args));
    }
    for (auto& n : nodes_) ASSERT_TRUE(n->Start().ok()) << n->Log();
    client::ClientOptions o;
    o.endpoints = endpoints_;
    o.max_retries = 30;
    o.max_backoff = std::chrono::milliseconds(200);
    client_ = std::move(*client::Client::Connect(o));
  }
  virtual std::vector<std::string> ExtraArgs() const { return {}; }
  void TearDown() override {
    for (auto& n : nodes_) {
      if (n->Running()) {
        EXPECT_EQ(n->Stop(), 0) << n->Log();
      }
    }
  }
  // Index (0-based) of the node that says it leads, or -1.
  int LeaderIndex() { return RunningLeaderIndex(nodes_); }
  uint64_t Applied(int i) {
    auto s = nodes_[i]->Connect()->NodeStatus();
    return s.ok() ? s->applied_index() : 0;
  }
  void WaitForApplied(int i, uint64_t index) {
    for (int t = 0; t < 200 && Applied(i) < index; ++t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GE(Applied(i), index) << "node " << i + 1 << " did not catch up";
  }

  std::vector<std::string> endpoints_;
  std::vector<std::unique_ptr<TestDaemon>> nodes_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace meridian::testing
