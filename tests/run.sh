#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
#
#   ./tests/run.sh            every test except those labelled `slow`
#   ./tests/run.sh --slow     every test, the slow ones included
#   ./tests/run.sh -L unit    any extra arguments go to ctest
#
# Exits non-zero if anything fails to install, build or pass.
set -euo pipefail
cd "$(dirname "$0")/.."

ctest_args=(-LE slow)
if [[ "${1:-}" == "--slow" ]]; then
  ctest_args=()
  shift
fi

./deploy/local/install-deps.sh

BUILD_DIR=${MERIDIAN_BUILD_DIR:-build/dev}
echo "== configure ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
echo "== build"
start=$(date +%s)
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "== built in $(( $(date +%s) - start )) s"

echo "== test"
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 900 "${ctest_args[@]}" "$@"
