#include "common/status.h"

#include <gtest/gtest.h>

namespace meridian {
namespace {

TEST(StatusTest, KindsRoundTripWithCanonicalCodes) {
  Status c = ConflictError("write-write conflict on k");
  EXPECT_EQ(c.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(GetErrorKind(c), ErrorKind::kConflict);
  EXPECT_TRUE(IsRetryable(c));

  Status nl = NotLeaderError("127.0.0.2:7001", "not the leader");
  EXPECT_EQ(nl.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetErrorInfo(nl).kind, ErrorKind::kNotLeader);
  EXPECT_EQ(GetErrorInfo(nl).leader_hint, "127.0.0.2:7001");

  Status cu = CommitUnknownError("lost the connection after sending commit");
  EXPECT_EQ(GetErrorKind(cu), ErrorKind::kCommitUnknown);
  EXPECT_FALSE(IsRetryable(cu));
}

TEST(StatusTest, LimitErrorNamesTheLimit) {
  Status s = LimitExceededError("max_key_bytes", 4096, "key is 5000 bytes");
  ErrorInfo info = GetErrorInfo(s);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(info.kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(info.limit_name, "max_key_bytes");
  EXPECT_EQ(info.limit_value, 4096u);
  EXPECT_FALSE(IsRetryable(s));
}

TEST(StatusTest, OverloadCarriesTheLimitAndARetryAfterHint) {
  Status s = OverloadedError("max_inflight", 512, 5, "overloaded");
  ErrorInfo info = GetErrorInfo(s);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(info.kind, ErrorKind::kResourceExhausted);
  EXPECT_EQ(info.limit_name, "max_inflight");
  EXPECT_EQ(info.limit_value, 512u);
  EXPECT_EQ(info.retry_after_ms, 5u);
  EXPECT_TRUE(IsRetryable(s));
  // A hint of 0 would read as "no hint": it is at least 1.
  EXPECT_EQ(GetErrorInfo(OverloadedError("x", 1, 0, "m")).retry_after_ms, 1u);
  // Disk full carries no hint and is not worth retrying soon.
  Status full = ResourceExhaustedError("disk full");
  EXPECT_EQ(GetErrorInfo(full).retry_after_ms, 0u);
  EXPECT_FALSE(IsRetryable(full));
}

TEST(StatusTest, PlainStatusesGetAKindFromTheirCode) {
  EXPECT_EQ(GetErrorKind(absl::OkStatus()), ErrorKind::kNone);
  EXPECT_EQ(GetErrorKind(absl::AbortedError("x")), ErrorKind::kConflict);
  EXPECT_EQ(GetErrorKind(absl::InternalError("x")), ErrorKind::kInternal);
  EXPECT_EQ(GetErrorKind(absl::DataLossError("x")), ErrorKind::kInternal);
}

Result<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd");
  return x / 2;
}
Result<int> Quarter(int x) {
  MERIDIAN_ASSIGN_OR_RETURN(int h, Half(x));
  MERIDIAN_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace meridian
