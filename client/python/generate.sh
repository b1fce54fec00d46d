#!/usr/bin/env bash
# Generates the Python modules of the v1 API (proto/meridian/v1/*.proto) into
# OUTDIR, as the package meridian.v1:
#
#   client/python/generate.sh OUTDIR
#   PYTHONPATH=OUTDIR:client/python /usr/bin/python3 -c 'import meridian_client'
#
# Uses Debian's protoc (protobuf-compiler) and grpc_python_plugin
# (protobuf-compiler-grpc); PROTOC and GRPC_PYTHON_PLUGIN override them. The
# CMake rule in this folder calls this script, so both produce the same tree.
#
# grpc/health/v1/health.proto is left out on purpose: generated as
# grpc/health/v1/health_pb2.py it would put a `grpc` directory on PYTHONPATH
# next to grpcio's own `grpc` package.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
proto_root=$(cd "$here/../../proto" && pwd)
protoc=${PROTOC:-$(command -v protoc || true)}
plugin=${GRPC_PYTHON_PLUGIN:-$(command -v grpc_python_plugin || true)}
if [[ -z "$protoc" || -z "$plugin" ]]; then
  echo "$0: needs protoc and grpc_python_plugin:" \
       "apt-get install protobuf-compiler protobuf-compiler-grpc" >&2
  exit 1
fi

mkdir -p "$out"
# Generate into a fresh directory beside OUTDIR and move the files in, so a
# failed run never leaves half a package behind.
tmp=$(mktemp -d "$out/.generate.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
protos=()
for p in "$proto_root"/meridian/v1/*.proto; do protos+=("meridian/v1/$(basename "$p")"); done
"$protoc" --proto_path="$proto_root" \
  --python_out="$tmp" --grpc_python_out="$tmp" \
  --plugin=protoc-gen-grpc_python="$plugin" \
  "${protos[@]}"
# Regular packages (not namespace packages): the generated modules import
# each other as `from meridian.v1 import common_pb2`.
touch "$tmp/meridian/__init__.py" "$tmp/meridian/v1/__init__.py"
mkdir -p "$out/meridian/v1"
mv -f "$tmp/meridian/__init__.py" "$out/meridian/"
for f in "$tmp"/meridian/v1/*.py; do mv -f "$f" "$out/meridian/v1/"; done
