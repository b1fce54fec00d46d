// ClientOptions for SDK tests against the fake servers: retries back off
// for a millisecond or so, and a lost reply is given up after 500 ms.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "meridian/client.h"

namespace meridian::client::testing {

inline ClientOptions FastOptions(std::vector<std::string> endpoints) {
  ClientOptions o;
  o.endpoints = std::move(endpoints);
  o.rpc_timeout = std::chrono::milliseconds(500);
  o.initial_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(5);
  return o;
}

}  // namespace meridian::client::testing
