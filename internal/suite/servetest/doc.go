// Package servetest tests the registry server of core/server (what
// `referrers serve static:DIR` runs) from the outside, in-process on
// 127.0.0.1:
//
//   - TestServeInterop: peer clients (oras v1.3.6, regctl v0.11.7) and our
//     own CLI push a subject and attach to it through the server, then list
//     its referrers through the server (unfiltered and with the artifactType
//     filter) and offline from the static tree the server wrote; the server
//     is restarted on the same tree and a referrer deleted.
//   - TestServeLoad: 32 raw-HTTP clients push referrers to one subject at once
//     and list them between pushes (read-your-writes, Link paging, no lost or
//     duplicated entry), with the default page size and with 10; the
//     latencies of the pushes and the lists are logged (never asserted: speed
//     is for BenchmarkServePushList and BenchmarkServeList).
//   - TestServeCrash: `referrers serve` as a process, killed (SIGKILL) at
//     seeded random moments while 16 clients upload chunked blobs and push
//     referrers, then restarted on the same tree: every acknowledged push is
//     there byte for byte, every file hashes to its name, the served list
//     equals a scan of the stored manifests, no upload data is left
//     (REFERRERS_CRASH_SEED replays, REFERRERS_CRASH_ROUNDS=N kills N times).
//
// The oracles come from scripts/oracles.sh; as elsewhere a missing oracle
// skips locally and fails under CI=true (internal/testing/oracle). The load test
// needs no oracle. REFERRERS_LOAD_REPORT=FILE appends the latency lines to
// FILE.
//
// The package has no non-test code.
package servetest
