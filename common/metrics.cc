#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <system_error>

namespace meridian::metrics {
namespace {

[[noreturn]] __attribute__((format(printf, 1, 2))) void Die(const char* fmt, ...) {
  std::fputs("metrics: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  std::abort();
}

bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool ValidMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!(IsLetter(c) || c == '_' || c == ':' || (i > 0 && IsDigit(c)))) return false;
  }
  return true;
}

// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved by Prometheus).
bool ValidLabelName(std::string_view s) {
  if (s.empty() || s.starts_with("__")) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!(IsLetter(c) || c == '_' || (i > 0 && IsDigit(c)))) return false;
  }
  return true;
}

// The shortest digits that parse back to exactly `v`, laid out as Go's
// strconv.FormatFloat(v, 'g', -1, 64) does (what the Prometheus Go client
// writes, so that le="0.0001" reads the same as from Go exporters):
// exponent form below 1e-4 and from 1e6 on. Go's ParseFloat, which
// Prometheus uses, reads it back exactly. Specials as the format spells them.
void AppendDouble(std::string* out, double v) {
  if (std::isnan(v)) {
    *out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    *out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  // Shortest round trip in scientific form: [-]d[.ddd]e(+|-)XX.
  char buf[64];
  const std::to_chars_result r =
      std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  if (r.ec != std::errc()) Die("cannot format a double");
  std::string_view sci(buf, r.ptr - buf);
  if (sci.front() == '-') {
    *out += '-';
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  const int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());
  const int n = static_cast<int>(digits.size());
  if (exp < -4 || exp >= 6) {
    *out += digits[0];
    if (n > 1) {
      *out += '.';
      out->append(digits, 1, std::string::npos);
    }
    *out += exp < 0 ? "e-" : "e+";
    const int a = exp < 0 ? -exp : exp;
    if (a < 10) *out += '0';
    *out += std::to_string(a);
  } else if (exp < 0) {
    *out += "0.";
    out->append(static_cast<size_t>(-exp - 1), '0');
    *out += digits;
  } else if (exp + 1 >= n) {
    *out += digits;
    out->append(static_cast<size_t>(exp + 1 - n), '0');
  } else {
    out->append(digits, 0, static_cast<size_t>(exp + 1));
    *out += '.';
    out->append(digits, static_cast<size_t>(exp + 1), std::string::npos);
  }
}

std::string FormatDouble(double v) {
  std::string s;
  AppendDouble(&s, v);
  return s;
}

void AppendUint(std::string* out, uint64_t v) {
  char buf[24];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// HELP text: backslash and newline escaped.
void AppendEscapedHelp(std::string* out, std::string_view s) {
  for (char c : s) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

// Label values: backslash, double quote and newline escaped.
void AppendEscapedLabelValue(std::string* out, std::string_view s) {
  for (char c : s) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '"') {
      *out += "\\\"";
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

// `{n1="v1",n2="v2"[,le="bound"]}`, or nothing when there is no label.
void AppendLabels(std::string* out, const std::vector<std::string>& names, const Labels& values,
                  const std::string* le = nullptr) {
  if (names.empty() && le == nullptr) return;
  *out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) *out += ',';
    *out += names[i];
    *out += "=\"";
    AppendEscapedLabelValue(out, values[i]);
    *out += '"';
  }
  if (le != nullptr) {
    if (!names.empty()) *out += ',';
    *out += "le=\"";
    *out += *le;
    *out += '"';
  }
  *out += '}';
}

// A histogram's bounds, checked; a trailing +Inf is dropped (it is implied).
std::vector<double> CheckBounds(std::vector<double> bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (std::isnan(bounds[i])) Die("histogram bound %zu is NaN", i);
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      Die("histogram bounds must be strictly increasing: bound %zu (%s) after %s", i,
          FormatDouble(bounds[i]).c_str(), FormatDouble(bounds[i - 1]).c_str());
    }
  }
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  return bounds;
}

template <typename M>
std::vector<std::pair<Labels, const M*>> Children(const std::map<Labels, std::unique_ptr<M>>& m,
                                                  std::mutex& mu) {
  std::vector<std::pair<Labels, const M*>> out;
  std::lock_guard<std::mutex> lock(mu);
  out.reserve(m.size());
  for (const auto& [labels, child] : m) out.emplace_back(labels, child.get());
  return out;  // sorted by label values: the map's order
}

}  // namespace

// ---------------------------------------------------------------------------
// Gauge, Histogram

void Gauge::Add(double d) {
  double cur = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(CheckBounds(std::move(bounds))),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double v) {
  size_t i = bounds_.size();  // +Inf: above every bound, or NaN
  if (!std::isnan(v)) {
    i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  }
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::Get() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---------------------------------------------------------------------------
// Family

template <typename M>
M* Family<M>::With(const Labels& values) {
  if (values.size() != label_names_.size()) {
    std::string names;
    for (const std::string& n : label_names_) names += (names.empty() ? "" : ",") + n;
    Die("%s: %zu label values given, the family has %zu label names {%s}", name_.c_str(),
        values.size(), label_names_.size(), names.c_str());
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) it = children_.emplace(values, make_()).first;
  return it->second.get();
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------------------
// Registry

struct Registry::Entry {
  enum class Kind { kCounter, kGauge, kHistogram, kCallbackGauge };
  Kind kind;
  std::string name;
  std::string help;
  std::vector<std::string> label_names;
  std::unique_ptr<Family<Counter>> counters;
  std::unique_ptr<Family<Gauge>> gauges;
  std::unique_ptr<Family<Histogram>> histograms;
  std::function<GaugeSamples()> fn;

  // The sample names this entry renders.
  std::vector<std::string> SampleNames() const {
    if (kind != Kind::kHistogram) return {name};
    return {name, name + "_bucket", name + "_sum", name + "_count"};
  }
};

namespace {

void CheckNames(const std::string& name, const std::vector<std::string>& label_names,
                bool histogram) {
  if (!ValidMetricName(name)) {
    Die("bad metric name \"%s\": must match [a-zA-Z_:][a-zA-Z0-9_:]*", name.c_str());
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& l = label_names[i];
    if (!ValidLabelName(l)) {
      Die("%s: bad label name \"%s\": must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
          name.c_str(), l.c_str());
    }
    if (histogram && l == "le") {
      Die("%s: \"le\" is reserved for a histogram's buckets", name.c_str());
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == l) Die("%s: label name \"%s\" repeated", name.c_str(), l.c_str());
    }
  }
}

}  // namespace

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::Add(std::unique_ptr<Entry> e) {
  CheckNames(e->name, e->label_names, e->kind == Entry::Kind::kHistogram);
  const std::vector<std::string> mine = e->SampleNames();
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::unique_ptr<Entry>& other : entries_) {
    for (const std::string& n : other->SampleNames()) {
      if (std::find(mine.begin(), mine.end(), n) != mine.end()) {
        Die("metric %s registered twice (as %s and by %s)", n.c_str(),
            n == e->name ? "a family" : "a histogram's series", other->name.c_str());
      }
    }
  }
  entries_.push_back(std::move(e));
}

Family<Counter>* Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kCounter;
  e->name = name;
  e->help = help;
  e->label_names = label_names;
  e->counters.reset(new Family<Counter>(std::move(name), std::move(help), std::move(label_names),
                                        [] { return std::make_unique<Counter>(); }));
  Family<Counter>* f = e->counters.get();
  Add(std::move(e));
  return f;
}

Family<Gauge>* Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kGauge;
  e->name = name;
  e->help = help;
  e->label_names = label_names;
  e->gauges.reset(new Family<Gauge>(std::move(name), std::move(help), std::move(label_names),
                                    [] { return std::make_unique<Gauge>(); }));
  Family<Gauge>* f = e->gauges.get();
  Add(std::move(e));
  return f;
}

Family<Histogram>* Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kHistogram;
  e->name = name;
  e->help = help;
  e->label_names = label_names;
  // Checked now, not at the first With().
  std::vector<double> checked = CheckBounds(std::move(bounds));
  e->histograms.reset(new Family<Histogram>(
      std::move(name), std::move(help), std::move(label_names),
      [checked] { return std::make_unique<Histogram>(checked); }));
  Family<Histogram>* f = e->histograms.get();
  Add(std::move(e));
  return f;
}

void Registry::AddCallbackGauge(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::function<GaugeSamples()> fn) {
  if (!fn) Die("%s: callback gauge without a function", name.c_str());
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kCallbackGauge;
  e->name = std::move(name);
  e->help = std::move(help);
  e->label_names = std::move(label_names);
  e->fn = std::move(fn);
  Add(std::move(e));
}

std::string Registry::Render() const {
  // Entries are never removed, so the pointers outlive the lock; callbacks
  // and family locks are taken without it.
  std::vector<const Entry*> entries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entries.reserve(entries_.size());
    for (const std::unique_ptr<Entry>& e : entries_) entries.push_back(e.get());
  }
  std::string out;
  for (const Entry* e : entries) {
    const char* type = "gauge";
    if (e->kind == Entry::Kind::kCounter) type = "counter";
    if (e->kind == Entry::Kind::kHistogram) type = "histogram";
    out += "# HELP ";
    out += e->name;
    out += ' ';
    AppendEscapedHelp(&out, e->help);
    out += "\n# TYPE ";
    out += e->name;
    out += ' ';
    out += type;
    out += '\n';
    switch (e->kind) {
      case Entry::Kind::kCounter:
        for (const auto& [labels, c] : Children(e->counters->children_, e->counters->mu_)) {
          out += e->name;
          AppendLabels(&out, e->label_names, labels);
          out += ' ';
          AppendUint(&out, c->Value());
          out += '\n';
        }
        break;
      case Entry::Kind::kGauge:
        for (const auto& [labels, g] : Children(e->gauges->children_, e->gauges->mu_)) {
          out += e->name;
          AppendLabels(&out, e->label_names, labels);
          out += ' ';
          AppendDouble(&out, g->Value());
          out += '\n';
        }
        break;
      case Entry::Kind::kHistogram:
        for (const auto& [labels, h] : Children(e->histograms->children_, e->histograms->mu_)) {
          const Histogram::Snapshot s = h->Get();
          for (size_t i = 0; i <= s.bounds.size(); ++i) {
            const std::string le = i < s.bounds.size() ? FormatDouble(s.bounds[i]) : "+Inf";
            out += e->name;
            out += "_bucket";
            AppendLabels(&out, e->label_names, labels, &le);
            out += ' ';
            AppendUint(&out, s.cumulative[i]);
            out += '\n';
          }
          out += e->name;
          out += "_sum";
          AppendLabels(&out, e->label_names, labels);
          out += ' ';
          AppendDouble(&out, s.sum);
          out += '\n';
          out += e->name;
          out += "_count";
          AppendLabels(&out, e->label_names, labels);
          out += ' ';
          AppendUint(&out, s.count);
          out += '\n';
        }
        break;
      case Entry::Kind::kCallbackGauge: {
        GaugeSamples samples = e->fn();
        for (const auto& [labels, v] : samples) {
          if (labels.size() != e->label_names.size()) {
            Die("%s: the callback gave a sample with %zu label values, the gauge has %zu label "
                "names",
                e->name.c_str(), labels.size(), e->label_names.size());
          }
        }
        std::stable_sort(samples.begin(), samples.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (size_t i = 0; i < samples.size(); ++i) {
          if (i > 0 && samples[i].first == samples[i - 1].first) continue;  // keep the first
          out += e->name;
          AppendLabels(&out, e->label_names, samples[i].first);
          out += ' ';
          AppendDouble(&out, samples[i].second);
          out += '\n';
        }
        break;
      }
    }
  }
  return out;
}

Registry& DefaultRegistry() {
  // Leaked on purpose: threads may still touch their children at exit.
  static Registry* const registry = new Registry();
  return *registry;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,    5,     10};
}

}  // namespace meridian::metrics
