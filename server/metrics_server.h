// MetricsServer: meridiand's HTTP endpoint for monitoring (--metrics-listen),
// on civetweb. Plain HTTP/1.x, GET (and HEAD) only:
//
//   /metrics  everything in metrics::DefaultRegistry(), in the Prometheus
//             text format 0.0.4
//   /livez    200 "ok" while the process runs
//   /readyz   200 when every readiness check passes, 503 otherwise; the
//             body has one line per check, like Kubernetes' verbose readyz:
//               [+]leader ok
//               [-]storage: disk full: ...
//               readyz check failed
//
// The checks are callbacks that the Node supplies; they run on the HTTP
// server's threads, at every /readyz request, so they must be cheap and
// thread-safe. Anything else is 404; another method is 405.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

struct mg_context;
struct mg_connection;

namespace meridian::server {

struct HealthCheck {
  std::string name;
  std::function<Status()> check;  // OK = passes; otherwise the message says why not
};
using HealthChecks = std::vector<HealthCheck>;

// Runs every check in order; true iff all pass. Appends one line per check
// to *report ("[+]name ok" or "[-]name: reason"), if report is not null.
bool RunHealthChecks(const HealthChecks& checks, std::string* report);

class MetricsServer {
 public:
  // Binds `listen` ("host:port"; port 0 = any free port; an empty host =
  // every interface; "[v6]:port" only where civetweb is built with IPv6,
  // which Debian's is not) and starts serving. InvalidArgument or
  // Unavailable, naming --metrics-listen and the address, if the address
  // does not parse or cannot be bound.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                      HealthChecks ready_checks);
  ~MetricsServer();  // Stop()

  // Stops listening and waits for the requests being served. Idempotent.
  void Stop();

  // The bound port (the chosen one when `listen` had port 0).
  int port() const { return port_; }
  // host:port as bound, for logs ("127.0.0.1:9464").
  const std::string& address() const { return address_; }

 private:
  explicit MetricsServer(HealthChecks ready_checks) : ready_checks_(std::move(ready_checks)) {}
  static int HandleMetrics(mg_connection* conn, void* self);
  static int HandleLivez(mg_connection* conn, void* self);
  static int HandleReadyz(mg_connection* conn, void* self);

  const HealthChecks ready_checks_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::string address_;
};

}  // namespace meridian::server
