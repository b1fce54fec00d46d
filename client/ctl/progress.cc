#include "client/ctl/progress.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client/ctl/output.h"

namespace meridian::ctl {
namespace {
constexpr uint64_t kTtyIntervalUs = 100'000;
constexpr uint64_t kLogIntervalUs = 2'000'000;
}  // namespace

Progress::Progress(std::ostream& err, Clock* clock, std::string label, bool enabled, bool tty)
    : err_(err),
      clock_(clock),
      label_(std::move(label)),
      enabled_(enabled),
      tty_(tty),
      start_us_(clock->NowMonotonicMicros()),
      last_print_us_(start_us_) {}

uint64_t Progress::ElapsedMicros() const { return clock_->NowMonotonicMicros() - start_us_; }

std::string Throughput(uint64_t bytes, uint64_t elapsed_us) {
  const double seconds = static_cast<double>(elapsed_us) / 1e6;
  const double per_second = seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MB/s", per_second / 1e6);
  return buf;
}

std::string Progress::Line(const std::string& label, uint64_t records, uint64_t bytes,
                           uint64_t total, uint64_t elapsed_us) {
  std::string line = absl::StrCat(label, ": ", records);
  if (total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof(pct), "%.0f%%",
                  100.0 * static_cast<double>(records) / static_cast<double>(total));
    absl::StrAppend(&line, " of ", total, " records (", pct, ")");
  } else {
    absl::StrAppend(&line, " records");
  }
  absl::StrAppend(&line, ", ", HumanBytes(bytes), ", ", Throughput(bytes, elapsed_us));
  return line;
}

void Progress::Update(uint64_t records, uint64_t bytes) {
  records_ = records;
  bytes_ = bytes;
  if (!enabled_) return;
  const uint64_t now = clock_->NowMonotonicMicros();
  if (now - last_print_us_ < (tty_ ? kTtyIntervalUs : kLogIntervalUs)) return;
  last_print_us_ = now;
  Print();
}

void Progress::Print() {
  const std::string line = Line(label_, records_, bytes_, total_, ElapsedMicros());
  if (tty_) {
    // \r and clear-to-end-of-line: the line shrinks cleanly.
    err_ << "\r" << line << "\x1b[K";
    printed_ = true;
  } else {
    err_ << line << "\n";
  }
  err_.flush();
}

void Progress::Finish(bool success) {
  if (!enabled_) return;
  if (success) Print();
  if (tty_ && printed_) err_ << "\n";
  err_.flush();
}

}  // namespace meridian::ctl
