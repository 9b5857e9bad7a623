// Test oracles that are built from source by scripts/oracles.sh. This is a
// separate module so that users of the library never download them.
module github.com/oci-referrers/referrers/internal/tools/oracles

go 1.25.0

tool github.com/olareg/olareg/cmd/olareg

require github.com/goccy/go-yaml v1.19.2

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/olareg/olareg v0.2.2 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	github.com/sudo-bmitch/oci-digest v0.1.2 // indirect
	golang.org/x/crypto v0.53.0 // indirect
)
