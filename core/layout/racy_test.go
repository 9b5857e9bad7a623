package layout

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// TestScanCacheRacy: an in-place, same-size rewrite of index.json that keeps
// its modification time (a copy tool, or two writes within the file system's
// timestamp granularity) keeps the cache key; a snapshot made within
// racyWindow of the modification is therefore checked by content and not
// used. (A rewrite that sets the time back long after is the accepted limit,
// as in git.)
func TestScanCacheRacy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cache := t.TempDir()
	foreign := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "aaaa")
	other := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "bbbb")
	f.writeIndex(t, append(f.readIndex(t).Manifests, foreign)...)
	p := filepath.Join(f.Dir, ocispec.ImageIndexFile)

	l := f.open(t, WithCacheDir(cache))
	treetest.WantListed(t, treetest.List(t, l, f.Subject, referrers.ModeAuto), foreign.Digest)

	// the same bytes but the other referrer's digest: same size, same inode,
	// same modification time
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	idx := f.readIndex(t)
	idx.Manifests[len(idx.Manifests)-1] = other
	b := treetest.MustJSON(t, idx)
	if int64(len(b)) != fi.Size() {
		t.Fatalf("rewrite changes the size (%d, %d): the test needs equal sizes", len(b), fi.Size())
	}
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.Chtimes(p, time.Now(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Layout{l, f.open(t, WithCacheDir(cache))} {
		treetest.WantListed(t, treetest.List(t, l, f.Subject, referrers.ModeAuto), other.Digest)
	}
}
