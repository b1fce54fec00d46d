// meridianctl's output formats, exit codes and small formatting helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/ctl/json_writer.h"
#include "common/status.h"
#include "meridian/client.h"

namespace meridian::ctl {

// The exit codes scripts can rely on (docs/cli.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,          // the server refused or failed the request
  kExitUsage = 2,          // bad flags, arguments or txn script
  kExitUnavailable = 3,    // could not connect, or no node could serve it
  kExitConflict = 4,       // a transaction conflicted
  kExitCommitUnknown = 5,  // a write's outcome is unknown
  kExitNotFound = 6,       // `get --require-exists` on a missing key
};

// The exit code for a failed request (kExitOk for OK).
int ExitCodeFor(const Status& s);

// "Error: KIND: message", e.g. "Error: INVALID_ARGUMENT: key is 5000 bytes,
// over max_key_bytes (4096)". KIND is the Meridian error kind, or the gRPC
// code's name for an error without one.
std::string ErrorLine(const Status& s);

enum class OutputFormat { kSimple, kJson, kTable };

// "simple", "json" or "table".
Result<OutputFormat> ParseOutputFormat(std::string_view name);

// A duration such as "500ms", "5s", "1m" or "1.5s"; a bare number means
// seconds. Must be positive.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// A member id as given on the command line: a decimal number in 1..65535.
Result<uint32_t> ParseMemberId(std::string_view text);

// OK if `text` is host:port as a member address: a host name, an IPv4
// address or a [bracketed] IPv6 address, then a port in 1..65535.
Status CheckHostPort(std::string_view text);

// An aligned ASCII table in etcdctl's style:
//   +-----+-------+
//   | KEY | VALUE |
//   +-----+-------+
//   | a   | 1     |
//   +-----+-------+
// Cells are made printable (see Printable) and padded by display width.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  // REQUIRES: row.size() == header.size().
  void AddRow(std::vector<std::string> row);
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// `bytes` with control characters, backslashes and bytes that are not valid
// UTF-8 written as C escapes (\n, \t, \\, \xHH), so one value stays on one
// line and keeps a table aligned.
std::string Printable(std::string_view bytes);

// SI units as etcdctl prints them: "0 B", "999 B", "1.2 kB", "20 MB".
std::string HumanBytes(uint64_t bytes);

// {"hlc":N,"site_id":S}
void WriteVersion(const client::VersionInfo& v, JsonWriter& w);

// "hlc@site", e.g. "7290012345678@1", for simple and table output.
std::string VersionText(const client::VersionInfo& v);

}  // namespace meridian::ctl
