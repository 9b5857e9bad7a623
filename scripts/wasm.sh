#!/usr/bin/env bash
# Builds the WASI modules (GOOS=wasip1 GOARCH=wasm) reproducibly: the command
# (./wasm, wasm/host/referrers.wasm) and the reactor (./wasm/reactor,
# -buildmode=c-shared, wasm/host/referrers-reactor.wasm). Each must be within
# the size budget.
#
#   bash scripts/wasm.sh            rebuild both modules (commit them)
#   bash scripts/wasm.sh --check    fail unless the committed modules equal a
#                                   fresh build and are within the budget
#   bash scripts/wasm.sh OUT [VERSION]
#                                   build the command into OUT
#                                   (scripts/release.sh; the module carries no
#                                   version, so VERSION is ignored and OUT
#                                   equals the committed file)
#
# The bytes depend only on the source and the Go toolchain, which is pinned
# here (GOTOOLCHAIN: the go command fetches it from the module proxy when the
# local one differs), with -trimpath, -buildvcs=false and no build ID.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=go1.26.8
budget=5000000 # bytes: the issue's 5 MB
committed=wasm/host/referrers.wasm
reactor=wasm/host/referrers-reactor.wasm

# build OUT [reactor]: the command, or with a second argument the reactor.
build() {
  local out=$1 pkg=./wasm mode=exe
  if [[ -n ${2:-} ]]; then
    pkg=./wasm/reactor mode=c-shared
  fi
  GOTOOLCHAIN=$toolchain GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOFLAGS=-mod=readonly \
    go build -trimpath -buildvcs=false -buildmode=$mode -ldflags='-s -w -buildid=' -o "$out" "$pkg"
  local size
  size=$(wc -c <"$out" | tr -d ' ')
  if ((size > budget)); then
    echo "wasm.sh: $out is $size bytes, over the budget of $budget" >&2
    return 1
  fi
  echo "   $(basename "$out"): $size bytes (budget $budget), sha256 $(sha256 "$out")"
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

case "${1:-}" in
  "")
    build "$committed"
    build "$reactor" reactor
    ;;
  --check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    build "$tmp/referrers.wasm"
    build "$tmp/referrers-reactor.wasm" reactor
    for m in "$committed" "$reactor"; do
      if ! cmp -s "$tmp/$(basename "$m")" "$m"; then
        echo "wasm.sh: $m differs from a fresh build ($(sha256 "$m") vs $(sha256 "$tmp/$(basename "$m")"));" >&2
        echo "         run 'bash scripts/wasm.sh' and commit the modules" >&2
        exit 1
      fi
      echo "   $m is reproducible"
    done
    ;;
  -*)
    echo "usage: scripts/wasm.sh [--check | OUT [VERSION]]" >&2
    exit 2
    ;;
  *)
    build "$1"
    ;;
esac
