// Progress of a long meridianctl command (snapshot save and restore) on
// stderr: records, bytes, throughput, and the percentage when the total is
// known. On a terminal one line is rewritten in place, at most ten times a
// second; otherwise a plain line is printed every few seconds, for logs.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "common/clock.h"

namespace meridian::ctl {

class Progress {
 public:
  // `enabled` false prints nothing (--no-progress). `label` starts each
  // line ("save", "restore").
  Progress(std::ostream& err, Clock* clock, std::string label, bool enabled, bool tty);

  // Total records, for the percentage; 0 = not known.
  void SetTotal(uint64_t records) { total_ = records; }
  // The counts so far (absolute; they may go down when an operation starts
  // over). Prints if a line is due.
  void Update(uint64_t records, uint64_t bytes);
  // Ends the progress: after success prints the last state; either way
  // ends a live line, so what follows starts on a line of its own.
  void Finish(bool success);
  // Microseconds since construction.
  uint64_t ElapsedMicros() const;

  // One progress line, e.g. "restore: 120000 of 200000 records (60%),
  // 13 MB, 9.1 MB/s". Exposed for tests.
  static std::string Line(const std::string& label, uint64_t records, uint64_t bytes,
                          uint64_t total, uint64_t elapsed_us);

 private:
  void Print();

  std::ostream& err_;
  Clock* const clock_;
  const std::string label_;
  const bool enabled_;
  const bool tty_;
  const uint64_t start_us_;
  uint64_t last_print_us_ = 0;
  uint64_t total_ = 0;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
  bool printed_ = false;  // a live line is on the screen
};

// "12.3 MB/s" for `bytes` in `elapsed_us`.
std::string Throughput(uint64_t bytes, uint64_t elapsed_us);

}  // namespace meridian::ctl
