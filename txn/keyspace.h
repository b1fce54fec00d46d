// How the transaction layer lays its objects out in the engine's single
// ordered keyspace. The first byte of an engine key names the namespace:
//
//   'k' + user key                                  a KV value
//   'c' + OrderedBytes(cset key) + element          one cset element's count
//   'm' + name                                      txn-layer metadata
//   'i' + user key                                  a prepared transaction's intent
//   't' + transaction id                            a transaction's record (outcome)
//
// OrderedBytes (common/coding.h) is self-delimiting, so the elements of one
// cset form one contiguous range and never mix with another cset's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace meridian::txn::keyspace {

std::string KvKey(std::string_view user_key);
std::string_view UserKeyOf(std::string_view kv_key);  // REQUIRES: a KvKey
// Engine range [start, end) for user keys [start, end); end "" = unbounded.
void KvRange(std::string_view start, std::string_view end, std::string* engine_start,
             std::string* engine_end);

std::string CsetPrefix(std::string_view cset_key);
std::string CsetEntryKey(std::string_view cset_key, std::string_view element);
// Splits a CsetEntryKey; false if `engine_key` is not a well-formed one.
bool ParseCsetEntryKey(std::string_view engine_key, std::string* cset_key, std::string* element);
// Engine ranges [start, end) of all cset entries and of all KV values.
constexpr char kCsetRangeStart[] = "c";
constexpr char kCsetRangeEnd[] = "d";
constexpr char kKvRangeStart[] = "k";
constexpr char kKvRangeEnd[] = "l";

std::string IntentKey(std::string_view user_key);
std::string_view UserKeyOfIntent(std::string_view intent_key);  // REQUIRES: an IntentKey
constexpr char kIntentRangeStart[] = "i";
constexpr char kIntentRangeEnd[] = "j";
std::string TxnRecordKey(std::string_view txn);

// Written with every commit; its newest version is the last commit's HLC, so
// a restarted node never hands out a timestamp at or below it.
std::string LastCommitKey();
// Written instead by an empty commit (a closed timestamp, TxnStore::
// CloseThrough): it keeps later timestamps above it like LastCommitKey, but
// is not a write (a group that only closed timestamps takes a restore).
std::string LastCloseKey();

// Replicated mode: the group's membership as of the applied log, so that a
// snapshot carries it and a restarted replica finds it. The value is the log
// index of the change (8 bytes) followed by the encoded membership.
std::string MembershipKey();

// A restore in progress (TxnStore::RestoreBegin): the backup's identity and
// how far the restore got. Present from "restore begin" to "restore
// finish"; while it is, the store serves no client reads or writes.
std::string RestoreMarkerKey();
// The identity of the restore that finished, kept for good: a group is
// restored at most once.
std::string RestoredKey();

// Online splits (TxnStore::Split): the exclusive end of the keys this
// group still serves (absent: no split yet, it serves what the map gives
// it), and one record per split it carried out, by child group id (8 bytes
// big-endian, so they list in order under SplitChildPrefix).
std::string RangeEndKey();
std::string SplitChildKey(uint64_t child_group);
constexpr char kSplitChildPrefix[] = "msplit/";

// Counts are stored as 8-byte little-endian two's complement.
std::string EncodeCount(int64_t count);
bool DecodeCount(std::string_view bytes, int64_t* count);

}  // namespace meridian::txn::keyspace
