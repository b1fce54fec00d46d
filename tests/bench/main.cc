// meridian-bench: a YCSB-style load generator for Meridian, etcd and the
// bare storage engine. docs/benchmarks.md describes the workloads, options
// and figures.
//
// Exit codes: 0 ok; 1 the run failed (the target could not be reached,
// the load failed, no operation succeeded, operations never completed, or
// --verify-writes found a mismatch); 2 usage.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "tests/bench/driver.h"
#include "tests/bench/engine_driver.h"
#include "tests/bench/report.h"
#include "tests/bench/runner.h"

namespace meridian::bench {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const size_t end = comma == std::string::npos ? s.size() : comma;
    if (end > start) out.push_back(s.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string StatusText(const Status& s) { return std::string(s.ToString()); }

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::trunc);
  f << content;
  f.close();
  return f.good();
}

int Main(int argc, char** argv) {
  CLI::App app{"meridian-bench: YCSB-style benchmark of Meridian, etcd and the storage engine",
               "meridian-bench"};
  std::string driver_name, endpoints_flag, workload_name, distribution_name, json_path;
  RunOptions o;
  DriverOptions d;
  EngineDriverOptions e;
  int txn_keys = 2;
  uint64_t engine_memory_mb = d.engine_memory_bytes >> 20;
  bool load = false, verify_writes = false, quiet = false;
  o.clients = 32;

  app.add_option("--driver", driver_name, "target kind")
      ->required()
      ->check(CLI::IsMember({"meridian", "etcd", "engine"}));
  app.add_option("--endpoints", endpoints_flag, "host:port[,host:port...] (meridian, etcd)");
  app.add_option("--workload", workload_name, "a|b|c|d|e|f (YCSB core), write, txn or scan")
      ->required()
      ->check(CLI::IsMember({"a", "b", "c", "d", "e", "f", "write", "txn", "scan"}));
  app.add_option("--distribution", distribution_name,
                 "key popularity: zipfian|uniform|latest (default: the workload's)")
      ->check(CLI::IsMember({"zipfian", "uniform", "latest"}));
  app.add_option("--records", o.records, "keys in the data set")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX));
  app.add_option("--key-size", o.key_size, "bytes per key (\"user\" + zero-padded number)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{8}, size_t{1} << 16));
  app.add_option("--value-size", o.value_size, "bytes per value")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64} << 20));
  CLI::Option* ops_opt =
      app.add_option("--ops", o.ops, "measured operations to run")->check(CLI::PositiveNumber);
  app.add_option("--duration", o.duration_s, "measured seconds to run (default 10)")
      ->check(CLI::PositiveNumber)
      ->excludes(ops_opt);
  app.add_option("--clients", o.clients, "operations in flight (open loop: at most)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
  app.add_option("--threads", e.threads, "engine driver: worker threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--issuer-threads", o.issuer_threads, "threads issuing operations")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--rate", o.rate, "target ops/s, open loop; 0 = closed loop")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--warmup", o.warmup_s, "seconds run before measuring")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  CLI::Option* load_opt = app.add_flag(
      "--load,!--no-load", load, "load the records first (default: on if the workload reads)");
  std::string load_order = "hashed";
  app.add_option("--load-order", load_order,
                 "hashed: load keys in key-number order, scattered over the key space (YCSB's "
                 "default); sorted: in key order (a bulk load)")
      ->capture_default_str()
      ->check(CLI::IsMember({"hashed", "sorted"}));
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("--scan-length", o.max_scan_length, "scans read uniform 1..N keys")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--txn-keys", txn_keys, "workload txn: keys per transaction")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--json", json_path, "also write the results as JSON to FILE");
  app.add_flag("--verify-writes", verify_writes,
               "read back every key written successfully; exit 1 on any mismatch");
  app.add_flag("--quiet", quiet, "no progress line");
  app.add_flag("--sessions,!--no-sessions", d.sessions,
               "meridian: causal session tokens on every call (default on)");
  app.add_option("--read-consistency", d.read_consistency,
                 "meridian: linearizable|session reads through the SDK's blocking calls "
                 "(default: its async linearizable reads)");
  app.add_option("--rpc-timeout-ms", d.rpc_timeout_ms, "deadline per request")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));
  app.add_option("--engine", d.engine, "engine driver: which engine (rocksdb, pagestore)")
      ->capture_default_str();
  app.add_option("--engine-dir", d.engine_dir,
                 "engine driver: data directory (created if missing)");
  app.add_option("--engine-memory-mb", engine_memory_mb, "engine driver: block cache (rocksdb) or record cache (pagestore), MiB")
      ->capture_default_str();
  app.add_flag("--engine-direct-io", d.engine_direct_io, "engine driver: O_DIRECT");
  app.add_flag("--engine-sync,!--no-engine-sync", e.sync,
               "engine driver: fdatasync every write (default on)");
  CLI::Option* load_batch_opt =
      app.add_option("--load-batch", e.load_batch,
                     "engine driver: keys per unsynced load WriteBatch, flushed at the end of "
                     "the load; 0 = one write per key, as the run's")
          ->capture_default_str()
          ->check(CLI::Range(0, 1'000'000));
  app.add_flag("--settle,!--no-settle", e.settle_after_load,
               "engine driver: after the load, wait for RocksDB's compactions or take a "
               "PageStore checkpoint (default on)");
  app.add_option("--insert-start", o.insert_start,
                 "first key number inserts take (default --records); keys below it must exist, "
                 "e.g. the next_insert of an earlier run's JSON on the same data");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    return app.exit(err) == 0 ? kExitOk : kExitUsage;
  }

  auto usage = [](const std::string& message) {
    std::cerr << "Error: " << message << "\n";
    return kExitUsage;
  };
  Result<WorkloadSpec> workload = WorkloadByName(workload_name, txn_keys);
  if (!workload.ok()) return usage(StatusText(workload.status()));
  o.workload = *workload;
  o.distribution = o.workload.distribution;
  if (!distribution_name.empty()) o.distribution = *ParseDistribution(distribution_name);
  if (o.key_size < KeyNamer::kPrefix + 1) return usage("--key-size too small");
  if (o.insert_start != 0 && o.insert_start < o.records) {
    return usage("--insert-start must be at least --records");
  }
  if (std::max(o.records, o.insert_start) > KeyNamer(o.key_size).capacity() / 2) {
    return usage("--key-size too small for --records or --insert-start (and inserts)");
  }
  if (driver_name != "engine" && load_batch_opt->count() > 0) {
    return usage("--load-batch is for the engine driver only");
  }
  if (load_opt->count() == 0) load = o.workload.reads_existing;
  o.progress = !quiet;
  o.load_sorted = load_order == "sorted";
  d.endpoints = SplitComma(endpoints_flag);
  d.engine_memory_bytes = engine_memory_mb << 20;
  if (driver_name != "engine" && d.endpoints.empty()) return usage("--endpoints is required");
  if (driver_name == "engine" && d.engine_dir.empty()) return usage("--engine-dir is required");

  Clock* clock = SystemClock();
  const uint64_t open_start_us = clock->NowMonotonicMicros();
  Result<std::unique_ptr<Driver>> driver = driver_name == "meridian" ? MakeMeridianDriver(d)
                                           : driver_name == "etcd"   ? MakeEtcdDriver(d)
                                                                     : MakeEngineDriver(d, e);
  const uint64_t open_us = clock->NowMonotonicMicros() - open_start_us;
  if (!driver.ok()) {
    std::cerr << "Error: " << StatusText(driver.status()) << "\n";
    return driver.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailed;
  }

  Report report;
  if (driver_name == "engine") report.open_seconds = static_cast<double>(open_us) / 1e6;
  report.driver = driver_name;
  report.target = (*driver)->Describe();
  report.endpoints = endpoints_flag;
  report.options = o;
  report.engine_threads = driver_name == "engine" ? e.threads : 0;
  report.loaded = load;
  if (load) report.load_method = (*driver)->DescribeLoad() + ", " + load_order + " key order";
  WrittenKeys written;
  WrittenKeys* track = verify_writes ? &written : nullptr;
  auto finish = [&](int code) {
    std::cout << FormatTable(report) << std::flush;
    if (!json_path.empty() && !WriteFile(json_path, FormatJson(report))) {
      std::cerr << "Error: cannot write " << json_path << "\n";
      code = kExitFailed;
    }
    if (report.run.stuck > 0 || (report.load && report.load->stuck > 0) ||
        (report.verify && report.verify->stuck > 0)) {
      // Their callbacks may still come; skip the destructors that would wait.
      std::_Exit(kExitFailed);
    }
    return code;
  };

  if (load) {
    report.load = Load(**driver, o, track, clock);
    const OpStats total = report.load->stats.Total();
    if (total.errors > 0 || report.load->stuck > 0) {
      std::cerr << "Error: load failed: " << total.errors << " of " << o.records
                << " writes failed\n";
      return finish(kExitFailed);
    }
    if (!report.load->finish.ok()) {
      std::cerr << "Error: load failed: " << StatusText(report.load->finish) << "\n";
      return finish(kExitFailed);
    }
  }
  report.run = RunWorkload(**driver, o, track, clock);
  report.ran = true;
  if (report.run.stuck > 0) return finish(kExitFailed);
  int code = kExitOk;
  const OpStats total = report.run.stats.Total();
  if (total.ok() == 0) {
    std::cerr << "Error: no operation succeeded\n";
    code = kExitFailed;
  }
  if (verify_writes) {
    const std::vector<uint64_t> keys = written.Sorted();
    report.written_keys = keys.size();
    RunOptions vo = o;
    vo.progress = !quiet;
    report.verify = Verify(**driver, vo, keys, clock);
    if (report.verify->stats.Total().errors > 0 || report.verify->stuck > 0) {
      std::cerr << "Error: --verify-writes found " << report.verify->stats.Total().errors
                << " mismatches\n";
      code = kExitFailed;
    }
  }
  return finish(code);
}

}  // namespace
}  // namespace meridian::bench

int main(int argc, char** argv) { return meridian::bench::Main(argc, argv); }
