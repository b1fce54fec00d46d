#include "tests/bench/report.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string_view>

namespace meridian::bench {
namespace {

constexpr double kPercentiles[] = {50, 90, 99, 99.9};
constexpr const char* kPercentileNames[] = {"p50", "p90", "p99", "p999"};

__attribute__((format(printf, 1, 2))) std::string Format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

std::string Ms(uint64_t us) { return Format("%.3f", static_cast<double>(us) / 1000); }

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          *out += Format("\\u%04x", c);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

std::string TableRow(std::string_view name, const OpStats& op, double seconds) {
  const Histogram& h = op.latency_us;
  const double rate = seconds > 0 ? static_cast<double>(op.ok()) / seconds : 0;
  return Format("%-8s %10llu %8llu %11.1f %9s %9s %9s %9s %9s\n", std::string(name).c_str(),
                U(op.ok()), U(op.errors), rate, Ms(h.Percentile(50)).c_str(),
                Ms(h.Percentile(90)).c_str(), Ms(h.Percentile(99)).c_str(),
                Ms(h.Percentile(99.9)).c_str(), Ms(h.max()).c_str());
}

std::string JsonOp(const OpStats& op, double seconds) {
  const Histogram& h = op.latency_us;
  std::string out =
      Format("{\"ops\": %llu, \"errors\": %llu, \"ops_per_sec\": %.1f, \"latency_us\": {",
             U(op.ok()), U(op.errors), seconds > 0 ? static_cast<double>(op.ok()) / seconds : 0.0);
  for (size_t i = 0; i < std::size(kPercentiles); ++i) {
    out += Format("\"%s\": %llu, ", kPercentileNames[i], U(h.Percentile(kPercentiles[i])));
  }
  out += Format("\"max\": %llu, \"mean\": %.1f}, \"aborts\": %llu}", U(h.max()), h.mean(),
                U(op.aborts));
  return out;
}

// The share of read-modify-write attempts that aborted: aborts over the
// attempts that either aborted or committed.
double AbortRate(const OpStats& rmw) {
  const uint64_t attempts = rmw.aborts + rmw.ok();
  return attempts > 0 ? static_cast<double>(rmw.aborts) / static_cast<double>(attempts) : 0;
}

std::string JsonErrors(const RunStats& stats) {
  std::string out = "{";
  for (const auto& [kind, e] : stats.errors_by_kind) {
    if (out.size() > 1) out += ", ";
    out += JsonString(kind) + Format(": {\"count\": %llu, \"first\": ", U(e.count)) +
           JsonString(e.first_message) + "}";
  }
  return out + "}";
}

std::string ErrorLines(const RunStats& stats) {
  std::string out;
  for (const auto& [kind, e] : stats.errors_by_kind) {
    out += Format("  %-20s %8llu  first: ", kind.c_str(), U(e.count)) + e.first_message + "\n";
  }
  return out;
}

std::string Mode(const RunOptions& o) {
  std::string out =
      o.rate > 0 ? Format("open loop at %.0f ops/s (at most %d in flight)", o.rate, o.clients)
                 : Format("closed loop, %d clients", o.clients);
  out += Format(", %d issuer threads", o.issuer_threads);
  return out;
}

}  // namespace

double OpsPerSecond(const PhaseResult& phase, uint64_t ops) {
  return phase.seconds > 0 ? static_cast<double>(ops) / phase.seconds : 0;
}

std::string FormatTable(const Report& r) {
  const RunOptions& o = r.options;
  std::string out;
  out += "meridian-bench: " + r.driver + " (" + r.target + ")";
  if (!r.endpoints.empty()) out += " at " + r.endpoints;
  out += "\n";
  out += Format("workload %s: %s; %s keys over %llu records; key %zu B, value %zu B\n",
                o.workload.name.c_str(), o.workload.DescribeMix().c_str(),
                std::string(DistributionName(o.distribution)).c_str(), U(o.records), o.key_size,
                o.value_size);
  if (o.workload.fraction(OpType::kReadModifyWrite) > 0) {
    out += Format("read-modify-write: %d key(s) per transaction\n", o.workload.rmw_keys);
  }
  out += Mode(o) + Format("; warmup %.1f s; measured %.2f s; seed %llu\n", o.warmup_s,
                          r.run.seconds, U(o.seed));
  if (r.open_seconds) out += Format("open: %.3f s\n", *r.open_seconds);
  if (r.load) {
    const OpStats total = r.load->stats.Total();
    out += Format("load: %llu keys in %.2f s (%.0f keys/s), %llu errors\n", U(total.ok()),
                  r.load->seconds, OpsPerSecond(*r.load, total.ok()), U(total.errors));
    out += "  " + r.load_method + Format("; finishing took %.2f s\n", r.load->finish_seconds);
    out += ErrorLines(r.load->stats);
    if (!r.load->finish.ok())
      out += "  finishing the load failed: " + r.load->finish.ToString() + "\n";
  }
  if (o.insert_start > o.records) {
    out += Format("inserts from key number %llu; next %llu\n", U(o.insert_start),
                  U(r.run.next_insert));
  }
  if (!r.ran) return out + "\nno run: the load failed\n";
  out += "\n";
  out += Format("%-8s %10s %8s %11s %9s %9s %9s %9s %9s\n", "op", "ops", "errors", "ops/s",
                "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms");
  for (int i = 0; i < kOpTypes; ++i) {
    if (o.workload.mix[i] <= 0) continue;
    out += TableRow(OpTypeName(static_cast<OpType>(i)), r.run.stats.by_op[i], r.run.seconds);
  }
  out += TableRow("total", r.run.stats.Total(), r.run.seconds);
  if (o.workload.fraction(OpType::kReadModifyWrite) > 0) {
    const OpStats& rmw = r.run.stats.by_op[static_cast<int>(OpType::kReadModifyWrite)];
    out += Format(
        "\nrmw aborts: %llu attempts aborted on a conflict and retried, for %llu commits: "
        "%.3f aborts/commit (%.1f%% of attempts)\n",
        U(rmw.aborts), U(rmw.ok()), rmw.AbortsPerOk(), 100 * AbortRate(rmw));
  }
  if (!r.run.stats.errors_by_kind.empty()) out += "\nerrors by kind:\n" + ErrorLines(r.run.stats);
  if (r.run.unsent > 0) {
    out += Format(
        "\n%llu operations were due but never sent: the target could not keep up with "
        "--rate, so the percentiles above are lower bounds\n",
        U(r.run.unsent));
  }
  if (r.run.stuck > 0) {
    out += Format("\n%llu operations never completed\n", U(r.run.stuck));
  }
  if (r.verify) {
    const OpStats v = r.verify->stats.Total();
    out += Format("\nverify: %llu keys written, %llu read back intact, %llu mismatched\n",
                  U(r.written_keys), U(v.ok()), U(v.errors));
    out += ErrorLines(r.verify->stats);
  }
  return out;
}

std::string FormatJson(const Report& r) {
  const RunOptions& o = r.options;
  std::string out = "{\n";
  out += "  \"driver\": " + JsonString(r.driver) + ",\n";
  out += "  \"target\": " + JsonString(r.target) + ",\n";
  out += "  \"endpoints\": " + JsonString(r.endpoints) + ",\n";
  out += "  \"workload\": " + JsonString(o.workload.name) + ",\n";
  out += "  \"mix\": " + JsonString(o.workload.DescribeMix()) + ",\n";
  out += "  \"distribution\": " + JsonString(DistributionName(o.distribution)) + ",\n";
  out += Format("  \"records\": %llu,\n  \"key_size\": %zu,\n  \"value_size\": %zu,\n",
                U(o.records), o.key_size, o.value_size);
  out += Format("  \"clients\": %d,\n  \"issuer_threads\": %d,\n  \"engine_threads\": %d,\n",
                o.clients, o.issuer_threads, r.engine_threads);
  out +=
      Format("  \"rate\": %.1f,\n  \"warmup_s\": %.3f,\n  \"seed\": %llu,\n  \"rmw_keys\": %d,\n",
             o.rate, o.warmup_s, U(o.seed), o.workload.rmw_keys);
  if (r.open_seconds) out += Format("  \"open_seconds\": %.6f,\n", *r.open_seconds);
  out += Format("  \"loaded\": %s,\n", r.loaded ? "true" : "false");
  if (r.load) {
    const OpStats total = r.load->stats.Total();
    out += Format(
        "  \"load\": {\"keys\": %llu, \"errors\": %llu, \"seconds\": %.3f, "
        "\"finish_seconds\": %.3f, \"method\": ",
        U(total.ok()), U(total.errors), r.load->seconds, r.load->finish_seconds);
    out += JsonString(r.load_method) + ", \"finish\": " + JsonString(r.load->finish.ToString()) +
           ", \"errors_by_kind\": ";
    out += JsonErrors(r.load->stats) + "},\n";
  }
  out += Format("  \"insert_start\": %llu,\n  \"next_insert\": %llu,\n",
                U(std::max(o.insert_start, o.records)), U(r.run.next_insert));
  out += Format("  \"ran\": %s,\n", r.ran ? "true" : "false");
  const OpStats total = r.run.stats.Total();
  out += Format("  \"seconds\": %.3f,\n  \"ops\": %llu,\n  \"errors\": %llu,\n", r.run.seconds,
                U(total.ok()), U(total.errors));
  out += Format("  \"ops_per_sec\": %.1f,\n  \"stuck\": %llu,\n  \"unsent\": %llu,\n",
                OpsPerSecond(r.run, total.ok()), U(r.run.stuck), U(r.run.unsent));
  out += "  \"total\": " + JsonOp(total, r.run.seconds) + ",\n";
  if (o.workload.fraction(OpType::kReadModifyWrite) > 0) {
    const OpStats& rmw = r.run.stats.by_op[static_cast<int>(OpType::kReadModifyWrite)];
    out += Format("  \"aborts_per_commit\": %.4f,\n  \"abort_rate\": %.4f,\n", rmw.AbortsPerOk(),
                  AbortRate(rmw));
  }
  out += "  \"by_op\": {";
  bool first = true;
  for (int i = 0; i < kOpTypes; ++i) {
    if (o.workload.mix[i] <= 0) continue;
    out += first ? "\n" : ",\n";
    first = false;
    out += "    " + JsonString(OpTypeName(static_cast<OpType>(i))) + ": " +
           JsonOp(r.run.stats.by_op[i], r.run.seconds);
  }
  out += "\n  },\n";
  out += "  \"errors_by_kind\": " + JsonErrors(r.run.stats);
  if (r.verify) {
    const OpStats v = r.verify->stats.Total();
    out += Format(
        ",\n  \"verify\": {\"written_keys\": %llu, \"intact\": %llu, \"mismatched\": %llu, "
        "\"errors_by_kind\": ",
        U(r.written_keys), U(v.ok()), U(v.errors));
    out += JsonErrors(r.verify->stats) + "}";
  }
  out += "\n}\n";
  return out;
}

}  // namespace meridian::bench
