// The session token on meridianctl's command line and in files
// (docs/cli.md, "Sessions"): --session-token TOKEN|@FILE and
// --session-token-out FILE.
#pragma once

#include <string>

#include "common/status.h"

namespace meridian::ctl {

// The token text a --session-token value names: the value itself, or the
// contents of FILE for "@FILE" (surrounding whitespace dropped; an empty
// file means no token yet, so a script may start from one). "" for no
// token. kInvalidArgument, naming the file and why, if it cannot be read.
Result<std::string> ReadSessionTokenFlag(const std::string& flag);

// Replaces `path` with `token` and a newline, atomically (a temporary file
// beside it, renamed over it), readable by the owner only. kInternal, with
// the path and the system's reason, on failure.
Status WriteSessionTokenFile(const std::string& path, const std::string& token);

}  // namespace meridian::ctl
