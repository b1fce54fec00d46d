#include "server/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

namespace meridian::server {
namespace {

bool g_json = true;

spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kTrace: return spdlog::level::trace;
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

void InitLogging(std::string_view level, std::string_view format) {
  auto logger = spdlog::stderr_logger_mt("meridiand");
  g_json = format != "text";
  // %v is the pre-escaped rest of the object (json) or the message (text).
  logger->set_pattern(g_json ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})"
                             : "%Y-%m-%dT%H:%M:%S.%eZ %-5l %v",
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

void Log(Level level, std::string_view msg, std::initializer_list<LogField> fields) {
  auto logger = spdlog::default_logger_raw();
  if (!logger->should_log(ToSpd(level))) return;
  std::string line;
  if (g_json) {
    // append() rather than operator+ chains: GCC 12 -O3 reports a false
    // -Wrestrict on the latter.
    line.append("\"msg\":\"").append(JsonEscape(msg)).append("\"");
    for (const auto& [k, v] : fields) {
      line.append(",\"").append(JsonEscape(k)).append("\":\"").append(JsonEscape(v)).append("\"");
    }
  } else {
    line.append(msg);
    for (const auto& [k, v] : fields) line.append(" ").append(k).append("=").append(v);
  }
  logger->log(ToSpd(level), "{}", line);
}

}  // namespace meridian::server
