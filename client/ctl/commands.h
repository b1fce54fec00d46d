// The commands of meridianctl, independent of flag parsing (main.cc) so that
// they can be driven with any streams. Each returns a process exit code
// (output.h) after printing its result to `out` and errors to `err`.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/ctl/output.h"
#include "meridian/client.h"

namespace meridian::ctl {

struct GlobalOptions {
  // host:port of each node. Non-empty.
  std::vector<std::string> endpoints;
  OutputFormat format = OutputFormat::kSimple;
  // Deadline of each RPC attempt.
  std::chrono::milliseconds timeout{5000};
};

struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  // Whether `in` is a terminal: `txn -i` then prompts and keeps going after
  // an error instead of failing fast.
  bool in_is_tty = false;
  // Whether `err` is a terminal: progress is then one live line.
  bool err_is_tty = false;
};

// Not thread-safe: one per invocation.
class Commands {
 public:
  Commands(GlobalOptions options, Io io);

  // `value` nullopt reads the value from `in` (all of it, byte for byte).
  int Put(const std::string& key, const std::optional<std::string>& value);
  // A missing key prints nothing (simple), a header-only table, or
  // {"key":..,"found":false}; and exits 0, or kExitNotFound with
  // `require_exists`. `read.consistency`: --consistency.
  int Get(const std::string& key, bool require_exists, const client::ReadOptions& read = {});
  int Delete(const std::string& key);
  int Scan(const client::ScanSpec& spec, const client::ReadOptions& read = {});
  // Reads a script (txn_script.h) from `in` and runs it as one Execute,
  // which the SDK routes by the script's first key. A failed compare is not
  // an error: it prints FAILURE and exits 0.
  int Txn();
  // Runs commands read line by line from `in` in one interactive
  // transaction, which the server expires after `txn_timeout` (0: the
  // server's default). It begins at the first command with a key, routed
  // by that key (the shard it serves).
  int InteractiveTxn(std::chrono::milliseconds txn_timeout = std::chrono::milliseconds(0));
  int CsetAdd(const std::string& key, const std::string& element);
  int CsetRemove(const std::string& key, const std::string& element);
  int CsetRead(const std::string& key);
  int EndpointStatus();
  int EndpointHealth();
  // The consensus groups each endpoint hosts, as it reports them (no
  // failover: each row describes that node's view). An endpoint that is not
  // in replicated mode hosts none and says so.
  int GroupList();
  // The shard map as the preferred endpoint has it: per shard (and per
  // site's group) its key range, group, replicas and leader, then the map's
  // version and source. Empty bounds (the ends of the keyspace) print as
  // -inf and +inf, except in JSON, which has the keys as they are.
  int ShardList();
  // Hands shard `shard`'s leadership (0: the config group) to member `id`.
  int LeaderTransfer(const std::string& shard, const std::string& id);
  int ShardSplit(const std::string& key);
  int MemberList();
  // Rotates the session-token signing key and prints the new key id, the
  // ids that still verify and the config version.
  int KeysRotate();

  // The session every command runs in (docs/cli.md, "Sessions"). The token
  // is text as --session-token takes it; kInvalidArgument for a malformed
  // one. Call before the command.
  Status ImportSessionToken(const std::string& token);
  // The session's token after the command (the imported one if the
  // command sent nothing).
  std::string ExportSessionToken();
  // Membership changes (docs/cli.md, "Membership"). Each prints the
  // membership after the change as MemberList does. `id` and `address` are
  // the words from the command line: a bad one is a usage error, and
  // nothing is sent.
  int MemberAdd(const std::string& id, const std::string& address, bool as_voter);
  int MemberPromote(const std::string& id);
  int MemberRemove(const std::string& id);

  // Backup and restore (docs/cli.md, "Backup and restore"). `progress`
  // false silences the progress on stderr (--no-progress).
  //
  // Streams a backup of the cluster into `file` (FILE.part, renamed to
  // FILE once complete and durable). An existing FILE is refused unless
  // `force`.
  int SnapshotSave(const std::string& file, bool force, bool progress);
  // Verifies all of `file`, then restores it into the (new, empty) cluster,
  // resuming a restore of the same file that was cut short.
  int SnapshotRestore(const std::string& file, bool progress);
  // Verifies `file` and prints what it holds.
  int SnapshotStatus(const std::string& file);

 private:
  // The client for all endpoints, connected on first use.
  Result<client::Client*> Cluster();
  // A client for one endpoint only, for per-node probes.
  Result<std::unique_ptr<client::Client>> Single(const std::string& endpoint);
  // One endpoint's own status; on failure it is reported (stderr, and an
  // error object in JSON) and the first failure sets *code.
  Result<v1::StatusResponse> StatusOrReport(const std::string& ep, int* code, JsonWriter* w);
  // Prints ErrorLine(s) to `err` and returns ExitCodeFor(s).
  int Fail(const Status& s);
  // Prints ErrorLine(s) to `err` and returns kExitUsage.
  int Usage(const Status& s);
  // Prints a JSON document as one line.
  void Emit(const JsonWriter& w);

  // Shared by Get and the interactive `get`.
  void PrintGet(const std::string& key, const std::optional<client::GetResult>& r);
  void PrintScan(const client::ScanResult& r, bool keys_only);
  // One line (or JSON document) saying a write went through.
  void PrintOk(std::string_view what, std::string_view key, uint64_t commit_hlc);
  void PrintMembers(const v1::MembersResponse& r);
  // Runs `call` (Members or a change) and prints the membership it returns.
  int RunMembers(const std::function<Result<v1::MembersResponse>(client::Client&)>& call);

  const GlobalOptions options_;
  Io io_;
  std::unique_ptr<client::Client> cluster_;
};

}  // namespace meridian::ctl
