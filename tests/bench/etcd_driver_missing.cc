// Stands in for etcd_driver.cc when the build does not have it.
#include "tests/bench/driver.h"

namespace meridian::bench {

Result<std::unique_ptr<Driver>> MakeEtcdDriver(const DriverOptions&) {
  return UnavailableError("etcd driver not built");
}

}  // namespace meridian::bench
