#include "server/metrics_server.h"

#include <civetweb.h>

#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "server/config.h"
#include "server/log.h"

namespace meridian::server {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kTextContentType[] = "text/plain; charset=utf-8";

// Sends a complete response. HEAD gets the headers only.
int Reply(mg_connection* conn, int status, const char* content_type, const std::string& body) {
  const mg_request_info* info = mg_get_request_info(conn);
  const bool head = info && info->request_method && std::strcmp(info->request_method, "HEAD") == 0;
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", content_type, -1);
  const std::string length = absl::StrCat(body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_send(conn);
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
  return status;
}

// GET and HEAD only; anything else is answered 405 here.
bool MethodAllowed(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  const char* m = info ? info->request_method : nullptr;
  if (m && (std::strcmp(m, "GET") == 0 || std::strcmp(m, "HEAD") == 0)) return true;
  mg_response_header_start(conn, 405);
  mg_response_header_add(conn, "Allow", "GET, HEAD", -1);
  mg_response_header_add(conn, "Content-Length", "0", -1);
  mg_response_header_send(conn);
  return false;
}

int LogMessage(const mg_connection*, const char* message) {
  Log(Level::kDebug, "metrics http server", {{"message", message ? message : ""}});
  return 1;  // handled: civetweb prints nothing itself
}

}  // namespace

bool RunHealthChecks(const HealthChecks& checks, std::string* report) {
  bool ok = true;
  for (const HealthCheck& c : checks) {
    Status s = c.check();
    if (!s.ok()) ok = false;
    if (report) {
      if (s.ok()) {
        absl::StrAppend(report, "[+]", c.name, " ok\n");
      } else {
        absl::StrAppend(report, "[-]", c.name, ": ", s.message(), "\n");
      }
    }
  }
  return ok;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                            HealthChecks ready_checks) {
  auto parsed = ParseHostPort(listen);
  if (!parsed.ok()) {
    return InvalidArgumentError(
        absl::StrCat("invalid value for --metrics-listen: ", parsed.status().message()));
  }
  const auto& [host, port] = *parsed;
  // civetweb's syntax: "port" (every interface), "a.b.c.d:port",
  // "[v6]:port" or "hostname:port".
  std::string spec = host.empty()                          ? absl::StrCat(port)
                     : host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port)
                                                           : absl::StrCat(host, ":", port);

  static std::once_flag init_once;
  std::call_once(init_once, [] { mg_init_library(0); });
  constexpr unsigned kFeatureIpv6 = 8;  // MG_FEATURES_IPV6
  if (host.find(':') != std::string::npos && !mg_check_feature(kFeatureIpv6)) {
    return InvalidArgumentError(absl::StrCat(
        "cannot serve metrics on --metrics-listen ", listen,
        ": the civetweb library is built without IPv6; use an IPv4 address or a name"));
  }

  std::unique_ptr<MetricsServer> server(new MetricsServer(std::move(ready_checks)));
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = &LogMessage;
  // No document_root: only the handlers below answer.
  // clang-format off
  const char* options[] = {"listening_ports", spec.c_str(),
                           "num_threads", "4",
                           "request_timeout_ms", "10000",
                           "enable_keep_alive", "yes",
                           nullptr};
  // clang-format on
  mg_init_data init;
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = options;
  char error_text[256] = {0};
  unsigned error_code = 0;
  mg_error_data error;
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  server->ctx_ = mg_start2(&init, &error);
  if (!server->ctx_) {
    return UnavailableError(absl::StrCat(
        "cannot serve metrics on --metrics-listen ", listen, ": ",
        error_text[0] ? error_text : "cannot listen",
        " (address in use, not an address of this host, or a name that does not resolve?)"));
  }
  mg_set_request_handler(server->ctx_, "/metrics$", &MetricsServer::HandleMetrics, server.get());
  mg_set_request_handler(server->ctx_, "/livez$", &MetricsServer::HandleLivez, server.get());
  mg_set_request_handler(server->ctx_, "/readyz$", &MetricsServer::HandleReadyz, server.get());

  mg_server_port ports[4];
  std::memset(ports, 0, sizeof(ports));
  const int n = mg_get_server_ports(server->ctx_, 4, ports);
  if (n < 1 || ports[0].port <= 0) {
    return UnavailableError(
        absl::StrCat("cannot serve metrics on --metrics-listen ", listen, ": no port bound"));
  }
  server->port_ = ports[0].port;
  server->address_ = host.find(':') != std::string::npos
                         ? absl::StrCat("[", host, "]:", server->port_)
                         : absl::StrCat(host.empty() ? "0.0.0.0" : host, ":", server->port_);
  return server;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (ctx_) {
    mg_stop(ctx_);
    ctx_ = nullptr;
  }
}

int MetricsServer::HandleMetrics(mg_connection* conn, void*) {
  if (!MethodAllowed(conn)) return 405;
  return Reply(conn, 200, kMetricsContentType, metrics::DefaultRegistry().Render());
}

int MetricsServer::HandleLivez(mg_connection* conn, void*) {
  if (!MethodAllowed(conn)) return 405;
  return Reply(conn, 200, kTextContentType, "ok\n");
}

int MetricsServer::HandleReadyz(mg_connection* conn, void* self) {
  if (!MethodAllowed(conn)) return 405;
  std::string report;
  const bool ready = RunHealthChecks(static_cast<MetricsServer*>(self)->ready_checks_, &report);
  absl::StrAppend(&report, ready ? "readyz check passed\n" : "readyz check failed\n");
  return Reply(conn, ready ? 200 : 503, kTextContentType, report);
}

}  // namespace meridian::server
