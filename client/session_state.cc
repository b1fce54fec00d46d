#include "client/session_state.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/absl_view.h"

namespace meridian::client::internal {

std::string EncodeTokenText(const v1::SessionToken& token) {
  // The message has no maps, so its serialization is deterministic.
  const std::string bytes = token.SerializeAsString();
  return absl::StrCat(AbslView(kTokenTextPrefix), absl::WebSafeBase64Escape(bytes));
}

Result<v1::SessionToken> DecodeTokenText(std::string_view text) {
  const absl::string_view t = absl::StripAsciiWhitespace(AbslView(text));
  const absl::string_view prefix = AbslView(kTokenTextPrefix);
  if (!absl::StartsWith(t, prefix)) {
    return InvalidArgumentError(absl::StrCat(
        "session token: expected text starting with \"", prefix,
        "\" (as ExportToken gives it), got ",
        t.empty()
            ? "nothing"
            : absl::StrCat("\"", absl::CEscape(t.substr(0, 16)), t.size() > 16 ? "...\"" : "\"")));
  }
  std::string bytes;
  if (!absl::WebSafeBase64Unescape(t.substr(prefix.size()), &bytes)) {
    return InvalidArgumentError(absl::StrCat("session token: the text after \"", prefix,
                                             "\" is not base64url (A-Z a-z 0-9 - _)"));
  }
  v1::SessionToken token;
  if (!token.ParseFromString(bytes)) {
    return InvalidArgumentError("session token: damaged (its bytes are not a session token)");
  }
  return token;
}

void SessionState::Stamp(v1::RequestHeader* header) {
  if (!enabled_) return;
  absl::MutexLock l(&mu_);
  *header->mutable_session_token() = token_;
}

void SessionState::Observe(const v1::ResponseHeader& header) {
  if (!enabled_ || !header.has_session_token()) return;
  absl::MutexLock l(&mu_);
  // A reply carries the token as the server updated it for this request,
  // so an equal cluster time may still bring a newer vector.
  if (header.session_token().cluster_time() >= token_.cluster_time()) {
    token_ = header.session_token();
  }
}

void SessionState::Merge(const v1::SessionToken& token) {
  absl::MutexLock l(&mu_);
  if (token.cluster_time() > token_.cluster_time()) token_ = token;
}

v1::SessionToken SessionState::token() const {
  absl::MutexLock l(&mu_);
  return token_;
}

}  // namespace meridian::client::internal
