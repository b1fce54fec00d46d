// Tests of meridianctl's commands in-process: one Commands (one meridianctl
// invocation) run against fake servers, with what it printed.
#pragma once

#include <chrono>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "client/ctl/commands.h"

namespace meridian::ctl {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

// Runs `fn` on a fresh Commands talking to `endpoints` (500 ms timeout),
// with `in` on its stdin.
inline Outcome RunCommands(const std::vector<std::string>& endpoints, OutputFormat format,
                           const std::function<int(Commands&)>& fn, const std::string& in = "",
                           bool in_is_tty = false) {
  std::istringstream is(in);
  std::ostringstream os, es;
  Commands c(
      GlobalOptions{
          .endpoints = endpoints, .format = format, .timeout = std::chrono::milliseconds(500)},
      Io{.in = is, .out = os, .err = es, .in_is_tty = in_is_tty});
  const int code = fn(c);
  return {code, os.str(), es.str()};
}

}  // namespace meridian::ctl
