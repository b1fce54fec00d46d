#include "client/retry_policy.h"

#include <gtest/gtest.h>

#include "proto/grpc_status.h"

namespace meridian::client::internal {
namespace {

constexpr char kEp[] = "10.0.0.1:2379";

TEST(HasErrorDetail, OnlyForMeridianAnswers) {
  EXPECT_TRUE(HasErrorDetail(ToGrpcStatus(ConflictError("c"))));
  EXPECT_FALSE(HasErrorDetail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "reset")));
  EXPECT_FALSE(HasErrorDetail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "x", "garbage")));
}

TEST(ClassifyFailure, NotLeaderWithHintGoesToTheLeaderForReadsAndWrites) {
  for (CallKind kind : {CallKind::kRead, CallKind::kWrite}) {
    const AttemptOutcome out =
        ClassifyFailure(ToGrpcStatus(NotLeaderError("10.0.0.2:2379", "not me")), kind, kEp);
    EXPECT_EQ(out.action, RetryAction::kRetryLeader);
    EXPECT_EQ(out.leader_hint, "10.0.0.2:2379");
    EXPECT_EQ(GetErrorKind(out.status), ErrorKind::kNotLeader);
  }
}

TEST(ClassifyFailure, NotLeaderWithoutHintTriesTheNextEndpoint) {
  EXPECT_EQ(ClassifyFailure(ToGrpcStatus(NotLeaderError("", "x")), CallKind::kWrite, kEp).action,
            RetryAction::kRetryNext);
  // A hint naming the node that answered is no hint.
  EXPECT_EQ(ClassifyFailure(ToGrpcStatus(NotLeaderError(kEp, "x")), CallKind::kWrite, kEp).action,
            RetryAction::kRetryNext);
}

TEST(ClassifyFailure, WrongShardRefreshesTheMapEvenForAWrite) {
  for (CallKind kind : {CallKind::kRead, CallKind::kWrite}) {
    const AttemptOutcome out = ClassifyFailure(
        ToGrpcStatus(WrongShardError("10.0.0.3:2379", 7, "key is in shard 2")), kind, kEp);
    EXPECT_EQ(out.action, RetryAction::kRefreshShards);
    EXPECT_EQ(out.leader_hint, "10.0.0.3:2379");
    EXPECT_EQ(GetErrorInfo(out.status).shard_map_version, 7u);
  }
}

TEST(ClassifyFailure, TypedRefusalsProveAWriteDidNotApply) {
  EXPECT_EQ(
      ClassifyFailure(ToGrpcStatus(UnavailableError("no quorum")), CallKind::kWrite, kEp).action,
      RetryAction::kRetryNext);
  const AttemptOutcome shed = ClassifyFailure(
      ToGrpcStatus(OverloadedError("max_inflight", 8, 7, "overloaded; retry after 7 ms")),
      CallKind::kWrite, kEp);
  EXPECT_EQ(shed.action, RetryAction::kRetrySame);
  EXPECT_EQ(shed.min_delay, std::chrono::milliseconds(7));
  EXPECT_EQ(GetErrorInfo(shed.status).retry_after_ms, 7u);
  EXPECT_EQ(GetErrorInfo(shed.status).limit_name, "max_inflight");
}

TEST(ClassifyFailure, ResourceExhaustedWithoutAHintIsFinal) {
  // Disk full: retrying soon will not help, for reads and writes alike.
  for (CallKind kind : {CallKind::kRead, CallKind::kWrite}) {
    const AttemptOutcome out = ClassifyFailure(
        ToGrpcStatus(ResourceExhaustedError("no space left on device (disk full)")), kind, kEp);
    EXPECT_EQ(out.action, RetryAction::kFail);
    EXPECT_EQ(out.status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(out.min_delay.count(), 0);
  }
}

TEST(RetryDelay, NeverShorterThanTheServersHint) {
  AttemptOutcome out;
  out.min_delay = std::chrono::milliseconds(40);
  EXPECT_EQ(RetryDelay(out, std::chrono::milliseconds(10)), std::chrono::milliseconds(40));
  EXPECT_EQ(RetryDelay(out, std::chrono::milliseconds(90)), std::chrono::milliseconds(90));
  EXPECT_EQ(RetryDelay(AttemptOutcome{}, std::chrono::milliseconds(3)),
            std::chrono::milliseconds(3));
}

TEST(ClassifyFailure, FinalErrorsAreNotRetried) {
  for (const Status& s : {ConflictError("c"), InvalidArgumentError("bad"), TxnNotFoundError("gone"),
                          CommitUnknownError("?")}) {
    const AttemptOutcome out = ClassifyFailure(ToGrpcStatus(s), CallKind::kRead, kEp);
    EXPECT_EQ(out.action, RetryAction::kFail) << s;
    EXPECT_EQ(GetErrorKind(out.status), GetErrorKind(s)) << s;
  }
}

TEST(ClassifyFailure, KeepsTheLimitOfAnInvalidArgument) {
  const AttemptOutcome out =
      ClassifyFailure(ToGrpcStatus(LimitExceededError("max_key_bytes", 4096, "key too long")),
                      CallKind::kWrite, kEp);
  EXPECT_EQ(out.action, RetryAction::kFail);
  EXPECT_EQ(GetErrorInfo(out.status).limit_name, "max_key_bytes");
  EXPECT_EQ(GetErrorInfo(out.status).limit_value, 4096u);
}

TEST(ClassifyFailure, CausalWaitTimeoutIsNotATransportDeadline) {
  const Status s = MakeError({.kind = ErrorKind::kCausalWaitTimeout}, "too far behind");
  const AttemptOutcome out = ClassifyFailure(ToGrpcStatus(s), CallKind::kRead, kEp);
  EXPECT_EQ(out.action, RetryAction::kFail);
  EXPECT_EQ(GetErrorKind(out.status), ErrorKind::kCausalWaitTimeout);
}

TEST(ClassifyFailure, TransportFailureOfAReadMovesOn) {
  for (auto code : {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED}) {
    const AttemptOutcome out = ClassifyFailure(grpc::Status(code, "x"), CallKind::kRead, kEp);
    EXPECT_EQ(out.action, RetryAction::kRetryNext);
    EXPECT_EQ(GetErrorKind(out.status), ErrorKind::kUnavailable);
  }
}

// Regression: a write whose connection broke after sending may have applied.
TEST(ClassifyFailure, TransportFailureOfAWriteIsCommitUnknown) {
  for (auto code : {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED,
                    grpc::StatusCode::CANCELLED, grpc::StatusCode::INTERNAL}) {
    const AttemptOutcome out = ClassifyFailure(grpc::Status(code, "x"), CallKind::kWrite, kEp);
    EXPECT_EQ(out.action, RetryAction::kFail);
    EXPECT_EQ(GetErrorKind(out.status), ErrorKind::kCommitUnknown);
    EXPECT_NE(out.status.message().find(kEp), absl::string_view::npos);
  }
}

TEST(ClassifyFailure, BareRejectionBeforeTheHandlerIsNotUnknown) {
  const AttemptOutcome out = ClassifyFailure(
      grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no such method"), CallKind::kWrite, kEp);
  EXPECT_EQ(out.action, RetryAction::kFail);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kUnimplemented);
}

TEST(NotConnected, IsRetryableElsewhere) {
  const AttemptOutcome out = NotConnected(kEp, "connection refused");
  EXPECT_EQ(out.action, RetryAction::kRetryNext);
  EXPECT_EQ(GetErrorKind(out.status), ErrorKind::kUnavailable);
}

TEST(BackoffDelay, DoublesWithJitterUpToTheCap) {
  Random rng(42);
  const std::chrono::milliseconds initial(10), max(1000);
  for (int trial = 0; trial < 200; ++trial) {
    const auto d0 = BackoffDelay(0, initial, max, rng).count();
    EXPECT_GE(d0, 5);
    EXPECT_LE(d0, 10);
    const auto d3 = BackoffDelay(3, initial, max, rng).count();
    EXPECT_GE(d3, 40);
    EXPECT_LE(d3, 80);
    const auto d40 = BackoffDelay(40, initial, max, rng).count();
    EXPECT_GE(d40, 500);
    EXPECT_LE(d40, 1000);
  }
}

}  // namespace
}  // namespace meridian::client::internal
