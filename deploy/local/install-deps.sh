#!/usr/bin/env bash
# Installs every Debian package that building, testing and running Meridian
# needs. Idempotent: when everything is present it does nothing, and it runs
# `apt-get update` at most once per call.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang-format
  # libraries
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  librocksdb-dev libabsl-dev liburing-dev libspdlog-dev libfmt-dev
  libyaml-cpp-dev libcli11-dev libssl-dev libgtest-dev libgmock-dev
  libbenchmark-dev libcivetweb-dev
  # runtime tools used by scripts and tests
  python3 procps psmisc
  # benchmark peer: etcd 3.4 and its API protos (tests/bench)
  etcd-server etcd-client golang-etcd-server-dev
  # promtool and a real Prometheus server that scrapes /metrics (tests/integration)
  prometheus
  # clock skew for the fencing test (tests/integration) and jepsen/
  faketime libfaketime
  # jepsen/: the harness (Python SDK), partitions, power loss (lossyfs)
  python3-grpcio python3-protobuf iproute2 nftables fuse3 libfuse3-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
