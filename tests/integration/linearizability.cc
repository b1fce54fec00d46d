#include "tests/integration/linearizability.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meridian::testing::lin {

namespace {

// An op of `kind` by `client` over [invoke, complete]; the factories below
// fill in the rest.
Op Timed(Op::Kind kind, int client, int64_t invoke, int64_t complete) {
  Op op;
  op.kind = kind;
  op.client = client;
  op.invoke = invoke;
  op.complete = complete;
  return op;
}

}  // namespace

Op Op::Write(int client, std::string value, int64_t invoke, int64_t complete) {
  Op op = Timed(Kind::kWrite, client, invoke, complete);
  op.value = std::move(value);
  return op;
}

Op Op::UnknownWrite(int client, std::string value, int64_t invoke) {
  Op op = Write(client, std::move(value), invoke, kNever);
  op.unknown = true;
  return op;
}

Op Op::Read(int client, std::optional<std::string> observed, int64_t invoke, int64_t complete) {
  Op op = Timed(Kind::kRead, client, invoke, complete);
  op.observed = std::move(observed);
  return op;
}

Op Op::CasOk(int client, std::optional<std::string> expected, std::string value, int64_t invoke,
             int64_t complete) {
  Op op = Timed(Kind::kCas, client, invoke, complete);
  op.expected = std::move(expected);
  op.value = std::move(value);
  op.cas_ok = true;
  return op;
}

Op Op::CasFailed(int client, std::optional<std::string> expected, std::string value,
                 std::optional<std::string> observed, int64_t invoke, int64_t complete) {
  Op op = CasOk(client, std::move(expected), std::move(value), invoke, complete);
  op.cas_ok = false;
  op.observed = std::move(observed);
  return op;
}

Op Op::UnknownCas(int client, std::optional<std::string> expected, std::string value,
                  int64_t invoke) {
  Op op = CasOk(client, std::move(expected), std::move(value), invoke, kNever);
  op.cas_ok = false;
  op.unknown = true;
  return op;
}

namespace {

std::string Show(const std::optional<std::string>& v) {
  return v ? absl::StrCat("\"", *v, "\"") : std::string("absent");
}

}  // namespace

std::string Op::Describe() const {
  std::string s = absl::StrCat("c", client, " ");
  switch (kind) {
    case Kind::kWrite:
      absl::StrAppend(&s, "write \"", value, "\"");
      break;
    case Kind::kRead:
      absl::StrAppend(&s, "read -> ", unknown ? "?" : Show(observed));
      break;
    case Kind::kCas:
      absl::StrAppend(&s, "cas(", Show(expected), " -> \"", value, "\")");
      if (!unknown) {
        absl::StrAppend(&s, cas_ok ? " ok" : absl::StrCat(" failed, saw ", Show(observed)));
      }
      break;
  }
  if (unknown) absl::StrAppend(&s, " (outcome unknown)");
  return s;
}

namespace {

constexpr int kAbsent = -1;

// An op as the search sees it: values interned, outcome folded into the kind.
struct SearchOp {
  enum class Kind { kWrite, kRead, kCasOk, kCasFailed };
  Kind kind;
  int a = kAbsent;  // write: value; read: observed; cas: expected
  int b = kAbsent;  // cas ok: new value; cas failed: observed
  int64_t invoke = 0;
  int64_t complete = kNever;  // kNever: may take effect any time after invoke, or never
  size_t source = 0;          // index into the caller's history
};

// Applies `op` to register value `state`: whether the answer fits, and the
// value after it.
bool Apply(const SearchOp& op, int state, int* next) {
  switch (op.kind) {
    case SearchOp::Kind::kWrite:
      *next = op.a;
      return true;
    case SearchOp::Kind::kRead:
      *next = state;
      return state == op.a;
    case SearchOp::Kind::kCasOk:
      *next = op.b;
      return state == op.a;
    case SearchOp::Kind::kCasFailed:
      *next = state;
      return state == op.b && state != op.a;
  }
  return false;
}

struct SearchResult {
  bool linearizable = false;
  bool gave_up = false;
  size_t states = 0;
  // The deepest point of the search: how many ops were linearized, the
  // register value there, the return it could not get past, and the ops
  // linearized last on that path (oldest first).
  size_t best_depth = 0;
  int best_state = kAbsent;
  std::string best_value;  // best_state, readable (filled in by the caller)
  int stuck_op = -1;  // index into the searched ops
  std::vector<int> best_tail;
};

// The set of linearized ops (bit i = op i, in invoke order) and the memo of
// (set, value) configurations already explored. The ops linearized so far
// are nearly a prefix of the invoke order, so a set is stored as its first
// missing op plus the 64 ops after it when that covers it (16 bytes), else
// as its words after the all-ones ones.
class Memo {
 public:
  explicit Memo(int n) : bits_((static_cast<size_t>(n) + 63) / 64, 0) {}

  void Set(int i) {
    const size_t w = static_cast<size_t>(i) / 64;
    bits_[w] |= uint64_t{1} << (i % 64);
    hi_ = std::max(hi_, w + 1);
    while (lo_ < bits_.size() && bits_[lo_] == ~uint64_t{0}) ++lo_;
  }
  void Clear(int i) {
    const size_t w = static_cast<size_t>(i) / 64;
    bits_[w] &= ~(uint64_t{1} << (i % 64));
    lo_ = std::min(lo_, w);
    while (hi_ > 0 && bits_[hi_ - 1] == 0) --hi_;
  }
  // Records the current set with register value `value`; false if it was
  // recorded before.
  bool Insert(int value) {
    const uint64_t first = lo_ * 64 + (lo_ < bits_.size() ? std::countr_one(bits_[lo_]) : 0);
    const uint64_t highest = hi_ == 0 ? 0 : (hi_ - 1) * 64 + 63 - std::countl_zero(bits_[hi_ - 1]);
    if (hi_ == 0 || highest <= first + 64) {
      return compact_.insert({value, static_cast<uint32_t>(first), Bits64(first + 1)}).second;
    }
    std::string key(sizeof(int32_t) + sizeof(uint32_t) + (hi_ - lo_) * sizeof(uint64_t), '\0');
    const int32_t v = value;
    const uint32_t l = static_cast<uint32_t>(lo_);
    std::memcpy(key.data(), &v, sizeof(v));
    std::memcpy(key.data() + sizeof(v), &l, sizeof(l));
    std::memcpy(key.data() + sizeof(v) + sizeof(l), bits_.data() + lo_,
                (hi_ - lo_) * sizeof(uint64_t));
    return wide_.insert(std::move(key)).second;
  }
  size_t size() const { return compact_.size() + wide_.size(); }

 private:
  struct Compact {
    int32_t value;
    uint32_t first_missing;
    uint64_t after;  // bit k: op first_missing + 1 + k
    bool operator==(const Compact&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const Compact& c) {
      return H::combine(std::move(h), c.value, c.first_missing, c.after);
    }
  };
  // The 64 bits from bit `pos`, zeros past the end.
  uint64_t Bits64(uint64_t pos) const {
    const size_t w = pos / 64, off = pos % 64;
    uint64_t out = w < bits_.size() ? bits_[w] >> off : 0;
    if (off != 0 && w + 1 < bits_.size()) out |= bits_[w + 1] << (64 - off);
    return out;
  }

  std::vector<uint64_t> bits_;
  size_t lo_ = 0;  // first word that is not all ones
  size_t hi_ = 0;  // one past the last nonzero word
  absl::flat_hash_set<Compact> compact_;
  absl::flat_hash_set<std::string> wide_;
};

// Wing & Gong over a doubly linked list of call/return entries, with Lowe's
// cache of (linearized set, value). Ops are indexed in invoke order.
SearchResult Search(const std::vector<SearchOp>& ops, size_t max_states) {
  SearchResult result;
  const int n = static_cast<int>(ops.size());
  // Entry e in 1..E; 0 is the head sentinel; -1 ends the list.
  struct Event {
    int64_t time;
    bool is_return;
    int op;
  };
  std::vector<Event> events;
  events.reserve(2 * ops.size());
  for (int i = 0; i < n; ++i) {
    events.push_back({ops[i].invoke, false, i});
    if (ops[i].complete != kNever) events.push_back({ops[i].complete, true, i});
  }
  // Calls before returns at equal times: equal timestamps are concurrent.
  std::stable_sort(events.begin(), events.end(), [](const Event& x, const Event& y) {
    if (x.time != y.time) return x.time < y.time;
    return !x.is_return && y.is_return;
  });
  const int num_entries = static_cast<int>(events.size());
  std::vector<int> next(num_entries + 1), prev(num_entries + 1), op_of(num_entries + 1);
  std::vector<bool> is_return(num_entries + 1, false);
  std::vector<int> return_of(n, -1);  // op -> its return entry, -1 if unknown
  for (int e = 1; e <= num_entries; ++e) {
    const Event& ev = events[e - 1];
    op_of[e] = ev.op;
    is_return[e] = ev.is_return;
    if (ev.is_return) return_of[ev.op] = e;
  }
  for (int e = 0; e <= num_entries; ++e) {
    next[e] = e + 1 <= num_entries ? e + 1 : -1;
    prev[e] = e - 1;
  }
  auto unlink = [&](int e) {
    next[prev[e]] = next[e];
    if (next[e] != -1) prev[next[e]] = prev[e];
  };
  auto relink = [&](int e) {
    next[prev[e]] = e;
    if (next[e] != -1) prev[next[e]] = e;
  };
  // Lifting removes the call, then the return; restoring goes in reverse.
  auto lift = [&](int call) {
    unlink(call);
    if (int r = return_of[op_of[call]]; r != -1) unlink(r);
  };
  auto unlift = [&](int call) {
    if (int r = return_of[op_of[call]]; r != -1) relink(r);
    relink(call);
  };

  Memo memo(n);
  struct Frame {
    int call;
    int state_before;
    // Taken as the only choice of its configuration (see below): when it
    // fails, so does the configuration.
    bool forced;
  };
  std::vector<Frame> stack;
  int state = kAbsent;
  int entry = -1;
  // Linearizes the call `e`, moving to a new configuration, unless that
  // configuration was seen before (it failed then: a configuration on the
  // stack has a smaller set).
  auto place = [&](int e, int after, bool forced) {
    const int i = op_of[e];
    memo.Set(i);
    if (!memo.Insert(after)) {
      memo.Clear(i);
      return false;
    }
    stack.push_back({e, state, forced});
    state = after;
    lift(e);
    return true;
  };
  // Undoes frames up to the newest one whose configuration has untried
  // calls left, and points `entry` at the next of them. False when none.
  auto backtrack = [&] {
    while (!stack.empty()) {
      const Frame f = stack.back();
      stack.pop_back();
      state = f.state_before;
      memo.Clear(op_of[f.call]);
      unlift(f.call);
      if (!f.forced) {
        entry = next[f.call];
        return true;
      }
    }
    return false;
  };
  bool fresh = true;  // at a configuration not yet looked at
  while (true) {
    if (memo.size() > max_states) {
      result.gave_up = true;
      break;
    }
    if (fresh) {
      fresh = false;
      // A read (or failed cas) that may go now and answers what the register
      // holds can go first without loss: it changes nothing, and no pending
      // op completed before it began (it precedes the first pending return),
      // so any order that works from here still works with it moved to the
      // front. Take it as the only choice, without trying the others.
      int forced = -1;
      for (int e = next[0]; e != -1 && !is_return[e]; e = next[e]) {
        const SearchOp& op = ops[op_of[e]];
        int same = state;
        if ((op.kind == SearchOp::Kind::kRead || op.kind == SearchOp::Kind::kCasFailed) &&
            Apply(op, state, &same)) {
          forced = e;
          break;
        }
      }
      if (forced != -1) {
        if (place(forced, state, /*forced=*/true)) {
          fresh = true;
        } else if (!backtrack()) {
          break;
        }
        continue;
      }
      entry = next[0];
    }
    if (entry == -1) {
      // Nothing left but calls of unknown ops, which need not take effect.
      result.linearizable = true;
      break;
    }
    if (!is_return[entry]) {
      int after = state;
      if (Apply(ops[op_of[entry]], state, &after) && place(entry, after, /*forced=*/false)) {
        fresh = true;
      } else {
        entry = next[entry];
      }
      continue;
    }
    // The return of an op not yet linearized: every way of placing the
    // pending calls from here failed. Backtrack.
    if (result.stuck_op == -1 || stack.size() > result.best_depth) {
      result.best_depth = stack.size();
      result.best_state = state;
      result.stuck_op = op_of[entry];
      result.best_tail.clear();
      for (size_t k = stack.size() > 8 ? stack.size() - 8 : 0; k < stack.size(); ++k) {
        result.best_tail.push_back(op_of[stack[k].call]);
      }
    }
    if (!backtrack()) break;
  }
  result.states = memo.size();
  return result;
}

// Drops unknown writes/cas whose value nobody observed (see the header):
// had one taken effect, the next op to touch the register must have been a
// blind write, so leaving it out changes no answer. "Saw" means a read or a
// failed cas answered it, or a cas that swapped (or may have) expected it.
// Only for values written once. Repeats until nothing more drops (a dropped
// cas unobserves its expected value).
std::vector<size_t> Prune(const std::vector<Op>& ops, std::vector<bool>* dropped) {
  std::vector<size_t> pruned;
  std::map<std::string_view, int> written;
  for (const Op& op : ops) {
    if (op.kind != Op::Kind::kRead) ++written[op.value];
  }
  bool changed = true;
  while (changed) {
    changed = false;
    std::set<std::string_view> observed;
    for (size_t i = 0; i < ops.size(); ++i) {
      if ((*dropped)[i]) continue;
      const Op& op = ops[i];
      if (op.observed) observed.insert(*op.observed);
      // A cas that swapped, or may have, saw its expected value; one that
      // failed saw only `observed`.
      if (op.kind == Op::Kind::kCas && op.expected && (op.cas_ok || op.unknown)) {
        observed.insert(*op.expected);
      }
    }
    for (size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      if ((*dropped)[i] || !op.unknown || op.kind == Op::Kind::kRead) continue;
      if (written[op.value] != 1 || observed.count(op.value) > 0) continue;
      (*dropped)[i] = true;
      pruned.push_back(i);
      changed = true;
    }
  }
  return pruned;
}

struct Prepared {
  std::vector<SearchOp> ops;  // invoke order
  size_t unknown = 0;
  size_t pruned = 0;
  size_t bounded = 0;
  std::vector<std::string> names;  // value id -> value

  std::string Name(int id) const {
    return id == kAbsent ? std::string("absent") : absl::StrCat("\"", names[id], "\"");
  }
};

// Interns values and folds outcomes. `history` is already validated.
Prepared Prepare(const std::vector<Op>& history) {
  Prepared p;
  std::vector<bool> dropped(history.size(), false);
  for (size_t i = 0; i < history.size(); ++i) {
    if (history[i].kind == Op::Kind::kRead && history[i].unknown) dropped[i] = true;
  }
  p.pruned = Prune(history, &dropped).size();
  // An unknown write/cas whose (unique) value a known answer saw did take
  // effect, and before that answer: it is the only way to that value. So it
  // completes, at the latest, when the first such answer came back.
  std::map<std::string_view, int> written;
  std::map<std::string_view, int64_t> first_seen;
  for (size_t i = 0; i < history.size(); ++i) {
    const Op& op = history[i];
    if (op.kind != Op::Kind::kRead) ++written[op.value];
    if (dropped[i] || op.unknown) continue;
    std::optional<std::string_view> saw;
    if (op.observed) saw = *op.observed;
    if (op.kind == Op::Kind::kCas && op.cas_ok && op.expected) saw = *op.expected;
    if (!saw) continue;
    auto [it, inserted] = first_seen.emplace(*saw, op.complete);
    if (!inserted) it->second = std::min(it->second, op.complete);
  }
  std::map<std::string, int, std::less<>> ids;
  auto id = [&](const std::optional<std::string>& v) {
    if (!v) return kAbsent;
    auto [it, inserted] = ids.emplace(*v, static_cast<int>(ids.size()));
    if (inserted) p.names.push_back(*v);
    return it->second;
  };
  for (size_t i = 0; i < history.size(); ++i) {
    if (dropped[i]) continue;
    const Op& op = history[i];
    SearchOp s;
    s.source = i;
    s.invoke = op.invoke;
    s.complete = op.unknown ? kNever : op.complete;
    if (op.unknown && op.kind != Op::Kind::kRead && written[op.value] == 1) {
      if (auto it = first_seen.find(op.value); it != first_seen.end()) {
        s.complete = it->second;
        ++p.bounded;
      }
    }
    switch (op.kind) {
      case Op::Kind::kWrite:
        s.kind = SearchOp::Kind::kWrite;
        s.a = id(op.value);
        break;
      case Op::Kind::kRead:
        s.kind = SearchOp::Kind::kRead;
        s.a = id(op.observed);
        break;
      case Op::Kind::kCas:
        s.a = id(op.expected);
        if (op.unknown || op.cas_ok) {
          s.kind = SearchOp::Kind::kCasOk;
          s.b = id(op.value);
        } else {
          s.kind = SearchOp::Kind::kCasFailed;
          s.b = id(op.observed);
        }
        break;
    }
    if (op.unknown) ++p.unknown;
    p.ops.push_back(s);
  }
  std::stable_sort(p.ops.begin(), p.ops.end(),
                   [](const SearchOp& x, const SearchOp& y) { return x.invoke < y.invoke; });
  return p;
}

// The history as it stood at time `cut`: ops invoked by then; those still
// pending lose their answer (reads are dropped, writes and cas become
// unknown).
std::vector<Op> PrefixAt(const std::vector<Op>& history, int64_t cut,
                         std::vector<size_t>* sources) {
  std::vector<Op> prefix;
  sources->clear();
  for (size_t i = 0; i < history.size(); ++i) {
    Op op = history[i];
    if (op.invoke > cut) continue;
    if (op.unknown || op.complete > cut) {
      if (op.kind == Op::Kind::kRead) continue;
      op.unknown = true;
      op.complete = kNever;
      op.observed.reset();
    }
    prefix.push_back(std::move(op));
    sources->push_back(i);
  }
  return prefix;
}

class Explainer {
 public:
  explicit Explainer(const std::vector<Op>& history) : history_(history) {
    base_ = kNever;
    for (const Op& op : history) base_ = std::min(base_, op.invoke);
  }

  std::string Time(int64_t t) const {
    if (t == kNever) return "?";
    return absl::StrFormat("%.3f", static_cast<double>(t - base_) / 1e6);
  }

  std::string Line(size_t i) const {
    const Op& op = history_[i];
    return absl::StrCat("  #", i, " ", op.Describe(), "  [", Time(op.invoke), " ms, ",
                        op.unknown ? "?" : Time(op.complete), " ms]\n");
  }

 private:
  const std::vector<Op>& history_;
  int64_t base_;
};

}  // namespace

CheckResult CheckRegister(std::vector<Op> history, const CheckOptions& options) {
  CheckResult result;
  for (size_t i = 0; i < history.size(); ++i) {
    Op& op = history[i];
    if (op.unknown) {
      op.complete = kNever;
    } else if (op.complete < op.invoke) {
      result.explanation = absl::StrCat("malformed history: #", i, " ", op.Describe(),
                                        " completes before it is invoked");
      return result;
    }
  }
  Prepared prepared = Prepare(history);
  result.ops = prepared.ops.size();
  result.unknown = prepared.unknown;
  result.pruned = prepared.pruned;
  result.bounded = prepared.bounded;
  if (prepared.ops.size() > options.max_ops) {
    result.explanation = absl::StrCat("not checked: ", prepared.ops.size(),
                                      " ops is over the limit of ", options.max_ops);
    return result;
  }
  const SearchResult full = Search(prepared.ops, options.max_states);
  result.states = full.states;
  if (full.linearizable) {
    result.verdict = CheckResult::Verdict::kLinearizable;
    return result;
  }
  if (full.gave_up) {
    result.explanation = absl::StrCat("gave up after ", full.states, " states (max_states ",
                                      options.max_states, ") on ", prepared.ops.size(), " ops, ",
                                      prepared.unknown, " with an unknown outcome");
    return result;
  }
  result.verdict = CheckResult::Verdict::kNotLinearizable;
  const Explainer ex(history);
  if (!options.explain) {
    const SearchOp& stuck = prepared.ops[full.stuck_op];
    result.explanation =
        absl::StrCat("not linearizable: no order places\n", ex.Line(stuck.source));
    return result;
  }

  // The shortest failing prefix, cut at a completion time.
  std::vector<int64_t> cuts;
  for (const Op& op : history) {
    if (!op.unknown) cuts.push_back(op.complete);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<size_t> sources;
  auto fails = [&](size_t k, SearchResult* out) {
    std::vector<Op> prefix = PrefixAt(history, cuts[k], &sources);
    Prepared p = Prepare(prefix);
    SearchResult r = Search(p.ops, options.max_states);
    r.best_value = p.Name(r.best_state);
    // Map indices back to the whole history.
    for (SearchOp& op : p.ops) op.source = sources[op.source];
    if (!r.linearizable && r.stuck_op >= 0) {
      r.stuck_op = static_cast<int>(p.ops[r.stuck_op].source);
      for (int& t : r.best_tail) t = static_cast<int>(p.ops[t].source);
    }
    *out = std::move(r);
    return !out->linearizable;
  };
  size_t lo = 0, hi = cuts.empty() ? 0 : cuts.size() - 1;
  SearchResult at_hi;
  if (cuts.empty() || !fails(hi, &at_hi)) {
    // Cannot happen (linearizability is prefix-closed); say what we have.
    const SearchOp& stuck = prepared.ops[full.stuck_op];
    result.explanation =
        absl::StrCat("not linearizable: no order places\n", ex.Line(stuck.source));
    return result;
  }
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    SearchResult r;
    if (fails(mid, &r)) {
      hi = mid;
      at_hi = std::move(r);
    } else {
      lo = mid + 1;
    }
  }
  const int64_t cut = cuts[hi];
  std::vector<Op> prefix = PrefixAt(history, cut, &sources);
  std::vector<size_t> prefix_sources = sources;
  size_t culprit = history.size();
  for (size_t i = 0; i < history.size(); ++i) {
    if (!history[i].unknown && history[i].complete == cut) culprit = i;
  }
  const Op& c = history[culprit];

  std::string& e = result.explanation;
  absl::StrAppend(&e, "not linearizable. The shortest non-linearizable prefix (", prefix.size(),
                  " of ", history.size(), " ops; times in ms from the first invoke) ends when\n",
                  ex.Line(culprit), "completed.");
  if (at_hi.gave_up) absl::StrAppend(&e, " (That prefix's search gave up; it may be longer.)");
  absl::StrAppend(&e, "\n");
  if (at_hi.stuck_op >= 0) {
    absl::StrAppend(&e, "The search placed at most ", at_hi.best_depth,
                    " ops in a valid order; there the register held ", at_hi.best_value,
                    " and it could not place\n", ex.Line(at_hi.stuck_op));
    if (!at_hi.best_tail.empty()) {
      absl::StrAppend(&e, "after these (the last it placed, in order):\n");
      for (int t : at_hi.best_tail) absl::StrAppend(&e, ex.Line(t));
    }
  }
  // Context: who wrote what the culprit saw, ops overlapping it, and the
  // last writes that completed before it began.
  std::set<size_t> around;
  std::optional<std::string> seen = c.observed;
  if (c.kind == Op::Kind::kCas && c.cas_ok) seen = c.expected;
  if (seen) {
    bool writer = false;
    for (size_t i = 0; i < history.size(); ++i) {
      if (history[i].kind != Op::Kind::kRead && history[i].value == *seen &&
          !(history[i].kind == Op::Kind::kCas && !history[i].cas_ok && !history[i].unknown)) {
        around.insert(i);
        writer = true;
      }
    }
    if (!writer) absl::StrAppend(&e, "No op ever wrote ", Show(seen), ".\n");
  }
  std::vector<size_t> writes_before, unknown;
  for (size_t i : prefix_sources) {
    const Op& op = history[i];
    if (i == culprit) continue;
    if (op.unknown) {
      unknown.push_back(i);
    } else if (op.invoke <= c.complete && op.complete >= c.invoke) {
      around.insert(i);
    } else if (op.complete < c.invoke && (op.kind == Op::Kind::kWrite || op.cas_ok)) {
      writes_before.push_back(i);
    }
  }
  std::sort(writes_before.begin(), writes_before.end(), [&](size_t x, size_t y) {
    return history[x].complete > history[y].complete;
  });
  int64_t recent = c.invoke;
  for (size_t k = 0; k < writes_before.size() && k < 4; ++k) {
    around.insert(writes_before[k]);
    recent = std::min(recent, history[writes_before[k]].invoke);
  }
  // Writes/cas with an unknown outcome sent since then (older ones are
  // pending too, but would have to beat those writes).
  size_t older_unknown = 0;
  for (size_t i : unknown) {
    if (history[i].invoke >= recent) {
      around.insert(i);
    } else if (!around.count(i)) {
      ++older_unknown;
    }
  }
  std::vector<size_t> listed(around.begin(), around.end());
  std::sort(listed.begin(), listed.end(),
            [&](size_t x, size_t y) { return history[x].invoke < history[y].invoke; });
  absl::StrAppend(&e, "Ops around it (overlapping it, the last 4 writes before it, unknown "
                      "outcomes since, and writers of the value it saw; by invoke):\n");
  size_t shown = 0;
  for (size_t i : listed) {
    if (++shown > 40) {
      absl::StrAppend(&e, "  ... and ", listed.size() - 40, " more\n");
      break;
    }
    absl::StrAppend(&e, ex.Line(i));
  }
  if (older_unknown > 0) {
    absl::StrAppend(&e, "  (and ", older_unknown, " older writes/cas with an unknown outcome)\n");
  }
  return result;
}

}  // namespace meridian::testing::lin
