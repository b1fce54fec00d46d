#include "storage/engine_conformance.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/conformance_util.h"

namespace meridian::storage {
namespace conformance {

// ---------------------------------------------------------------------------
// Utilities.

TempDir::TempDir() {
  const char* env = getenv("TEST_TMPDIR");
  std::string base = env != nullptr && *env != '\0' ? env : ::testing::TempDir();
  if (!base.empty() && base.back() == '/') base.pop_back();
  std::string tmpl = base + "/meridian-conformance-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp(" << tmpl << "): " << strerror(errno);
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::NewDir() {
  std::string dir = absl::StrCat(path_, "/engine", next_++);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) ADD_FAILURE() << "mkdir " << dir << ": " << ec.message();
  return dir;
}

std::unique_ptr<Engine> OpenOrFail(const Context& ctx, const std::string& dir) {
  Result<std::unique_ptr<Engine>> r = ctx.opener(dir);
  if (!r.ok()) {
    ADD_FAILURE() << "opening the engine in " << dir << ": " << r.status();
    return nullptr;
  }
  if (*r == nullptr) ADD_FAILURE() << "the opener returned a null engine for " << dir;
  return std::move(*r);
}

namespace {
int EnvInt(const char* name, int fallback) {
  const char* v = getenv(name);
  return v != nullptr && *v != '\0' ? atoi(v) : fallback;
}
}  // namespace

std::vector<uint64_t> Seeds(const Context& ctx) {
  int n = EnvInt("MERIDIAN_CONFORMANCE_ITERS", ctx.options.iterations);
  const char* s = getenv("MERIDIAN_CONFORMANCE_SEED");
  uint64_t first = s != nullptr && *s != '\0' ? strtoull(s, nullptr, 10) : 1;
  std::vector<uint64_t> seeds;
  for (int i = 0; i < n; ++i) seeds.push_back(first + i);
  return seeds;
}

std::string Show(const Version& v) { return absl::StrCat("(", v.hlc, ",", v.site, ")"); }

std::string Show(const Snapshot& s) {
  if (s.is_latest()) return "Latest";
  std::vector<std::string> parts;
  for (const auto& [site, hlc] : s.entries()) parts.push_back(absl::StrCat(site, ":", hlc));
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

namespace {
std::string ShowValue(const std::optional<std::string>& v) {
  return v.has_value() ? absl::StrCat("\"", absl::CHexEscape(*v), "\"") : "TOMBSTONE";
}
}  // namespace

std::string Show(const std::optional<ReadResult>& r) {
  if (!r.has_value()) return "none";
  return absl::StrCat(Show(r->version), "=", ShowValue(r->value));
}

std::string Show(const std::optional<Version>& v) { return v.has_value() ? Show(*v) : "none"; }

std::string Show(const std::vector<KeyValue>& kvs) {
  std::string out;
  for (const KeyValue& kv : kvs) {
    absl::StrAppend(&out, "\"", absl::CHexEscape(kv.key), "\"@", Show(kv.version), "=\"",
                    absl::CHexEscape(kv.value), "\"\n");
  }
  return out;
}

std::string Show(const std::vector<Record>& records) {
  std::string out;
  for (const Record& r : records) {
    absl::StrAppend(&out, "\"", absl::CHexEscape(r.key), "\"@", Show(r.version), "=",
                    ShowValue(r.value), "\n");
  }
  return out;
}

std::string Show(const ScanOptions& o) {
  return absl::StrCat("[\"", absl::CHexEscape(o.start), "\", \"", absl::CHexEscape(o.end),
                      "\") limit=", o.limit, o.keys_only ? " keys_only" : "");
}

std::vector<KeyValue> EngineScan(Engine& engine, const ScanOptions& options,
                                 const Snapshot& snapshot, uint64_t stop_after, bool* more,
                                 Status* status) {
  std::vector<KeyValue> out;
  *status = engine.Scan(
      options, snapshot,
      [&](const KeyValue& kv) {
        out.push_back(kv);
        return stop_after == 0 || out.size() < stop_after;
      },
      more);
  return out;
}

Result<std::vector<Record>> ExportAll(Engine& engine, uint64_t* index) {
  std::vector<Record> out;
  MERIDIAN_RETURN_IF_ERROR(engine.Export(
      [&](const Record& r) {
        out.push_back(r);
        return absl::OkStatus();
      },
      index));
  return out;
}

void ExpectSameState(Engine& engine, const EngineModel& model) {
  uint64_t index = 0;
  Result<std::vector<Record>> records = ExportAll(engine, &index);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(Show(*records), Show(model.Records())) << "Export differs from the model";
  EXPECT_EQ(index, model.applied_index()) << "Export's index";
  EXPECT_EQ(engine.Stats().applied_index, model.applied_index()) << "Stats().applied_index";
}

const std::vector<std::string>& KeySpace() {
  static const auto* keys = new std::vector<std::string>{
      std::string(),
      std::string("\0", 1),
      std::string("\0\0", 2),
      std::string("\0\xff", 2),
      "\x01",
      "a",
      std::string("a\0", 2),
      std::string("a\0b", 3),
      "ab",
      "b",
      "\xfe",
      "\xff",
      std::string("\xff\0", 2),
      "\xff\xff",
      std::string(300, 'k'),
  };
  return *keys;
}

std::string RandomValue(Random& rnd) {
  uint64_t len = 0;
  switch (rnd.Uniform(10)) {
    case 0:
    case 1:
      len = 0;
      break;
    case 2:
      len = 1000 + rnd.Uniform(9000);
      break;
    default:
      len = 1 + rnd.Uniform(16);
  }
  std::string v(len, '\0');
  for (char& c : v) c = static_cast<char>(rnd.OneIn(4) ? 0 : rnd.Uniform(256));
  return v;
}

Version RandomVersion(Random& rnd) {
  return Version{1 + rnd.Uniform(24), static_cast<SiteId>(1 + rnd.Uniform(3))};
}

WriteBatch RandomBatch(Random& rnd, uint64_t log_index) {
  WriteBatch b;
  b.log_index = log_index;
  uint64_t n = rnd.Uniform(7);
  const auto& keys = KeySpace();
  for (uint64_t i = 0; i < n; ++i) {
    Record r;
    r.key = keys[rnd.Uniform(keys.size())];
    r.version = RandomVersion(rnd);
    if (!rnd.OneIn(4)) r.value = RandomValue(rnd);
    b.records.push_back(std::move(r));
  }
  return b;
}

Snapshot RandomSnapshot(Random& rnd) {
  switch (rnd.Uniform(6)) {
    case 0:
      return Snapshot::Latest();
    case 1:
      return Snapshot();
    default: {
      Snapshot s;
      for (SiteId site = 1; site <= 4; ++site) {  // site 4 never writes
        if (rnd.OneIn(2)) s.Set(site, rnd.OneIn(10) ? UINT64_MAX : rnd.Uniform(27));
      }
      return s;
    }
  }
}

namespace {
std::string RandomBound(Random& rnd) {
  const auto& keys = KeySpace();
  if (!rnd.OneIn(5)) return keys[rnd.Uniform(keys.size())];
  std::string s(rnd.Uniform(3), '\0');
  for (char& c : s) c = static_cast<char>(rnd.Uniform(256));
  return s;
}
}  // namespace

ScanOptions RandomScanOptions(Random& rnd) {
  ScanOptions o;
  o.start = rnd.OneIn(4) ? std::string() : RandomBound(rnd);
  o.end = rnd.OneIn(3) ? std::string() : RandomBound(rnd);
  o.limit = rnd.OneIn(2) ? 0 : rnd.Uniform(6);
  o.keys_only = rnd.OneIn(4);
  return o;
}

// ---------------------------------------------------------------------------
// Random operation sequences against the model.

namespace {

void CheckStats(Engine& engine, const EngineModel& model, bool expect_durable) {
  EngineStats st = engine.Stats();
  EXPECT_EQ(st.applied_index, model.applied_index()) << "Stats().applied_index";
  EXPECT_LE(st.durable_index, st.applied_index) << "Stats().durable_index";
  if (expect_durable) {
    EXPECT_EQ(st.durable_index, st.applied_index) << "Stats().durable_index";
  }
}

void RunRandomSequence(const Context& ctx, uint64_t seed) {
  Random rnd(seed);
  TempDir tmp;
  std::string dir = tmp.NewDir();
  std::unique_ptr<Engine> engine = OpenOrFail(ctx, dir);
  ASSERT_NE(engine, nullptr);
  EngineModel model;
  for (int step = 0; step < ctx.options.operations; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    uint64_t op = rnd.Uniform(100);
    if (op < 40) {
      WriteBatch b = RandomBatch(rnd, model.applied_index() + 1 + rnd.Uniform(3));
      bool sync = rnd.OneIn(4);
      CONFORMANCE_ASSERT_OK(engine->Apply(b, sync));
      model.Apply(b);
      CheckStats(*engine, model, sync);
    } else if (op < 44) {
      // A stale index: rejected, and nothing of the batch is written.
      WriteBatch b = RandomBatch(rnd, rnd.Uniform(model.applied_index() + 1));
      b.records.push_back(Record{KeySpace()[rnd.Uniform(KeySpace().size())],
                                 Version{25, 1}, std::string("stale")});
      Status s = engine->Apply(b, rnd.OneIn(2));
      EXPECT_TRUE(absl::IsInvalidArgument(s))
          << "Apply at index " << b.log_index << " after " << model.applied_index() << ": " << s;
      CheckStats(*engine, model, false);
    } else if (op < 66) {
      const std::string& key = KeySpace()[rnd.Uniform(KeySpace().size())];
      Snapshot snap = RandomSnapshot(rnd);
      Result<std::optional<ReadResult>> got = engine->Get(key, snap);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(Show(*got), Show(model.Get(key, snap)))
          << "Get(\"" << absl::CHexEscape(key) << "\", " << Show(snap) << ")";
    } else if (op < 74) {
      const std::string& key = KeySpace()[rnd.Uniform(KeySpace().size())];
      Result<std::optional<Version>> got = engine->LatestVersion(key);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(Show(*got), Show(model.LatestVersion(key)))
          << "LatestVersion(\"" << absl::CHexEscape(key) << "\")";
    } else if (op < 86) {
      ScanOptions o = RandomScanOptions(rnd);
      Snapshot snap = RandomSnapshot(rnd);
      uint64_t stop_after = rnd.OneIn(3) ? 1 + rnd.Uniform(4) : 0;
      bool more = false;
      bool want_more = false;
      Status s;
      std::vector<KeyValue> got = EngineScan(*engine, o, snap, stop_after, &more, &s);
      std::vector<KeyValue> want = model.Scan(o, snap, stop_after, &want_more);
      CONFORMANCE_ASSERT_OK(s);
      EXPECT_EQ(Show(got), Show(want)) << "Scan " << Show(o) << " at " << Show(snap)
                                       << " stop_after=" << stop_after;
      EXPECT_EQ(more, want_more) << "Scan more " << Show(o) << " at " << Show(snap);
    } else if (op < 90) {
      Snapshot w = RandomSnapshot(rnd);
      SCOPED_TRACE(absl::StrCat("GarbageCollect(", Show(w), ")"));
      CONFORMANCE_ASSERT_OK(engine->GarbageCollect(w));
      model.GarbageCollect(w);
      ExpectSameState(*engine, model);
    } else if (op < 93) {
      CONFORMANCE_ASSERT_OK(engine->Flush());
      CheckStats(*engine, model, true);
    } else if (op < 96) {
      SCOPED_TRACE("reopen");
      engine.reset();
      engine = OpenOrFail(ctx, dir);
      ASSERT_NE(engine, nullptr);
      ExpectSameState(*engine, model);
      CheckStats(*engine, model, true);
    } else if (op < 98) {
      SCOPED_TRACE("Export -> Ingest into a fresh engine");
      uint64_t index = 0;
      Result<std::vector<Record>> records = ExportAll(*engine, &index);
      ASSERT_TRUE(records.ok()) << records.status();
      EXPECT_EQ(Show(*records), Show(model.Records()));
      EXPECT_EQ(index, model.applied_index());
      std::string fresh_dir = tmp.NewDir();
      std::unique_ptr<Engine> fresh = OpenOrFail(ctx, fresh_dir);
      ASSERT_NE(fresh, nullptr);
      // Content of its own that Ingest must replace.
      CONFORMANCE_ASSERT_OK(fresh->Apply(RandomBatch(rnd, 1 + rnd.Uniform(100)), false));
      CONFORMANCE_ASSERT_OK(fresh->Ingest(*records, index));
      engine = std::move(fresh);
      dir = fresh_dir;
      ExpectSameState(*engine, model);
      CheckStats(*engine, model, true);
    } else {
      ExpectSameState(*engine, model);
    }
    if (::testing::Test::HasFailure()) return;
  }
  ExpectSameState(*engine, model);
}

}  // namespace

void RandomOperationsMatchModel(const Context& ctx) {
  for (uint64_t seed : Seeds(ctx)) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (replay: MERIDIAN_CONFORMANCE_SEED=", seed,
                              " MERIDIAN_CONFORMANCE_ITERS=1)"));
    RunRandomSequence(ctx, seed);
    if (::testing::Test::HasFailure()) return;
  }
}

// ---------------------------------------------------------------------------
// Crash recovery: a child applies batches and reports each synced one; the
// parent SIGKILLs it and checks what a reopened engine recovers.

namespace {

constexpr int kCrashRounds = 3;
constexpr uint64_t kBatchesPerChild = 400;
constexpr uint64_t kMaxAcksBeforeKill = 40;

// The batch at `index` of a crash run: a pure function of (seed, index), so
// the parent can rebuild the model at whatever index was recovered.
WriteBatch CrashBatch(uint64_t seed, uint64_t index, bool* sync) {
  Random rnd(seed * 1000003 + index);
  *sync = !rnd.OneIn(4);
  WriteBatch b;
  b.log_index = index;
  uint64_t n = 1 + rnd.Uniform(6);
  const auto& keys = KeySpace();
  for (uint64_t i = 0; i < n; ++i) {
    Record r;
    r.key = keys[rnd.Uniform(keys.size())];
    r.version = Version{index, static_cast<SiteId>(1 + rnd.Uniform(2))};
    if (!rnd.OneIn(5)) {
      // Now and then a big value, so a batch spans several WAL blocks/pages.
      r.value = rnd.OneIn(10) ? std::string(32 << 10, static_cast<char>('a' + i))
                              : RandomValue(rnd);
    }
    b.records.push_back(std::move(r));
  }
  return b;
}

bool WriteFull(int fd, uint64_t v) {
  const char* p = reinterpret_cast<const char*>(&v);
  size_t left = sizeof(v);
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

// False at EOF (the child is gone) or on error.
bool ReadFull(int fd, uint64_t* v) {
  char* p = reinterpret_cast<char*>(v);
  size_t left = sizeof(*v);
  while (left > 0) {
    ssize_t n = read(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

// The child: opens the engine (after the fork, so it shares nothing with the
// parent's engines), applies batches and acknowledges each synced one on
// `ack_fd` only after Apply returned. Never returns; uses no gtest.
[[noreturn]] void CrashChild(const Context& ctx, const std::string& dir, uint64_t seed,
                             int ack_fd) {
  Result<std::unique_ptr<Engine>> engine = ctx.opener(dir);
  if (!engine.ok() || *engine == nullptr) {
    fprintf(stderr, "crash child: open %s: %s\n", dir.c_str(),
            engine.status().ToString().c_str());
    _exit(3);
  }
  uint64_t start = (*engine)->Stats().applied_index;
  for (uint64_t i = start + 1; i <= start + kBatchesPerChild; ++i) {
    bool sync = false;
    WriteBatch b = CrashBatch(seed, i, &sync);
    Status s = (*engine)->Apply(b, sync);
    if (!s.ok()) {
      fprintf(stderr, "crash child: Apply(%llu): %s\n", static_cast<unsigned long long>(i),
              s.ToString().c_str());
      _exit(4);
    }
    if (sync && !WriteFull(ack_fd, i)) _exit(5);
  }
  // Skip destructors: this process is a copy of the test binary.
  _exit(0);
}

void RunCrashRounds(const Context& ctx, uint64_t seed) {
  Random rnd(seed);
  TempDir tmp;
  const std::string dir = tmp.NewDir();
  uint64_t last_acked = 0;
  for (int round = 0; round < kCrashRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("crash round ", round));
    int fds[2];
    ASSERT_EQ(pipe(fds), 0) << strerror(errno);
    fflush(nullptr);
    pid_t pid = fork();
    ASSERT_GE(pid, 0) << "fork: " << strerror(errno);
    if (pid == 0) {
      close(fds[0]);
      CrashChild(ctx, dir, seed, fds[1]);
    }
    close(fds[1]);
    // Kill after a random number of acknowledgements plus a random delay, so
    // the kill lands anywhere: in Open, mid-write, mid-sync, between batches.
    uint64_t kill_after = rnd.Uniform(kMaxAcksBeforeKill + 1);
    uint64_t acked = 0;
    uint64_t index = 0;
    while (acked < kill_after && ReadFull(fds[0], &index)) {
      last_acked = std::max(last_acked, index);
      ++acked;
    }
    usleep(static_cast<useconds_t>(rnd.Uniform(3000)));
    kill(pid, SIGKILL);
    // Acknowledgements already in the pipe were given before the kill.
    while (ReadFull(fds[0], &index)) last_acked = std::max(last_acked, index);
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid) << strerror(errno);
    bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    bool finished = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    ASSERT_TRUE(killed || finished) << "the crash child failed: wait status " << status;

    std::unique_ptr<Engine> engine = OpenOrFail(ctx, dir);
    ASSERT_NE(engine, nullptr);
    uint64_t applied = engine->Stats().applied_index;
    EXPECT_GE(applied, last_acked) << "an acknowledged (synced) batch was lost";
    EngineModel model;
    for (uint64_t i = 1; i <= applied; ++i) {
      bool sync = false;
      model.Apply(CrashBatch(seed, i, &sync));
    }
    // Equal to the model at the recovered index: no batch is half there.
    ExpectSameState(*engine, model);
    ASSERT_FALSE(::testing::Test::HasFailure());
  }
}

}  // namespace

void CrashRecovery(const Context& ctx) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "TSan does not support fork() in a multithreaded process";
#endif
  if (!ctx.options.crash_test) GTEST_SKIP() << "crash_test is off for this engine";
  for (uint64_t seed : Seeds(ctx)) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (replay: MERIDIAN_CONFORMANCE_SEED=", seed,
                              " MERIDIAN_CONFORMANCE_ITERS=1)"));
    RunCrashRounds(ctx, seed);
    if (::testing::Test::HasFailure()) return;
  }
}

// ---------------------------------------------------------------------------
// Registration.

namespace {

class ConformanceTest : public ::testing::Test {
 public:
  using Body = void (*)(const Context&);
  ConformanceTest(const Context* ctx, Body body) : ctx_(ctx), body_(body) {}
  void TestBody() override { body_(*ctx_); }

 private:
  const Context* ctx_;
  Body body_;
};

}  // namespace
}  // namespace conformance

void RegisterEngineConformance(const std::string& suite, EngineOpener opener,
                               ConformanceOptions options) {
  using conformance::ConformanceTest;
  using conformance::Context;
  // Tests outlive registration: contexts live as long as the process, in a
  // registry that is never destroyed (so tests may run until exit).
  static auto* const contexts = new std::vector<std::unique_ptr<Context>>();
  contexts->push_back(std::make_unique<Context>(Context{std::move(opener), options}));
  const Context* ctx = contexts->back().get();
  const std::pair<const char*, ConformanceTest::Body> tests[] = {
      {"EmptyEngine", conformance::EmptyEngine},
      {"LogIndexMustIncrease", conformance::LogIndexMustIncrease},
      {"BinaryKeysAndValues", conformance::BinaryKeysAndValues},
      {"SnapshotVisibility", conformance::SnapshotVisibility},
      {"ScanBoundsLimitAndMore", conformance::ScanBoundsLimitAndMore},
      {"GarbageCollectSemantics", conformance::GarbageCollectSemantics},
      {"ExportIngestReplacesContent", conformance::ExportIngestReplacesContent},
      {"ReopenPreservesState", conformance::ReopenPreservesState},
      {"StatsIndexes", conformance::StatsIndexes},
      {"SpaceFigures", conformance::SpaceFigures},
      {"ConcurrentReadersSeeWholeBatches", conformance::ConcurrentReadersSeeWholeBatches},
      {"RandomOperationsMatchModel", conformance::RandomOperationsMatchModel},
      {"CrashRecovery", conformance::CrashRecovery},
  };
  for (const auto& [name, body] : tests) {
    ::testing::RegisterTest(suite.c_str(), name, nullptr, nullptr, __FILE__, __LINE__,
                            [ctx, body = body]() -> ConformanceTest* {
                              return new ConformanceTest(ctx, body);
                            });
  }
}

}  // namespace meridian::storage
