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

echo "== go vet"
go vet ./...

echo "== go test"
go test -race -shuffle=on -count=1 ./...
