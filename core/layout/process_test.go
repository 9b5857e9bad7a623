package layout

import (
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// TestHelperProcess is not a test: it is the child process of
// TestCrashDuringAttach and TestConcurrentProcesses (see
// treetest.HelperProcess), run with REFERRERS_LAYOUT_HELPER set.
func TestHelperProcess(t *testing.T) { treetest.HelperProcess(t, layoutStore) }

// TestCrashDuringAttach proves crash safety (treetest.CrashDuringAttach):
// child processes attaching in a loop, four at a time to one subject, are
// each killed with SIGKILL at a random moment, 20 kills in all; after each
// round index.json is valid JSON, the subject's referrers are listed, and
// each of them reads back verified (a manifest is in index.json only after
// its blob was synced and renamed into place). Leftover temporary files
// (.tmp-*) of a killed write may remain, and do not break listing; planted
// ones (a half-written index.json and blob) do not either, nor a scan of
// every blob.
func TestCrashDuringAttach(t *testing.T) {
	t.Parallel()
	treetest.CrashDuringAttach(t, layoutStore)
}

// TestConcurrentProcesses proves that concurrent attaches from separate
// processes lose nothing (treetest.ConcurrentProcesses): 8 child processes
// (each its own Layout, so its own open of the lock file, as flock
// requires) attach 5 artifacts each to one subject, six of them in auto
// mode (an untagged index.json entry and the tag schema index, written by
// the layout under its lock) and two in tag mode. Afterwards all 40 are
// listed both ways, and index.json has one untagged entry each.
func TestConcurrentProcesses(t *testing.T) {
	t.Parallel()
	treetest.ConcurrentProcesses(t, layoutStore)
}
