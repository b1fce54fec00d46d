// The meridian driver: Meridian through its C++ SDK. Reads and writes use
// the SDK's asynchronous calls, so a few issuing threads keep many requests
// in flight; scans and transactions, which the SDK only has as blocking
// calls, run on a thread pool with a thread per concurrent call.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "meridian/client.h"
#include "tests/bench/driver.h"
#include "tests/bench/thread_pool.h"

namespace meridian::bench {
namespace {

// Blocking calls beyond this many at once wait in the pool's queue (and the
// wait shows in their latency).
constexpr size_t kMaxBlockingThreads = 256;

// One attempt of a read-modify-write: reads every key, writes each back and
// commits. CONFLICT when a read or the commit conflicted.
Status Attempt(client::Txn& txn, const std::vector<std::string>& keys, const std::string& value) {
  for (const auto& key : keys) MERIDIAN_RETURN_IF_ERROR(txn.Get(key).status());
  for (const auto& key : keys) MERIDIAN_RETURN_IF_ERROR(txn.Put(key, value));
  return txn.Commit().status();
}

class MeridianDriver final : public Driver {
 public:
  MeridianDriver(std::unique_ptr<client::Client> client, std::string description,
                 std::optional<client::ReadConsistency> read_consistency)
      : client_(std::move(client)),
        description_(std::move(description)),
        read_consistency_(read_consistency),
        pool_(kMaxBlockingThreads) {}

  std::string Name() const override { return "meridian"; }
  std::string Describe() const override { return description_; }

  void Read(const std::string& key, ReadDone done) override {
    if (read_consistency_) {
      pool_.Submit([this, key, done = std::move(done)] {
        auto r = client_->Get(key, {.consistency = *read_consistency_});
        if (!r.ok()) return done(r.status());
        if (!r->has_value()) return done(std::optional<std::string>());
        done(std::optional<std::string>(std::move((*r)->value)));
      });
      return;
    }
    client_->GetAsync(key, [done = std::move(done)](Result<std::optional<client::GetResult>> r) {
      if (!r.ok()) return done(r.status());
      if (!r->has_value()) return done(std::optional<std::string>());
      done(std::optional<std::string>(std::move((*r)->value)));
    });
  }

  void Write(const std::string& key, const std::string& value, Done done) override {
    client_->PutAsync(
        key, value, [done = std::move(done)](Result<client::WriteResult> r) { done(r.status()); });
  }

  void Scan(const std::string& start, size_t count, ScanDone done) override {
    pool_.Submit([this, start, count, done = std::move(done)] {
      client::ScanSpec spec{.start = start, .limit = count};
      Result<client::ScanResult> r = client_->Scan(spec);
      if (!r.ok()) return done(r.status());
      done(r->kvs.size());
    });
  }

  void ReadModifyWrite(const std::vector<std::string>& keys, const std::string& value,
                       RmwDone done) override {
    pool_.Submit([this, keys, value, done = std::move(done)] {
      // RunTxn retries conflicts. The attempt commits itself, so it sees
      // whether its commit conflicted and counts it; RunTxn then has nothing
      // left to commit. Each attempt reads every key first, so the write
      // depends on a snapshot that the commit validates. Begin goes to the
      // leader of the first key's shard: its reads and, when every key is
      // there, its one-round commit stay on that node.
      int aborts = 0;
      client::RunTxnOptions options;
      if (!keys.empty()) options.routing_key = keys.front();
      Status s = client_->RunTxn(
          [&](client::Txn& txn) -> Status {
            Status attempt = Attempt(txn, keys, value);
            if (GetErrorKind(attempt) == ErrorKind::kConflict) ++aborts;
            return attempt;
          },
          options);
      done(std::move(s), aborts);
    });
  }

 private:
  const std::unique_ptr<client::Client> client_;
  const std::string description_;
  const std::optional<client::ReadConsistency> read_consistency_;
  // Last: destroyed first, so blocking calls finish while the client lives.
  ThreadPool pool_;
};

}  // namespace

Result<std::unique_ptr<Driver>> MakeMeridianDriver(const DriverOptions& options) {
  if (options.endpoints.empty())
    return InvalidArgumentError("meridian driver: --endpoints is required");
  client::ClientOptions co;
  co.endpoints = options.endpoints;
  co.rpc_timeout = std::chrono::milliseconds(options.rpc_timeout_ms);
  co.sessions = options.sessions;
  std::optional<client::ReadConsistency> consistency;
  if (options.read_consistency == "linearizable") {
    consistency = client::ReadConsistency::kLinearizable;
  } else if (options.read_consistency == "session") {
    consistency = client::ReadConsistency::kSession;
  } else if (!options.read_consistency.empty()) {
    return InvalidArgumentError("meridian driver: --read-consistency is linearizable or session, not \"" +
                                options.read_consistency + "\"");
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<client::Client> client, client::Client::Connect(co));
  // The member count is for the report only; a cluster that cannot answer
  // now shows up as errors in the run.
  std::string description = options.sessions ? "meridian" : "meridian (sessions off)";
  if (consistency) description += ", " + options.read_consistency + " reads";
  if (Result<v1::MembersResponse> m = client->Members(); m.ok()) {
    const int n = m->members_size();
    description += " " + std::to_string(n) + (n == 1 ? " node" : " nodes");
  }
  return std::unique_ptr<Driver>(new MeridianDriver(std::move(client), std::move(description), consistency));
}

}  // namespace meridian::bench
