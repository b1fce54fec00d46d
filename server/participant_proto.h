// Conversions between the txn layer's two-phase commit types and
// meridian.v1.Participant's messages, shared by the service (server side)
// and ShardCaller (client side).
#pragma once

#include <string>

#include "meridian/v1/participant.pb.h"
#include "txn/types.h"

namespace meridian::server {

inline void ToProto(const txn::TxnWrites& writes,
                    google::protobuf::RepeatedPtrField<v1::TxnWrite>* out) {
  for (const auto& [key, value] : writes) {
    v1::TxnWrite* w = out->Add();
    w->set_key(key);
    w->set_has_value(value.has_value());
    if (value) w->set_value(*value);
  }
}

inline txn::TxnWrites FromProto(const google::protobuf::RepeatedPtrField<v1::TxnWrite>& writes) {
  txn::TxnWrites out;
  for (const v1::TxnWrite& w : writes) {
    out[w.key()] = w.has_value() ? std::optional<std::string>(w.value()) : std::nullopt;
  }
  return out;
}

inline void ToProto(const txn::TxnOutcome& o, v1::TxnOutcomeProto* out) {
  out->set_committed(o.committed);
  out->set_commit_hlc(o.commit_hlc);
}

inline txn::TxnOutcome FromProto(const v1::TxnOutcomeProto& o) {
  return {o.committed(), o.commit_hlc()};
}

}  // namespace meridian::server
