// Value types of the MultiPaxos core: ballots, log entries, messages.
//
// These are plain structs; the server serializes them for the wire (issue 4,
// transport). Nothing here does I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace meridian::consensus {

using NodeId = uint32_t;  // 1..kMaxNodeId; 0 = none
// A consensus group; a node hosts many, all logging to one WAL.
using GroupId = uint64_t;
constexpr NodeId kNoNode = 0;
constexpr NodeId kMaxNodeId = 0xffff;

// A ballot names its leader: ordered by round, then by node id, so two
// candidates never share a ballot and the leader of a ballot is known to all.
struct Ballot {
  uint64_t round = 0;
  NodeId leader = kNoNode;
  friend auto operator<=>(const Ballot&, const Ballot&) = default;
  bool IsZero() const { return round == 0 && leader == kNoNode; }
};

// One slot of the replicated log. An empty command with noop set fills a
// gap found during phase 1; with config set, the command is an encoded
// Membership (consensus/membership.h) that takes effect when committed.
struct Entry {
  uint64_t index = 0;   // >= 1
  Ballot ballot;        // the ballot it was accepted in
  std::string command;
  bool noop = false;
  bool config = false;
  friend bool operator==(const Entry&, const Entry&) = default;
};

enum class MessageType {
  kPrepare,      // phase 1a: ballot, index (first slot the candidate wants)
  kPromise,      // phase 1b: ballot, entries (accepted at >= the prepare's index),
                 // index (the acceptor's log starts after it), reject
  kAccept,       // phase 2a: ballot, entries, commit_index
  kAccepted,     // phase 2b: ballot, index (highest contiguous accepted), reject
  kCommit,       // heartbeat: ballot, commit_index
  kCommitAck,    // reply to a heartbeat: index (the follower's committed prefix)
  kTimeoutNow,   // leadership transfer: start phase 1 now
  kProbe,        // pre-phase-1: would you promise `ballot`? (changes nothing)
  kProbeReply,   // reject = no; index = the replier's promised round
};

struct Message {
  MessageType type = MessageType::kCommit;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Ballot ballot;
  uint64_t index = 0;
  uint64_t last_index = 0;  // kAccepted: the batch accepted was [index, last_index]
  uint64_t commit_index = 0;
  uint64_t seq = 0;         // kCommit/kCommitAck: the leader's heartbeat round
  bool reject = false;
  bool force = false;       // kPrepare after kTimeoutNow: ignore leader stickiness
  std::vector<Entry> entries;
};

// What must survive a crash for the acceptor to stay safe: the highest
// ballot promised. Entries are persisted separately (Ready::entries). The
// commit index is a hint persisted alongside: after a restart it may be
// behind, and the leader's commit messages bring it forward again.
struct HardState {
  Ballot promised;
  uint64_t commit_index = 0;
  friend bool operator==(const HardState&, const HardState&) = default;
};

}  // namespace meridian::consensus
