#include "client/ctl/txn_script.h"

#include <cctype>
#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/absl_view.h"

namespace meridian::ctl {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void SkipBlanks(std::string_view line, size_t* pos) {
  while (*pos < line.size() && IsBlank(line[*pos])) ++*pos;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Quote(std::string_view s) { return absl::StrCat("\"", client::AbslView(s), "\""); }

// Decodes the escape whose backslash is at line[*pos] and advances past it.
Status DecodeEscape(std::string_view line, size_t* pos, std::string* out) {
  if (*pos + 1 >= line.size()) return InvalidArgumentError("backslash at end of line");
  const char c = line[*pos + 1];
  *pos += 2;
  switch (c) {
    case '\\':
    case '"':
    case '\'':
    case ' ':
      out->push_back(c);
      return absl::OkStatus();
    case 'n':
      out->push_back('\n');
      return absl::OkStatus();
    case 't':
      out->push_back('\t');
      return absl::OkStatus();
    case 'r':
      out->push_back('\r');
      return absl::OkStatus();
    case '0':
      out->push_back('\0');
      return absl::OkStatus();
    case 'x': {
      const int hi = *pos < line.size() ? HexDigit(line[*pos]) : -1;
      const int lo = *pos + 1 < line.size() ? HexDigit(line[*pos + 1]) : -1;
      if (hi < 0 || lo < 0) return InvalidArgumentError("\\x needs two hex digits");
      out->push_back(static_cast<char>(hi * 16 + lo));
      *pos += 2;
      return absl::OkStatus();
    }
    default:
      return InvalidArgumentError(absl::StrCat("unknown escape \\", std::string(1, c)));
  }
}

// Reads one word starting at line[*pos] (not blank), stopping at an unquoted
// blank or at any unquoted character of `stop`. `*quoted` tells whether any
// part was quoted, so that "" can be told from nothing.
Status ReadWord(std::string_view line, size_t* pos, std::string_view stop, std::string* out,
                bool* quoted) {
  *quoted = false;
  while (*pos < line.size()) {
    const char c = line[*pos];
    if (IsBlank(c) || stop.find(c) != std::string_view::npos) break;
    if (c == '\\') {
      MERIDIAN_RETURN_IF_ERROR(DecodeEscape(line, pos, out));
    } else if (c == '\'') {
      *quoted = true;
      const size_t end = line.find('\'', *pos + 1);
      if (end == std::string_view::npos) return InvalidArgumentError("unterminated ' quote");
      out->append(line.substr(*pos + 1, end - *pos - 1));
      *pos = end + 1;
    } else if (c == '"') {
      *quoted = true;
      ++*pos;
      while (true) {
        if (*pos >= line.size()) return InvalidArgumentError("unterminated \" quote");
        if (line[*pos] == '"') break;
        if (line[*pos] == '\\') {
          MERIDIAN_RETURN_IF_ERROR(DecodeEscape(line, pos, out));
        } else {
          out->push_back(line[(*pos)++]);
        }
      }
      ++*pos;  // the closing quote
    } else {
      out->push_back(c);
      ++*pos;
    }
  }
  return absl::OkStatus();
}

Status Expect(std::string_view line, size_t* pos, char c, std::string_view after) {
  SkipBlanks(line, pos);
  if (*pos >= line.size() || line[*pos] != c) {
    return InvalidArgumentError(
        absl::StrCat("expected '", std::string(1, c), "' after ", client::AbslView(after)));
  }
  ++*pos;
  return absl::OkStatus();
}

Result<v1::Compare::Result> ReadOperator(std::string_view line, size_t* pos) {
  SkipBlanks(line, pos);
  const std::string_view rest = line.substr(*pos);
  const struct {
    std::string_view text;
    v1::Compare::Result result;
  } kOps[] = {{"==", v1::Compare::EQUAL},
              {"!=", v1::Compare::NOT_EQUAL},
              {"=", v1::Compare::EQUAL},
              {">", v1::Compare::GREATER},
              {"<", v1::Compare::LESS}};
  if (rest.starts_with(">=") || rest.starts_with("<=")) {
    return InvalidArgumentError(absl::StrCat("operator ", client::AbslView(rest.substr(0, 2)),
                                             " is not supported (use =, !=, > or <)"));
  }
  for (const auto& op : kOps) {
    if (rest.starts_with(op.text)) {
      *pos += op.text.size();
      return op.result;
    }
  }
  return InvalidArgumentError("expected an operator (=, !=, > or <) after ')'");
}

Status WithLine(const Status& s, size_t line_no) {
  return InvalidArgumentError(absl::StrCat("line ", line_no, ": ", s.message()));
}

}  // namespace

Result<std::vector<std::string>> SplitWords(std::string_view line) {
  std::vector<std::string> words;
  size_t pos = 0;
  while (true) {
    SkipBlanks(line, &pos);
    if (pos >= line.size()) break;
    std::string word;
    bool quoted = false;
    MERIDIAN_RETURN_IF_ERROR(ReadWord(line, &pos, "", &word, &quoted));
    words.push_back(std::move(word));
  }
  return words;
}

Result<v1::Compare> ParseCompare(std::string_view line) {
  size_t pos = 0;
  SkipBlanks(line, &pos);
  const size_t start = pos;
  while (pos < line.size() &&
         (std::isalpha(static_cast<unsigned char>(line[pos])) || line[pos] == '_')) {
    ++pos;
  }
  const std::string target =
      absl::AsciiStrToLower(absl::string_view(line.data() + start, pos - start));
  v1::Compare cmp;
  if (target == "value") {
    cmp.set_target(v1::Compare::VALUE);
  } else if (target == "version") {
    cmp.set_target(v1::Compare::VERSION);
  } else if (target == "exists") {
    cmp.set_target(v1::Compare::EXISTS);
  } else if (target.empty()) {
    return InvalidArgumentError(
        "expected a compare: value(\"k\"), version(\"k\") or exists(\"k\")");
  } else {
    return InvalidArgumentError(
        absl::StrCat("unknown compare target ", Quote(target), " (want value, version or exists)"));
  }
  MERIDIAN_RETURN_IF_ERROR(Expect(line, &pos, '(', target));
  SkipBlanks(line, &pos);
  std::string key;
  bool quoted = false;
  MERIDIAN_RETURN_IF_ERROR(ReadWord(line, &pos, "()", &key, &quoted));
  if (key.empty() && !quoted) return InvalidArgumentError(absl::StrCat(target, "() needs a key"));
  cmp.set_key(key);
  MERIDIAN_RETURN_IF_ERROR(Expect(line, &pos, ')', "the key"));
  MERIDIAN_ASSIGN_OR_RETURN(v1::Compare::Result op, ReadOperator(line, &pos));
  cmp.set_result(op);

  SkipBlanks(line, &pos);
  std::string rhs;
  MERIDIAN_RETURN_IF_ERROR(ReadWord(line, &pos, "", &rhs, &quoted));
  if (rhs.empty() && !quoted) {
    return InvalidArgumentError(absl::StrCat("missing the right-hand side of ", target, "()"));
  }
  SkipBlanks(line, &pos);
  if (pos < line.size()) {
    return InvalidArgumentError(
        absl::StrCat("unexpected text after the compare: ", Quote(line.substr(pos))));
  }

  switch (cmp.target()) {
    case v1::Compare::VALUE:
      cmp.set_value(rhs);
      break;
    case v1::Compare::VERSION: {
      uint64_t v = 0;
      const auto [end, ec] = std::from_chars(rhs.data(), rhs.data() + rhs.size(), v);
      if (ec != std::errc() || end != rhs.data() + rhs.size() || rhs.empty()) {
        return InvalidArgumentError(
            absl::StrCat("version() compares with an unsigned integer, not ", Quote(rhs)));
      }
      cmp.set_version(v);
      break;
    }
    case v1::Compare::EXISTS: {
      if (op != v1::Compare::EQUAL && op != v1::Compare::NOT_EQUAL) {
        return InvalidArgumentError("exists() supports only = and !=");
      }
      const std::string b = absl::AsciiStrToLower(rhs);
      if (b == "true" || b == "1") {
        cmp.set_exists(true);
      } else if (b == "false" || b == "0") {
        cmp.set_exists(false);
      } else {
        return InvalidArgumentError(
            absl::StrCat("exists() compares with true or false, not ", Quote(rhs)));
      }
      break;
    }
    default:
      break;
  }
  return cmp;
}

Result<v1::Op> ParseOp(std::string_view line) {
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> words, SplitWords(line));
  if (words.empty()) return InvalidArgumentError("expected an op (get, put or del)");
  const std::string verb = absl::AsciiStrToLower(words[0]);
  const size_t args = words.size() - 1;
  const auto arity = [&](size_t want, std::string_view usage) -> Status {
    if (args == want) return absl::OkStatus();
    return InvalidArgumentError(absl::StrCat(verb, " takes ", client::AbslView(usage), ", got ",
                                             args, " argument", args == 1 ? "" : "s"));
  };
  v1::Op op;
  if (verb == "get") {
    MERIDIAN_RETURN_IF_ERROR(arity(1, "KEY"));
    op.mutable_get()->set_key(words[1]);
  } else if (verb == "put") {
    MERIDIAN_RETURN_IF_ERROR(arity(2, "KEY VALUE"));
    op.mutable_put()->set_key(words[1]);
    op.mutable_put()->set_value(words[2]);
  } else if (verb == "del" || verb == "delete") {
    MERIDIAN_RETURN_IF_ERROR(arity(1, "KEY"));
    op.mutable_delete_()->set_key(words[1]);
  } else {
    return InvalidArgumentError(
        absl::StrCat("unknown op ", Quote(words[0]), " (want get, put or del)"));
  }
  return op;
}

Result<TxnScript> ParseTxnScript(std::string_view text) {
  TxnScript script;
  int block = 0;  // 0 compares, 1 success, 2 failure, 3 after the end
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t first = 0;
    SkipBlanks(line, &first);
    if (first == line.size()) {
      if (block < 3) ++block;
      continue;
    }
    if (line[first] == '#') continue;
    switch (block) {
      case 0: {
        Result<v1::Compare> cmp = ParseCompare(line);
        if (!cmp.ok()) return WithLine(cmp.status(), line_no);
        script.compares.push_back(*std::move(cmp));
        break;
      }
      case 1:
      case 2: {
        Result<v1::Op> op = ParseOp(line);
        if (!op.ok()) return WithLine(op.status(), line_no);
        (block == 1 ? script.success : script.failure).push_back(*std::move(op));
        break;
      }
      default:
        return WithLine(InvalidArgumentError("text after the failure block (a txn has three "
                                             "blocks: compares, success ops, failure ops)"),
                        line_no);
    }
  }
  return script;
}

}  // namespace meridian::ctl
