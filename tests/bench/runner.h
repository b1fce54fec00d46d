// The load generator of meridian-bench: drives a Driver with a workload,
// closed loop or open loop, and measures it.
//
// Closed loop: `clients` operations are always in flight; each completion
// frees a slot for the next. A few issuing threads keep them all going
// through the driver's asynchronous calls, so hundreds of clients need no
// hundreds of threads.
//
// Open loop: operations are due at a fixed `rate`, whatever the target does.
// Latency is measured from the time an operation was due, not from when it
// was sent, so a stall of the target counts against every operation it
// delayed (no coordinated omission). `clients` still caps the operations in
// flight; one that waits for a slot waits on the clock. The run ends on
// time: operations still due then are counted as unsent, not sent late.
#pragma once

#include <cstdint>
#include <vector>

#include "common/clock.h"
#include "tests/bench/driver.h"
#include "tests/bench/stats.h"
#include "tests/bench/workload.h"

namespace meridian::bench {

struct RunOptions {
  WorkloadSpec workload;
  Distribution distribution = Distribution::kZipfian;  // of the keys operations pick
  uint64_t records = 10'000;  // keys [0, records) exist (after a load); >= 1
  // Inserts take key numbers from here on, and keys [0, insert_start) are
  // taken to exist: a run after other runs that inserted passes their
  // PhaseResult::next_insert. 0: records. REQUIRES: 0 or >= records.
  uint64_t insert_start = 0;
  size_t key_size = 24;       // bytes; >= KeyNamer::kPrefix + 1
  size_t value_size = 100;    // bytes of every value written
  uint64_t ops = 0;           // measured operations to run; 0 = run for duration_s
  double duration_s = 10;     // measured seconds, after warmup; used when ops == 0
  double warmup_s = 0;        // seconds run first and left out of the statistics
  int clients = 16;           // operations in flight (closed) / at most in flight (open); >= 1
  int issuer_threads = 2;     // threads issuing operations; >= 1, capped at clients
  double rate = 0;            // target ops/s, open loop; 0 = closed loop
  uint64_t seed = 1;          // same seed, same sequence of operations per issuer
  int max_scan_length = 100;  // scans read uniform 1..max_scan_length keys; >= 1
  int drain_timeout_s = 60;   // how long to wait for the last operations to finish
  bool progress = true;       // a progress line on stderr once per second
  // Load: keys in key order (a bulk load) rather than in key-number order,
  // which the key names scramble over the key space (YCSB's hashed insert
  // order, the default). The run phases are the same either way.
  bool load_sorted = false;
};

struct PhaseResult {
  RunStats stats;      // measured operations only
  double seconds = 0;  // from the end of warmup to the last measured completion
  // Operations still in flight after drain_timeout_s. Their callbacks may
  // still run later (safely: they hold the state they touch).
  uint64_t stuck = 0;
  // Open loop: operations due before the end that were never sent, because
  // the target could not keep up with the rate (the run stops on time
  // rather than work off the backlog). Their latency would have been at
  // least their wait, so with unsent > 0 the percentiles are lower bounds.
  uint64_t unsent = 0;
  // Run: the key number the next insert would have taken (insert_start, or
  // records, when nothing was inserted).
  uint64_t next_insert = 0;
  // Load: what Driver::FinishLoad returned (not called, and OK, when
  // operations never completed), and the seconds it took, which `seconds`
  // includes.
  Status finish;
  double finish_seconds = 0;
};

// Writes keys [0, records) with Driver::Load, `clients` at a time, with a
// progress line, then calls Driver::FinishLoad. Keys written successfully
// go to `written` (may be null); a failed FinishLoad is in `finish` (and
// leaves `written` claiming keys that may not be there).
PhaseResult Load(Driver& driver, const RunOptions& options, WrittenKeys* written, Clock* clock);

// Runs the workload. Keys written successfully (updates, inserts,
// transactions) go to `written` (may be null).
PhaseResult RunWorkload(Driver& driver, const RunOptions& options, WrittenKeys* written,
                        Clock* clock);

// Reads back each of `keynums`, `clients` at a time. A key counts as ok when
// it holds a value of value_size bytes; otherwise the read is an error of
// kind NOT_FOUND, WRONG_SIZE or the read's own, with the key in the message.
PhaseResult Verify(Driver& driver, const RunOptions& options, const std::vector<uint64_t>& keynums,
                   Clock* clock);

}  // namespace meridian::bench
