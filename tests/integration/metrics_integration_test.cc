// meridiand's HTTP monitoring endpoint (--metrics-listen): /metrics, /livez
// and /readyz over real HTTP, /metrics checked by promtool and scraped by a
// real Prometheus server, /readyz and the data services' grpc.health.v1
// status following the group's leader, and start-up errors for bad
// addresses.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/integration/cluster_fixture.h"
#include "tests/integration/daemon.h"

namespace meridian::testing {
namespace {

struct HttpResponse {
  int status = 0;       // 0: no answer
  std::string headers;  // lower-cased, status line included
  std::string body;
};

// A blocking HTTP/1.0 GET to 127.0.0.1:port.
HttpResponse HttpGet(int port, const std::string& target) {
  HttpResponse r;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return r;
  }
  const std::string request =
      absl::StrCat("GET ", target, " HTTP/1.0\r\nHost: 127.0.0.1:", port, "\r\n\r\n");
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return r;
  }
  std::string raw;
  char buf[8192];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, n);
  ::close(fd);
  const size_t split = raw.find("\r\n\r\n");
  if (split == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) return r;
  r.headers = absl::AsciiStrToLower(raw.substr(0, split));
  r.body = raw.substr(split + 4);
  const size_t space = raw.find(' ');
  r.status = std::atoi(raw.c_str() + space + 1);
  return r;
}

// Polls until `pred` holds or `seconds` pass; returns whether it held.
bool WaitFor(const std::function<bool()>& pred, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

// The full path of `name` on $PATH, or "".
std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(std::string(path ? path : "") + ":/usr/bin:/usr/sbin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A background process with its output in a file; SIGKILLed when dropped.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::string& log_path)
      : log_path_(log_path) {
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(log_fd);
  }
  ~Background() {
    if (pid_ > 0) Stop(SIGKILL);
  }
  // Signals and reaps; returns the exit code (-1 if killed by a signal).
  int Stop(int sig = SIGTERM) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  bool Running() {
    int status = 0;
    return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0;
  }
  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
};

// Metric names (from the # TYPE lines) of a /metrics body.
std::vector<std::string> MetricNames(const std::string& exposition) {
  std::vector<std::string> names;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "# TYPE ")) {
      std::string rest = line.substr(7);
      names.push_back(rest.substr(0, rest.find(' ')));
    }
  }
  return names;
}

// The samples of metric `name` in a /metrics body: label text (what is
// between the braces, "" for none) -> value.
std::map<std::string, double> Samples(const std::string& exposition, const std::string& name) {
  std::map<std::string, double> out;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, name)) continue;
    std::string rest = line.substr(name.size());
    std::string labels;
    if (absl::StartsWith(rest, "{")) {
      const size_t close = rest.find('}');
      if (close == std::string::npos) continue;
      labels = rest.substr(1, close - 1);
      rest = rest.substr(close + 1);
    }
    if (!absl::StartsWith(rest, " ")) continue;  // a longer name
    out[labels] = std::strtod(rest.c_str() + 1, nullptr);
  }
  return out;
}

// The sample of `name` whose labels contain `label_text`, or NaN.
double SampleWith(const std::string& exposition, const std::string& name,
                  const std::string& label_text) {
  for (const auto& [labels, value] : Samples(exposition, name)) {
    if (absl::StrContains(labels, label_text)) return value;
  }
  return std::nan("");
}

// ---------------------------------------------------------------------------

TEST(MetricsHttpTest, SingleNodeServesMetricsLivezAndReadyz) {
  const int mport = FreePort();
  TestDaemon d("", {"--metrics-listen", absl::StrCat("127.0.0.1:", mport)});
  ASSERT_TRUE(d.Start().ok()) << d.Log();

  HttpResponse live = HttpGet(mport, "/livez");
  EXPECT_EQ(live.status, 200) << live.headers;
  EXPECT_EQ(live.body, "ok\n");

  HttpResponse ready = HttpGet(mport, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_TRUE(absl::StrContains(ready.body, "[+]serving ok")) << ready.body;
  EXPECT_TRUE(absl::StrContains(ready.body, "[+]leader ok")) << ready.body;
  EXPECT_TRUE(absl::StrContains(ready.body, "[+]storage ok")) << ready.body;
  EXPECT_TRUE(absl::StrContains(ready.body, "readyz check passed")) << ready.body;

  // Some traffic, so that request metrics have samples.
  auto c = d.Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Put("k", "v").ok());
  ASSERT_TRUE(c->Get("k").ok());

  HttpResponse m = HttpGet(mport, "/metrics");
  ASSERT_EQ(m.status, 200) << m.headers;
  EXPECT_TRUE(
      absl::StrContains(m.headers, "content-type: text/plain; version=0.0.4; charset=utf-8"))
      << m.headers;
  EXPECT_FALSE(MetricNames(m.body).empty()) << m.body;

  const std::string promtool = FindProgram("promtool");
  if (promtool.empty()) {
    std::cout << "promtool not installed (Debian package prometheus): the exposition is not "
                 "linted\n";
  } else {
    ProcessResult check = RunProcess({promtool, "check", "metrics"}, m.body);
    EXPECT_EQ(check.exit_code, 0) << "promtool check metrics:\n"
                                  << check.out << check.err << "\n--- /metrics:\n"
                                  << m.body;
  }

  EXPECT_EQ(HttpGet(mport, "/nothing-here").status, 404);
  EXPECT_EQ(d.Stop(), 0) << d.Log();
  EXPECT_EQ(HttpGet(mport, "/livez").status, 0) << "still answering after the process exited";
}

// Regression test for meridian_txn_commits_total and _aborts_total: each
// outcome of the Txn service counts once, under its reason.
TEST(MetricsHttpTest, TransactionOutcomesAreCountedByPathAndReason) {
  const int mport = FreePort();
  TestDaemon d("", {"--metrics-listen", absl::StrCat("127.0.0.1:", mport)});
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  auto c = d.Connect();
  ASSERT_NE(c, nullptr);

  // Two commits, one conflict, one client abort.
  auto t1 = c->Begin();
  auto t2 = c->Begin();
  auto t3 = c->Begin();
  ASSERT_TRUE(t1.ok() && t2.ok() && t3.ok());
  ASSERT_TRUE((*t1)->Put("x", "1").ok());
  ASSERT_TRUE((*t2)->Put("x", "2").ok());
  ASSERT_TRUE((*t1)->Commit().ok());
  EXPECT_EQ(GetErrorKind((*t2)->Commit().status()), ErrorKind::kConflict);
  ASSERT_TRUE((*t3)->Abort().ok());
  // A one-shot transaction whose compare holds, then fails.
  v1::ExecuteRequest req;
  auto* cmp = req.add_compares();
  cmp->set_key("x");
  cmp->set_target(v1::Compare::VALUE);
  cmp->set_result(v1::Compare::EQUAL);
  cmp->set_value("1");
  auto* put = req.add_success()->mutable_put();
  put->set_key("x");
  put->set_value("3");
  auto first = c->Execute(req);
  ASSERT_TRUE(first.ok() && first->succeeded);
  auto second = c->Execute(req);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->succeeded);

  const std::string m = HttpGet(mport, "/metrics").body;
  EXPECT_EQ(SampleWith(m, "meridian_txn_commits_total", "path=\"fast\""), 2) << m;
  EXPECT_EQ(SampleWith(m, "meridian_txn_commits_total", "path=\"slow\""), 0) << m;
  EXPECT_EQ(SampleWith(m, "meridian_txn_aborts_total", "path=\"fast\",reason=\"conflict\""), 1)
      << m;
  EXPECT_EQ(SampleWith(m, "meridian_txn_aborts_total", "path=\"fast\",reason=\"client\""), 1)
      << m;
  EXPECT_EQ(
      SampleWith(m, "meridian_txn_aborts_total", "path=\"fast\",reason=\"compare_failed\""), 1)
      << m;
  EXPECT_EQ(SampleWith(m, "meridian_txn_aborts_total", "path=\"fast\",reason=\"expired\""), 0)
      << m;
  // A single node has no peers and is never fenced.
  EXPECT_EQ(SampleWith(m, "meridian_fenced", ""), 0) << m;
  EXPECT_TRUE(Samples(m, "meridian_peer_clock_offset_seconds").empty()) << m;
  EXPECT_GT(SampleWith(m, "meridian_storage_size_bytes", "group=\"1\""), 0) << m;
  EXPECT_EQ(SampleWith(m, "meridian_storage_reserve_bytes", ""), 256 << 20) << m;
  EXPECT_EQ(d.Stop(), 0) << d.Log();
}

TEST(MetricsHttpTest, PortZeroIsWrittenNextToThePortFileAndLogged) {
  const std::string dir = MakeTempDir("metrics_port0");
  const std::string port_file = dir + "/port";
  Background d({BinaryPath("server/meridiand"), "--dev", "--data-dir", dir + "/data", "--listen",
                "127.0.0.1:0", "--port-file", port_file, "--metrics-listen", "127.0.0.1:0"},
               dir + "/stderr.log");
  int mport = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::ifstream in(port_file + ".metrics");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (text.empty() || text.back() != '\n') return false;
        mport = std::stoi(text);
        return true;
      },
      30))
      << d.Log();
  ASSERT_GT(mport, 0);
  EXPECT_TRUE(WaitFor([&] { return HttpGet(mport, "/livez").status == 200; }, 10)) << d.Log();
  EXPECT_TRUE(absl::StrContains(d.Log(), absl::StrCat("127.0.0.1:", mport))) << d.Log();
  EXPECT_EQ(d.Stop(), 0) << d.Log();
}

TEST(MetricsHttpTest, BadAddressFailsStartUpNamingTheOption) {
  const std::string dir = MakeTempDir("metrics_bad");
  const std::string meridiand = BinaryPath("server/meridiand");

  ProcessResult unparseable = RunProcess({meridiand, "--dev", "--data-dir", dir + "/a", "--listen",
                                          "127.0.0.1:0", "--metrics-listen", "no-port-here"});
  EXPECT_EQ(unparseable.exit_code, 2) << unparseable.err;
  EXPECT_TRUE(absl::StrContains(unparseable.err, "--metrics-listen")) << unparseable.err;
  EXPECT_TRUE(absl::StrContains(unparseable.err, "no-port-here")) << unparseable.err;

  // A port someone else listens on.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string taken = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  ProcessResult in_use = RunProcess({meridiand, "--dev", "--data-dir", dir + "/b", "--listen",
                                     "127.0.0.1:0", "--metrics-listen", taken});
  ::close(fd);
  EXPECT_EQ(in_use.exit_code, 1) << in_use.err;
  EXPECT_TRUE(absl::StrContains(in_use.err, "--metrics-listen " + taken)) << in_use.err;
}

// Three members with metrics ports, started one at a time by the tests.
class MetricsClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const LoopbackCluster addresses(3);
    endpoints_ = addresses.endpoints;
    for (int i = 1; i <= 3; ++i) metrics_ports_.push_back(FreePort());
    for (int i = 1; i <= 3; ++i) {
      nodes_.push_back(std::make_unique<TestDaemon>(
          "", std::vector<std::string>{"--cluster", addresses.cluster, "--member-id", std::to_string(i),
                                       "--metrics-listen",
                                       absl::StrCat("127.0.0.1:", metrics_ports_[i - 1])}));
    }
  }
  void TearDown() override {
    for (auto& n : nodes_) {
      if (n->Running()) {
        EXPECT_EQ(n->Stop(), 0) << n->Log();
      }
    }
  }

  std::vector<std::string> endpoints_;
  std::vector<int> metrics_ports_;
  std::vector<std::unique_ptr<TestDaemon>> nodes_;
};

TEST_F(MetricsClusterTest, ReadyzFailsWithoutALeaderAndPassesOnceOneIsElected) {
  ASSERT_TRUE(nodes_[0]->Start().ok()) << nodes_[0]->Log();
  // Alone, member 1 has no majority: live, not ready.
  EXPECT_EQ(HttpGet(metrics_ports_[0], "/livez").status, 200);
  HttpResponse r = HttpGet(metrics_ports_[0], "/readyz");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "[-]leader: no known leader in group 1")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "[+]storage ok")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "readyz check failed")) << r.body;
  // grpc.health.v1: the process is SERVING, the data services are not.
  auto c = nodes_[0]->Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Healthy().value_or(false), true);
  EXPECT_EQ(c->Healthy("meridian.v1.KV").value_or(true), false);

  // A second member makes a majority; a leader is elected.
  ASSERT_TRUE(nodes_[1]->Start().ok()) << nodes_[1]->Log();
  for (int i : {0, 1}) {
    EXPECT_TRUE(WaitFor([&] { return HttpGet(metrics_ports_[i], "/readyz").status == 200; }, 15))
        << "member " << i + 1 << ":\n"
        << HttpGet(metrics_ports_[i], "/readyz").body;
    EXPECT_TRUE(absl::StrContains(HttpGet(metrics_ports_[i], "/readyz").body, "[+]leader ok"));
  }
  // The health status follows within the maintenance period (1 s).
  EXPECT_TRUE(WaitFor([&] { return c->Healthy("meridian.v1.KV").value_or(false); }, 5));
  EXPECT_TRUE(WaitFor([&] { return c->Healthy("meridian.v1.Txn").value_or(false); }, 5));
}

TEST_F(MetricsClusterTest, PrometheusScrapesEveryMember) {
  const std::string prometheus = FindProgram("prometheus");
  if (prometheus.empty()) {
    GTEST_SKIP() << "the prometheus binary is not installed (Debian package prometheus; "
                    "deploy/local/install-deps.sh installs it)";
  }
  for (auto& n : nodes_) ASSERT_TRUE(n->Start().ok()) << n->Log();

  // A metric every member exports: meridian_build_info once registered,
  // else the first family /metrics lists.
  HttpResponse m = HttpGet(metrics_ports_[0], "/metrics");
  ASSERT_EQ(m.status, 200);
  std::vector<std::string> names = MetricNames(m.body);
  ASSERT_FALSE(names.empty()) << m.body;
  std::string metric = names[0];
  for (const auto& n : names) {
    if (n == "meridian_build_info") metric = n;
  }

  const std::string dir = MakeTempDir("prometheus");
  std::vector<std::string> targets;
  for (int p : metrics_ports_) targets.push_back(absl::StrCat("'127.0.0.1:", p, "'"));
  std::ofstream(dir + "/prometheus.yml")
      << "global:\n"
      << "  scrape_interval: 1s\n"
      << "  scrape_timeout: 1s\n"
      << "  evaluation_interval: 1s\n"
      << "scrape_configs:\n"
      << "  - job_name: meridian\n"
      << "    static_configs:\n"
      << "      - targets: [" << absl::StrJoin(targets, ", ") << "]\n";
  const int web_port = FreePort();
  Background prom({prometheus, "--config.file=" + dir + "/prometheus.yml",
                   "--storage.tsdb.path=" + dir + "/data",
                   absl::StrCat("--web.listen-address=127.0.0.1:", web_port), "--log.level=warn"},
                  dir + "/prometheus.log");

  // up == 1 for every member.
  const std::regex up_sample("\"value\":\\[[0-9.e+]+,\"1\"\\]");
  std::string last;
  const bool all_up = WaitFor(
      [&] {
        HttpResponse q = HttpGet(web_port, "/api/v1/query?query=up");
        last = q.body;
        if (q.status != 200) return false;
        auto begin = std::sregex_iterator(q.body.begin(), q.body.end(), up_sample);
        return std::distance(begin, std::sregex_iterator()) == 3;
      },
      20);
  ASSERT_TRUE(all_up) << "last answer to up: " << last << "\nprometheus log:\n" << prom.Log();
  for (int p : metrics_ports_) {
    EXPECT_TRUE(absl::StrContains(last, absl::StrCat("127.0.0.1:", p))) << last;
  }

  // And the daemons' own metrics are stored.
  const bool has_metric = WaitFor(
      [&] {
        HttpResponse q = HttpGet(web_port, "/api/v1/query?query=" + metric);
        last = q.body;
        return q.status == 200 && absl::StrContains(q.body, "\"status\":\"success\"") &&
               absl::StrContains(q.body, "\"__name__\":\"" + metric + "\"");
      },
      10);
  EXPECT_TRUE(has_metric) << "query " << metric << ": " << last << "\nprometheus log:\n"
                          << prom.Log();

  // Series that only exist once the members talk: a round-trip time from
  // each member to each of its two peers, and each member's storage size.
  auto series = [&](const std::string& query, const std::string& name) {
    HttpResponse q = HttpGet(web_port, "/api/v1/query?query=" + query);
    last = q.body;
    if (q.status != 200) return 0;
    int n = 0;
    for (size_t at = 0; (at = q.body.find("\"__name__\":\"" + name + "\"", at)) != std::string::npos;
         ++at) {
      ++n;
    }
    return n;
  };
  EXPECT_TRUE(WaitFor(
      [&] {
        return series("meridian_peer_rtt_seconds_count", "meridian_peer_rtt_seconds_count") == 6;
      },
      15))
      << "peer rtt series: " << last;
  for (const std::string& e : endpoints_) {
    EXPECT_TRUE(absl::StrContains(last, "\"peer\":\"" + e + "\"")) << e << ": " << last;
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        // Shard 1's store on each member (the config group has one too).
        return series("meridian_storage_size_bytes%7Bgroup%3D%221%22%7D%3E0",
                      "meridian_storage_size_bytes") == 3;
      },
      15))
      << "storage size series: " << last;
  EXPECT_EQ(prom.Stop(SIGTERM), 0) << prom.Log();
}

TEST_F(MetricsClusterTest, PeersReportRoundTripTimeAndClockOffset) {
  for (auto& n : nodes_) ASSERT_TRUE(n->Start().ok()) << n->Log();
  client::ClientOptions o;
  o.endpoints = endpoints_;
  o.max_retries = 30;
  auto client = client::Client::Connect(o);
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*client)->Put(absl::StrCat("k", i), "v").ok());

  int leaders = 0;
  for (int i = 0; i < 3; ++i) {
    std::string body;
    // Every peer has a fresh clock estimate (probes go every 200 ms).
    const bool measured = WaitFor(
        [&] {
          body = HttpGet(metrics_ports_[i], "/metrics").body;
          return Samples(body, "meridian_peer_clock_offset_seconds").size() == 2;
        },
        15);
    ASSERT_TRUE(measured) << "member " << i + 1 << ":\n" << body;
    for (int j = 0; j < 3; ++j) {
      if (j == i) continue;
      const std::string peer = absl::StrCat("peer=\"", endpoints_[j], "\"");
      const double offset = SampleWith(body, "meridian_peer_clock_offset_seconds", peer);
      const double count = SampleWith(body, "meridian_peer_rtt_seconds_count", peer);
      const double sum = SampleWith(body, "meridian_peer_rtt_seconds_sum", peer);
      std::cout << "member " << i + 1 << " -> member " << j + 1 << ": offset " << offset * 1e3
                << " ms, mean rtt " << sum / count * 1e3 << " ms over " << count
                << " probes\n";
      EXPECT_LT(std::abs(offset), 0.05) << "one host, one clock: " << peer;
      EXPECT_GT(count, 0) << peer;
      EXPECT_GT(sum, 0) << peer;
      EXPECT_LT(sum / count, 1.0) << "loopback round trips: " << peer;
    }
    EXPECT_EQ(SampleWith(body, "meridian_fenced", ""), 0) << body;
    EXPECT_EQ(SampleWith(body, "meridian_fenced_reason", "clock_offset"), 0) << body;
    EXPECT_LT(SampleWith(body, "meridian_hlc_offset_seconds", ""), 0.05) << body;
    EXPECT_GT(SampleWith(body, "meridian_storage_size_bytes", "group=\"1\""), 0) << body;
    EXPECT_GT(SampleWith(body, "meridian_storage_free_bytes", ""), 0) << body;
    EXPECT_GE(SampleWith(body, "meridian_storage_fragmentation_ratio", "group=\"1\""), 0) << body;
    EXPECT_EQ(SampleWith(body, "meridian_txn_commits_total", "path=\"slow\""), 0) << body;
    EXPECT_GT(SampleWith(body, "meridian_peer_batch_messages_count", ""), 0) << body;
    EXPECT_TRUE(absl::StrContains(HttpGet(metrics_ports_[i], "/readyz").body, "[+]fenced ok"));
    // The leader reports how far each peer lags; followers report nothing.
    std::map<std::string, double> lag;  // group 1's (the config group reports its own)
    for (const auto& [labels, entries] : Samples(body, "meridian_replication_peer_lag_entries")) {
      if (absl::StrContains(labels, "group=\"1\"")) lag.emplace(labels, entries);
    }
    if (SampleWith(body, "meridian_group_is_leader", "group=\"1\"") == 1) {
      ++leaders;
      EXPECT_EQ(lag.size(), 2u) << body;
      for (const auto& [labels, entries] : lag) EXPECT_LT(entries, 100) << labels;
    } else {
      EXPECT_TRUE(lag.empty()) << body;
    }
  }
  EXPECT_EQ(leaders, 1);
}

// Member 3 runs with its clocks 3 s ahead (libfaketime): it fences itself,
// and the others, whose majority agrees, stay ready.
TEST_F(MetricsClusterTest, ClockSkewedNodeIsFencedAndRefusesClients) {
  const std::string faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  if (::access(faketime.c_str(), R_OK) != 0) {
    GTEST_SKIP() << faketime << " is missing (Debian package libfaketime; "
                 << "deploy/local/install-deps.sh installs it)";
  }
  nodes_[2]->SetEnv({"LD_PRELOAD=" + faketime, "FAKETIME=+3s",
                     // Ticks, leases and timeouts keep the real pace.
                     "FAKETIME_DONT_FAKE_MONOTONIC=1"});
  // Members 1 and 2 first, so that one of them leads.
  ASSERT_TRUE(nodes_[0]->Start().ok()) << nodes_[0]->Log();
  ASSERT_TRUE(nodes_[1]->Start().ok()) << nodes_[1]->Log();
  ASSERT_TRUE(WaitFor([&] { return HttpGet(metrics_ports_[0], "/readyz").status == 200; }, 15));
  ASSERT_TRUE(nodes_[2]->Start().ok()) << nodes_[2]->Log();

  HttpResponse ready;
  const bool fenced = WaitFor(
      [&] {
        ready = HttpGet(metrics_ports_[2], "/readyz");
        return ready.status == 503 && absl::StrContains(ready.body, "[-]fenced:");
      },
      20);
  ASSERT_TRUE(fenced) << ready.body << "\n" << nodes_[2]->Log();
  EXPECT_TRUE(absl::StrContains(
      ready.body, "[-]fenced: this node is fenced: clock offset beyond --max-clock-offset (500 ms) "
                  "to 2 of 2 peers: peer 1 at " + endpoints_[0] + " is -"))
      << ready.body;
  EXPECT_TRUE(absl::StrContains(ready.body, "peer 2 at " + endpoints_[1])) << ready.body;
  EXPECT_TRUE(absl::StrContains(ready.body, "[+]leader ok")) << ready.body;

  // libfaketime really moved member 3's wall clock: both sides measure it.
  const std::string skewed = HttpGet(metrics_ports_[2], "/metrics").body;
  for (int j : {0, 1}) {
    const double offset = SampleWith(skewed, "meridian_peer_clock_offset_seconds",
                                     "peer=\"" + endpoints_[j] + "\"");
    std::cout << "member 3 -> member " << j + 1 << ": offset " << offset << " s\n";
    EXPECT_GT(offset, -3.5);
    EXPECT_LT(offset, -2.5);
  }
  EXPECT_EQ(SampleWith(skewed, "meridian_fenced", ""), 1) << skewed;
  EXPECT_EQ(SampleWith(skewed, "meridian_fenced_reason", "clock_offset"), 1) << skewed;
  EXPECT_EQ(SampleWith(skewed, "meridian_fenced_reason", "not_member"), 0) << skewed;

  for (int i : {0, 1}) {
    const std::string body = HttpGet(metrics_ports_[i], "/metrics").body;
    const double offset = SampleWith(body, "meridian_peer_clock_offset_seconds",
                                     "peer=\"" + endpoints_[2] + "\"");
    std::cout << "member " << i + 1 << " -> member 3: offset " << offset << " s\n";
    EXPECT_GT(offset, 2.5) << body;
    EXPECT_LT(offset, 3.5) << body;
    EXPECT_EQ(SampleWith(body, "meridian_fenced", ""), 0) << body;
    HttpResponse r = HttpGet(metrics_ports_[i], "/readyz");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, "[+]fenced ok")) << r.body;
  }

  // Member 3 refuses data requests with UNAVAILABLE naming the fence, so a
  // client moves on; its data services are NOT_SERVING.
  client::ClientOptions only3;
  only3.endpoints = {endpoints_[2]};
  only3.max_retries = 0;
  only3.route_by_shard = false;  // the shard map would send it to the leader
  auto c3 = client::Client::Connect(only3);
  ASSERT_TRUE(c3.ok());
  auto refused = (*c3)->Put("skewed", "v");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "this node is fenced"))
      << refused.status();
  auto direct = nodes_[2]->Connect();
  ASSERT_NE(direct, nullptr);
  EXPECT_EQ(direct->Healthy().value_or(false), true) << "the process itself serves";
  EXPECT_TRUE(WaitFor([&] { return !direct->Healthy("meridian.v1.KV").value_or(true); }, 5));

  // A client that knows all three is served by the others.
  client::ClientOptions all;
  all.endpoints = {endpoints_[2], endpoints_[0], endpoints_[1]};
  all.max_retries = 30;
  auto c = client::Client::Connect(all);
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 10; ++i) {
    auto put = (*c)->Put(absl::StrCat("k", i), "v");
    EXPECT_TRUE(put.ok()) << put.status();
  }
  // Member 3 still replicates: fencing does not take it out of consensus.
  uint64_t target = 0;
  for (int i : {0, 1}) {
    auto st = nodes_[i]->Connect()->NodeStatus();
    ASSERT_TRUE(st.ok()) << st.status();
    target = std::max<uint64_t>(target, st->applied_index());
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        auto s = direct->NodeStatus();
        return s.ok() && s->applied_index() >= target;
      },
      10))
      << "member 3 stopped applying";

  // It logged entering the fence once.
  const std::string log = nodes_[2]->Log();
  size_t entered = 0;
  for (size_t at = 0; (at = log.find("fenced: refusing client requests", at)) != std::string::npos;
       ++at) {
    ++entered;
  }
  EXPECT_EQ(entered, 1u) << log;
}

// Member 3 leads, then its wall clock jumps 3 s ahead (libfaketime reading
// an offset file): it fences itself, hands leadership to a member whose
// clock agrees with the majority, and stands for none while fenced; the
// others refuse its clock (counted) without fencing themselves. Set right,
// it may lead again.
TEST_F(MetricsClusterTest, AFencedLeaderHandsOffLeadershipAndTheOthersRefuseItsClock) {
  const std::string faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
  if (::access(faketime.c_str(), R_OK) != 0) {
    GTEST_SKIP() << faketime << " is missing (Debian package libfaketime; "
                 << "deploy/local/install-deps.sh installs it)";
  }
  const std::string clock_file = MakeTempDir("fenced_leader") + "/offset";
  auto set_offset = [&](const std::string& offset) {
    std::ofstream(clock_file + ".tmp") << offset << "\n";
    std::filesystem::rename(clock_file + ".tmp", clock_file);
  };
  set_offset("+0");
  nodes_[2]->SetEnv({"LD_PRELOAD=" + faketime, "FAKETIME_TIMESTAMP_FILE=" + clock_file,
                     "FAKETIME_NO_CACHE=1", "DONT_FAKE_MONOTONIC=1",
                     "FAKETIME_DONT_FAKE_MONOTONIC=1"});
  for (auto& n : nodes_) ASSERT_TRUE(n->Start().ok()) << n->Log();
  for (int i : {0, 1, 2}) {
    ASSERT_TRUE(WaitFor([&] { return HttpGet(metrics_ports_[i], "/readyz").status == 200; }, 20))
        << HttpGet(metrics_ports_[i], "/readyz").body;
  }
  client::ClientOptions all;
  all.endpoints = endpoints_;
  all.max_retries = 30;
  auto c = client::Client::Connect(all);
  ASSERT_TRUE(c.ok());
  auto direct = nodes_[2]->Connect();
  ASSERT_NE(direct, nullptr);
  // Groups member 3 leads, by its own account.
  auto led_by_3 = [&] {
    std::vector<uint64_t> led;
    auto st = direct->NodeStatus();
    if (!st.ok()) return led;
    for (const v1::GroupStatus& g : st->groups()) {
      if (g.is_leader()) led.push_back(g.group());
    }
    return led;
  };
  // Hands shard 1 to member 3 until it leads it (20 s at most).
  auto lead_at_3 = [&] {
    return WaitFor(
        [&] {
          (void)(*c)->LeaderTransfer(1, 3);
          return !led_by_3().empty();
        },
        20);
  };
  ASSERT_TRUE(lead_at_3()) << "member 3 never led shard 1";
  ASSERT_TRUE((*c)->Put("before", "v").ok());

  set_offset("+3");
  HttpResponse ready;
  ASSERT_TRUE(WaitFor(
      [&] {
        ready = HttpGet(metrics_ports_[2], "/readyz");
        return ready.status == 503 && absl::StrContains(ready.body, "[-]fenced:");
      },
      20))
      << ready.body;
  EXPECT_TRUE(WaitFor([&] { return led_by_3().empty(); }, 10))
      << "the fenced member still leads group " << led_by_3().front() << "\n"
      << nodes_[2]->Log();
  EXPECT_TRUE(absl::StrContains(nodes_[2]->Log(), "fenced leader hands leadership off"));
  // The shard is served by the others, and member 3 does not take it back
  // (its election timer keeps firing, as after any leader change).
  for (int i = 0; i < 20; ++i) {
    auto put = (*c)->Put(absl::StrCat("after", i), "v");
    EXPECT_TRUE(put.ok()) << put.status();
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(led_by_3().empty());

  // The others refused member 3's clock on its batches and stayed ready:
  // one peer of two is no majority.
  for (int i : {0, 1}) {
    const std::string body = HttpGet(metrics_ports_[i], "/metrics").body;
    EXPECT_GT(SampleWith(body, "meridian_peer_hlc_rejected_total",
                         "peer=\"" + endpoints_[2] + "\""),
              0)
        << body;
    EXPECT_EQ(SampleWith(body, "meridian_fenced", ""), 0) << body;
    EXPECT_TRUE(absl::StrContains(nodes_[i]->Log(), "refusing a peer's clock")) << nodes_[i]->Log();
  }

  // Set right (its HLC stays ahead until the wall clock passes it), it
  // leaves the fence and can be handed leadership again.
  set_offset("+0");
  EXPECT_TRUE(WaitFor([&] { return HttpGet(metrics_ports_[2], "/readyz").status == 200; }, 20))
      << HttpGet(metrics_ports_[2], "/readyz").body;
  EXPECT_TRUE(lead_at_3()) << "member 3 never led again";
  EXPECT_TRUE((*c)->Put("again", "v").ok());
}

}  // namespace
}  // namespace meridian::testing
