#!/usr/bin/env bash
# The whole test suite: the pinned test oracles (built once into .oracles/),
# formatting, vet, and every test (unit, interop against real registries and
# peer tools, fuzz seed corpora, examples). .ci/run runs exactly this; so does
# the README.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go mod download"
go mod download

bash scripts/oracles.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n $unformatted ]]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== WASI module (reproducible, within its size budget)"
bash scripts/wasm.sh --check

echo "== go vet"
go vet ./...

# The packages that run real registries and many processes (interop, faults,
# the distribution-spec conformance suite and the interop, load and crash
# tests of `referrers serve`) go last
# and one at a time: the tag-schema fallback on a registry that ignores
# If-Match relies on timing (RATIONALE.md), so they are not run beside the
# CPU-heavy unit tests on a small machine.
heavy='/internal/suite/(interop|faults|conformance|servetest)$'
echo "== go test (unit)"
go test -race -shuffle=on -count=1 $(go list ./... | grep -Ev "$heavy")
echo "== go test (interop against real registries and peer tools, conformance)"
go test -race -shuffle=on -count=1 -p 1 $(go list ./... | grep -E "$heavy")
