#!/usr/bin/env bash
# Builds the release assets reproducibly and records their checksums.
#
#   scripts/release.sh VERSION [--out DIR] [--checksums FILE] [--targets "os/arch ..."]
#   scripts/release.sh [VERSION] --verify [--checksums FILE] [--targets "os/arch ..."]
#
# For each target it builds referrers-<os>-<arch>[.exe] (./cmd/referrers) and
# referrers-action-<os>-<arch>[.exe] (./cmd/action) into DIR (default dist/),
# with CGO_ENABLED=0, -trimpath, -buildvcs=false and
# -ldflags "-s -w -buildid= -X main.version=VERSION", so the same source and
# Go toolchain give the same bytes. The target wasip1/wasm builds
# referrers.wasm with scripts/wasm.sh (called as `scripts/wasm.sh OUT VERSION`);
# it is a default target when that script exists. Then it writes SHA256SUMS
# over the assets in DIR and the action's checksum file (default
# action/checksums.txt, read by action/setup.sh): `version VERSION`,
# `go <toolchain>`, `source sha256:<hex>` (the digest of the module's Go
# source the assets were built from, computed by `action/setup.sh
# --source-digest`) and one `<sha256>  <asset>` line per asset. The commit
# that carries this file is the release commit (the tag points at it); a
# later commit keeps the file but, once it changes the Go source, no longer
# matches its `source` line, so setup.sh builds a SHA pin of it from source
# instead of installing this release.
#
# --verify rebuilds into a temporary directory and compares the result with
# the existing checksum file (VERSION defaults to the file's), failing with a
# diff when they differ: the proof that the checked-in sums are reproducible.
#
# Default targets: linux, darwin, windows x amd64, arm64.
set -euo pipefail

usage() {
  sed -n '4,5p' "$0" | sed 's/^# */usage: /' >&2
  exit 2
}

orig=$PWD
root=$(cd "$(dirname "$0")/.." && pwd)
abspath() {
  case $1 in
    /* | [A-Za-z]:[/\\]*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$orig" "$1" ;;
  esac
}

version=''
out=''
sums=$root/action/checksums.txt
targets="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"
if [ -f "$root/scripts/wasm.sh" ]; then targets="$targets wasip1/wasm"; fi
verify=false
while [ $# -gt 0 ]; do
  case $1 in
    --out | --checksums | --targets)
      [ $# -ge 2 ] || usage
      case $1 in
        --out) out=$(abspath "$2") ;;
        --checksums) sums=$(abspath "$2") ;;
        --targets) targets=$2 ;;
      esac
      shift 2
      ;;
    --verify) verify=true; shift ;;
    -h | --help) usage ;;
    -*) echo "release.sh: unknown flag $1" >&2; usage ;;
    *)
      [ -z "$version" ] || usage
      version=$1
      shift
      ;;
  esac
done

if [ -z "$version" ] && $verify && [ -f "$sums" ]; then
  version=$(sed -n 's/^version \([^[:space:]]*\).*$/\1/p' "$sums" | tr -d '\r' | head -n 1)
  if [ "$version" = none ]; then
    echo "release.sh: $sums records no release (version none): nothing to verify" >&2
    exit 1
  fi
fi
[ -n "$version" ] || usage
semver='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'
if ! [[ $version =~ $semver ]]; then
  echo "release.sh: version '$version' is not vMAJOR.MINOR.PATCH[-pre]" >&2
  exit 2
fi
target_re='^[a-z0-9]+/[a-z0-9]+$'
for t in $targets; do
  if ! [[ $t =~ $target_re ]]; then
    echo "release.sh: target '$t' is not os/arch" >&2
    exit 2
  fi
done
[ -n "$targets" ] || { echo "release.sh: no targets" >&2; exit 2; }

if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$@"; }
else
  sha256() { shasum -a 256 "$@"; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if $verify; then
  [ -f "$sums" ] || { echo "release.sh: $sums does not exist: nothing to verify" >&2; exit 1; }
  out=$tmp/dist
  newsums=$tmp/checksums.txt
else
  out=${out:-$root/dist}
  newsums=$sums
fi
mkdir -p "$out"

# The same bytes from the same source and toolchain: nothing from the
# environment that changes code generation or embeds paths.
# (The same rule as action/setup.sh's source build: GOEXPERIMENT and the
# other per-architecture knobs unset, no go.work, no FIPS snapshot.)
export CGO_ENABLED=0 GOFLAGS=-mod=readonly GOAMD64=v1 GOARM64=v8.0 GOWORK=off GOFIPS140=off
unset GOEXPERIMENT GOARM GO386 GOMIPS GOMIPS64 GOPPC64 GORISCV64 GOWASM GO_EXTLINK_ENABLED
cd "$root"
gover=$(go env GOVERSION)
srcdigest=$(bash "$root/action/setup.sh" --source-digest "$root")
ldflags="-s -w -buildid= -X main.version=$version"

assets=''
for t in $targets; do
  goos=${t%/*}
  goarch=${t#*/}
  if [ "$t" = wasip1/wasm ]; then
    [ -f scripts/wasm.sh ] || { echo "release.sh: target wasip1/wasm needs scripts/wasm.sh" >&2; exit 2; }
    echo "== referrers.wasm"
    bash scripts/wasm.sh "$out/referrers.wasm" "$version"
    assets="$assets referrers.wasm"
    continue
  fi
  ext=''
  if [ "$goos" = windows ]; then ext=.exe; fi
  for cmd in referrers action; do
    if [ $cmd = referrers ]; then name=referrers; else name=referrers-action; fi
    asset=$name-$goos-$goarch$ext
    echo "== $asset"
    GOOS=$goos GOARCH=$goarch go build -trimpath -buildvcs=false -ldflags "$ldflags" \
      -o "$out/$asset" "./cmd/$cmd"
    assets="$assets $asset"
  done
done
# shellcheck disable=SC2086 # asset names have no spaces
assets=$(printf '%s\n' $assets | LC_ALL=C sort -u)

# shellcheck disable=SC2086
(cd "$out" && sha256 $assets) >"$tmp/sums"
if ! $verify; then
  cp "$tmp/sums" "$out/SHA256SUMS"
fi

{
  echo "# The release this ref of the action installs, read by action/setup.sh and"
  echo "# written by scripts/release.sh (never by hand): the version, the Go"
  echo "# toolchain that built it, the digest of the Go source it was built from"
  echo "# and the SHA-256 of every release asset. setup.sh downloads"
  echo "# referrers-action-<os>-<arch> of this version only when the action's ref"
  echo "# selects it (a tag of it, or a commit whose Go source has this digest),"
  echo "# and refuses it unless its SHA-256 is listed here."
  echo "version $version"
  echo "go $gover"
  echo "source $srcdigest"
  cat "$tmp/sums"
} >"$tmp/new-checksums"

if $verify; then
  grep -v '^#' "$sums" | tr -d '\r' >"$tmp/want"
  grep -v '^#' "$tmp/new-checksums" >"$tmp/got"
  if ! diff -u "$tmp/want" "$tmp/got" >"$tmp/diff"; then
    echo "release.sh: rebuilding $version does not reproduce $sums (- the file, + this build):" >&2
    cat "$tmp/diff" >&2
    filego=$(sed -n 's/^go \([^[:space:]]*\).*$/\1/p' "$tmp/want" | head -n 1)
    if [ -n "$filego" ] && [ "$filego" != "$gover" ]; then
      echo "release.sh: the file was built with $filego, this build with $gover" >&2
    fi
    exit 1
  fi
  echo "release.sh: $sums is reproducible ($version, $gover)"
else
  mkdir -p "$(dirname "$newsums")"
  cp "$tmp/new-checksums" "$newsums"
  echo "release.sh: $(printf '%s\n' "$assets" | wc -l | tr -d ' ') assets in $out; checksums in $newsums"
fi
