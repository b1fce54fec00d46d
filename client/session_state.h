// A session's causal token, as the SDK keeps it (internal to client/), and
// the text form users carry between processes (Session::ExportToken).
//
// The token (meridian.v1.SessionToken) is opaque to clients: the server
// signs it and merges vectors. The SDK only sends back the newest one it
// holds, newest meaning the later cluster_time.
//
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "meridian/v1/common.pb.h"

namespace meridian::client::internal {

// "mst1.": Meridian session token, text form 1. What follows is the
// serialized SessionToken in unpadded base64url.
inline constexpr std::string_view kTokenTextPrefix = "mst1.";

// The text form of `token`; "mst1." alone for an empty token.
std::string EncodeTokenText(const v1::SessionToken& token);

// The token in `text` (surrounding whitespace ignored). kInvalidArgument,
// with what is wrong, for text without the "mst1." prefix, bad base64url,
// or bytes that are not a SessionToken.
Result<v1::SessionToken> DecodeTokenText(std::string_view text);

class SessionState {
 public:
  // `enabled` false: a session that neither sends nor keeps a token
  // (ClientOptions::sessions = false).
  explicit SessionState(bool enabled) : enabled_(enabled) {}

  bool enabled() const { return enabled_; }

  // Puts the token into an outgoing request header. Disabled: leaves the
  // header without one.
  void Stamp(v1::RequestHeader* header);
  // Keeps the response's token if it is at least as new as the held one.
  void Observe(const v1::ResponseHeader& header);
  // Keeps `token` if it is newer than the held one (ImportToken).
  void Merge(const v1::SessionToken& token);
  v1::SessionToken token() const;

 private:
  const bool enabled_;
  mutable absl::Mutex mu_;
  v1::SessionToken token_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::client::internal
