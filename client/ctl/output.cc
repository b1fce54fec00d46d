#include "client/ctl/output.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace meridian::ctl {

int ExitCodeFor(const Status& s) {
  if (s.ok()) return kExitOk;
  switch (GetErrorKind(s)) {
    case ErrorKind::kConflict:
      return kExitConflict;
    case ErrorKind::kCommitUnknown:
      return kExitCommitUnknown;
    case ErrorKind::kUnavailable:
    case ErrorKind::kNotLeader:
      return kExitUnavailable;
    default:
      return kExitError;
  }
}

std::string ErrorLine(const Status& s) {
  const ErrorKind kind = GetErrorKind(s);
  // A bare gRPC error (say, a method the server lacks) says more by its
  // code than as the catch-all INTERNAL kind.
  const std::string name = kind == ErrorKind::kInternal && s.code() != absl::StatusCode::kInternal
                               ? absl::StatusCodeToString(s.code())
                               : std::string(ErrorKindName(kind));
  const uint64_t retry_after_ms = GetErrorInfo(s).retry_after_ms;
  return absl::StrCat("Error: ", name, ": ", s.message(),
                      retry_after_ms > 0 ? absl::StrCat(" (retry after ", retry_after_ms, " ms)")
                                         : std::string());
}

Result<OutputFormat> ParseOutputFormat(std::string_view name) {
  if (name == "simple") return OutputFormat::kSimple;
  if (name == "json") return OutputFormat::kJson;
  if (name == "table") return OutputFormat::kTable;
  return InvalidArgumentError(absl::StrCat("unknown output format \"", std::string(name),
                                           "\" (want simple, json or table)"));
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const auto bad = [&] {
    return InvalidArgumentError(
        absl::StrCat("bad duration \"", std::string(text), "\" (want e.g. 500ms, 5s, 1m)"));
  };
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || !std::isfinite(number)) return bad();
  const std::string_view unit(end, text.data() + text.size() - end);
  double ms;
  if (unit.empty() || unit == "s") {
    ms = number * 1000;
  } else if (unit == "ms") {
    ms = number;
  } else if (unit == "m") {
    ms = number * 60'000;
  } else {
    return bad();
  }
  if (ms < 1 || ms > 86'400'000.0) return bad();
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

namespace {

// A decimal number without sign, spaces or a unit, in [lo, hi].
std::optional<uint32_t> ParseBounded(std::string_view text, uint32_t lo, uint32_t hi) {
  uint32_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < lo || n > hi) {
    return std::nullopt;
  }
  return n;
}

bool IsHostNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

}  // namespace

Result<uint32_t> ParseMemberId(std::string_view text) {
  if (std::optional<uint32_t> id = ParseBounded(text, 1, 65535)) return *id;
  return InvalidArgumentError(
      absl::StrCat("member ID must be a number in 1..65535, got \"", Printable(text), "\""));
}

Status CheckHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  bool ok = colon != std::string_view::npos && ParseBounded(text.substr(colon + 1), 1, 65535);
  if (ok) {
    const std::string_view host = text.substr(0, colon);
    if (host.starts_with('[')) {
      // An IPv6 literal, not checked further here.
      ok = host.size() > 2 && host.ends_with(']') &&
           host.substr(1, host.size() - 2).find_first_of("[]") == std::string_view::npos;
    } else {
      ok = !host.empty() && std::all_of(host.begin(), host.end(), IsHostNameChar);
    }
  }
  if (ok) return absl::OkStatus();
  return InvalidArgumentError(absl::StrCat("ADDRESS must be host:port (e.g. 10.0.0.4:2379), got \"",
                                           Printable(text), "\""));
}

std::string Printable(std::string_view bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (size_t n = Utf8SequenceLength(bytes.substr(i)); n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
      continue;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
    ++i;
  }
  return out;
}

namespace {

// Display width, counting one column per code point (close enough for the
// keys and values a table shows; Printable has removed control bytes).
size_t Width(std::string_view s) {
  size_t w = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++w;
  }
  return w;
}

}  // namespace

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::AddRow(std::vector<std::string> row) {
  for (auto& cell : row) cell = Printable(cell);
  row.resize(header_.size());
  rows_.push_back(std::move(row));
}

std::string Table::Render() const {
  std::vector<size_t> widths(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) {
    widths[c] = Width(header_[c]);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], Width(row[c]));
  }
  std::string rule = "+";
  for (size_t w : widths) rule += std::string(w + 2, '-') + "+";
  rule += "\n";
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out = "|";
    for (size_t c = 0; c < cells.size(); ++c) {
      out += " " + cells[c] + std::string(widths[c] - Width(cells[c]), ' ') + " |";
    }
    return out + "\n";
  };
  std::string out = rule + line(header_) + rule;
  for (const auto& row : rows_) out += line(row);
  if (!rows_.empty()) out += rule;
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (bytes < 1000) return absl::StrCat(bytes, " B");
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1000 && unit + 1 < std::size(kUnits)) {
    v /= 1000;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), v < 10 ? "%.1f %s" : "%.0f %s", v, kUnits[unit]);
  return buf;
}

void WriteVersion(const client::VersionInfo& v, JsonWriter& w) {
  w.BeginObject().Key("hlc").Uint(v.hlc).Key("site_id").Uint(v.site_id).EndObject();
}

std::string VersionText(const client::VersionInfo& v) {
  return absl::StrCat(v.hlc, "@", v.site_id);
}

}  // namespace meridian::ctl
