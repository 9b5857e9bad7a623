#!/usr/bin/env bash
# Builds the pinned test oracles into .oracles/bin (git-ignored), or into
# $REFERRERS_ORACLES/bin when that is set. A binary whose pinned version is
# already there is reused, so a second run takes well under a second.
#
#   olareg v0.2.2        registry with the Referrers API
#   distribution v3.1.2  registry without it (fallback tag schema)
#   oras v1.3.6          client oracle
#   regctl v0.11.7       client oracle
#   actionlint v1.7.12   GitHub workflow linter (internal/suite/workflows)
#   caddy v2.11.9        a plain web server that serves a static tree with the
#                        headers `index-for --all --headers caddy` prints
#                        (internal/suite/interop, webhost_test.go)
#   yamlcheck            our YAML shape checks for action.yml, the workflows
#                        and the GitLab template (internal/tools/oracles/cmd/yamlcheck)
#   conformance v0.0.0-20260831232431-97274622c111
#                        the OCI distribution-spec conformance suite, run
#                        against `referrers serve` (internal/suite/conformance); a
#                        pseudo-version, the only version of the module that
#                        the module proxy serves
#
# All are built with CGO_ENABLED=0, static, as the projects release them (and
# as scripts/release.sh builds ours): a dynamically linked Go binary spends
# several milliseconds more starting, which scripts/bench-peers.sh would
# otherwise count against whichever tool was built that way.
#
# The builds run side by side; a cold run (empty module and build caches)
# takes about five minutes on two cores (distribution and caddy are the
# longest).
#
# olareg cannot be installed with `go install ...@v0.2.2` (the module proxy
# refuses to list its versions), so it is built from the tools module in
# internal/tools/oracles, whose go.mod and go.sum pin it. yamlcheck is built from
# the same module; its "version" is a checksum of its source and of that
# module's go.mod and go.sum, so an edit rebuilds it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${REFERRERS_ORACLES:-$root/.oracles}
bin=$dir/bin
logs=$dir/logs
mkdir -p "$bin" "$logs"

# name  version  how
oracles=(
  "olareg       v0.2.2   tool:github.com/olareg/olareg/cmd/olareg"
  "registry     v3.1.2   install:github.com/distribution/distribution/v3/cmd/registry"
  "oras         v1.3.6   install:oras.land/oras/cmd/oras"
  "regctl       v0.11.7  install:github.com/regclient/regclient/cmd/regctl"
  "actionlint   v1.7.12  install:github.com/rhysd/actionlint/cmd/actionlint"
  "caddy        v2.11.9  install:github.com/caddyserver/caddy/v2/cmd/caddy"
  "yamlcheck    source   tool:./cmd/yamlcheck"
  "conformance  v0.0.0-20260831232431-97274622c111  install:github.com/opencontainers/distribution-spec/conformance"
)

# source_version prints a checksum of the tools module's go.mod, go.sum and
# the Go files of the package directory $1 (relative to internal/tools/oracles).
source_version() {
  local sum
  sum=$(cd "$root/internal/tools/oracles" && cat go.mod go.sum "$1"/*.go | cksum)
  echo "src-${sum%% *}"
}

build() {
  local name=$1 version=$2 how=$3
  local stamp="$bin/.$name.version"
  if [[ $version == source ]]; then
    version=$(source_version "${how#tool:}")
  fi
  local want
  want="$version $(go env GOVERSION) static"
  if [[ -x $bin/$name && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    echo "   $name $version: present"
    return 0
  fi
  local tmp
  tmp=$(mktemp -d "$dir/build.XXXXXX")
  local start=$SECONDS
  case $how in
    tool:*)
      (cd "$root/internal/tools/oracles" && CGO_ENABLED=0 go build -trimpath -o "$tmp/$name" "${how#tool:}")
      ;;
    install:*)
      CGO_ENABLED=0 GOBIN=$tmp go install -trimpath "${how#install:}@$version"
      ;;
  esac
  mv -f "$tmp/$name" "$bin/$name"
  rmdir "$tmp"
  echo "$want" >"$stamp"
  echo "   $name $version: built in $((SECONDS - start)) s"
}

echo "== oracles into $bin"
pids=()
names=()
for line in "${oracles[@]}"; do
  read -r name version how <<<"$line"
  build "$name" "$version" "$how" >"$logs/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
done
failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    cat "$logs/${names[$i]}.log"
  else
    echo "!! ${names[$i]} failed to build:"
    cat "$logs/${names[$i]}.log"
    failed=1
  fi
done
exit $failed
