// Package conformance runs the OCI distribution-spec conformance suite (the
// pinned oracle "conformance", built by scripts/oracles.sh) against
// `referrers serve` over an empty static tree: once open (--allow-push
// --allow-delete) and once behind a token (--token-file, pushes and deletes
// authenticated with Basic auth), with every test area of the suite turned on.
// A run of the same suite against olareg checks the harness itself.
//
// The package has only tests:
//
//	go test -run Conformance -v ./internal/suite/conformance
//
// With REFERRERS_CONFORMANCE_DIR set, each run's results.yaml, junit.xml,
// report.html and the suite's stdout are copied to a directory per run there.
package conformance
