#include "common/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace meridian::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(MetricsTest, CounterWithoutLabels) {
  Registry r;
  Counter* c = r.AddCounter("requests_total", "Requests served.")->With();
  c->Inc();
  c->Inc(41);
  EXPECT_EQ(c->Value(), 42u);
  EXPECT_EQ(r.Render(),
            "# HELP requests_total Requests served.\n"
            "# TYPE requests_total counter\n"
            "requests_total 42\n");
}

TEST(MetricsTest, CounterWithLabelsSortedByValues) {
  Registry r;
  Family<Counter>* f = r.AddCounter("rpc_total", "RPCs.", {"method", "code"});
  f->With({"Put", "OK"})->Inc(2);
  f->With({"Get", "OK"})->Inc();
  f->With({"Get", "ABORTED"})->Inc(3);
  EXPECT_EQ(f->With({"Put", "OK"}), f->With({"Put", "OK"}));  // one child per label set
  f->With({"Put", "OK"})->Inc(18446744073709551615ull - 2);  // the whole uint64 range
  EXPECT_EQ(r.Render(),
            "# HELP rpc_total RPCs.\n"
            "# TYPE rpc_total counter\n"
            "rpc_total{method=\"Get\",code=\"ABORTED\"} 3\n"
            "rpc_total{method=\"Get\",code=\"OK\"} 1\n"
            "rpc_total{method=\"Put\",code=\"OK\"} 18446744073709551615\n");
}

TEST(MetricsTest, FamiliesInRegistrationOrderAndEmptyFamilies) {
  Registry r;
  r.AddCounter("b_total", "B.", {"x"});  // no child: HELP and TYPE only
  r.AddGauge("a", "A.")->With()->Set(7);
  r.AddHistogram("c_seconds", "C.", {"x"}, {1});
  EXPECT_EQ(r.Render(),
            "# HELP b_total B.\n"
            "# TYPE b_total counter\n"
            "# HELP a A.\n"
            "# TYPE a gauge\n"
            "a 7\n"
            "# HELP c_seconds C.\n"
            "# TYPE c_seconds histogram\n");
}

TEST(MetricsTest, GaugeSetAndAdd) {
  Registry r;
  Family<Gauge>* f = r.AddGauge("temperature", "Degrees.", {"room"});
  Gauge* a = f->With({"a"});
  a->Set(1.5);
  a->Add(-0.25);
  EXPECT_EQ(a->Value(), 1.25);
  f->With({"b"})->Set(-3);
  Gauge* c = f->With({"c"});
  c->Add(0.1);
  c->Add(0.2);  // shortest round trip, not %g's 0.3
  f->With({"d"})->Set(1e-5);
  f->With({"e"})->Set(1e21);
  f->With({"f"})->Set(kInf);
  f->With({"g"})->Set(-kInf);
  f->With({"h"})->Set(kNaN);
  f->With({"i"});  // a new gauge is 0
  EXPECT_EQ(r.Render(),
            "# HELP temperature Degrees.\n"
            "# TYPE temperature gauge\n"
            "temperature{room=\"a\"} 1.25\n"
            "temperature{room=\"b\"} -3\n"
            "temperature{room=\"c\"} 0.30000000000000004\n"
            "temperature{room=\"d\"} 1e-05\n"
            "temperature{room=\"e\"} 1e+21\n"
            "temperature{room=\"f\"} +Inf\n"
            "temperature{room=\"g\"} -Inf\n"
            "temperature{room=\"h\"} NaN\n"
            "temperature{room=\"i\"} 0\n");
}

// How Render writes `v`: the text after "g " in an unlabelled gauge.
std::string Formatted(double v) {
  Registry r;
  r.AddGauge("g", "G.")->With()->Set(v);
  const std::string text = r.Render();
  const std::string head = "# HELP g G.\n# TYPE g gauge\ng ";
  EXPECT_EQ(text.substr(0, head.size()), head);
  EXPECT_EQ(text.back(), '\n');
  return text.substr(head.size(), text.size() - head.size() - 1);
}

TEST(MetricsTest, DoublesAsGoWritesThem) {
  // strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form
  // below 1e-4 and from 1e6 on.
  EXPECT_EQ(Formatted(0), "0");
  EXPECT_EQ(Formatted(-0.0), "-0");
  EXPECT_EQ(Formatted(1), "1");
  EXPECT_EQ(Formatted(12.5), "12.5");
  EXPECT_EQ(Formatted(0.0001), "0.0001");
  EXPECT_EQ(Formatted(0.00025), "0.00025");
  EXPECT_EQ(Formatted(-2.5e-5), "-2.5e-05");
  EXPECT_EQ(Formatted(1.5e-7), "1.5e-07");
  EXPECT_EQ(Formatted(123456), "123456");
  EXPECT_EQ(Formatted(1e6), "1e+06");
  EXPECT_EQ(Formatted(123456789), "1.23456789e+08");
  EXPECT_EQ(Formatted(1e100), "1e+100");
  EXPECT_EQ(Formatted(5e-324), "5e-324");
  EXPECT_EQ(Formatted(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(Formatted(1.0 / 3), "0.3333333333333333");
  // Every value reads back exactly.
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v;
    std::memcpy(&v, &x, sizeof(v));
    if (!std::isfinite(v)) continue;
    const std::string s = Formatted(v);
    ASSERT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
  }
}

TEST(MetricsTest, HistogramBoundariesGoInTheirLeBucket) {
  Registry r;
  Family<Histogram>* f = r.AddHistogram("latency_seconds", "Latency.", {"method"}, {0.5, 1, 2.5});
  Histogram* h = f->With({"Get"});
  for (double v : {0.25, 0.5, 1.0, 2.5, 3.0, 0.0}) h->Observe(v);
  f->With({"Put"});  // nothing observed
  EXPECT_EQ(r.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{method=\"Get\",le=\"0.5\"} 3\n"
            "latency_seconds_bucket{method=\"Get\",le=\"1\"} 4\n"
            "latency_seconds_bucket{method=\"Get\",le=\"2.5\"} 5\n"
            "latency_seconds_bucket{method=\"Get\",le=\"+Inf\"} 6\n"
            "latency_seconds_sum{method=\"Get\"} 7.25\n"
            "latency_seconds_count{method=\"Get\"} 6\n"
            "latency_seconds_bucket{method=\"Put\",le=\"0.5\"} 0\n"
            "latency_seconds_bucket{method=\"Put\",le=\"1\"} 0\n"
            "latency_seconds_bucket{method=\"Put\",le=\"2.5\"} 0\n"
            "latency_seconds_bucket{method=\"Put\",le=\"+Inf\"} 0\n"
            "latency_seconds_sum{method=\"Put\"} 0\n"
            "latency_seconds_count{method=\"Put\"} 0\n");
}

TEST(MetricsTest, HistogramWithoutLabels) {
  Registry r;
  Histogram* h = r.AddHistogram("batch_entries", "Entries.", {}, {1, 10})->With();
  h->Observe(10);
  h->Observe(11);
  EXPECT_EQ(r.Render(),
            "# HELP batch_entries Entries.\n"
            "# TYPE batch_entries histogram\n"
            "batch_entries_bucket{le=\"1\"} 0\n"
            "batch_entries_bucket{le=\"10\"} 1\n"
            "batch_entries_bucket{le=\"+Inf\"} 2\n"
            "batch_entries_sum 21\n"
            "batch_entries_count 2\n");
}

TEST(MetricsTest, HistogramSnapshot) {
  Histogram h({1, 2, kInf});  // a trailing +Inf is implied anyway: dropped
  h.Observe(-5);              // below the first bound: first bucket
  h.Observe(2);
  h.Observe(kInf);
  Histogram::Snapshot s = h.Get();
  EXPECT_EQ(s.bounds, (std::vector<double>{1, 2}));
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.sum, kInf);

  Histogram n({1});
  n.Observe(kNaN);  // only in +Inf
  s = n.Get();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(s.count, 1u);
  EXPECT_TRUE(std::isnan(s.sum));

  Histogram none({});
  none.Observe(3);
  s = none.Get();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{1}));
  EXPECT_EQ(s.sum, 3);
}

TEST(MetricsTest, LatencyBucketsAreIncreasingFrom100usTo10s) {
  std::vector<double> b = LatencyBuckets();
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b.front(), 0.0001);
  EXPECT_EQ(b.back(), 10);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
  Registry r;
  r.AddHistogram("x_seconds", "X.", {}, b)->With()->Observe(0.001);
  EXPECT_NE(r.Render().find("x_seconds_bucket{le=\"0.0001\"} 0\n"
                            "x_seconds_bucket{le=\"0.00025\"} 0\n"
                            "x_seconds_bucket{le=\"0.0005\"} 0\n"
                            "x_seconds_bucket{le=\"0.001\"} 1\n"),
            std::string::npos)
      << r.Render();
}

TEST(MetricsTest, EscapesHelpAndLabelValues) {
  Registry r;
  r.AddCounter("odd_total", "Back\\slash, \"quotes\" stay,\nnewline.", {"v"})
      ->With({"a\\b\"c\nd"})
      ->Inc();
  r.AddGauge("empty_help", "", {"v"})->With({""})->Set(1);
  EXPECT_EQ(r.Render(),
            "# HELP odd_total Back\\\\slash, \"quotes\" stay,\\nnewline.\n"
            "# TYPE odd_total counter\n"
            "odd_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"
            "# HELP empty_help \n"
            "# TYPE empty_help gauge\n"
            "empty_help{v=\"\"} 1\n");
}

TEST(MetricsTest, CallbackGaugesRunAtRenderTime) {
  Registry r;
  int calls = 0;
  double size = 3;
  r.AddCallbackGauge("queue_size", "Queued.", {"queue", "node"}, [&] {
    ++calls;
    return Registry::GaugeSamples{
        {{"b", "1"}, size}, {{"a", "2"}, 0.5}, {{"a", "1"}, -1}, {{"b", "1"}, 99}};
  });
  r.AddCallbackGauge("up", "Up.", {}, [] { return Registry::GaugeSamples{{{}, 1}}; });
  r.AddCallbackGauge("nothing", "None now.", {"x"}, [] { return Registry::GaugeSamples{}; });
  EXPECT_EQ(calls, 0);
  const std::string want =
      "# HELP queue_size Queued.\n"
      "# TYPE queue_size gauge\n"
      "queue_size{queue=\"a\",node=\"1\"} -1\n"
      "queue_size{queue=\"a\",node=\"2\"} 0.5\n"
      "queue_size{queue=\"b\",node=\"1\"} 3\n"  // the first of two samples with equal labels
      "# HELP up Up.\n"
      "# TYPE up gauge\n"
      "up 1\n"
      "# HELP nothing None now.\n"
      "# TYPE nothing gauge\n";
  EXPECT_EQ(r.Render(), want);
  EXPECT_EQ(calls, 1);
  size = 4;
  std::string got = r.Render();
  EXPECT_EQ(calls, 2);
  EXPECT_NE(got.find("queue_size{queue=\"b\",node=\"1\"} 4\n"), std::string::npos) << got;
}

TEST(MetricsTest, CallbackMayUseTheRegistry) {
  // The callback runs without the registry's lock: it may even render.
  Registry r;
  r.AddCounter("n_total", "N.")->With()->Inc(5);
  bool inside = false;
  r.AddCallbackGauge("rendered_bytes", "Bytes.", {}, [&r, &inside] {
    if (inside) return Registry::GaugeSamples{{{}, 0}};
    inside = true;
    const double n = static_cast<double>(r.Render().size());
    inside = false;
    return Registry::GaugeSamples{{{}, n > 0 ? 1.0 : 0.0}};
  });
  EXPECT_NE(r.Render().find("rendered_bytes 1\n"), std::string::npos);
}

TEST(MetricsTest, DefaultRegistryIsOneRegistry) {
  EXPECT_EQ(&DefaultRegistry(), &DefaultRegistry());
}

TEST(MetricsTest, ConcurrentIncrementsAreExact) {
  Registry r;
  Family<Counter>* f = r.AddCounter("hits_total", "Hits.", {"shard"});
  Gauge* g = r.AddGauge("level", "Level.")->With();
  constexpr int kThreads = 8;
  constexpr int kIncs = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      Counter* c = f->With({"0"});  // all threads race to create the same child
      for (int i = 0; i < kIncs; ++i) c->Inc();
      for (int i = 0; i < kIncs / 10; ++i) g->Add(1);
    });
  }
  // Scrapes while they run.
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(r.Render().empty());
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(f->With({"0"})->Value(), uint64_t{kThreads} * kIncs);
  EXPECT_EQ(g->Value(), kThreads * (kIncs / 10));
  EXPECT_EQ(r.Render(),
            "# HELP hits_total Hits.\n"
            "# TYPE hits_total counter\n"
            "hits_total{shard=\"0\"} 800000\n"
            "# HELP level Level.\n"
            "# TYPE level gauge\n"
            "level 80000\n");
}

TEST(MetricsTest, ConcurrentObservesAreConsistent) {
  Registry r;
  Family<Histogram>* f = r.AddHistogram("op_seconds", "Ops.", {"op"}, {1, 2});
  constexpr int kThreads = 8;
  constexpr int kObs = 24000;  // a multiple of 6
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Histogram* h = f->With({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < kObs; ++i) h->Observe(0.5 * (i % 6));  // 0 .. 2.5, sums exact
    });
  }
  // While they run, every snapshot's +Inf bucket is its count and buckets
  // never decrease.
  for (int i = 0; i < 200; ++i) {
    Histogram::Snapshot s = f->With({"even"})->Get();
    ASSERT_EQ(s.cumulative.size(), 3u);
    EXPECT_EQ(s.cumulative.back(), s.count);
    EXPECT_LE(s.cumulative[0], s.cumulative[1]);
    EXPECT_LE(s.cumulative[1], s.cumulative[2]);
  }
  for (std::thread& t : threads) t.join();
  uint64_t total = 0;
  for (const char* op : {"even", "odd"}) {
    Histogram::Snapshot s = f->With({op})->Get();
    EXPECT_EQ(s.count, uint64_t{kThreads / 2} * kObs);
    // Per 6 observations: 0, .5, 1 <= 1; 1.5, 2 <= 2; 2.5 in +Inf only.
    EXPECT_EQ(s.cumulative[0], s.count / 2);
    EXPECT_EQ(s.cumulative[1], s.count / 6 * 5);
    EXPECT_EQ(s.sum, (kThreads / 2) * (kObs / 6) * 7.5);
    total += s.count;
  }
  EXPECT_EQ(total, uint64_t{kThreads} * kObs);
}

// ---------------------------------------------------------------------------
// Programming errors abort with a message.

class MetricsDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(MetricsDeathTest, BadMetricName) {
  Registry r;
  EXPECT_DEATH(r.AddCounter("1st_total", "Bad."), "bad metric name \"1st_total\"");
  EXPECT_DEATH(r.AddGauge("a-b", "Bad."), "bad metric name \"a-b\"");
  EXPECT_DEATH(r.AddGauge("", "Bad."), "bad metric name");
}

TEST_F(MetricsDeathTest, BadLabelName) {
  Registry r;
  EXPECT_DEATH(r.AddCounter("x_total", "X.", {"a:b"}), "bad label name \"a:b\"");
  EXPECT_DEATH(r.AddCounter("x_total", "X.", {"__name"}), "bad label name \"__name\"");
  EXPECT_DEATH(r.AddCounter("x_total", "X.", {"a", "a"}), "label name \"a\" repeated");
  EXPECT_DEATH(r.AddHistogram("x_seconds", "X.", {"le"}, {1}), "\"le\" is reserved");
  r.AddCounter("le_total", "le is fine outside histograms.", {"le"});
}

TEST_F(MetricsDeathTest, DuplicateName) {
  Registry r;
  r.AddCounter("x_total", "X.");
  r.AddHistogram("h", "H.", {}, {1});
  EXPECT_DEATH(r.AddGauge("x_total", "X again."), "metric x_total registered twice");
  EXPECT_DEATH(r.AddCounter("h_count", "Clashes with the histogram's series."),
               "metric h_count registered twice");
  r.AddGauge("y_bucket", "Y.");
  EXPECT_DEATH(r.AddHistogram("y", "Its _bucket series clashes.", {}, {1}),
               "metric y_bucket registered twice");
}

TEST_F(MetricsDeathTest, WrongLabelCount) {
  Registry r;
  Family<Counter>* f = r.AddCounter("rpc_total", "RPCs.", {"method", "code"});
  EXPECT_DEATH(f->With({"Get"}), "rpc_total: 1 label values given, the family has 2 label names "
                                 "\\{method,code\\}");
  EXPECT_DEATH(r.AddGauge("g", "G.")->With({"x"}), "g: 1 label values given");
  r.AddCallbackGauge("cb", "CB.", {"a"}, [] { return Registry::GaugeSamples{{{}, 1}}; });
  EXPECT_DEATH(r.Render(), "cb: the callback gave a sample with 0 label values");
}

TEST_F(MetricsDeathTest, BadBounds) {
  Registry r;
  EXPECT_DEATH(r.AddHistogram("h", "H.", {}, {1, 1}), "strictly increasing");
  EXPECT_DEATH(r.AddHistogram("h", "H.", {}, {2, 1}), "strictly increasing");
  EXPECT_DEATH(r.AddHistogram("h", "H.", {}, {kNaN}), "NaN");
}

// ---------------------------------------------------------------------------
// promtool (Debian package prometheus) parses and lints the output.

// Pipes `text` into `promtool check metrics`; returns its exit code (-1 if
// it did not exit) and what it said.
int Promtool(const std::string& text, std::string* said) {
  const std::string out_path =
      ::testing::TempDir() + "metrics_promtool_" + std::to_string(getpid()) + ".out";
  const std::string cmd = "promtool check metrics >" + out_path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "w");
  if (p == nullptr) return -1;
  std::fwrite(text.data(), 1, text.size(), p);
  const int status = pclose(p);
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  *said = ss.str();
  std::remove(out_path.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(MetricsTest, PromtoolAcceptsEverything) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  }
  Registry r;
  r.AddCounter("demo_requests_total", "Requests.")->With()->Inc(3);
  Family<Counter>* rpcs = r.AddCounter("demo_rpc_total", "RPCs, by method and code.",
                                       {"method", "code"});
  rpcs->With({"/meridian.Kv/Get", "OK"})->Inc();
  rpcs->With({"/meridian.Kv/Put", "ABORTED"})->Inc(2);
  r.AddCounter("demo_unused_total", "No child yet.", {"x"});
  Family<Gauge>* g = r.AddGauge("demo_level", "A gauge;\nhelp with \\ and \"quotes\".", {"v"});
  g->With({"quote\" backslash\\ newline\n"})->Set(1.25);
  g->With({"inf"})->Set(kInf);
  g->With({"ninf"})->Set(-kInf);
  g->With({"nan"})->Set(kNaN);
  g->With({"small"})->Set(1e-300);
  g->With({"big"})->Set(-1.7976931348623157e308);
  g->With({"utf8 µs"})->Set(0);
  Family<Histogram>* h = r.AddHistogram("demo_latency_seconds", "Latency.", {"method"},
                                        LatencyBuckets());
  for (double v : {0.0001, 0.003, 0.7, 12.0}) h->With({"Get"})->Observe(v);
  h->With({"Put"});
  r.AddHistogram("demo_batch_size", "Sizes.", {}, {1, 2, 4})->With()->Observe(3);
  r.AddCallbackGauge("demo_queue_length", "Computed at scrape.", {"queue"}, [] {
    return Registry::GaugeSamples{{{"b"}, 2}, {{"a"}, 1}};
  });
  r.AddCallbackGauge("demo_up", "Up.", {}, [] { return Registry::GaugeSamples{{{}, 1}}; });
  const std::string text = r.Render();

  // The harness itself: a broken exposition fails.
  std::string said;
  EXPECT_NE(Promtool("# TYPE x_total counter\nx_total{a=\"b} 1\n", &said), 0) << said;
  EXPECT_EQ(Promtool(text, &said), 0) << "promtool says:\n" << said << "\non:\n" << text;
}

}  // namespace
}  // namespace meridian::metrics
