// `meridianctl txn -i`: one interactive transaction driven line by line.
//
// The transaction begins at the first command that names a key, which
// becomes its routing key: in a sharded cluster it is served by that key's
// shard (and its other keys must be in the same shard).
//
// On a terminal it prompts (on stderr) and survives errors, so a typo does
// not lose the transaction. Otherwise (a pipe or a file) it fails fast: the
// first error aborts the transaction and becomes the exit code, so a script
// never commits after a step it did not see succeed.
#include <charconv>
#include <istream>
#include <ostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/absl_view.h"
#include "client/ctl/commands.h"
#include "client/ctl/txn_script.h"

namespace meridian::ctl {
namespace {

constexpr char kHelp[] =
    "commands (quote words with \"...\" or '...'):\n"
    "  get KEY\n"
    "  put KEY VALUE\n"
    "  del KEY\n"
    "  scan [--prefix P | --from A --to B] [--limit N] [--keys-only]\n"
    "  commit        commit and exit\n"
    "  abort         abort and exit\n"
    "  help\n";

Status Arity(const std::vector<std::string>& words, size_t want, std::string_view usage) {
  if (words.size() == want + 1) return absl::OkStatus();
  return InvalidArgumentError(absl::StrCat("usage: ", client::AbslView(usage)));
}

Result<client::ScanSpec> ParseScanWords(const std::vector<std::string>& words) {
  client::ScanSpec spec;
  constexpr std::string_view kUsage =
      "scan [--prefix P | --from A --to B] [--limit N] [--keys-only]";
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string& flag = words[i];
    if (flag == "--keys-only") {
      spec.keys_only = true;
      continue;
    }
    if (i + 1 >= words.size()) {
      return InvalidArgumentError(absl::StrCat("usage: ", client::AbslView(kUsage)));
    }
    const std::string& arg = words[++i];
    if (flag == "--prefix") {
      spec.prefix = arg;
    } else if (flag == "--from") {
      spec.start = arg;
    } else if (flag == "--to") {
      spec.end = arg;
    } else if (flag == "--limit") {
      const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), spec.limit);
      if (ec != std::errc() || end != arg.data() + arg.size()) {
        return InvalidArgumentError(absl::StrCat("--limit wants a count, not \"", arg, "\""));
      }
    } else {
      return InvalidArgumentError(absl::StrCat("usage: ", client::AbslView(kUsage)));
    }
  }
  if (!spec.prefix.empty() && (!spec.start.empty() || !spec.end.empty())) {
    return InvalidArgumentError("--prefix cannot be combined with --from/--to");
  }
  return spec;
}

}  // namespace

int Commands::InteractiveTxn(std::chrono::milliseconds txn_timeout) {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  const bool tty = io_.in_is_tty;
  if (tty) io_.err << "type help for commands; the transaction begins at the first key\n";
  std::unique_ptr<client::Txn> txn;  // null until the first command with a key
  const auto begin = [&](std::string_view key) -> Status {
    if (txn != nullptr) return absl::OkStatus();
    MERIDIAN_ASSIGN_OR_RETURN(
        txn, (*c)->Begin({.timeout = txn_timeout, .routing_key = std::string(key)}));
    if (tty) {
      io_.err << "transaction " << txn->id() << " at snapshot " << txn->snapshot_hlc() << "\n";
    }
    return absl::OkStatus();
  };
  const auto abort = [&] {
    if (txn != nullptr) (void)txn->Abort();
  };

  const auto print_end = [&](std::string_view word, uint64_t commit_hlc) {
    if (options_.format == OutputFormat::kJson) {
      JsonWriter w;
      w.BeginObject().Key(word == "COMMITTED" ? "committed" : "aborted").Bool(true);
      if (commit_hlc != 0) w.Key("commit_hlc").Uint(commit_hlc);
      Emit(w.EndObject());
    } else {
      io_.out << word << "\n";
      io_.out.flush();
    }
  };

  std::string line;
  size_t line_no = 0;
  while (true) {
    if (tty) io_.err << "txn> " << std::flush;
    if (!std::getline(io_.in, line)) break;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();

    // A usage error: `Error: INVALID_ARGUMENT: line N: ...`.
    const auto usage = [&](const Status& s) -> std::optional<int> {
      io_.err << ErrorLine(InvalidArgumentError(absl::StrCat("line ", line_no, ": ", s.message())))
              << "\n";
      if (tty) return std::nullopt;
      abort();
      return kExitUsage;
    };
    // A failed request; the transaction is lost if the server says so.
    const auto failed = [&](const Status& s) -> std::optional<int> {
      const int code = Fail(s);
      if (tty && GetErrorKind(s) != ErrorKind::kTxnNotFound) return std::nullopt;
      abort();
      return code;
    };

    Result<std::vector<std::string>> split = SplitWords(line);
    if (!split.ok()) {
      if (auto code = usage(split.status())) return *code;
      continue;
    }
    const std::vector<std::string>& words = *split;
    if (words.empty() || words[0].starts_with('#')) continue;
    const std::string verb = absl::AsciiStrToLower(words[0]);

    Status bad;  // a usage error found here, before anything was sent
    Status s;    // the server's answer
    if (verb == "get") {
      bad = Arity(words, 1, "get KEY");
      if (bad.ok()) s = begin(words[1]);
      if (bad.ok() && s.ok()) {
        Result<std::optional<client::GetResult>> r = txn->Get(words[1]);
        s = r.status();
        if (s.ok()) PrintGet(words[1], *r);
      }
    } else if (verb == "put") {
      bad = Arity(words, 2, "put KEY VALUE");
      if (bad.ok()) s = begin(words[1]);
      if (bad.ok() && s.ok()) {
        s = txn->Put(words[1], words[2]);
        if (s.ok()) PrintOk("put", words[1], 0);
      }
    } else if (verb == "del" || verb == "delete") {
      bad = Arity(words, 1, "del KEY");
      if (bad.ok()) s = begin(words[1]);
      if (bad.ok() && s.ok()) {
        s = txn->Delete(words[1]);
        if (s.ok()) PrintOk("del", words[1], 0);
      }
    } else if (verb == "scan") {
      Result<client::ScanSpec> spec = ParseScanWords(words);
      bad = spec.status();
      if (bad.ok()) s = begin(spec->prefix.empty() ? spec->start : spec->prefix);
      if (bad.ok() && s.ok()) {
        Result<client::ScanResult> r = txn->Scan(*spec);
        s = r.status();
        if (s.ok()) PrintScan(*r, spec->keys_only);
      }
    } else if (verb == "commit" || verb == "abort") {
      bad = Arity(words, 0, verb);
      if (bad.ok() && verb == "abort") {
        const Status a = txn == nullptr ? absl::OkStatus() : txn->Abort();
        if (!a.ok()) return Fail(a);
        print_end("ABORTED", 0);
        return kExitOk;
      }
      if (bad.ok() && txn == nullptr) {
        print_end("COMMITTED", 0);  // nothing was read or written
        return kExitOk;
      }
      if (bad.ok()) {
        // Whatever the outcome, the transaction is over.
        Result<client::WriteResult> r = txn->Commit();
        if (!r.ok()) return Fail(r.status());
        print_end("COMMITTED", r->commit_hlc);
        return kExitOk;
      }
    } else if (verb == "help") {
      io_.err << kHelp;
    } else {
      bad = InvalidArgumentError(absl::StrCat("unknown command \"", words[0], "\" (try help)"));
    }

    if (!bad.ok()) {
      if (auto code = usage(bad)) return *code;
    } else if (!s.ok()) {
      if (auto code = failed(s)) return *code;
    }
  }

  // End of input without commit: nothing is written.
  abort();
  if (tty) io_.err << "\n";
  io_.err << "end of input before commit: transaction aborted\n";
  print_end("ABORTED", 0);
  return kExitOk;
}

}  // namespace meridian::ctl
