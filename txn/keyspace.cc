#include "txn/keyspace.h"

#include "common/coding.h"

namespace meridian::txn::keyspace {

std::string KvKey(std::string_view user_key) {
  std::string k;
  k.reserve(user_key.size() + 1);
  k.push_back('k');
  k.append(user_key);
  return k;
}

std::string_view UserKeyOf(std::string_view kv_key) { return kv_key.substr(1); }

void KvRange(std::string_view start, std::string_view end, std::string* engine_start,
             std::string* engine_end) {
  *engine_start = KvKey(start);
  *engine_end = end.empty() ? std::string("l") : KvKey(end);
}

std::string CsetPrefix(std::string_view cset_key) {
  std::string k = "c";
  PutOrderedBytes(&k, cset_key);
  return k;
}

std::string CsetEntryKey(std::string_view cset_key, std::string_view element) {
  std::string k = CsetPrefix(cset_key);
  k.append(element);
  return k;
}

bool ParseCsetEntryKey(std::string_view engine_key, std::string* cset_key, std::string* element) {
  if (engine_key.empty() || engine_key.front() != 'c') return false;
  engine_key.remove_prefix(1);
  if (!GetOrderedBytes(&engine_key, cset_key)) return false;
  element->assign(engine_key);
  return true;
}

std::string IntentKey(std::string_view user_key) {
  std::string k = "i";
  k.append(user_key);
  return k;
}

std::string_view UserKeyOfIntent(std::string_view intent_key) { return intent_key.substr(1); }

std::string TxnRecordKey(std::string_view txn) {
  std::string k = "t";
  k.append(txn);
  return k;
}

std::string LastCommitKey() { return "mlast_commit"; }
std::string LastCloseKey() { return "mlast_close"; }
std::string MembershipKey() { return "mmembership"; }
std::string RestoreMarkerKey() { return "mrestore"; }
std::string RestoredKey() { return "mrestored"; }

std::string RangeEndKey() { return "mrange_end"; }

std::string SplitChildKey(uint64_t child_group) {
  std::string k = kSplitChildPrefix;
  for (int shift = 56; shift >= 0; shift -= 8) k.push_back(static_cast<char>(child_group >> shift));
  return k;
}

std::string EncodeCount(int64_t count) {
  std::string s;
  PutFixed64(&s, static_cast<uint64_t>(count));
  return s;
}

bool DecodeCount(std::string_view bytes, int64_t* count) {
  uint64_t v = 0;
  if (!GetFixed64(&bytes, &v) || !bytes.empty()) return false;
  *count = static_cast<int64_t>(v);
  return true;
}

}  // namespace meridian::txn::keyspace
