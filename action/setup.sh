#!/usr/bin/env bash
# The composite action's install step (action.yml, step "setup"): puts the
# referrers-action binary in $RUNNER_TEMP/referrers-action/ and writes
# bin=<path> (and how=release|source) to $GITHUB_OUTPUT.
#
# A release binary is used when action/checksums.txt (the file at the action's
# own ref, written by scripts/release.sh) names a release that the ref selects:
# the ref equals the file's version, or is a prefix of it ending at a dot (v1
# and v1.2 select v1.2.3), and the file lists a SHA-256 for this runner's
# asset. The asset is downloaded and checked against that SHA-256; a failed
# download or a mismatch stops the step. Anything else (a commit SHA, a
# branch, a fork, `uses: ./`, a runner without a release asset, the file
# saying `version none`) builds ./cmd/action from the action's source, which
# needs Go on the runner (actions/setup-go).
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
#
# Portable to macOS's bash 3.2 and Git Bash on Windows: no associative
# arrays, no ${var,,}, no mapfile.
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
# `go goX.Y.Z`, and `<sha256>  <asset>` lines.
sums_file=$action_path/action/checksums.txt
[ -f "$sums_file" ] || fail "$title setup" "$sums_file is missing: the action is incomplete"
semver='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'
hex64='^[0-9a-f]{64}$'
version=
gover=
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
    *)
      [[ $key =~ $hex64 ]] || fail "$title setup" "action/checksums.txt line $n is malformed: '$line'"
      value=${value#\*} # sha256sum's binary-mode marker
      if [ -n "$asset" ] && [ "$value" = "$asset" ]; then want=$key; fi
      ;;
  esac
done <"$sums_file"
[ -n "$version" ] || fail "$title setup" "action/checksums.txt has no version line"

# Which way: a release when everything lines up, otherwise the reason why not.
how=source
reason=
if [ "$mode" = source ]; then
  reason="REFERRERS_INSTALL is source"
elif [ "$version" = none ]; then
  reason="action/checksums.txt records no release at this ref (version none)"
elif [ -z "$ref" ]; then
  reason="the action has no ref (a local action, uses: ./)"
elif [ "$ref" != "$version" ] && [ "${version#"$ref".}" = "$version" ]; then
  reason="the action ref $ref does not select release $version (a commit SHA, a branch or a fork pin builds from source)"
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
  if command -v sha256sum >/dev/null 2>&1; then
    sha256() { local out; out=$(sha256sum "$1"); out=${out#\\}; printf '%s' "${out%% *}"; }
  elif command -v shasum >/dev/null 2>&1; then
    sha256() { local out; out=$(shasum -a 256 "$1"); out=${out#\\}; printf '%s' "${out%% *}"; }
  else
    fail "$title setup" "neither sha256sum nor shasum is installed: cannot verify the release binary"
  fi
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

  if [ -f "$bin" ] && [ "$(sha256 "$bin")" = "$want" ]; then
    chmod +x "$bin"
    notice "release $version: $asset is already installed (sha256 $want)"
  else
    rm -f "$bin"
    part=$(mktemp "$dir/.$asset.XXXXXX")
    # --disable (first): no ~/.curlrc can change what is fetched or how.
    if ! curl --disable --fail --silent --show-error --location \
      --proto "$proto" --proto-redir "$proto" \
      --retry 3 --retry-delay 1 --retry-connrefused \
      --connect-timeout 20 --max-time 300 \
      --output "$part" "$url"; then
      fail "$title download failed" "could not download $url (release $version, $asset, expected sha256 $want); refusing to run"
    fi
    got=$(sha256 "$part")
    if [ "$got" != "$want" ]; then
      fail "$title checksum mismatch" "$url: expected sha256 $want (action/checksums.txt for $version), got $got; refusing to run"
    fi
    chmod +x "$part"
    mv -f "$part" "$bin"
    part=
    notice "installed release $version: $asset, sha256 $want${gover:+, built with $gover}"
  fi
else
  command -v go >/dev/null 2>&1 ||
    fail "$title needs Go" "no release binary matches ($reason), and building from source needs Go: add actions/setup-go before this action"
  bin=$dir/referrers-action$(go env GOEXE)
  out=$bin
  if command -v cygpath >/dev/null 2>&1; then out=$(cygpath -w "$bin"); fi
  rm -f "$bin"
  notice "building from source with $(go env GOVERSION): $reason"
  if ! (cd "$action_path" && go build -trimpath -o "$out" ./cmd/action); then
    rm -f "$bin"
    fail "$title build failed" "go build ./cmd/action in $action_path failed (see the log above)"
  fi
fi

printf 'bin=%s\nhow=%s\n' "$bin" "$how" >>"$GITHUB_OUTPUT"
