// Scenario: a small line-based language that drives a SimCluster through a
// protocol edge case and states what must hold at each step. One command per
// line; `#` starts a comment. The reference is in docs/testing.md; in short:
//
//   nodes 5 / seed 7 / delay 1 / loss 50 / dup 20   set-up, before any event
//   spares 2                nodes 6 and 7 exist, down and outside the group
//   run 30                  advance 30 ticks
//   propose x y z           at the current leader, in one Accept batch
//   propose-at 1 x y        at node 1, which may be a stale leader
//   transfer 2              the current leader hands over to node 2
//   crash 1 / restart 1 2 / restart *
//   crash-in-ready 1 before-persist|before-send|before-advance
//   join 4 / add-learner 4 / promote 4 / remove 1   membership, at the leader
//   compact 1 / compact *   make the state machine durable, trim the log
//   read 1                  ReadIndex at node 1 (checked by the invariant)
//   partition 1 2 | 3 4 5   / heal
//   drop [TYPES] from A to B  / hold [TYPES] from A to B
//   release [SPEC] / discard [SPEC] / clear
//   expect COND             fail unless COND holds now
//   await COND within 100   run tick by tick until COND holds (fail after 100)
//
// The invariants of sim_cluster.h are checked after every event, as in the
// random sweep. Any failure, of an invariant, an expectation or a bad line,
// is reported as "file:line: what" followed by the simulator's event trace.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/sim/sim_cluster.h"

namespace meridian::sim {

class Scenario {
 public:
  // `name` is used in error messages (normally the file's path).
  Scenario(std::string name, std::string text);

  // Runs every line. OK, or the first failure as described above.
  // `full_trace` keeps every simulator event for the failure message.
  Status Run(bool full_trace = false);

  // Reads and runs a file.
  static Status RunFile(const std::string& path, bool full_trace = false);

 private:
  Status Execute(const std::vector<std::string>& words);
  Status Check(const std::vector<std::string>& words, size_t first, bool* holds,
               std::string* actual);
  Status Setup(const std::vector<std::string>& words);
  Status Cluster();  // builds the cluster at the first event

  std::string name_;
  std::string text_;
  SimOptions options_;
  std::unique_ptr<SimCluster> cluster_;
};

}  // namespace meridian::sim
