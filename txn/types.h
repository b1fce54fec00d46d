// Value types of the transaction layer's API.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/engine.h"

namespace meridian::txn {

// A store's transaction ids are below 2^kTxnIdBits (and never 0).
inline constexpr int kTxnIdBits = 40;

using storage::SiteId;
using storage::Version;

struct ReadResult {
  bool found = false;     // a live value is visible
  std::string value;
  Version version;        // of the visible version; zero when !found
  uint64_t snapshot_hlc = 0;
};

struct CommitInfo {
  uint64_t commit_hlc = 0;  // 0: nothing was written
};

struct DeleteInfo {
  uint64_t commit_hlc = 0;
  bool existed = false;
};

// [start, end) or prefix.
struct ScanRange {
  std::string start;
  std::string end;      // "" = unbounded
  std::string prefix;   // if set, start and end must be empty
  uint64_t limit = 0;   // 0 = none
  bool keys_only = false;
};

struct KeyValue {
  std::string key;
  std::string value;
  Version version;
};

struct ScanResult {
  std::vector<KeyValue> kvs;
  bool more = false;
  uint64_t snapshot_hlc = 0;
};

// One comparison of a one-shot transaction (etcd's If).
struct Compare {
  enum class Op { kEqual, kNotEqual, kGreater, kLess };
  enum class Target { kValue, kVersion, kExists };
  Op op = Op::kEqual;
  Target target = Target::kValue;
  std::string key;
  std::string value;     // kValue
  uint64_t version = 0;  // kVersion: commit HLC, 0 = absent
  bool exists = false;   // kExists
};

struct Op {
  enum class Kind { kGet, kPut, kDelete };
  Kind kind = Kind::kGet;
  std::string key;
  std::string value;  // kPut
};

struct OpResult {
  Op::Kind kind = Op::Kind::kGet;
  bool found = false;    // kGet: live value; kDelete: a live value existed
  std::string value;     // kGet
  Version version;       // kGet
};

struct ExecuteResult {
  bool succeeded = false;
  std::vector<OpResult> results;
  uint64_t snapshot_hlc = 0;
  uint64_t commit_hlc = 0;  // 0 if the branch wrote nothing
};

struct BeginInfo {
  uint64_t txn_id = 0;
  uint64_t snapshot_hlc = 0;
  uint64_t deadline_unix_ms = 0;
};

struct CsetEntry {
  std::string element;
  int64_t count = 0;
};

// Two-phase commit across shards (TxnStore::Prepare, Resolve, Decide).

// A write of a transaction: a value, or nullopt for a delete.
using TxnWrites = std::map<std::string, std::optional<std::string>>;

// What a prepared transaction leaves on each key it writes until it is
// resolved: nobody else may write the key, and a read at a snapshot at or
// above prepare_hlc waits for the outcome (the commit timestamp is
// prepare_hlc or higher, and may be at or below the reader's snapshot).
struct TxnIntent {
  std::string txn;                // the transaction's global id
  uint64_t prepare_hlc = 0;
  uint64_t deadline_unix_ms = 0;  // after it, a reader may abort the transaction
  uint64_t record_shard = 0;      // where its record (the outcome) lives
  std::optional<std::string> value;
};

struct PrepareArgs {
  std::string txn;
  uint64_t snapshot_hlc = 0;
  uint64_t deadline_unix_ms = 0;
  uint64_t record_shard = 0;
  TxnWrites writes;  // this shard's keys
};

// An online split (TxnStore::Split): the group keeps the keys below
// split_key; those from it to the group's end move to a new shard, whose
// group every replica creates from its own copy at the split's log index.
struct SplitSpec {
  std::string split_key;     // not empty
  uint64_t child_shard = 0;  // the new shard's id (the config group reserved it)
  uint64_t child_group = 0;  // its MultiPaxos group id
};

// A split a group carried out, as it recorded it.
struct SplitChild {
  SplitSpec spec;
  std::string end_key;     // the child's exclusive end ("": the keyspace's end)
  uint64_t index = 0;      // the log index the split applied at
  uint64_t split_hlc = 0;  // its timestamp: the child's data is the parent's as of it
};

// What a store holds, for split decisions (TxnStore::MeasureRange).
struct RangeSize {
  uint64_t live_bytes = 0;  // keys and values of the newest live versions
  uint64_t keys = 0;
  std::string middle_key;   // where about half the bytes lie below; "" if < 2 keys
};

// A transaction's outcome, as its record holds it.
struct TxnOutcome {
  bool committed = false;
  uint64_t commit_hlc = 0;  // committed only
  friend bool operator==(const TxnOutcome&, const TxnOutcome&) = default;
};

// Backup and restore (TxnStore::ExportBackup, RestoreBegin/Chunk/Finish).

// One record of a backup: the newest version of a live key, or of a cset
// element with a non-zero count, at the backup's snapshot.
struct BackupRecord {
  enum class Kind { kKv, kCsetElement };
  Kind kind = Kind::kKv;
  std::string key;      // the user key, or the cset's key
  std::string value;    // kKv
  std::string element;  // kCsetElement
  int64_t count = 0;    // kCsetElement; != 0
  Version version;
};

// Where an export was taken.
struct BackupSnapshot {
  uint64_t snapshot_hlc = 0;   // every record is the newest version at or below it
  uint64_t applied_index = 0;  // the store's applied log index when it was fixed
};

// Names one backup: a restore is of exactly one, and the restore marker
// keeps this so a second run resumes it and another backup is refused.
struct RestoreIdentity {
  uint64_t snapshot_hlc = 0;  // >= 1
  SiteId site_id = 0;
  uint64_t record_count = 0;
  uint64_t block_count = 0;  // chunks, numbered 0..block_count-1
  uint32_t checksum = 0;     // over the backup's data (docs/formats/backup.md)
  friend bool operator==(const RestoreIdentity&, const RestoreIdentity&) = default;
};

struct RestoreProgress {
  uint64_t next_block = 0;       // the chunk the restore takes next
  uint64_t records_applied = 0;  // records of chunks 0..next_block-1
};

}  // namespace meridian::txn
