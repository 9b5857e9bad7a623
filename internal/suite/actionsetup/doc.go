// Package actionsetup tests the GitHub Action's shell side: action.yml
// (checked as text: no ${{ }} inside a run, every input passed to the binary,
// every output wired), action/setup.sh (run with bash under a faked runner:
// which release asset it picks, that it refuses a bad checksum or a failed
// download, when it builds from source) and scripts/release.sh (reproducible
// builds, --verify). The release it serves is built by scripts/release.sh for
// the host platform and one other, from an httptest server on 127.0.0.1.
//
// The package has no non-test code.
package actionsetup
