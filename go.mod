module github.com/oci-referrers/referrers

go 1.25.0

require (
	github.com/opencontainers/go-digest v1.0.0
	github.com/opencontainers/image-spec v1.1.1
	github.com/sethvargo/go-githubactions v1.4.0
	github.com/tetratelabs/wazero v1.12.0
)

// golang.org/x/sys is not ours: wazero v1.12.0 requires it (its
// internal/platform reads CPU features through golang.org/x/sys/cpu), so it
// is linked into wasm/host and the examples that use it (policy-host,
// policy-pool) only, never the CLI, the Action or the WASI module.
require golang.org/x/sys v0.44.0 // indirect
