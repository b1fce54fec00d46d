// Value types of the transaction layer's API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/engine.h"

namespace meridian::txn {

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

}  // namespace meridian::txn
