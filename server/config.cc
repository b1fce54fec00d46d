#include "server/config.h"

#include <cmath>

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace meridian::server {
namespace {

struct OptionSpec {
  std::string name;  // flag spelling without "--"; YAML/env derive from it
  std::string help;
  std::function<Status(Config&, const std::string&)> set;
};

std::string YamlKey(const std::string& name) {
  std::string k = name;
  for (char& c : k) if (c == '-') c = '_';
  return k;
}

std::string EnvName(const std::string& name) {
  std::string k = "MERIDIAN_" + YamlKey(name);
  for (char& c : k) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  return k;
}

Status SetString(std::string* field, const std::string& v) {
  *field = v;
  return absl::OkStatus();
}

Status SetSplitPoints(Config* c, const std::string& v) {
  c->split_points.clear();
  if (v.empty()) return absl::OkStatus();
  for (absl::string_view part : absl::StrSplit(v, ',')) {
    std::string key, error;
    if (!absl::CUnescape(part, &key, &error)) {
      return InvalidArgumentError(absl::StrCat("bad escape in '", part, "': ", error));
    }
    if (key.empty()) return InvalidArgumentError("a split point is empty");
    if (!c->split_points.empty() && key <= c->split_points.back()) {
      return InvalidArgumentError(absl::StrCat("split points must be sorted and distinct ('", part,
                                               "' is out of order)"));
    }
    c->split_points.push_back(std::move(key));
  }
  if (c->split_points.size() >= 1024) return InvalidArgumentError("at most 1023 split points");
  return absl::OkStatus();
}

Status SetU64(uint64_t* field, const std::string& v) {
  if (!absl::SimpleAtoi(v, field)) return InvalidArgumentError(absl::StrCat("'", v, "' is not a number"));
  return absl::OkStatus();
}

Status SetBytes(uint64_t* field, const std::string& v) {
  MERIDIAN_ASSIGN_OR_RETURN(*field, ParseBytes(v));
  return absl::OkStatus();
}

Status SetDuration(uint64_t* field, const std::string& v) {
  MERIDIAN_ASSIGN_OR_RETURN(*field, ParseDurationMs(v));
  return absl::OkStatus();
}

Status SetBool(bool* field, const std::string& v) {
  std::string l = absl::AsciiStrToLower(v);
  if (l == "true" || l == "1" || l == "yes" || l == "on") *field = true;
  else if (l == "false" || l == "0" || l == "no" || l == "off") *field = false;
  else return InvalidArgumentError(absl::StrCat("'", v, "' is not a boolean"));
  return absl::OkStatus();
}

Status SetOneOf(std::string* field, const std::string& v, std::vector<std::string> allowed) {
  for (const auto& a : allowed) {
    if (v == a) return SetString(field, v);
  }
  std::string list;
  for (const auto& a : allowed) absl::StrAppend(&list, list.empty() ? "" : "|", a);
  return InvalidArgumentError(absl::StrCat("'", v, "' is not one of ", list));
}

std::vector<OptionSpec> Specs() {
  using C = Config;
  return {
      {"dev", "single node with embedded defaults", [](C& c, auto& v) { return SetBool(&c.dev, v); }},
      {"node-id", "this node's unique name", [](C& c, auto& v) { return SetString(&c.node_id, v); }},
      {"site", "site (region) name", [](C& c, auto& v) { return SetString(&c.site, v); }},
      {"site-id", "numeric site id (> 0)",
       [](C& c, auto& v) {
         uint64_t id = 0;
         MERIDIAN_RETURN_IF_ERROR(SetU64(&id, v));
         if (id == 0 || id > UINT32_MAX) return InvalidArgumentError("must be in [1, 2^32)");
         c.site_id = static_cast<uint32_t>(id);
         return absl::OkStatus();
       }},
      {"data-dir", "directory for data files", [](C& c, auto& v) { return SetString(&c.data_dir, v); }},
      {"listen", "gRPC listen address host:port", [](C& c, auto& v) { return SetString(&c.listen, v); }},
      {"engine", "storage engine: auto (the data dir's, pagestore for a new one), pagestore or rocksdb",
       [](C& c, auto& v) { return SetOneOf(&c.engine, v, {"auto", "pagestore", "rocksdb"}); }},
      {"engine-cache", "engine memory budget (RocksDB block cache, PageStore record cache)",
       [](C& c, auto& v) { return SetBytes(&c.engine_cache_bytes, v); }},
      {"min-free-disk", "refuse writes when the data dir's disk has less free space",
       [](C& c, auto& v) { return SetBytes(&c.min_free_disk_bytes, v); }},
      {"max-key-bytes", "largest key accepted",
       [](C& c, auto& v) { return SetBytes(&c.limits.max_key_bytes, v); }},
      {"max-value-bytes", "largest value accepted",
       [](C& c, auto& v) { return SetBytes(&c.limits.max_value_bytes, v); }},
      {"max-txn-ops", "most operations in one transaction",
       [](C& c, auto& v) { return SetU64(&c.limits.max_txn_ops, v); }},
      {"max-txn-bytes", "most bytes one transaction writes (at most 48MiB: one log record)",
       [](C& c, auto& v) {
         uint64_t bytes = 0;
         MERIDIAN_RETURN_IF_ERROR(SetBytes(&bytes, v));
         if (bytes == 0 || bytes > txn::kMaxTxnBytesCeiling) {
           return InvalidArgumentError("must be in [1, 48MiB] (a commit is one log record)");
         }
         c.limits.max_txn_bytes = bytes;
         return absl::OkStatus();
       }},
      {"txn-timeout", "default interactive transaction deadline",
       [](C& c, auto& v) { return SetDuration(&c.txn_timeout_ms, v); }},
      {"max-txn-timeout", "largest transaction deadline a client may ask for",
       [](C& c, auto& v) { return SetDuration(&c.max_txn_timeout_ms, v); }},
      {"max-open-txns", "most concurrently open interactive transactions",
       [](C& c, auto& v) { return SetU64(&c.max_open_txns, v); }},
      {"max-clock-offset", "largest tolerated clock offset between peers",
       [](C& c, auto& v) { return SetDuration(&c.max_clock_offset_ms, v); }},
      {"gc-interval", "how often old versions are collected",
       [](C& c, auto& v) { return SetDuration(&c.gc_interval_ms, v); }},
      {"close-interval",
       "a shard leader closes a timestamp (an empty commit) when its newest is older than this, "
       "so followers serve snapshot reads that recent (0 = only on demand)",
       [](C& c, auto& v) { return SetDuration(&c.close_interval_ms, v); }},
      {"gc-retention", "how long old versions stay readable",
       [](C& c, auto& v) { return SetDuration(&c.gc_retention_ms, v); }},
      {"split-size",
       "a shard whose live data grows past this splits online at its middle key (0 = never)",
       [](C& c, auto& v) { return SetBytes(&c.split_size_bytes, v); }},
      {"split-check-interval", "how often a shard leader compares its shard's size with --split-size",
       [](C& c, auto& v) { return SetDuration(&c.split_check_interval_ms, v); }},
      {"shutdown-grace", "how long in-flight requests get on SIGTERM",
       [](C& c, auto& v) { return SetDuration(&c.shutdown_grace_ms, v); }},
      {"log-level", "trace|debug|info|warn|error",
       [](C& c, auto& v) { return SetOneOf(&c.log_level, v, {"trace", "debug", "info", "warn", "error"}); }},
      {"log-format", "json|text",
       [](C& c, auto& v) { return SetOneOf(&c.log_format, v, {"json", "text"}); }},
      {"port-file", "write the bound gRPC port to this file",
       [](C& c, auto& v) { return SetString(&c.port_file, v); }},
      {"metrics-listen", "serve HTTP /metrics, /livez and /readyz on host:port (port 0: any free port)",
       [](C& c, auto& v) {
         if (!v.empty()) MERIDIAN_RETURN_IF_ERROR(ParseHostPort(v).status());
         return SetString(&c.metrics_listen, v);
       }},
      {"cluster", "replicated mode: id=host:port,... for every member",
       [](C& c, auto& v) {
         MERIDIAN_RETURN_IF_ERROR(ParseCluster(v).status());
         return SetString(&c.cluster, v);
       }},
      {"member-id", "this node's id in --cluster",
       [](C& c, auto& v) {
         uint64_t id = 0;
         MERIDIAN_RETURN_IF_ERROR(SetU64(&id, v));
         if (id == 0 || id > 0xffff) return InvalidArgumentError("must be in [1, 65535]");
         c.member_id = static_cast<uint32_t>(id);
         return absl::OkStatus();
       }},
      {"join", "join a running group as a new member (then: meridianctl member add)",
       [](C& c, auto& v) { return SetBool(&c.join, v); }},
      {"wal-io", "auto|uring|posix: issue WAL fdatasyncs through io_uring or plain syscalls",
       [](C& c, auto& v) { return SetOneOf(&c.wal_io, v, {"auto", "uring", "posix"}); }},
      {"tick", "consensus tick (heartbeat and election timing unit)",
       [](C& c, auto& v) {
         MERIDIAN_RETURN_IF_ERROR(SetDuration(&c.tick_ms, v));
         if (c.tick_ms == 0 || c.tick_ms > 10'000) return InvalidArgumentError("must be in [1ms, 10s]");
         return absl::OkStatus();
       }},
      {"heartbeat-ticks", "ticks between leader heartbeats",
       [](C& c, auto& v) {
         MERIDIAN_RETURN_IF_ERROR(SetU64(&c.heartbeat_ticks, v));
         if (c.heartbeat_ticks == 0) return InvalidArgumentError("must be >= 1");
         return absl::OkStatus();
       }},
      {"election-ticks", "ticks without a leader before a follower runs (>= 3 x heartbeat-ticks)",
       [](C& c, auto& v) {
         MERIDIAN_RETURN_IF_ERROR(SetU64(&c.election_ticks, v));
         if (c.election_ticks < 3 || c.election_ticks > 10'000) {
           return InvalidArgumentError("must be in [3, 10000]");
         }
         return absl::OkStatus();
       }},
      {"compact-every", "applied entries between log compactions",
       [](C& c, auto& v) {
         MERIDIAN_RETURN_IF_ERROR(SetU64(&c.compact_every_entries, v));
         if (c.compact_every_entries < 2) return InvalidArgumentError("must be >= 2");
         return absl::OkStatus();
       }},
      {"max-log-lag", "entries kept for a lagging peer; beyond, it is sent a snapshot",
       [](C& c, auto& v) { return SetU64(&c.max_log_lag_entries, v); }},
      {"max-inflight",
       "data requests served at once; beyond it RESOURCE_EXHAUSTED with a retry-after hint "
       "(0 = unlimited)",
       [](C& c, auto& v) {
         MERIDIAN_RETURN_IF_ERROR(SetU64(&c.max_inflight, v));
         if (c.max_inflight > 1'000'000) return InvalidArgumentError("must be <= 1000000 (0 = unlimited)");
         return absl::OkStatus();
       }},
      {"client-rate-limit",
       "requests per second each client (meridian-client-id metadata, else its address) may send; "
       "0 = off",
       [](C& c, auto& v) {
         double rate = 0;
         if (!absl::SimpleAtod(v, &rate) || !std::isfinite(rate)) {
           return InvalidArgumentError(absl::StrCat("'", v, "' is not a number"));
         }
         if (rate < 0 || rate > 1e7) return InvalidArgumentError("must be in [0, 10000000] (0 = off)");
         c.client_rate_limit = rate;
         return absl::OkStatus();
       }},
      {"client-rate-burst",
       "requests a client may send at once before --client-rate-limit paces it "
       "(0 = one second's worth)",
       [](C& c, auto& v) {
         MERIDIAN_RETURN_IF_ERROR(SetU64(&c.client_rate_burst, v));
         if (c.client_rate_burst > 10'000'000) return InvalidArgumentError("must be <= 10000000");
         return absl::OkStatus();
       }},
      {"shards",
       "range shards the keyspace is split into at bootstrap, each its own consensus group "
       "(replicated mode; later starts use the committed shard map)",
       [](C& c, auto& v) {
         MERIDIAN_RETURN_IF_ERROR(SetU64(&c.shards, v));
         if (c.shards < 1 || c.shards > 1024) return InvalidArgumentError("must be in [1, 1024]");
         return absl::OkStatus();
       }},
      {"split-points",
       "bootstrap shard boundaries: sorted, comma-separated, C-escaped keys (e.g. 'user4,user8'); "
       "they make count + 1 shards; empty = even over the first key byte",
       [](C& c, auto& v) { return SetSplitPoints(&c, v); }},
      {"replication-factor", "replicas per shard, placed by consistent hashing",
       [](C& c, auto& v) {
         MERIDIAN_RETURN_IF_ERROR(SetU64(&c.replication_factor, v));
         if (c.replication_factor < 1 || c.replication_factor > 7) {
           return InvalidArgumentError("must be in [1, 7]");
         }
         return absl::OkStatus();
       }},
  };
}

Status Apply(const OptionSpec& spec, Config& config, const std::string& value,
             const std::string& source) {
  Status s = spec.set(config, value);
  if (!s.ok()) {
    return InvalidArgumentError(absl::StrCat("invalid value for ", source, ": ", s.message()));
  }
  return absl::OkStatus();
}

Status ApplyYaml(const std::vector<OptionSpec>& specs, Config& config, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return InvalidArgumentError(absl::StrCat("cannot read config file ", path));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(absl::StrCat("malformed config file ", path, ": line ",
                                             e.mark.line + 1, ", column ", e.mark.column + 1,
                                             ": ", e.msg));
  }
  if (root.IsNull()) return absl::OkStatus();  // empty file
  if (!root.IsMap()) {
    return InvalidArgumentError(absl::StrCat("malformed config file ", path,
                                             ": the top level must be a mapping of option: value"));
  }
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    const OptionSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (YamlKey(s.name) == key) spec = &s;
    }
    if (!spec) {
      return InvalidArgumentError(absl::StrCat("unknown option '", key, "' in config file ", path,
                                               " (line ", entry.first.Mark().line + 1, ")"));
    }
    if (!entry.second.IsScalar()) {
      return InvalidArgumentError(absl::StrCat("option '", key, "' in config file ", path,
                                               " must be a single value"));
    }
    MERIDIAN_RETURN_IF_ERROR(Apply(*spec, config, entry.second.as<std::string>(),
                                   absl::StrCat("'", key, "' in ", path)));
  }
  return absl::OkStatus();
}

}  // namespace

Result<std::map<uint32_t, std::string>> ParseCluster(const std::string& text) {
  std::map<uint32_t, std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    uint32_t id = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[0], &id) || id == 0 || id > 0xffff ||
        kv[1].find(':') == std::string::npos) {
      return InvalidArgumentError(absl::StrCat("'", std::string(part),
                                               "' is not id=host:port (id in 1..65535)"));
    }
    if (!out.emplace(id, kv[1]).second) {
      return InvalidArgumentError(absl::StrCat("member id ", id, " appears twice"));
    }
  }
  if (out.empty()) return InvalidArgumentError("the cluster lists no members");
  return out;
}

Result<std::pair<std::string, int>> ParseHostPort(const std::string& text) {
  const auto bad = [&] {
    return InvalidArgumentError(absl::StrCat("'", text, "' is not host:port (port 0..65535)"));
  };
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad();
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.empty()) return bad();
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return bad();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad();  // IPv6 needs brackets
  }
  int p = 0;
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(port, &p) || p > 65535) {
    return bad();
  }
  return std::make_pair(host, p);
}

Result<uint64_t> ParseDurationMs(const std::string& text) {
  static const std::vector<std::pair<std::string, double>> kUnits = {
      {"ms", 1}, {"us", 0.001}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  for (const auto& [suffix, factor] : kUnits) {
    if (text.size() > suffix.size() && text.ends_with(suffix)) {
      double n = 0;
      if (absl::SimpleAtod(text.substr(0, text.size() - suffix.size()), &n) && n >= 0) {
        return static_cast<uint64_t>(n * factor + 0.5);
      }
      break;
    }
  }
  return InvalidArgumentError(
      absl::StrCat("'", text, "' is not a duration (examples: 500ms, 10s, 5m, 1h)"));
}

Result<uint64_t> ParseBytes(const std::string& text) {
  static const std::vector<std::pair<std::string, uint64_t>> kUnits = {
      {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"B", 1}};
  for (const auto& [suffix, factor] : kUnits) {
    if (text.size() > suffix.size() && text.ends_with(suffix)) {
      uint64_t n = 0;
      if (absl::SimpleAtoi(text.substr(0, text.size() - suffix.size()), &n)) return n * factor;
      break;
    }
  }
  uint64_t n = 0;
  if (absl::SimpleAtoi(text, &n)) return n;
  return InvalidArgumentError(absl::StrCat("'", text, "' is not a size (examples: 4096, 4KiB, 1MiB)"));
}

Result<Config> LoadConfig(int argc, char** argv, bool* exit_now, std::string* message) {
  *exit_now = false;
  const std::vector<OptionSpec> specs = Specs();
  CLI::App app{"meridiand: the Meridian replicated transactional key-value store daemon"};
  app.set_version_flag("--version", "meridiand 0.1.0");
  std::string config_file;
  app.add_option("--config", config_file, "YAML configuration file (also MERIDIAN_CONFIG)");
  std::map<std::string, std::string> flag_values;
  // Booleans are bare flags on the command line (--dev, --join).
  std::map<std::string, bool> bool_flags = {{"dev", false}, {"join", false}};
  for (const auto& spec : specs) {
    if (bool_flags.count(spec.name)) {
      app.add_flag("--" + spec.name, bool_flags[spec.name], spec.help);
    } else {
      app.add_option("--" + spec.name, flag_values[spec.name], spec.help);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    *exit_now = true;
    *message = app.help();
    return Config();
  } catch (const CLI::CallForVersion& e) {
    *exit_now = true;
    *message = app.version();
    return Config();
  } catch (const CLI::ParseError& e) {
    return InvalidArgumentError(absl::StrCat(e.what(), "\nRun with --help for usage."));
  }

  Config config;
  if (config_file.empty()) {
    if (const char* env = std::getenv("MERIDIAN_CONFIG")) config_file = env;
  }
  if (!config_file.empty()) {
    config.config_file = config_file;
    MERIDIAN_RETURN_IF_ERROR(ApplyYaml(specs, config, config_file));
  }
  for (const auto& spec : specs) {
    if (const char* env = std::getenv(EnvName(spec.name).c_str())) {
      MERIDIAN_RETURN_IF_ERROR(Apply(spec, config, env, EnvName(spec.name)));
    }
  }
  for (const auto& spec : specs) {
    if (bool_flags.count(spec.name)) {
      if (bool_flags[spec.name]) MERIDIAN_RETURN_IF_ERROR(spec.set(config, "true"));
      continue;
    }
    if (app.count("--" + spec.name) > 0) {
      MERIDIAN_RETURN_IF_ERROR(Apply(spec, config, flag_values[spec.name], "--" + spec.name));
    }
  }
  if (!config.cluster.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(auto members, ParseCluster(config.cluster));
    if (config.member_id == 0) return InvalidArgumentError("--cluster needs --member-id");
    if (members.count(config.member_id)) {
      config.listen = members[config.member_id];
    } else if (!config.join) {
      return InvalidArgumentError(absl::StrCat("--member-id ", config.member_id,
                                               " is not one of the --cluster members (to add a "
                                               "new member, start it with --join)"));
    }
    if (config.node_id == Config().node_id) config.node_id = absl::StrCat("node", config.member_id);
  }
  if (config.election_ticks < 3 * config.heartbeat_ticks) {
    return InvalidArgumentError(absl::StrCat("election_ticks (", config.election_ticks,
                                             ") must be at least 3 x heartbeat_ticks (",
                                             config.heartbeat_ticks, ")"));
  }
  // Split points imply the shard count; a --shards beside them must agree.
  if (!config.split_points.empty() && config.shards == 1) {
    config.shards = config.split_points.size() + 1;
  }
  if (!config.split_points.empty() && config.shards != config.split_points.size() + 1) {
    return InvalidArgumentError(absl::StrCat("shards (", config.shards, ") and split_points (",
                                             config.split_points.size(),
                                             " points, so ", config.split_points.size() + 1,
                                             " shards) disagree; give one of them"));
  }
  if (config.shards > 1 && config.cluster.empty()) {
    return InvalidArgumentError(
        "shards > 1 needs replicated mode (--cluster; a single node may be a one-member cluster)");
  }
  if (config.client_rate_burst != 0 && config.client_rate_limit == 0) {
    return InvalidArgumentError("client_rate_burst needs client_rate_limit (the rate limit is off)");
  }
  if (config.limits.max_key_bytes == 0) return InvalidArgumentError("max_key_bytes must be > 0");
  if (config.limits.max_txn_ops == 0) return InvalidArgumentError("max_txn_ops must be > 0");
  if (config.txn_timeout_ms == 0 || config.txn_timeout_ms > config.max_txn_timeout_ms) {
    return InvalidArgumentError("need 0 < txn_timeout <= max_txn_timeout");
  }
  return config;
}

}  // namespace meridian::server
