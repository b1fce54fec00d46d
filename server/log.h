// Structured logging for meridiand: one JSON object per line on stderr
// (or plain text with --log-format text), through spdlog.
//
//   Log(Level::kInfo, "listening", {{"addr", "127.0.0.1:2379"}});
//   -> {"ts":"2026-11-23T17:10:31.123Z","level":"info","msg":"listening","addr":"127.0.0.1:2379"}
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace meridian::server {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string>;

// Thread-safe. REQUIRES: called before any Log, once.
void InitLogging(std::string_view level, std::string_view format);
void Log(Level level, std::string_view msg, std::initializer_list<LogField> fields = {});

// JSON string escaping (quotes not included). Bytes that are not printable
// ASCII become \u00XX, so any byte string is safe to log.
std::string JsonEscape(std::string_view s);

}  // namespace meridian::server
