// meridiand's configuration: one struct, filled from (lowest to highest
// precedence) built-in defaults, a YAML file, MERIDIAN_* environment
// variables and command-line flags.
//
// Every option has one name used in all three places: flag --max-key-bytes,
// YAML key max_key_bytes, environment MERIDIAN_MAX_KEY_BYTES. Durations take
// units ("500ms", "10s", "5m"); sizes take "4KiB", "1MiB" or a plain byte
// count.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "txn/limits.h"

namespace meridian::server {

// The engine a new data dir gets (--engine=auto).
inline constexpr const char* kDefaultEngine = "pagestore";

struct Config {
  std::string config_file;           // YAML file; "" = none
  bool dev = false;                  // single node, embedded defaults
  std::string node_id = "node1";     // unique in the cluster
  std::string site = "dc1";          // site (region / data centre) name
  uint32_t site_id = 1;              // > 0; unique per site
  std::string data_dir = "./data";   // engine files and the LOCK file
  std::string listen = "127.0.0.1:2379";  // gRPC host:port; port 0 = any free port
  // Storage engine: "auto" opens whatever the data dir holds (its META
  // file), and kDefaultEngine in a new one; naming one refuses a data dir
  // written by another.
  std::string engine = "auto";
  // The engine's memory budget: RocksDB's block cache or PageStore's record
  // cache.
  uint64_t engine_cache_bytes = 128ull << 20;
  uint64_t min_free_disk_bytes = 256ull << 20;  // writes are refused below this much free disk
  txn::Limits limits;
  uint64_t txn_timeout_ms = 10'000;       // default interactive txn deadline
  uint64_t max_txn_timeout_ms = 600'000;  // the largest deadline a client may ask for
  uint64_t max_open_txns = 10'000;
  uint64_t max_clock_offset_ms = 500;
  uint64_t gc_interval_ms = 60'000;       // how often old versions are collected
  // A shard group's leader closes a timestamp (an empty commit) when its
  // newest one is older than this, so followers can serve snapshot reads
  // that recent; 0 = only on demand.
  uint64_t close_interval_ms = 250;
  uint64_t gc_retention_ms = 300'000;     // how long old versions stay readable
  // A shard whose live data grows past this splits online at its middle
  // key (0 = never; `meridianctl shard split` still works); checked every
  // split_check_interval_ms on the shard's leader. Off by default: backup
  // and restore cover a one-shard cluster only, and a split would end them.
  uint64_t split_size_bytes = 0;
  uint64_t split_check_interval_ms = 10'000;
  uint64_t shutdown_grace_ms = 5'000;     // in-flight RPCs get this long on SIGTERM
  std::string log_level = "info";         // trace|debug|info|warn|error
  std::string log_format = "json";        // json|text
  std::string port_file;                  // if set, the bound port is written here
  // HTTP /metrics, /livez and /readyz on host:port; "" = off; port 0 = any
  // free port (logged, and written to <port_file>.metrics).
  std::string metrics_listen;
  // Replicated mode: "1=host:port,2=host:port,3=host:port", every voter of
  // the group with its address (clients and peers share the port). Empty =
  // a single unreplicated node. In replicated mode the node listens on its
  // own member address.
  std::string cluster;
  uint32_t member_id = 0;                 // this node's id in `cluster`
  // Joining a running group: `cluster` lists members to reach, this node
  // need not be among them (it listens on `listen`), and it serves nothing
  // until an operator adds it (meridianctl member add).
  bool join = false;
  std::string wal_io = "auto";            // auto|uring|posix: how the WAL fdatasyncs
  uint64_t tick_ms = 25;                  // one consensus tick; docs/operations.md says why 25
  uint64_t heartbeat_ticks = 1;           // the leader heartbeats every this many ticks
  uint64_t election_ticks = 10;           // follower timeout base; the lease derives from it
  uint64_t compact_every_entries = 10'000;  // trim the log after this many applied entries
  uint64_t max_log_lag_entries = 100'000;   // log kept for a lagging peer before it needs a snapshot
  // Range shards at bootstrap (replicated mode): the keyspace is split
  // into `shards` ranges, each replicated by a MultiPaxos group of its own
  // (shard i is group i; data_dir/engine for shard 1,
  // data_dir/groups/<i>/engine for the others). `split_points` (sorted,
  // C-escaped keys, comma-separated) places the boundaries; empty = spread
  // evenly over the first key byte. Only the first bootstrap reads these:
  // afterwards the config group's committed shard map rules.
  uint64_t shards = 1;
  std::vector<std::string> split_points;
  // Replicas of each shard, chosen among the site's nodes by consistent
  // hashing (all of them if there are fewer).
  uint64_t replication_factor = 3;
  // Admission control (docs/operations.md, "Admission control"): data
  // requests beyond these are refused at once with RESOURCE_EXHAUSTED and a
  // retry-after hint.
  uint64_t max_inflight = 4096;    // data requests served at once; 0 = unlimited
  double client_rate_limit = 0;    // ops/s per client (GCRA); 0 = off
  uint64_t client_rate_burst = 0;  // requests a client may send at once; 0 = one second's worth
};

// Parses argv (flags), the environment and the YAML file named by --config or
// MERIDIAN_CONFIG. Returns InvalidArgument with a message naming the option
// and the source on any bad value, unknown YAML key or malformed file.
// `*exit_now` is set when --help or --version was handled (text in *message).
Result<Config> LoadConfig(int argc, char** argv, bool* exit_now, std::string* message);

// Parses Config::cluster into id -> address.
Result<std::map<uint32_t, std::string>> ParseCluster(const std::string& text);

// Splits "host:port" or "[v6 address]:port" into host (brackets dropped;
// may be empty) and port (0..65535).
Result<std::pair<std::string, int>> ParseHostPort(const std::string& text);

// Exposed for tests.
Result<uint64_t> ParseDurationMs(const std::string& text);
Result<uint64_t> ParseBytes(const std::string& text);

}  // namespace meridian::server
