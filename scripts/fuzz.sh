#!/usr/bin/env bash
# Runs every fuzz target of the module (every `func FuzzX` in a _test.go file)
# with the coverage-guided fuzzer, one target per `go test -fuzz` run, and
# writes one line per target to $FUZZ_REPORT (default .fuzz/report.tsv, git-ignored):
#
#   package  target  fuzztime  execs  new-interesting  result
#
#   bash scripts/fuzz.sh                 10 minutes per target, 2 at a time
#   FUZZTIME=30s bash scripts/fuzz.sh    a quick pass
#   JOBS=1 PARALLEL=2 bash scripts/fuzz.sh
#   bash scripts/fuzz.sh ./core/display  only the targets of these packages
#
# A failing input is written by Go into the package's testdata/fuzz/FuzzX/
# (the seed corpus, committed), so the next `go test` replays it. The corpus
# the fuzzer grows lives in Go's cache (go env GOCACHE)/fuzz and is reused by
# the next run. Exit status: 1 when any target found a failure.
#
# The scheduled workflow .github/workflows/fuzz.yml runs this weekly; the
# figures of the last full run are in docs/fuzz.md.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-10m}
jobs=${JOBS:-2}
parallel=${PARALLEL:-1}
report=${FUZZ_REPORT:-.fuzz/report.tsv}
pkgs=("$@")
if [[ ${#pkgs[@]} -eq 0 ]]; then
  mapfile -t pkgs < <(go list ./...)
fi

mkdir -p "$(dirname "$report")" .fuzz/logs
: >"$report"

# every (package, target) pair
targets=()
for p in "${pkgs[@]}"; do
  dir=$(go list -f '{{.Dir}}' "$p")
  while read -r name; do
    [[ -n $name ]] && targets+=("$p $name")
  done < <(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u)
done
echo "fuzz: ${#targets[@]} targets, $fuzztime each, $jobs at a time, -parallel $parallel"

one() {
  local p=$1 name=$2 log
  log=.fuzz/logs/$(echo "$p" | tr '/' '_').$name.log
  local rc=0
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" "$p" >"$log" 2>&1 || rc=$?
  # the last progress line: "fuzz: elapsed: 10m0s, execs: 123 (205/sec), new interesting: 4 (total: 40)"
  local last execs newi result
  last=$(grep -a '^fuzz: elapsed' "$log" | tail -1 || true)
  execs=$(sed -n 's/.*execs: \([0-9]*\).*/\1/p' <<<"$last")
  newi=$(sed -n 's/.*new interesting: \([0-9]*\).*/\1/p' <<<"$last")
  if [[ $rc -eq 0 ]]; then result=pass; else result="FAIL (see $log)"; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$name" "$fuzztime" "${execs:-?}" "${newi:-?}" "$result" >>"$report"
  echo "fuzz: $p $name: ${execs:-?} execs, ${newi:-?} new interesting: $result"
  return $rc
}

pids=()
failed=0
for t in "${targets[@]}"; do
  # shellcheck disable=SC2086
  one $t &
  pids+=($!)
  if [[ ${#pids[@]} -ge $jobs ]]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
echo "fuzz: report in $report"
exit $failed
