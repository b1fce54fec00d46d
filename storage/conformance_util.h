// Helpers shared by the engine conformance suite's files. Internal to
// storage/: engine tests use engine_conformance.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/status.h"
#include "gtest/gtest.h"
#include "storage/engine.h"
#include "storage/engine_conformance.h"
#include "storage/engine_model.h"

namespace meridian::storage::conformance {

// What every conformance test gets.
struct Context {
  EngineOpener opener;
  ConformanceOptions options;
};

// Asserts (fatally, in the calling function) that a Status is OK.
#define CONFORMANCE_ASSERT_OK(expr)                              \
  do {                                                           \
    ::meridian::Status _conf_st = (expr);                        \
    ASSERT_TRUE(_conf_st.ok()) << #expr << " -> " << _conf_st;   \
  } while (0)
#define CONFORMANCE_EXPECT_OK(expr)                              \
  do {                                                           \
    ::meridian::Status _conf_st = (expr);                        \
    EXPECT_TRUE(_conf_st.ok()) << #expr << " -> " << _conf_st;   \
  } while (0)

// A fresh directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // A new, empty subdirectory for one engine.
  std::string NewDir();

 private:
  std::string path_;
  int next_ = 0;
};

// Opens an engine in `dir`, or records a test failure and returns null.
std::unique_ptr<Engine> OpenOrFail(const Context& ctx, const std::string& dir);

// Seeds for the randomized tests, from MERIDIAN_CONFORMANCE_SEED/_ITERS.
std::vector<uint64_t> Seeds(const Context& ctx);

// Readable renderings for failure messages; byte strings are C-escaped.
std::string Show(const Version& v);
std::string Show(const Snapshot& s);
std::string Show(const std::optional<ReadResult>& r);
std::string Show(const std::optional<Version>& v);
std::string Show(const std::vector<KeyValue>& kvs);
std::string Show(const std::vector<Record>& records);
std::string Show(const ScanOptions& o);

// Runs Engine::Scan with an fn that returns false on the `stop_after`-th key
// (0: never) and collects what fn saw.
std::vector<KeyValue> EngineScan(Engine& engine, const ScanOptions& options,
                                 const Snapshot& snapshot, uint64_t stop_after, bool* more,
                                 Status* status);

// All of Engine::Export's records.
Result<std::vector<Record>> ExportAll(Engine& engine, uint64_t* index);

// Expects the engine's whole content (Export), export index and applied index
// to equal the model's.
void ExpectSameState(Engine& engine, const EngineModel& model);

// Random operands over a small key space with awkward bytes, sites 1..3.
const std::vector<std::string>& KeySpace();
std::string RandomValue(Random& rnd);
Version RandomVersion(Random& rnd);
WriteBatch RandomBatch(Random& rnd, uint64_t log_index);
Snapshot RandomSnapshot(Random& rnd);
ScanOptions RandomScanOptions(Random& rnd);

// The test bodies, one per registered test.
void RandomOperationsMatchModel(const Context& ctx);
void CrashRecovery(const Context& ctx);
void EmptyEngine(const Context& ctx);
void LogIndexMustIncrease(const Context& ctx);
void BinaryKeysAndValues(const Context& ctx);
void SnapshotVisibility(const Context& ctx);
void ScanBoundsLimitAndMore(const Context& ctx);
void GarbageCollectSemantics(const Context& ctx);
void ExportIngestReplacesContent(const Context& ctx);
void ReopenPreservesState(const Context& ctx);
void StatsIndexes(const Context& ctx);
void SpaceFigures(const Context& ctx);
void ConcurrentReadersSeeWholeBatches(const Context& ctx);

}  // namespace meridian::storage::conformance
