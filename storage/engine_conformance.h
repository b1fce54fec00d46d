// The engine conformance suite: gtest tests that every Engine implementation
// must pass, engine-agnostic. They check the engine against EngineModel over
// random operation sequences (Apply, Get, LatestVersion, Scan at random
// multi-site snapshots, GarbageCollect, Export -> Ingest, close/reopen), a
// real crash (a forked child applying synced batches is SIGKILLed at a random
// moment), and the contract's edge cases (log index order, binary and empty
// keys, scan bounds, limit and `more`, GC semantics, concurrent readers).
//
// An engine's test registers the suite once, before RUN_ALL_TESTS:
//
//   const bool kRegistered = [] {
//     RegisterEngineConformance("RocksEngineConformance", [](const std::string& dir) {
//       ... return an engine stored in dir ...
//     });
//     return true;
//   }();
//
// and links meridian_storage_conformance (it needs GTest::gtest_main or its
// own main). The tests appear as "<suite>.<Test>".
//
// Environment: MERIDIAN_CONFORMANCE_ITERS sets how many random sequences
// (seeds) each randomized test runs (default: options.iterations);
// MERIDIAN_CONFORMANCE_SEED sets the first seed (default 1). A failure prints
// its seed; rerun with MERIDIAN_CONFORMANCE_SEED=<seed>
// MERIDIAN_CONFORMANCE_ITERS=1 to replay it. Temporary stores go under
// $TEST_TMPDIR (or gtest's TempDir()) and are removed afterwards.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/engine.h"

namespace meridian::storage {

// Opens the engine stored in directory `dir`, creating an empty one if `dir`
// is empty. `dir` exists when called. The suite calls it repeatedly on one
// directory (reopen after close or crash, never while another engine on the
// same directory is open) and in forked child processes.
using EngineOpener = std::function<Result<std::unique_ptr<Engine>>(const std::string& dir)>;

struct ConformanceOptions {
  // Random sequences (seeds) per randomized test when
  // MERIDIAN_CONFORMANCE_ITERS is unset. REQUIRES: > 0.
  int iterations = 4;
  // Operations per random sequence. REQUIRES: > 0.
  int operations = 300;
  // Run the fork + SIGKILL crash test (off for builds that cannot fork, such
  // as TSan runs).
  bool crash_test = true;
};

// Registers the suite's tests under the gtest suite name `suite`, each
// opening engines with `opener`. REQUIRES: called before RUN_ALL_TESTS, once
// per suite name.
void RegisterEngineConformance(const std::string& suite, EngineOpener opener,
                               ConformanceOptions options = {});

}  // namespace meridian::storage
