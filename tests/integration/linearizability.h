// A linearizability checker for one register (one key): the Wing & Gong
// search with Lowe's memoization ("Testing for linearizability", 2017).
//
// A history is a set of operations on one key, each with the steady_clock
// times (ns) at which the client invoked it and saw its answer:
//
//   write(v)            -> ok
//   read                -> v, or absent
//   cas(expected, new)  -> ok (the value was `expected`, it is now `new`), or
//                          failed, having observed the current value
//                          (`expected` absent = "only if the key is absent")
//
// A write or cas whose outcome is unknown (the client gave up or the reply
// was lost: kCommitUnknown, a deadline, a dropped connection, ...) may take
// effect at any single moment after its invoke, or never: its completion is
// +infinity. An unknown cas, if it takes effect, swaps (a cas that failed
// changed nothing, which is the same as never taking effect). A read that
// failed tells nothing and is dropped.
//
// The history is linearizable if every known operation, and any subset of
// the unknown ones, can be put in one order that respects real time (an op
// that completed before another was invoked comes first; equal timestamps
// count as concurrent) and in which every answer is what a register would
// give. The register starts absent.
//
// The search (Wing & Gong) walks the time-ordered list of call and return
// events: it linearizes a pending call whose answer fits the register, or,
// on meeting the return of an op it has not placed, backtracks. A
// configuration is (set of linearized ops, register value); Lowe's cache
// explores each at most once. Two reductions, both exact:
//  - A pending read (or failed cas) that fits the current value is placed
//    at once and alone: it changes nothing and no pending op finished before
//    it began, so any order that works also works with it first.
//  - Unknown ops would be pending forever, concurrent with everything after
//    them, each doubling the configurations. For a value written once (the
//    integration test makes every value unique): an unknown write/cas whose
//    value no answer saw is dropped -- had it taken effect, the next op to
//    touch the register overwrote it unseen -- and one whose value an answer
//    saw must have taken effect, before that answer: it gets the earliest
//    such answer's completion as its own.
//
// Complexity. At most 2^n * (values) configurations, O(1) amortized each
// (the set is kept as its first missing op plus the next 64 bits when that
// covers it). In practice a configuration is n ops deep times the subsets of
// writes pending at one moment, so with c clients about n * 2^c: 3,800 ops
// of 6 clients take ~4,000 states and ~10 ms when linearizable. A history
// that is not linearizable is searched exhaustively up to the violation:
// ~20,000 states for 6,000 ops of 6 clients, ~1.1 M for 4,800 ops of 16
// heavily overlapping clients. The search gives up, with kInconclusive,
// above CheckOptions::max_ops ops or max_states configurations.
//
// On a violation the explanation names the shortest non-linearizable prefix
// of the history (binary search over completion times; linearizability is
// prefix-closed, with ops pending at the cut treated as unknown), the op
// whose completion ends it, the ops around it, and how far the search got.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace meridian::testing::lin {

// The completion time of an op whose outcome is unknown.
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

struct Op {
  enum class Kind { kWrite, kRead, kCas };

  Kind kind = Kind::kRead;
  int client = 0;      // who ran it; only for messages
  int64_t invoke = 0;  // steady_clock ns
  int64_t complete = kNever;
  // Write: the value written. Cas: the new value.
  std::string value;
  // Cas: the value compared with; nullopt = the key must be absent.
  std::optional<std::string> expected;
  // Read: what it returned (nullopt = absent). Failed cas: the value it saw.
  std::optional<std::string> observed;
  // Write/cas: whether it succeeded or failed is not known (complete is then
  // ignored). A read marked unknown is dropped.
  bool unknown = false;
  // Cas with a known outcome: whether it swapped.
  bool cas_ok = false;

  static Op Write(int client, std::string value, int64_t invoke, int64_t complete);
  static Op UnknownWrite(int client, std::string value, int64_t invoke);
  static Op Read(int client, std::optional<std::string> observed, int64_t invoke,
                 int64_t complete);
  static Op CasOk(int client, std::optional<std::string> expected, std::string value,
                  int64_t invoke, int64_t complete);
  static Op CasFailed(int client, std::optional<std::string> expected, std::string value,
                      std::optional<std::string> observed, int64_t invoke, int64_t complete);
  static Op UnknownCas(int client, std::optional<std::string> expected, std::string value,
                       int64_t invoke);

  // "c3 read -> \"x\"", "c1 write \"y\" (unknown)", ...
  std::string Describe() const;
};

struct CheckOptions {
  size_t max_ops = 20000;         // per history (key); more is kInconclusive
  size_t max_states = 2'000'000;  // memoized states per search (~50 MB)
  // On a violation, search for the shortest failing prefix (about log2(n)
  // more searches) and describe it.
  bool explain = true;
};

struct CheckResult {
  enum class Verdict { kLinearizable, kNotLinearizable, kInconclusive };
  Verdict verdict = Verdict::kInconclusive;
  // Empty when linearizable; otherwise what went wrong, readable.
  std::string explanation;
  size_t ops = 0;      // ops searched (after dropping failed reads)
  size_t unknown = 0;  // of them, writes/cas with an unknown outcome
  size_t pruned = 0;   // unknown writes/cas dropped as never observed
  size_t bounded = 0;  // unknown writes/cas observed, so known to complete
  size_t states = 0;   // memoized states of the (first) search

  bool linearizable() const { return verdict == Verdict::kLinearizable; }
};

// Checks one key's history. Pure: no I/O, no clocks.
CheckResult CheckRegister(std::vector<Op> history, const CheckOptions& options = {});

}  // namespace meridian::testing::lin
