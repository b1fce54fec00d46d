// The register linearizability checker on hand-written histories, and on
// generated ones that are linearizable by construction.
#include "tests/integration/linearizability.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace meridian::testing::lin {
namespace {

using Verdict = CheckResult::Verdict;

// Times are plain numbers; the checker does not care about units.
CheckResult Check(const std::vector<Op>& h) {
  CheckResult r = CheckRegister(h);
  return r;
}

void ExpectOk(const std::vector<Op>& h) {
  CheckResult r = Check(h);
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
  EXPECT_TRUE(r.explanation.empty());
}

CheckResult ExpectRejected(const std::vector<Op>& h) {
  CheckResult r = Check(h);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable) << r.explanation;
  EXPECT_NE(r.explanation.find("not linearizable"), std::string::npos) << r.explanation;
  return r;
}

TEST(Linearizability, EmptyHistory) { ExpectOk({}); }

TEST(Linearizability, SequentialHistory) {
  ExpectOk({
      Op::Read(1, std::nullopt, 0, 5),
      Op::Write(1, "a", 10, 20),
      Op::Read(2, "a", 30, 40),
      Op::Write(2, "b", 50, 60),
      Op::Read(1, "b", 70, 80),
      Op::Read(3, "b", 90, 100),
  });
}

TEST(Linearizability, ReadOverlappingAWriteMaySeeEitherValue) {
  // The read overlaps the write: before it or after it.
  ExpectOk({Op::Write(1, "a", 0, 100), Op::Read(2, std::nullopt, 10, 20)});
  ExpectOk({Op::Write(1, "a", 0, 100), Op::Read(2, "a", 10, 20)});
  ExpectOk({Op::Write(1, "a", 0, 10), Op::Write(1, "b", 20, 100), Op::Read(2, "a", 30, 40)});
  ExpectOk({Op::Write(1, "a", 0, 10), Op::Write(1, "b", 20, 100), Op::Read(2, "b", 30, 40)});
  // Two overlapping writes, then reads after both: either may win, once.
  ExpectOk({Op::Write(1, "a", 0, 100), Op::Write(2, "b", 0, 100), Op::Read(3, "a", 110, 120),
            Op::Read(3, "a", 130, 140)});
  ExpectOk({Op::Write(1, "a", 0, 100), Op::Write(2, "b", 0, 100), Op::Read(3, "b", 110, 120)});
}

TEST(Linearizability, EqualTimestampsAreConcurrent) {
  ExpectOk({Op::Write(1, "a", 0, 10), Op::Read(2, std::nullopt, 10, 20)});
}

TEST(Linearizability, StaleReadAfterACompletedWriteIsRejected) {
  CheckResult r = ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::Write(2, "b", 20, 30),
      Op::Read(3, "a", 40, 50),
  });
  // The explanation names the read and the prefix it ends.
  EXPECT_NE(r.explanation.find("#2 c3 read -> \"a\""), std::string::npos) << r.explanation;
  EXPECT_NE(r.explanation.find("prefix (3 of 3 ops"), std::string::npos) << r.explanation;
}

TEST(Linearizability, ReadOfAbsentAfterACompletedWriteIsRejected) {
  ExpectRejected({Op::Write(1, "a", 0, 10), Op::Read(2, std::nullopt, 20, 30)});
}

TEST(Linearizability, ReadOfAValueNeverWrittenIsRejected) {
  CheckResult r = ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::Read(2, "zzz", 5, 30),
  });
  EXPECT_NE(r.explanation.find("No op ever wrote \"zzz\""), std::string::npos) << r.explanation;
}

TEST(Linearizability, ReadsMustAgreeOnOneOrderOfConcurrentWrites) {
  // a then b, or b then a, but not a, b, a.
  ExpectRejected({
      Op::Write(1, "a", 0, 100),
      Op::Write(2, "b", 0, 100),
      Op::Read(3, "a", 10, 20),
      Op::Read(3, "b", 30, 40),
      Op::Read(3, "a", 50, 60),
  });
  // Once both writes completed, the register holds the last one for good.
  ExpectRejected({
      Op::Write(1, "a", 0, 100),
      Op::Write(2, "b", 0, 100),
      Op::Read(3, "a", 110, 120),
      Op::Read(4, "b", 130, 140),
  });
}

TEST(Linearizability, UnknownWriteThatLaterBecomesVisible) {
  ExpectOk({
      Op::Write(1, "a", 0, 10),
      Op::UnknownWrite(2, "b", 20),
      Op::Read(3, "a", 30, 40),
      Op::Read(3, "a", 1000, 1010),
      Op::Read(1, "b", 5000, 5010),  // long after the client gave up
      Op::Read(3, "b", 6000, 6010),
  });
}

TEST(Linearizability, UnknownWriteNeverVisible) {
  std::vector<Op> h{
      Op::Write(1, "a", 0, 10),
      Op::UnknownWrite(2, "b", 20),
      Op::Read(3, "a", 30, 40),
      Op::Write(1, "c", 50, 60),
      Op::Read(3, "c", 1000, 1010),
  };
  ExpectOk(h);
  CheckResult r = Check(h);
  EXPECT_EQ(r.unknown, 0u);
  EXPECT_EQ(r.pruned, 1u);  // never observed: dropped before the search
}

TEST(Linearizability, UnknownWriteTakesEffectAtMostOnceAndNotBeforeItsInvoke) {
  // Visible, overwritten, visible again: it would have to apply twice.
  ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::UnknownWrite(2, "b", 20),
      Op::Read(3, "b", 30, 40),
      Op::Write(1, "c", 50, 60),
      Op::Read(3, "b", 70, 80),
  });
  // Seen before it was sent.
  ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::Read(3, "b", 20, 30),
      Op::UnknownWrite(2, "b", 40),
  });
  // Observed, so not pruned: it took effect, by the time the read answered.
  CheckResult r = Check({Op::UnknownWrite(2, "b", 20), Op::Read(3, "b", 30, 40)});
  EXPECT_TRUE(r.linearizable()) << r.explanation;
  EXPECT_EQ(r.unknown, 1u);
  EXPECT_EQ(r.pruned, 0u);
  EXPECT_EQ(r.bounded, 1u);
}

TEST(Linearizability, FailedReadsAreDropped) {
  Op failed = Op::Read(2, "nonsense", 20, 30);
  failed.unknown = true;
  ExpectOk({Op::Write(1, "a", 0, 10), failed, Op::Read(3, "a", 40, 50)});
}

TEST(Linearizability, CasSwapsOnlyTheExpectedValue) {
  ExpectOk({
      Op::Write(1, "a", 0, 10),
      Op::CasOk(2, "a", "b", 20, 30),
      Op::Read(3, "b", 40, 50),
      Op::CasFailed(1, "a", "c", "b", 60, 70),
      Op::CasOk(3, "b", "d", 80, 90),
      Op::Read(2, "d", 100, 110),
  });
  // Swapped although the value was no longer the expected one.
  ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::Write(1, "b", 20, 30),
      Op::CasOk(2, "a", "c", 40, 50),
  });
  // Failed although the value was the expected one.
  ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::CasFailed(2, "a", "c", "a", 40, 50),
  });
  // Failed, reporting a value the register did not hold.
  ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::Write(1, "b", 20, 30),
      Op::CasFailed(2, "x", "c", "a", 40, 50),
  });
}

TEST(Linearizability, TwoConcurrentCasFromTheSameValueCannotBothSucceed) {
  ExpectOk({
      Op::Write(1, "a", 0, 10),
      Op::CasOk(2, "a", "b", 20, 40),
      Op::CasFailed(3, "a", "c", "b", 20, 40),
  });
  ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::CasOk(2, "a", "b", 20, 40),
      Op::CasOk(3, "a", "c", 20, 40),
  });
}

TEST(Linearizability, CasOnAnAbsentKey) {
  ExpectOk({
      Op::CasOk(1, std::nullopt, "a", 0, 10),
      Op::CasFailed(2, std::nullopt, "b", "a", 20, 30),
      Op::Read(3, "a", 40, 50),
  });
  ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::CasOk(2, std::nullopt, "b", 20, 30),
  });
}

TEST(Linearizability, UnknownCas) {
  // Took effect: its new value is read.
  ExpectOk({
      Op::Write(1, "a", 0, 10),
      Op::UnknownCas(2, "a", "b", 20),
      Op::Read(3, "b", 30, 40),
  });
  // Did not: nothing changes.
  ExpectOk({
      Op::Write(1, "a", 0, 10),
      Op::UnknownCas(2, "a", "b", 20),
      Op::Read(3, "a", 30, 40),
      Op::Read(3, "a", 50, 60),
  });
  // Could only have swapped from "a", which was gone before it was sent.
  ExpectRejected({
      Op::Write(1, "a", 0, 10),
      Op::Write(1, "c", 12, 18),
      Op::UnknownCas(2, "a", "b", 20),
      Op::Read(3, "b", 30, 40),
  });
}

TEST(Linearizability, MalformedAndOversizedHistoriesAreInconclusive) {
  CheckResult r = Check({Op::Write(1, "a", 10, 5)});
  EXPECT_EQ(r.verdict, Verdict::kInconclusive);
  EXPECT_NE(r.explanation.find("malformed"), std::string::npos) << r.explanation;
  CheckOptions small;
  small.max_ops = 2;
  r = CheckRegister({Op::Write(1, "a", 0, 1), Op::Write(1, "b", 2, 3), Op::Read(1, "b", 4, 5)},
                    small);
  EXPECT_EQ(r.verdict, Verdict::kInconclusive);
  EXPECT_NE(r.explanation.find("over the limit"), std::string::npos) << r.explanation;
}

// A history of `clients` clients on one register that is linearizable by
// construction: each op takes effect at a random point inside its interval.
// Some writes/cas lose their answer (unknown) and then take effect or not;
// some reads fail.
std::vector<Op> GenerateHistory(uint32_t seed, int clients, int ops_per_client) {
  std::mt19937 rng(seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  struct Planned {
    Op op;
    int64_t at;  // when it takes effect
    bool applies = true;
  };
  std::vector<Planned> planned;
  for (int c = 0; c < clients; ++c) {
    int64_t t = uniform(0, 50);
    for (int i = 0; i < ops_per_client; ++i) {
      Planned p;
      p.op.client = c;
      p.op.invoke = t;
      p.at = t + uniform(0, 100);
      p.op.complete = p.at + uniform(0, 100);
      const int kind = uniform(0, 9);
      p.op.kind = kind < 4 ? Op::Kind::kRead : kind < 7 ? Op::Kind::kWrite : Op::Kind::kCas;
      p.op.value = absl::StrCat("c", c, "-", i);
      if (p.op.kind != Op::Kind::kRead && uniform(0, 19) == 0) {
        p.op.unknown = true;
        p.applies = uniform(0, 1) == 0;
      }
      if (p.op.kind == Op::Kind::kRead && uniform(0, 29) == 0) p.op.unknown = true;
      planned.push_back(p);
      t = p.op.complete + uniform(1, 30);
    }
  }
  std::sort(planned.begin(), planned.end(),
            [](const Planned& x, const Planned& y) { return x.at < y.at; });
  std::optional<std::string> reg;
  std::vector<std::string> written;
  std::vector<Op> history;
  for (Planned& p : planned) {
    Op& op = p.op;
    switch (op.kind) {
      case Op::Kind::kRead:
        op.observed = reg;
        break;
      case Op::Kind::kWrite:
        if (p.applies) reg = op.value;
        written.push_back(op.value);
        break;
      case Op::Kind::kCas:
        // Mostly the current value (as a client that just read it would).
        if (uniform(0, 2) > 0 || written.empty()) {
          op.expected = reg;
        } else {
          op.expected = written[uniform(0, static_cast<int>(written.size()) - 1)];
        }
        op.cas_ok = op.expected == reg;
        if (!op.cas_ok) op.observed = reg;
        if (op.cas_ok && p.applies) reg = op.value;
        written.push_back(op.value);
        break;
    }
    if (op.unknown) {
      op.cas_ok = false;
      op.observed.reset();
      op.complete = kNever;
    }
    history.push_back(op);
  }
  std::shuffle(history.begin(), history.end(), rng);
  return history;
}

TEST(Linearizability, GeneratedLinearizableHistoriesPass) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    std::vector<Op> h = GenerateHistory(seed, 6, 40);
    CheckResult r = CheckRegister(h);
    ASSERT_TRUE(r.linearizable()) << "seed " << seed << ": " << r.explanation;
  }
}

// One completed read, moved to after a later write completed, returning the
// value that write replaced: always a violation with unique values.
bool InjectStaleRead(std::vector<Op>* h) {
  std::vector<Op> writes;
  for (const Op& op : *h) {
    if (!op.unknown && (op.kind == Op::Kind::kWrite || (op.kind == Op::Kind::kCas && op.cas_ok))) {
      writes.push_back(op);
    }
  }
  std::sort(writes.begin(), writes.end(),
            [](const Op& x, const Op& y) { return x.invoke < y.invoke; });
  for (size_t i = writes.size() / 2; i + 1 < writes.size(); ++i) {
    for (size_t j = i + 1; j < writes.size(); ++j) {
      if (writes[i].complete < writes[j].invoke) {
        h->push_back(Op::Read(99, writes[i].value, writes[j].complete + 1,
                              writes[j].complete + 2));
        return true;
      }
    }
  }
  return false;
}

TEST(Linearizability, GeneratedHistoriesWithAStaleReadFail) {
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    std::vector<Op> h = GenerateHistory(seed, 6, 40);
    ASSERT_TRUE(InjectStaleRead(&h));
    CheckResult r = CheckRegister(h);
    ASSERT_EQ(r.verdict, Verdict::kNotLinearizable) << "seed " << seed;
    EXPECT_NE(r.explanation.find("c99 read"), std::string::npos) << r.explanation;
  }
}

TEST(Linearizability, ThousandsOfOpsAreCheckedQuickly) {
  std::vector<Op> h = GenerateHistory(7, 8, 500);
  const auto start = std::chrono::steady_clock::now();
  CheckResult r = CheckRegister(h);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  ASSERT_TRUE(r.linearizable()) << r.explanation;
  std::printf("%zu ops (%zu unknown, %zu pruned): %zu states, %lld ms\n", r.ops, r.unknown,
              r.pruned, r.states, static_cast<long long>(ms));
  EXPECT_LT(ms, 5000);
  // And a violation in that many ops is found and explained.
  ASSERT_TRUE(InjectStaleRead(&h));
  r = CheckRegister(h);
  ASSERT_EQ(r.verdict, Verdict::kNotLinearizable);
  std::printf("%s", r.explanation.c_str());
}

}  // namespace
}  // namespace meridian::testing::lin
