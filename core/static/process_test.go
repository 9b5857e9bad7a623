package static

import (
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// TestHelperProcess is not a test: it is the child process of
// TestCrashDuringAttach and TestConcurrentProcesses (see
// treetest.HelperProcess), run with REFERRERS_STATIC_HELPER set.
func TestHelperProcess(t *testing.T) { treetest.HelperProcess(t, staticStore) }

// TestCrashDuringAttach proves crash safety (treetest.CrashDuringAttach):
// child processes attaching in a loop, four at a time to one subject, are
// each killed with SIGKILL at a random moment, 20 kills in all; after each
// round the subject's referrers are listed, each reads back verified (a
// manifest file appears only after it was synced and renamed into place), a
// scan finds at least those, and the pre-rendered referrers file is a valid
// index of readable manifests (a kill between the manifest and the
// referrers file leaves the file older than the manifests directory: stale,
// so listing scans). Leftover temporary files (.tmp-*) of a killed write
// may remain, and do not break listing; planted ones (a half-written
// manifest and referrers file) do not either, nor IndexForAll.
func TestCrashDuringAttach(t *testing.T) {
	t.Parallel()
	treetest.CrashDuringAttach(t, staticStore)
}

// TestConcurrentProcesses proves that concurrent attaches from separate
// processes lose nothing (treetest.ConcurrentProcesses): 8 child processes
// (each its own Tree, so its own open of the lock file, as flock requires)
// attach 5 artifacts each to one subject, six of them in auto mode and two
// in tag mode. Afterwards all 40 are listed, the pre-rendered referrers
// file lists all 40, and the tag schema index exactly the 10 tag-mode ones.
func TestConcurrentProcesses(t *testing.T) {
	t.Parallel()
	treetest.ConcurrentProcesses(t, staticStore)
}
