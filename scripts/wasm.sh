#!/usr/bin/env bash
# Builds the WASI module (./wasm, GOOS=wasip1 GOARCH=wasm) reproducibly.
#
#   bash scripts/wasm.sh            rebuild wasm/host/referrers.wasm (commit it)
#   bash scripts/wasm.sh --check    fail unless the committed module equals a
#                                   fresh build and is within the size budget
#   bash scripts/wasm.sh OUT [VERSION]
#                                   build into OUT (scripts/release.sh; the
#                                   module carries no version, so VERSION is
#                                   ignored and OUT equals the committed file)
#
# The bytes depend only on the source and the Go toolchain, which is pinned
# here (GOTOOLCHAIN: the go command fetches it from the module proxy when the
# local one differs), with -trimpath, -buildvcs=false and no build ID.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=go1.26.8
budget=5000000 # bytes: the issue's 5 MB
committed=wasm/host/referrers.wasm

build() {
  local out=$1
  GOTOOLCHAIN=$toolchain GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOFLAGS=-mod=readonly \
    go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' -o "$out" ./wasm
  local size
  size=$(wc -c <"$out" | tr -d ' ')
  if ((size > budget)); then
    echo "wasm.sh: $out is $size bytes, over the budget of $budget" >&2
    return 1
  fi
  echo "   referrers.wasm: $size bytes (budget $budget), sha256 $(sha256 "$out")"
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

case "${1:-}" in
  "")
    build "$committed"
    ;;
  --check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    build "$tmp/referrers.wasm"
    if ! cmp -s "$tmp/referrers.wasm" "$committed"; then
      echo "wasm.sh: $committed differs from a fresh build ($(sha256 "$committed") vs $(sha256 "$tmp/referrers.wasm"));" >&2
      echo "         run 'bash scripts/wasm.sh' and commit the module" >&2
      exit 1
    fi
    echo "   $committed is reproducible"
    ;;
  -*)
    echo "usage: scripts/wasm.sh [--check | OUT [VERSION]]" >&2
    exit 2
    ;;
  *)
    build "$1"
    ;;
esac
