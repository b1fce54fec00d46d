// A small metrics registry with Prometheus text exposition (format 0.0.4):
// counters, gauges and histograms, each a family of children keyed by label
// values. prometheus-cpp is not packaged in Debian, so this is our own.
//
// Hot paths touch only atomics: a child is looked up once (With) and kept;
// Inc/Set/Observe never lock. Families and children live as long as the
// registry, so the pointers handed out stay valid.
//
//   metrics::Registry& r = metrics::DefaultRegistry();
//   auto* commits = r.AddCounter("meridian_txn_commits_total", "Commits.", {"path"});
//   commits->With({"fast"})->Inc();
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace meridian::metrics {

// Label values, in the order of the family's label names.
using Labels = std::vector<std::string>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, strictly increasing, no NaN (else
  // it aborts); +Inf is implied (a trailing +Inf is dropped). A value equal
  // to a bound counts in that bound's bucket (le: less or equal); NaN counts
  // only in +Inf.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    uint64_t count = 0;                // == cumulative.back(), always
    double sum = 0;
  };
  Snapshot Get() const;

 private:
  const std::vector<double> bounds_;
  // bounds_.size() + 1, not cumulative. The count is their sum (not a
  // counter of its own), so a snapshot's +Inf bucket always equals its count.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// All children of one metric name. With() returns the child for `values`
// (created on first use); the number of values must match the label names
// (else it aborts). With() takes the family's mutex: keep the child.
template <typename M>
class Family {
 public:
  M* With(const Labels& values = {});

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<M>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mu_;
  std::map<Labels, std::unique_ptr<M>> children_;
};

class Registry {
 public:
  // Out of line: Entry is defined in metrics.cc.
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family. Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label
  // names [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__"); a bad or
  // duplicate name is a programming error and aborts with a message.
  Family<Counter>* AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>* AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>* AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);
  // A gauge whose children are computed at each scrape (sizes, states that
  // live elsewhere). `fn` must be cheap and thread-safe; it runs without the
  // registry's lock held. Each sample's labels must have as many values as
  // `label_names` (else Render aborts); of samples with equal labels only
  // the first is rendered.
  using GaugeSamples = std::vector<std::pair<Labels, double>>;
  void AddCallbackGauge(std::string name, std::string help, std::vector<std::string> label_names,
                        std::function<GaugeSamples()> fn);

  // Everything, in the Prometheus text format 0.0.4: per family (in
  // registration order) a # HELP and a # TYPE line, then its samples sorted
  // by label values (histograms as _bucket{le=...}, _sum and _count), label
  // values escaped. A histogram's name_bucket/_sum/_count may not be
  // registered as names of their own, and "le" is not a histogram label name.
  // promtool's lint also wants counters named *_total.
  std::string Render() const;

 private:
  struct Entry;
  void Add(std::unique_ptr<Entry> e);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;  // in registration order
};

// The process-wide registry that /metrics serves. Never destroyed, so
// children stay valid for threads still running at exit.
Registry& DefaultRegistry();

// Latency buckets in seconds, 100 µs to 10 s.
std::vector<double> LatencyBuckets();

// Instantiated in metrics.cc.
extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

}  // namespace meridian::metrics
