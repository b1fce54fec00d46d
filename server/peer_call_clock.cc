#include "server/peer_call_clock.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace meridian::server {
namespace {

class StampInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit StampInterceptor(CallerClock caller) : caller_(caller) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      auto* metadata = methods->GetSendInitialMetadata();
      metadata->emplace(kHlcHeader, absl::StrCat(caller_.hlc->Now()));
      metadata->emplace(kMemberHeader, absl::StrCat(caller_.member_id));
    }
    methods->Proceed();
  }

 private:
  const CallerClock caller_;
};

class StampFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit StampFactory(CallerClock caller) : caller_(caller) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new StampInterceptor(caller_);
  }

 private:
  const CallerClock caller_;
};

class MergeInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MergeInterceptor(PeerClock* peers) : peers_(peers) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      Merge(*methods->GetRecvInitialMetadata());
    }
    methods->Proceed();
  }

 private:
  void Merge(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
    auto hlc_it = metadata.find(kHlcHeader);
    auto member_it = metadata.find(kMemberHeader);
    if (hlc_it == metadata.end() || member_it == metadata.end()) return;
    uint64_t hlc = 0;
    uint32_t member = 0;
    // Malformed headers are ignored: the call's own checks still apply.
    if (!absl::SimpleAtoi(absl::string_view(hlc_it->second.data(), hlc_it->second.size()), &hlc) ||
        !absl::SimpleAtoi(absl::string_view(member_it->second.data(), member_it->second.size()),
                          &member)) {
      return;
    }
    peers_->MergeRemoteHlc(member, hlc);
  }

  PeerClock* const peers_;
};

class MergeFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MergeFactory(PeerClock* peers) : peers_(peers) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new MergeInterceptor(peers_);
  }

 private:
  PeerClock* const peers_;
};

}  // namespace

std::shared_ptr<grpc::Channel> NewPeerChannel(const std::string& address, CallerClock caller) {
  if (caller.hlc == nullptr) return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> stamps;
  stamps.push_back(std::make_unique<StampFactory>(caller));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address, grpc::InsecureChannelCredentials(), grpc::ChannelArguments(), std::move(stamps));
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewPeerClockInterceptor(
    PeerClock* peers) {
  return std::make_unique<MergeFactory>(peers);
}

}  // namespace meridian::server
