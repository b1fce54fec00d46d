// meridianctl: the command-line client of Meridian, in the manner of
// etcdctl. Flags and commands are documented in docs/cli.md.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/ctl/commands.h"
#include "client/ctl/output.h"
#include "client/ctl/session_token_file.h"

#ifndef MERIDIAN_VERSION
#define MERIDIAN_VERSION "unknown"
#endif

namespace meridian::ctl {
namespace {

std::vector<std::string> SplitEndpoints(const std::string& flag) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    std::string ep(absl::StripAsciiWhitespace(part));
    if (!ep.empty()) out.push_back(std::move(ep));
  }
  return out;
}

int Main(int argc, char** argv) {
  CLI::App app{"meridianctl: the command-line client of Meridian", "meridianctl"};
  app.set_version_flag("--version", "meridianctl " MERIDIAN_VERSION);
  app.require_subcommand(1);
  // Global flags are also accepted after the command: `meridianctl get k -w json`.
  app.fallthrough();

  std::string endpoints_flag = "127.0.0.1:2379";
  std::string write_out = "simple";
  std::string timeout_flag = "5s";
  app.add_option("--endpoints", endpoints_flag, "comma-separated host:port of the nodes")
      ->envname("MERIDIAN_ENDPOINTS")
      ->capture_default_str();
  app.add_option("-w,--write-out", write_out, "output format: simple, json or table")
      ->check(CLI::IsMember({"simple", "json", "table"}))
      ->capture_default_str();
  app.add_option("--timeout", timeout_flag, "deadline of each request, e.g. 500ms, 5s, 1m")
      ->capture_default_str();
  std::string session_token_flag, session_token_out;
  bool print_session_token = false;
  app.add_option("--session-token", session_token_flag,
                 "run in the session of TOKEN (mst1...), or of the token in @FILE")
      ->envname("MERIDIAN_SESSION_TOKEN");
  app.add_option("--session-token-out", session_token_out,
                 "write the session's token to FILE after the command");
  app.add_flag("--print-session-token", print_session_token,
               "print the session's token on stderr after the command");

  // Each command fills `run`; it runs once flags are parsed and checked.
  std::function<int(Commands&)> run;
  std::string key, value, element;
  bool require_exists = false;

  CLI::App* put = app.add_subcommand("put", "write KEY=VALUE (VALUE - reads it from stdin)");
  put->add_option("KEY", key)->required();
  put->add_option("VALUE", value)->required();
  put->callback([&] {
    run = [&](Commands& c) {
      return c.Put(key, value == "-" ? std::nullopt : std::optional<std::string>(value));
    };
  });

  // get and scan: how fresh the read must be.
  std::string consistency = "linearizable";
  const auto read_options = [&] {
    return client::ReadOptions{.consistency = consistency == "session"
                                                  ? client::ReadConsistency::kSession
                                                  : client::ReadConsistency::kLinearizable};
  };
  const auto add_consistency = [&](CLI::App* cmd) {
    cmd->add_option("--consistency", consistency,
                    "linearizable (the leader, latest state) or session (any replica that has "
                    "caught up with the session's token)")
        ->check(CLI::IsMember({"linearizable", "session"}))
        ->capture_default_str();
  };

  CLI::App* get = app.add_subcommand("get", "read KEY (prints nothing if it does not exist)");
  get->add_option("KEY", key)->required();
  get->add_flag("--require-exists", require_exists,
                "exit with code 6 and an error if KEY does not exist");
  add_consistency(get);
  get->callback(
      [&] { run = [&](Commands& c) { return c.Get(key, require_exists, read_options()); }; });

  CLI::App* del = app.add_subcommand("del", "delete KEY (prints 1 if it existed, else 0)");
  del->alias("delete");
  del->add_option("KEY", key)->required();
  del->callback([&] { run = [&](Commands& c) { return c.Delete(key); }; });

  client::ScanSpec scan_spec;
  CLI::App* scan = app.add_subcommand("scan", "read a range of keys at one snapshot");
  CLI::Option* prefix_opt = scan->add_option("--prefix", scan_spec.prefix, "keys starting with P");
  scan->add_option("--from", scan_spec.start, "first key (inclusive)")->excludes(prefix_opt);
  scan->add_option("--to", scan_spec.end, "end key (exclusive)")->excludes(prefix_opt);
  scan->add_option("--limit", scan_spec.limit, "at most N keys (0 = all)");
  scan->add_flag("--keys-only", scan_spec.keys_only, "print keys without values");
  add_consistency(scan);
  scan->callback([&] { run = [&](Commands& c) { return c.Scan(scan_spec, read_options()); }; });

  bool interactive = false;
  std::string txn_timeout_flag;
  CLI::App* txn = app.add_subcommand(
      "txn", "run a transaction: compares, success ops and failure ops read from stdin");
  txn->add_flag("-i,--interactive", interactive,
                "interactive transaction: get/put/del/scan/commit/abort, one per line");
  txn->add_option("--txn-timeout", txn_timeout_flag,
                  "with -i: the server aborts the transaction after this long (default: the "
                  "server's, 10s)");
  txn->callback([&] {
    run = [&](Commands& c) {
      if (!interactive) return c.Txn();
      std::chrono::milliseconds txn_timeout(0);
      if (!txn_timeout_flag.empty()) {
        Result<std::chrono::milliseconds> d = ParseDuration(txn_timeout_flag);
        if (!d.ok()) {
          std::cerr << ErrorLine(d.status()) << "\n";
          return static_cast<int>(kExitUsage);
        }
        txn_timeout = *d;
      }
      return c.InteractiveTxn(txn_timeout);
    };
  });

  CLI::App* cset = app.add_subcommand("cset", "counting sets");
  cset->require_subcommand(1);
  CLI::App* cset_add = cset->add_subcommand("add", "add ELEM to the cset at KEY");
  cset_add->add_option("KEY", key)->required();
  cset_add->add_option("ELEM", element)->required();
  cset_add->callback([&] { run = [&](Commands& c) { return c.CsetAdd(key, element); }; });
  CLI::App* cset_rm = cset->add_subcommand("rm", "remove ELEM from the cset at KEY");
  cset_rm->alias("remove");
  cset_rm->add_option("KEY", key)->required();
  cset_rm->add_option("ELEM", element)->required();
  cset_rm->callback([&] { run = [&](Commands& c) { return c.CsetRemove(key, element); }; });
  CLI::App* cset_read = cset->add_subcommand("read", "print the elements and counts at KEY");
  cset_read->add_option("KEY", key)->required();
  cset_read->callback([&] { run = [&](Commands& c) { return c.CsetRead(key); }; });

  CLI::App* endpoint = app.add_subcommand("endpoint", "per-endpoint status and health");
  endpoint->require_subcommand(1);
  endpoint->add_subcommand("status", "status of each endpoint")->callback([&] {
    run = [&](Commands& c) { return c.EndpointStatus(); };
  });
  endpoint->add_subcommand("health", "health check of each endpoint")->callback([&] {
    run = [&](Commands& c) { return c.EndpointHealth(); };
  });

  CLI::App* group = app.add_subcommand("group", "the consensus groups each endpoint hosts");
  group->require_subcommand(1);
  group->add_subcommand("list", "each group's leader, ballot, indexes, voters and learners")
      ->callback([&] { run = [&](Commands& c) { return c.GroupList(); }; });

  CLI::App* shard = app.add_subcommand("shard", "the shard map");
  shard->require_subcommand(1);
  shard->add_subcommand("list", "each shard's key range, group, replicas and leader")
      ->callback([&] { run = [&](Commands& c) { return c.ShardList(); }; });
  std::string split_key;
  CLI::App* shard_split = shard->add_subcommand(
      "split", "split the shard holding KEY there, online: keys from KEY on move to a new shard");
  shard_split->add_option("KEY", split_key, "the first key of the new shard")->required();
  shard_split->callback([&] { run = [&](Commands& c) { return c.ShardSplit(split_key); }; });

  CLI::App* leader = app.add_subcommand("leader", "leadership of a shard's group");
  leader->require_subcommand(1);
  std::string leader_shard = "1", leader_to;
  CLI::App* leader_transfer = leader->add_subcommand(
      "transfer", "hand the leadership of a shard's group to member ID, and wait until it moved");
  leader_transfer->add_option("ID", leader_to, "the member id to lead")->required();
  leader_transfer->add_option("--shard", leader_shard, "shard id (0: the config group)")
      ->capture_default_str();
  leader_transfer->callback(
      [&] { run = [&](Commands& c) { return c.LeaderTransfer(leader_shard, leader_to); }; });

  CLI::App* member = app.add_subcommand("member", "cluster membership");
  member->require_subcommand(1);
  member->add_subcommand("list", "list the members")->callback([&] {
    run = [&](Commands& c) { return c.MemberList(); };
  });
  // IDs and addresses are checked by Commands, for one error format.
  std::string member_id, member_address;
  bool as_voter = false;
  CLI::App* member_add = member->add_subcommand(
      "add", "add node ID at ADDRESS (host:port) as a learner; start it with --join first");
  member_add->add_option("ID", member_id, "member id, 1..65535")->required();
  member_add->add_option("ADDRESS", member_address, "host:port the node serves on")->required();
  member_add->add_flag("--voter", as_voter, "add it as a voter at once instead of a learner");
  member_add->callback(
      [&] { run = [&](Commands& c) { return c.MemberAdd(member_id, member_address, as_voter); }; });
  CLI::App* member_promote =
      member->add_subcommand("promote", "make learner ID a voter (once it has caught up)");
  member_promote->add_option("ID", member_id, "member id")->required();
  member_promote->callback([&] { run = [&](Commands& c) { return c.MemberPromote(member_id); }; });
  CLI::App* member_remove = member->add_subcommand("remove", "remove member ID");
  member_remove->alias("rm");
  member_remove->add_option("ID", member_id, "member id")->required();
  member_remove->callback([&] { run = [&](Commands& c) { return c.MemberRemove(member_id); }; });

  CLI::App* keys = app.add_subcommand("keys", "session-token signing keys");
  keys->require_subcommand(1);
  keys->add_subcommand("rotate",
                       "add a new signing key and sign new tokens with it (older keys that are "
                       "kept still verify)")
      ->callback([&] { run = [&](Commands& c) { return c.KeysRotate(); }; });

  std::string snapshot_file;
  bool force = false;
  bool no_progress = false;
  CLI::App* snapshot = app.add_subcommand("snapshot", "backup and restore");
  snapshot->require_subcommand(1);
  CLI::App* snapshot_save = snapshot->add_subcommand(
      "save", "stream a consistent backup of the cluster into FILE");
  snapshot_save->add_option("FILE", snapshot_file, "the backup file to write")->required();
  snapshot_save->add_flag("--force", force, "overwrite FILE if it exists");
  snapshot_save->add_flag("--no-progress", no_progress, "print no progress on stderr");
  snapshot_save->callback([&] {
    run = [&](Commands& c) { return c.SnapshotSave(snapshot_file, force, !no_progress); };
  });
  CLI::App* snapshot_restore = snapshot->add_subcommand(
      "restore", "restore FILE into a new, empty cluster (run again to resume)");
  snapshot_restore->add_option("FILE", snapshot_file, "the backup file to restore")->required();
  snapshot_restore->add_flag("--no-progress", no_progress, "print no progress on stderr");
  snapshot_restore->callback([&] {
    run = [&](Commands& c) { return c.SnapshotRestore(snapshot_file, !no_progress); };
  });
  CLI::App* snapshot_status =
      snapshot->add_subcommand("status", "verify FILE and print what it holds");
  snapshot_status->add_option("FILE", snapshot_file, "the backup file")->required();
  snapshot_status->callback(
      [&] { run = [&](Commands& c) { return c.SnapshotStatus(snapshot_file); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0; every other parse error is a usage error.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  GlobalOptions options;
  options.endpoints = SplitEndpoints(endpoints_flag);
  if (options.endpoints.empty()) {
    std::cerr << "Error: INVALID_ARGUMENT: --endpoints is empty\n";
    return kExitUsage;
  }
  Result<OutputFormat> format = ParseOutputFormat(write_out);
  Result<std::chrono::milliseconds> timeout = ParseDuration(timeout_flag);
  for (const Status& s : {format.status(), timeout.status()}) {
    if (!s.ok()) {
      std::cerr << ErrorLine(s) << "\n";
      return kExitUsage;
    }
  }
  options.format = *format;
  options.timeout = *timeout;
  if (!run) {
    std::cerr << app.help();
    return kExitUsage;
  }
  Result<std::string> session_token = ReadSessionTokenFlag(session_token_flag);
  if (!session_token.ok()) {
    std::cerr << ErrorLine(session_token.status()) << "\n";
    return kExitUsage;
  }
  std::ios::sync_with_stdio(false);
  Commands commands(std::move(options), Io{.in = std::cin,
                                           .out = std::cout,
                                           .err = std::cerr,
                                           .in_is_tty = isatty(STDIN_FILENO) == 1,
                                           .err_is_tty = isatty(STDERR_FILENO) == 1});
  if (!session_token->empty()) {
    if (Status s = commands.ImportSessionToken(*session_token); !s.ok()) {
      std::cerr << ErrorLine(s) << " (--session-token)\n";
      return kExitUsage;
    }
  }
  int code = run(commands);
  std::cout.flush();
  // Also after a failed command: the token holds what did succeed.
  if (!session_token_out.empty() || print_session_token) {
    const std::string token = commands.ExportSessionToken();
    if (print_session_token) std::cerr << "session-token: " << token << "\n";
    if (!session_token_out.empty()) {
      if (Status s = WriteSessionTokenFile(session_token_out, token); !s.ok()) {
        std::cerr << ErrorLine(s) << "\n";
        if (code == kExitOk) code = kExitError;
      }
    }
  }
  return code;
}

}  // namespace
}  // namespace meridian::ctl

int main(int argc, char** argv) { return meridian::ctl::Main(argc, argv); }
