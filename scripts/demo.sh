#!/usr/bin/env bash
# The local default: the main job on a bundled OCI image layout, with nothing
# but Go. It copies testdata/demo/layout to a temporary directory, attaches
# the bundled SBOM to the image `demo-app:1.0`, a scan result beside it and a
# signature of the SBOM, and prints the referrers tree. No network, no
# registry; no tracked file changes (everything happens in the temp dir,
# which is removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -R testdata/demo/layout "$tmp/layout"
go build -o "$tmp/referrers" ./cmd/referrers
referrers() { REFERRERS_CACHE_DIR="$tmp/cache" "$tmp/referrers" "$@"; }
image="oci:$tmp/layout:1.0"

echo "\$ referrers attach $image sbom.spdx.json --artifact-type application/spdx+json"
sbom=$(referrers attach "$image" testdata/demo/sbom.spdx.json:application/spdx+json \
  --artifact-type application/spdx+json --annotation org.example.generator=example-sbom-generator)
echo "$sbom"

echo "\$ referrers attach $image scan.json --artifact-type application/vnd.example.scan+json"
referrers attach "$image" testdata/demo/scan.json:application/vnd.example.scan+json \
  --artifact-type application/vnd.example.scan+json --annotation org.example.result=pass

echo "signature over the SBOM's digest" >"$tmp/sbom.sig"
echo "\$ referrers attach oci:$tmp/layout@${sbom##*@} sbom.sig --artifact-type application/vnd.example.signature"
referrers attach "oci:$tmp/layout@${sbom##*@}" "$tmp/sbom.sig:application/vnd.example.signature" \
  --artifact-type application/vnd.example.signature

echo "\$ referrers list $image --depth 2 --format tree"
referrers list "$image" --depth 2 --format tree
