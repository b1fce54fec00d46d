// meridian-bench's etcd driver: the Driver interface (driver.h) on etcd's v3
// KV gRPC API, called with gRPC's callback API so one client thread keeps many
// operations in flight, as the Meridian driver does.
//
//   Read             Range(key), linearizable (etcd's default)
//   Write            Put(key, value)
//   Scan             Range(start, range_end = "\0" i.e. to the end, limit = count)
//   ReadModifyWrite  Range each key, then Txn(if mod_revision(k) == seen for every
//                    key, then Put every key); a failed compare starts over, up
//                    to kMaxRmwAttempts times (a CAS loop, like clientv3's STM,
//                    plus a short randomized backoff so a hot key does not
//                    turn into a retry storm); each failed compare is
//                    one abort
//
// Operations go round-robin over the endpoints, one channel each. The proto
// is etcd 3.4's, compiled by tests/bench/etcd/CMakeLists.txt.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "tests/bench/driver.h"

namespace meridian::bench {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::KV;
using etcdserverpb::PutRequest;
using etcdserverpb::PutResponse;
using etcdserverpb::RangeRequest;
using etcdserverpb::RangeResponse;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;

// A read-modify-write whose compare keeps failing gives up after this many
// rounds and reports CONFLICT.
constexpr int kMaxRmwAttempts = 20;

// Backoff before read-modify-write attempt k (k >= 1): uniform in
// [0, min(kRmwBackoffBase << (k-1), kRmwBackoffMax)].
constexpr auto kRmwBackoffBase = std::chrono::microseconds(500);
constexpr auto kRmwBackoffMax = std::chrono::milliseconds(50);

// etcd's range_end "\0": every key >= the start key.
const std::string kRangeToEnd(1, '\0');

// grpc::Status -> meridian::Status. `mutation`: the request may have been
// applied even though it failed (a lost answer is then COMMIT_UNKNOWN).
Status ToStatus(const grpc::Status& s, bool mutation) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat("etcd: ", s.error_message());
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      // etcd: no leader, leader changed, request timed out, connection refused.
      return UnavailableError(msg);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
      return mutation ? CommitUnknownError(msg) : UnavailableError(msg);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // etcd: too many requests, database space exceeded.
      return ResourceExhaustedError(msg);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      // etcd: request is too large, key is not provided, duplicate key, ...
      return InvalidArgumentError(msg);
    default:
      return Status(static_cast<absl::StatusCode>(s.error_code()), msg);
  }
}

// One unary call's state, alive until its callback has run.
template <typename Req, typename Resp>
struct Call {
  grpc::ClientContext ctx;
  Req req;
  Resp resp;
};

// Starts `start(ctx, req, resp, callback)` with a deadline; `on_done(status,
// resp)` runs once on completion, then the call's state is freed.
template <typename Req, typename Resp, typename Start, typename OnDone>
void Unary(int timeout_ms, Req req, Start start, OnDone on_done) {
  auto* call = new Call<Req, Resp>;
  call->req = std::move(req);
  call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  start(&call->ctx, &call->req, &call->resp,
        [call, on_done = std::move(on_done)](grpc::Status s) mutable {
          std::unique_ptr<Call<Req, Resp>> owner(call);
          on_done(s, owner->resp);
        });
}

// Runs callbacks after a delay on one thread of its own (callbacks must not
// block). Destruction runs whatever is still queued with run = false.
class DelayQueue {
 public:
  using Task = std::function<void(bool run)>;
  DelayQueue() : thread_([this] { Loop(); }) {}
  ~DelayQueue() {
    std::multimap<Clock::time_point, Task> left;
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
      left.swap(tasks_);
    }
    cv_.notify_all();
    thread_.join();
    for (auto& [when, task] : left) task(false);
  }
  void After(std::chrono::microseconds delay, Task task) {
    {
      std::lock_guard<std::mutex> l(mu_);
      tasks_.emplace(Clock::now() + delay, std::move(task));
    }
    cv_.notify_all();
  }

 private:
  using Clock = std::chrono::steady_clock;
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      if (tasks_.empty()) {
        cv_.wait(l);
        continue;
      }
      auto first = tasks_.begin();
      if (first->first > Clock::now()) {
        cv_.wait_until(l, first->first);
        continue;
      }
      Task task = std::move(first->second);
      tasks_.erase(first);
      l.unlock();
      task(true);
      l.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<Clock::time_point, Task> tasks_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

class EtcdDriver final : public Driver {
 public:
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<KV::Stub> kv;
  };

  EtcdDriver(std::vector<Endpoint> endpoints, std::string description, int timeout_ms)
      : endpoints_(std::move(endpoints)),
        description_(std::move(description)),
        timeout_ms_(timeout_ms) {}

  std::string Name() const override { return "etcd"; }
  std::string Describe() const override { return description_; }

  void Read(const std::string& key, ReadDone done) override {
    RangeRequest req;
    req.set_key(key);
    StartRange(Next(), std::move(req),
               [done = std::move(done)](grpc::Status s, RangeResponse& resp) {
                 if (!s.ok()) return done(ToStatus(s, false));
                 if (resp.kvs_size() == 0) return done(std::optional<std::string>());
                 done(std::optional<std::string>(std::move(*resp.mutable_kvs(0)->mutable_value())));
               });
  }

  void Write(const std::string& key, const std::string& value, Done done) override {
    PutRequest req;
    req.set_key(key);
    req.set_value(value);
    KV::Stub* stub = Next();
    Unary<PutRequest, PutResponse>(
        timeout_ms_, std::move(req),
        [stub](auto* ctx, auto* q, auto* r, auto cb) {
          stub->async()->Put(ctx, q, r, std::move(cb));
        },
        [done = std::move(done)](grpc::Status s, PutResponse&) { done(ToStatus(s, true)); });
  }

  void Scan(const std::string& start, size_t count, ScanDone done) override {
    if (count == 0) return done(size_t{0});
    RangeRequest req;
    req.set_key(start);
    req.set_range_end(kRangeToEnd);
    req.set_limit(static_cast<int64_t>(count));
    StartRange(Next(), std::move(req),
               [done = std::move(done)](grpc::Status s, RangeResponse& resp) {
                 if (!s.ok()) return done(ToStatus(s, false));
                 done(static_cast<size_t>(resp.kvs_size()));
               });
  }

  void ReadModifyWrite(const std::vector<std::string>& keys, const std::string& value,
                       RmwDone done) override {
    auto op = std::make_shared<Rmw>();
    op->driver = this;
    op->stub = Next();
    op->keys = keys;
    // etcd rejects a txn that puts the same key twice.
    std::sort(op->keys.begin(), op->keys.end());
    op->keys.erase(std::unique(op->keys.begin(), op->keys.end()), op->keys.end());
    op->value = value;
    op->done = std::move(done);
    if (op->keys.empty()) return op->done(absl::OkStatus(), 0);
    ReadRound(std::move(op));
  }

 private:
  // One read-modify-write in progress; shared by its outstanding calls.
  struct Rmw {
    EtcdDriver* driver = nullptr;
    KV::Stub* stub = nullptr;
    std::vector<std::string> keys;
    std::string value;
    RmwDone done;
    int attempt = 0;  // compares failed so far: the aborts
    std::mutex mu;
    std::vector<int64_t> seen;  // mod_revision per key; 0 = absent
    size_t pending = 0;
    Status error;
  };

  std::chrono::microseconds Jitter(std::chrono::microseconds cap) {
    std::lock_guard<std::mutex> l(rng_mu_);
    return std::chrono::microseconds(std::uniform_int_distribution<int64_t>(0, cap.count())(rng_));
  }

  KV::Stub* Next() {
    const uint64_t i = next_.fetch_add(1, std::memory_order_relaxed);
    return endpoints_[i % endpoints_.size()].kv.get();
  }

  template <typename OnDone>
  void StartRange(KV::Stub* stub, RangeRequest req, OnDone on_done) {
    Unary<RangeRequest, RangeResponse>(
        timeout_ms_, std::move(req),
        [stub](auto* ctx, auto* q, auto* r, auto cb) {
          stub->async()->Range(ctx, q, r, std::move(cb));
        },
        std::move(on_done));
  }

  // Reads every key's current mod_revision, then commits.
  static void ReadRound(std::shared_ptr<Rmw> op) {
    {
      std::lock_guard<std::mutex> l(op->mu);
      op->seen.assign(op->keys.size(), 0);
      op->pending = op->keys.size();
      op->error = absl::OkStatus();
    }
    for (size_t i = 0; i < op->keys.size(); ++i) {
      RangeRequest req;
      req.set_key(op->keys[i]);
      op->driver->StartRange(op->stub, std::move(req),
                             [op, i](grpc::Status s, RangeResponse& resp) {
                               bool last = false;
                               {
                                 std::lock_guard<std::mutex> l(op->mu);
                                 if (!s.ok() && op->error.ok()) op->error = ToStatus(s, false);
                                 if (s.ok() && resp.kvs_size() > 0)
                                   op->seen[i] = resp.kvs(0).mod_revision();
                                 last = --op->pending == 0;
                               }
                               if (!last) return;
                               if (!op->error.ok()) return op->done(op->error, op->attempt);
                               Commit(op);
                             });
    }
  }

  // If no key changed since it was read, writes them all; otherwise reads again.
  static void Commit(std::shared_ptr<Rmw> op) {
    TxnRequest req;
    for (size_t i = 0; i < op->keys.size(); ++i) {
      Compare* c = req.add_compare();
      c->set_result(Compare::EQUAL);
      c->set_target(Compare::MOD);
      c->set_key(op->keys[i]);
      c->set_mod_revision(op->seen[i]);  // 0 matches a key that does not exist
      PutRequest* put = req.add_success()->mutable_request_put();
      put->set_key(op->keys[i]);
      put->set_value(op->value);
    }
    KV::Stub* stub = op->stub;
    Unary<TxnRequest, TxnResponse>(
        op->driver->timeout_ms_, std::move(req),
        [stub](auto* ctx, auto* q, auto* r, auto cb) {
          stub->async()->Txn(ctx, q, r, std::move(cb));
        },
        [op](grpc::Status s, TxnResponse& resp) {
          if (!s.ok()) return op->done(ToStatus(s, true), op->attempt);
          if (resp.succeeded()) return op->done(absl::OkStatus(), op->attempt);
          if (++op->attempt >= kMaxRmwAttempts) {
            return op->done(ConflictError(absl::StrCat("etcd: read-modify-write of ",
                                                       op->keys.size(), " key(s) lost the compare ",
                                                       kMaxRmwAttempts, " times in a row")),
                            op->attempt);
          }
          const auto cap = std::min<std::chrono::microseconds>(
              kRmwBackoffBase * (int64_t{1} << std::min(op->attempt - 1, 20)), kRmwBackoffMax);
          op->driver->delays_.After(op->driver->Jitter(cap), [op](bool run) {
            if (!run) {
              return op->done(UnavailableError("etcd driver destroyed during a retry"),
                              op->attempt);
            }
            ReadRound(op);
          });
        });
  }

  std::vector<Endpoint> endpoints_;
  const std::string description_;
  const int timeout_ms_;
  std::atomic<uint64_t> next_{0};
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
  DelayQueue delays_;  // last: destroyed first, while the rest still exists
};

// "3.4.23" -> "3.4".
std::string MajorMinor(const std::string& version) {
  const size_t dot = version.find('.');
  if (dot == std::string::npos) return version;
  const size_t dot2 = version.find('.', dot + 1);
  return dot2 == std::string::npos ? version : version.substr(0, dot2);
}

}  // namespace

Result<std::unique_ptr<Driver>> MakeEtcdDriver(const DriverOptions& options) {
  if (options.endpoints.empty()) {
    return InvalidArgumentError("the etcd driver needs --endpoints host:port[,host:port...]");
  }
  const int timeout_ms = options.rpc_timeout_ms > 0 ? options.rpc_timeout_ms : 10'000;
  std::vector<EtcdDriver::Endpoint> endpoints;
  for (const std::string& address : options.endpoints) {
    if (address.empty()) return InvalidArgumentError("empty etcd endpoint in --endpoints");
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);  // large scans
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    EtcdDriver::Endpoint ep;
    ep.address = address;
    ep.channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    ep.kv = KV::NewStub(ep.channel);
    endpoints.push_back(std::move(ep));
  }

  // Ask the first endpoint that answers for the version and the membership,
  // which also fails fast when etcd is not running.
  std::vector<std::string> errors;
  for (const auto& ep : endpoints) {
    const auto deadline =
        std::chrono::system_clock::now() + std::chrono::milliseconds(std::min(timeout_ms, 5'000));
    etcdserverpb::StatusResponse status;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline);
      ctx.set_wait_for_ready(true);  // ride out the first connect
      grpc::Status s = etcdserverpb::Maintenance::NewStub(ep.channel)
                           ->Status(&ctx, etcdserverpb::StatusRequest(), &status);
      if (!s.ok()) {
        errors.push_back(absl::StrCat(ep.address, ": ", s.error_message()));
        continue;
      }
    }
    etcdserverpb::MemberListResponse members;
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline);
    grpc::Status s = etcdserverpb::Cluster::NewStub(ep.channel)
                         ->MemberList(&ctx, etcdserverpb::MemberListRequest(), &members);
    if (!s.ok()) {
      errors.push_back(absl::StrCat(ep.address, ": ", s.error_message()));
      continue;
    }
    const int n = members.members_size();
    std::string description = absl::StrCat("etcd ", MajorMinor(status.version()), ", ", n,
                                           n == 1 ? " member" : " members");
    return std::unique_ptr<Driver>(
        std::make_unique<EtcdDriver>(std::move(endpoints), std::move(description), timeout_ms));
  }
  return UnavailableError(absl::StrCat("cannot reach etcd (", absl::StrJoin(errors, "; "), ")"));
}

}  // namespace meridian::bench
