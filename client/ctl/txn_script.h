// The text forms meridianctl reads: words with quoting, compares and ops,
// and the three-block script of `meridianctl txn` (compares, then the ops
// to run if they all hold, then the ops to run otherwise), as in etcdctl:
//
//   value("user/1") = "alice"        # compares, one per line
//   version("user/1") > 0
//                                    # a blank line ends a block
//   put user/1 bob                   # success ops
//   get user/1
//
//   get user/1                       # failure ops
//
// Quoting: a word is a run of non-blank characters, with
//   - "double quotes": the escapes \\ \" \' \n \t \r \0 \xHH (a byte) and
//     \<space> are decoded;
//   - 'single quotes': everything literal;
//   - unquoted: the same escapes as in double quotes.
// Quoted and unquoted parts next to each other form one word: a"b c" is
// `ab c`. "" is an empty word.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "meridian/v1/txn.pb.h"

namespace meridian::ctl {

struct TxnScript {
  std::vector<v1::Compare> compares;
  std::vector<v1::Op> success;
  std::vector<v1::Op> failure;
};

// Splits `line` into words. kInvalidArgument on an unterminated quote or an
// unknown escape.
Result<std::vector<std::string>> SplitWords(std::string_view line);

// One compare: TARGET("KEY") OP VALUE, where
//   value("k")   = != > <  "bytes"      (byte-wise comparison)
//   version("k") = != > <  N            (commit HLC of the latest version; 0 = absent)
//   exists("k")  = !=      true|false
// `==` is accepted for `=`. kInvalidArgument with a message on a bad line.
Result<v1::Compare> ParseCompare(std::string_view line);

// One op: `get KEY`, `put KEY VALUE`, `del KEY` (or `delete KEY`).
Result<v1::Op> ParseOp(std::string_view line);

// The whole script. Lines whose first non-blank character is '#' are
// comments. Blank lines separate the blocks; blank lines after the failure
// block are ignored. Errors start with "line N: " (1-based).
Result<TxnScript> ParseTxnScript(std::string_view text);

}  // namespace meridian::ctl
