#!/usr/bin/env bash
# The composite action's install step (action.yml, step "setup"): puts the
# referrers-action binary in $RUNNER_TEMP/referrers-action/ and writes
# bin=<path> (and how=release|source) to $GITHUB_OUTPUT.
#
# A release binary is used when action/checksums.txt (the file at the action's
# own ref, written by scripts/release.sh) names a release that the ref selects,
# and the file lists a SHA-256 for this runner's asset. The ref selects the
# release when
#   - it is a tag: it equals the file's version, or is a prefix of it ending
#     at a dot (v1 and v1.2 select v1.2.3); or
#   - it is a commit SHA (40 hex digits) of a release commit: the file records
#     the digest of the Go source the release was built from (`source
#     sha256:...`, see source_digest below), and the source at the action's
#     path has that digest. The release commit (the one the tag points at,
#     where release.sh's file was committed) and any later commit that leaves
#     the Go source alone qualify; a commit that changed the code does not,
#     although it still carries the previous release's file, so a SHA pin
#     always runs the code of the pinned commit.
# The asset is downloaded and checked against the SHA-256 in the file; a
# mismatch stops the step, never falling back to anything. A failed download
# stops the step for a tag pin; for a SHA pin it falls back to building the
# pinned commit's source (a fork has no release downloads, and a release
# commit exists before its assets are published), unless REFERRERS_INSTALL is
# release. Anything else (a branch, a non-release commit, `uses: ./`, a
# runner without a release asset, the file saying `version none`) builds
# ./cmd/action from the action's source, which needs Go on the runner
# (actions/setup-go).
#
# Why a SHA pin may use a release asset: the SHA-256 it is checked against is
# part of the pinned commit's content, so the asset is exactly as trusted as
# the commit (and as the source a build would compile). A tag pin trusts the
# file at whatever commit the tag points to.
#
# The ref only decides whether a release exists; what is trusted is the
# checksum file at the ref. github.action_ref is unreliable in composite
# actions (empty on some runners, the outer action's ref when nested): at
# worst that means a source build, or a release verified against this file.
#
# Environment:
#   GITHUB_ACTION_PATH, GITHUB_OUTPUT, RUNNER_TEMP, RUNNER_OS, RUNNER_ARCH
#                                set by the runner
#   REFERRERS_ACTION_REF         github.action_ref (empty for uses: ./)
#   REFERRERS_ACTION_REPOSITORY  github.action_repository (owner/name)
#   REFERRERS_RELEASE_URL        where releases are downloaded from (default:
#                                the repository's GitHub release downloads);
#                                https only, or http://127.0.0.1 for tests
#   REFERRERS_INSTALL            auto (default) | release | source
#   GO*, CGO_ENABLED             the job's Go environment: a source build
#                                overrides what would retarget or break it
#                                (see build_env)
#
# `setup.sh --source-digest DIR` prints the source digest of the module at
# DIR (scripts/release.sh records it with this same code).
#
# Portable to macOS's bash 3.2 and Git Bash on Windows: no associative
# arrays, no ${var,,}, no mapfile; no find or sort (Windows has its own).
set -euo pipefail

title=referrers-action

# escape makes a value safe as a workflow command's message.
escape() {
  local s=$1 pct='%' cr=$'\r' lf=$'\n'
  s=${s//"$pct"/%25}
  s=${s//"$cr"/%0D}
  s=${s//"$lf"/%0A}
  printf '%s' "$s"
}

# fail TITLE MESSAGE: an error annotation, then exit 1.
fail() {
  printf '::error title=%s::%s\n' "$1" "$(escape "$2")"
  exit 1
}

notice() {
  printf '::notice title=%s::%s\n' "$title" "$(escape "$1")"
}

warning() {
  printf '::warning title=%s::%s\n' "$1" "$(escape "$2")"
}

# sha256 FILE... prints "<hex>\n" per file, in order; sha256 alone reads
# standard input. sha256sum prefixes a line with \ when the name needs
# escaping, and may mark binary mode with *: only the hex is kept.
sha256() {
  local line
  {
    if command -v sha256sum >/dev/null 2>&1; then
      sha256sum "$@"
    elif command -v shasum >/dev/null 2>&1; then
      shasum -a 256 "$@"
    else
      echo "neither sha256sum nor shasum is installed" >&2
      return 1
    fi
  } | while IFS= read -r line; do
    line=${line#\\}
    printf '%s\n' "${line:0:64}"
  done
}

# source_digest DIR prints sha256:<hex>, the digest of the Go source of the
# module at DIR: the SHA-256 of the lines "<sha256>  <path>\n" of go.mod,
# go.sum and every .go file except *_test.go, walked in byte order of names
# (a directory's entries in order, each directory before its contents),
# skipping names starting with . or _ (Go ignores them), directories named
# testdata, directories with their own go.mod (other modules) and symbolic
# links. That is everything a build of the module's packages compiles (the
# action's packages embed no files: internal/suite/actionsetup checks), and
# nothing a test, a document or a workflow changes. scripts/release.sh
# records it as `source` in action/checksums.txt; internal/suite/actionsetup
# computes it independently in Go.
source_digest() (
  cd "$1" || exit 1
  LC_ALL=C # byte order of glob results
  unset GLOBIGNORE
  shopt -u dotglob failglob nocaseglob
  shopt -s nullglob
  files=()
  walk() {
    local f
    for f in "$1"*; do
      if [ -L "$f" ]; then continue; fi
      case ${f##*/} in .* | _*) continue ;; esac
      if [ -d "$f" ]; then
        if [ "${f##*/}" = testdata ]; then continue; fi
        if [ -e "$f/go.mod" ]; then continue; fi
        walk "$f/"
      elif [ -f "$f" ]; then
        case $f in *_test.go) ;; *.go) files[${#files[@]}]=$f ;; esac
      fi
    done
  }
  [ -f go.mod ] && [ -f go.sum ] || exit 1
  files=(go.mod go.sum)
  walk ''
  hashes=$(sha256 "${files[@]}") || exit 1
  manifest=
  i=0
  while IFS= read -r h; do
    manifest=$manifest$h'  '${files[$i]}$'\n'
    i=$((i + 1))
  done <<<"$hashes"
  [ "$i" -eq "${#files[@]}" ] || exit 1
  printf 'sha256:%s\n' "$(printf '%s' "$manifest" | sha256)"
)

if [ "${1:-}" = --source-digest ]; then
  [ $# -eq 2 ] || { echo "usage: setup.sh --source-digest DIR" >&2; exit 2; }
  source_digest "$2" || { echo "setup.sh: cannot compute the source digest of $2" >&2; exit 1; }
  exit 0
fi

# build_env makes a source build ignore the job's Go environment. A release
# workflow's job often sets GOOS/GOARCH for a matrix, GOFLAGS=-mod=vendor,
# CGO_ENABLED=1 and so on; those are the job's, not the action's. The build
# is for the machine that runs it, configured like the release assets.
# Settings that retarget or break the build get an explicit value, never an
# empty one, because the go command reads an empty variable from the go env
# file (go env -w) instead:
#   GOOS, GOARCH     the host's (GOHOSTOS, GOHOSTARCH of the Go on PATH: a
#                    binary for anything else cannot run here)
#   GOFLAGS          -mod=readonly: the module's own go.sum, no vendor/, no
#                    -tags, -ldflags or -overlay of the job's
#   CGO_ENABLED      0: a static binary with no C toolchain (CC, CGO_*
#                    then do not matter), as released
#   GOAMD64, GOARM64 v1, v8.0: the baseline, as released (v3/v4 binaries
#                    die on CPUs without those instructions)
#   GOFIPS140        off: no frozen FIPS module snapshot to find
#   GOWORK           off: a go.work of the job's names other modules
#   GOTOOLCHAIN      local or path (a policy of no toolchain downloads) stay;
#                    anything else becomes auto: the Go on PATH when it is
#                    new enough for go.mod, else go.mod's toolchain. A job's
#                    goX.Y.Z pin (its own code's Go) could be too old for
#                    this module.
# Unset, so the toolchain's defaults apply: GOEXPERIMENT (an experiment the
# job wants, or a misspelt one, changes or stops the build), GOARM, GO386,
# GOMIPS, GOMIPS64, GOPPC64, GORISCV64, GOWASM (sub-architectures of other
# GOARCHes), GO_EXTLINK_ENABLED (external linking needs a C linker). An
# experiment set with go env -w still applies (setting it here would need a
# non-empty value that changes nothing).
# Respected: GOPROXY, GONOPROXY, GOSUMDB, GONOSUMDB, GOPRIVATE, GOINSECURE,
# GOAUTH, GOVCS (the user's network and trust setup: the module downloads go
# where the job's other downloads go, checked by the same sum database), and
# GOPATH, GOMODCACHE, GOCACHE, GOBIN, GOTMPDIR, GOENV, GOROOT (where things
# are, not what is built; the binary is written with -o, so GOBIN is unused).
build_env() {
  unset GOEXPERIMENT GOARM GO386 GOMIPS GOMIPS64 GOPPC64 GORISCV64 GOWASM GO_EXTLINK_ENABLED
  export GOFLAGS=-mod=readonly CGO_ENABLED=0 GOAMD64=v1 GOARM64=v8.0 GOFIPS140=off GOWORK=off
  local tc=${GOTOOLCHAIN:-}
  case ${tc##*+} in
    '') ;;
    local | path) export GOTOOLCHAIN=${tc##*+} ;;
    *) export GOTOOLCHAIN=auto ;;
  esac
  unset GOOS GOARCH
  local host
  host=$(cd "$action_path" && go env GOHOSTOS GOHOSTARCH) ||
    fail "$title build failed" "go env GOHOSTOS GOHOSTARCH failed in $action_path (see the log above)"
  export GOOS=${host%%$'\n'*} GOARCH=${host##*$'\n'}
}

# A partial download never survives the script.
part=
cleanup() {
  if [ -n "$part" ]; then rm -f "$part"; fi
}
trap cleanup EXIT

action_path=${GITHUB_ACTION_PATH:-}
if [ -z "$action_path" ]; then
  action_path=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fi
[ -n "${GITHUB_OUTPUT:-}" ] || fail "$title setup" "GITHUB_OUTPUT is not set (this script runs as a step of the referrers action)"
[ -n "${RUNNER_TEMP:-}" ] || fail "$title setup" "RUNNER_TEMP is not set (this script runs as a step of the referrers action)"

mode=${REFERRERS_INSTALL:-auto}
case $mode in
  auto | release | source) ;;
  *) fail "$title setup" "REFERRERS_INSTALL is '$mode': want auto, release or source" ;;
esac

ref=${REFERRERS_ACTION_REF:-}
repository=${REFERRERS_ACTION_REPOSITORY:-}
runner_os=${RUNNER_OS:-}
runner_arch=${RUNNER_ARCH:-}

goos=
case $runner_os in
  Linux) goos=linux ;;
  macOS) goos=darwin ;;
  Windows) goos=windows ;;
esac
goarch=
case $runner_arch in
  X64) goarch=amd64 ;;
  ARM64) goarch=arm64 ;;
esac
asset=
if [ -n "$goos" ] && [ -n "$goarch" ]; then
  asset=referrers-action-$goos-$goarch
  if [ "$goos" = windows ]; then asset=$asset.exe; fi
fi

tmp=$RUNNER_TEMP
if command -v cygpath >/dev/null 2>&1; then
  tmp=$(cygpath -u "$tmp") # Git Bash: a path that bash can run in the next step
fi
dir=$tmp/referrers-action

# The checksum file: comments, `version vX.Y.Z` or `version none`,
# `go goX.Y.Z`, `source sha256:<hex>` and `<sha256>  <asset>` lines.
sums_file=$action_path/action/checksums.txt
[ -f "$sums_file" ] || fail "$title setup" "$sums_file is missing: the action is incomplete"
semver='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'
hex64='^[0-9a-f]{64}$'
version=
gover=
source=
want=
n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  line=${line%$'\r'}
  case $line in '' | '#'*) continue ;; esac
  key='' value='' extra=''
  read -r key value extra <<<"$line" || true
  if [ -z "$value" ] || [ -n "$extra" ]; then
    fail "$title setup" "action/checksums.txt line $n is malformed: '$line'"
  fi
  case $key in
    version)
      if [ "$value" != none ] && ! [[ $value =~ $semver ]]; then
        fail "$title setup" "action/checksums.txt line $n: version '$value' is neither vMAJOR.MINOR.PATCH[-pre] nor none"
      fi
      version=$value
      ;;
    go) gover=$value ;;
    source)
      [[ ${value#sha256:} =~ $hex64 ]] && [ "${value#sha256:}" != "$value" ] ||
        fail "$title setup" "action/checksums.txt line $n: source '$value' is not sha256:<64 hex digits>"
      source=$value
      ;;
    *)
      [[ $key =~ $hex64 ]] || fail "$title setup" "action/checksums.txt line $n is malformed: '$line'"
      value=${value#\*} # sha256sum's binary-mode marker
      if [ -n "$asset" ] && [ "$value" = "$asset" ]; then want=$key; fi
      ;;
  esac
done <"$sums_file"
[ -n "$version" ] || fail "$title setup" "action/checksums.txt has no version line"

# Which way: a release when everything lines up, otherwise the reason why not.
# pin is how the ref selected the release: tag or commit.
how=source
reason=
pin=
sha_re='^[0-9a-fA-F]{40}$'
if [ "$mode" = source ]; then
  reason="REFERRERS_INSTALL is source"
elif [ "$version" = none ]; then
  reason="action/checksums.txt records no release at this ref (version none)"
elif [ -z "$ref" ]; then
  reason="the action has no ref (a local action, uses: ./)"
elif [[ $ref =~ $sha_re ]]; then
  pin=commit
  if [ -z "$source" ]; then
    reason="action/checksums.txt at commit $ref names release $version but not the source digest it was built from, so this commit cannot be told from a later one"
  elif ! here=$(source_digest "$action_path"); then
    reason="the source digest of $action_path cannot be computed"
  elif [ "$here" != "$source" ]; then
    reason="commit $ref is not a release commit: its Go source ($here) is not the source release $version was built from ($source)"
  fi
elif [ "$ref" != "$version" ] && [ "${version#"$ref".}" = "$version" ]; then
  reason="the action ref $ref does not select release $version (a branch or a fork pin builds from source)"
else
  pin=tag
fi
if [ -n "$reason" ]; then
  :
elif [ -z "$asset" ]; then
  reason="release $version has no binary for RUNNER_OS=$runner_os RUNNER_ARCH=$runner_arch"
elif [ -z "$want" ]; then
  reason="action/checksums.txt lists no SHA-256 for $asset"
elif [ -z "${REFERRERS_RELEASE_URL:-}" ] && [ -z "$repository" ]; then
  reason="the action's repository is unknown (github.action_repository is empty)"
else
  how=release
fi
if [ "$mode" = release ] && [ "$how" != release ]; then
  fail "$title setup" "REFERRERS_INSTALL is release, but no release binary matches: $reason"
fi

mkdir -p "$dir"

if [ "$how" = release ]; then
  command -v sha256sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1 ||
    fail "$title setup" "neither sha256sum nor shasum is installed: cannot verify the release binary"
  command -v curl >/dev/null 2>&1 || fail "$title setup" "curl is not installed: cannot download the release binary"

  base=${REFERRERS_RELEASE_URL:-https://github.com/$repository/releases/download}
  base=${base%/}
  url=$base/$version/$asset
  loopback='^http://127\.0\.0\.1(:[0-9]+)?/'
  if [[ $url == https://* ]]; then
    proto='=https'
  elif [[ $url =~ $loopback ]]; then
    proto='=http' # tests: a server on this machine
  else
    fail "$title download refused" "release URL $url is not https; refusing to download"
  fi
  bin=$dir/$asset
  if [ "$pin" = commit ]; then
    selected="commit $ref, release $version"
  else
    selected="release $version"
  fi

  if [ -f "$bin" ] && [ "$(sha256 "$bin")" = "$want" ]; then
    chmod +x "$bin"
    notice "$selected: $asset is already installed (sha256 $want)"
  else
    rm -f "$bin"
    part=$(mktemp "$dir/.$asset.XXXXXX")
    # --disable (first): no ~/.curlrc can change what is fetched or how.
    if ! curl --disable --fail --silent --show-error --location \
      --proto "$proto" --proto-redir "$proto" \
      --retry 3 --retry-delay 1 --retry-connrefused \
      --connect-timeout 20 --max-time 300 \
      --output "$part" "$url"; then
      rm -f "$part"
      part=
      if [ "$pin" != commit ] || [ "$mode" = release ]; then
        fail "$title download failed" "could not download $url ($selected, $asset, expected sha256 $want); refusing to run"
      fi
      # A SHA pin: the pinned commit's source is as trusted as the asset
      # (a fork has no release downloads; a release commit has none until
      # its release is published).
      how=source
      reason="the release asset $url could not be downloaded"
      warning "$title download failed" "could not download $url ($selected, $asset); building the pinned commit from source instead"
    else
      got=$(sha256 "$part")
      if [ "$got" != "$want" ]; then
        fail "$title checksum mismatch" "$url: expected sha256 $want (action/checksums.txt for $selected), got $got; refusing to run"
      fi
      chmod +x "$part"
      mv -f "$part" "$bin"
      part=
      notice "installed $selected: $asset, sha256 $want${gover:+, built with $gover}"
    fi
  fi
fi

if [ "$how" = source ]; then
  command -v go >/dev/null 2>&1 ||
    fail "$title needs Go" "no release binary matches ($reason), and building from source needs Go: add actions/setup-go before this action"
  build_env
  # go runs in the action's directory, so that its go.mod alone decides the
  # toolchain (GOTOOLCHAIN=auto), never a go.mod of the workspace.
  gov=$(cd "$action_path" && go env GOVERSION) ||
    fail "$title build failed" "go env GOVERSION failed in $action_path (see the log above)"
  bin=$dir/referrers-action
  if [ "$GOOS" = windows ]; then bin=$bin.exe; fi
  out=$bin
  if command -v cygpath >/dev/null 2>&1; then out=$(cygpath -w "$bin"); fi
  rm -f "$bin"
  notice "building from source with $gov for $GOOS/$GOARCH: $reason"
  if ! (cd "$action_path" && go build -trimpath -buildvcs=false -o "$out" ./cmd/action); then
    rm -f "$bin"
    fail "$title build failed" "go build ./cmd/action in $action_path failed (see the log above)"
  fi
fi

printf 'bin=%s\nhow=%s\n' "$bin" "$how" >>"$GITHUB_OUTPUT"
