package layout

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// openCounting opens the fixture with its reads counted: the FS of an
// os.Root wrapped in a countingFS, writes through the root.
func openCounting(t *testing.T, f *fixture, opts ...Option) (*Layout, *countingFS) {
	t.Helper()
	root, err := os.OpenRoot(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	c := newCountingFS(root.FS())
	return New(c, root, f.Dir, opts...), c
}

// referrersSource calls Referrers and returns its Source and digests.
func referrersSource(t *testing.T, l *Layout, f *fixture) (string, int) {
	t.Helper()
	r, err := l.Referrers(context.Background(), f.Subject.Digest, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(r.Source), len(r.Manifests)
}

// TestScanCacheMemory proves the in-memory scan cache: the first listing
// scans (Source "scan", manifests read), the next answers from the kept scan
// (Source "index") without opening a single blob, our own attach updates the
// kept scan instead of dropping it (still "index", the new referrer listed,
// nothing read), and a foreign change to index.json (a referrer added by
// another tool, with the temporary-file-and-rename other tools use, or an
// in-place rewrite of another size) makes the next listing scan again and
// find it.
func TestScanCacheMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// index style: the referrers tag, which the verbs read beside the scan,
	// would add its one blob read to every listing
	l, c := openCounting(t, f, WithStyle(StyleIndex))
	a := treetest.Attach(t, l, f.Subject, "a", referrers.ModeAuto)
	if src, n := referrersSource(t, l, f); src != "scan" || n != 1 || c.blobReads() == 0 {
		t.Fatalf("first listing: source %q, %d referrers, %d blob reads; want a scan finding 1", src, n, c.blobReads())
	}
	c.reset()
	if src, n := referrersSource(t, l, f); src != "index" || n != 1 || c.blobReads() != 0 {
		t.Fatalf("second listing: source %q, %d referrers, %d blob reads; want index, 1, none", src, n, c.blobReads())
	}
	b := treetest.Attach(t, l, f.Subject, "b", referrers.ModeAuto)
	c.reset()
	r := treetest.List(t, l, f.Subject, referrers.ModeAuto)
	if r.Mode != referrers.ModeIndex || c.blobReads() != 0 {
		t.Fatalf("listing after our attach: mode %q, %d blob reads; want index and none", r.Mode, c.blobReads())
	}
	treetest.WantListed(t, r, a.Descriptor.Digest, b.Descriptor.Digest)

	// another tool adds a referrer: blobs, then index.json replaced
	foreign := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "foreign")
	f.writeIndex(t, append(f.readIndex(t).Manifests, foreign)...)
	r = treetest.List(t, l, f.Subject, referrers.ModeAuto)
	if r.Mode != referrers.ModeScan {
		t.Fatalf("listing after a foreign write: mode %q, want scan", r.Mode)
	}
	treetest.WantListed(t, r, a.Descriptor.Digest, b.Descriptor.Digest, foreign.Digest)

	// an in-place rewrite (same inode) of another size
	foreign2 := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "in place")
	idx := f.readIndex(t)
	idx.Manifests = append(idx.Manifests, foreign2)
	if err := os.WriteFile(filepath.Join(f.Dir, ocispec.ImageIndexFile), treetest.MustJSON(t, idx), 0o644); err != nil {
		t.Fatal(err)
	}
	r = treetest.List(t, l, f.Subject, referrers.ModeAuto)
	if r.Mode != referrers.ModeScan {
		t.Fatalf("listing after an in-place write: mode %q, want scan", r.Mode)
	}
	treetest.WantListed(t, r, a.Descriptor.Digest, b.Descriptor.Digest, foreign.Digest, foreign2.Digest)
}

// TestScanCacheDisk proves the cache across instances (processes) with
// WithCacheDir: a second Layout answers Source "index" without opening a
// single blob, whether it is new or had resolved the subject before the
// first one saved its scan; an attach through either instance keeps the
// on-disk scan current; a foreign change to index.json invalidates it (Source
// "scan" with the right result); the cache is one small file per layout, and
// a corrupt or foreign cache file only costs a scan.
func TestScanCacheDisk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cache := t.TempDir()
	l1 := f.open(t, WithCacheDir(cache), WithStyle(StyleIndex)) // no referrers tag to read (see TestScanCacheMemory)
	a := treetest.Attach(t, l1, f.Subject, "a", referrers.ModeAuto)

	// l2 resolves the subject before any scan is saved: its kept view is
	// unscanned, and must not hide the scan l1 saves meanwhile.
	early, cEarly := openCounting(t, f, WithCacheDir(cache))
	if _, err := early.Resolve(context.Background(), "v1"); err != nil {
		t.Fatal(err)
	}
	if r := treetest.List(t, l1, f.Subject, referrers.ModeAuto); r.Mode != referrers.ModeScan {
		t.Fatalf("first listing: mode %q, want scan", r.Mode)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "layout-*.json"))
	if len(files) != 1 {
		t.Fatalf("cache dir holds %v, want one layout-*.json", files)
	}
	cEarly.reset()
	r := treetest.List(t, early, f.Subject, referrers.ModeAuto)
	if r.Mode != referrers.ModeIndex || cEarly.blobReads() != 0 {
		t.Fatalf("instance that resolved first: mode %q, %d blob reads; want index and none", r.Mode, cEarly.blobReads())
	}
	treetest.WantListed(t, r, a.Descriptor.Digest)

	l2, c2 := openCounting(t, f, WithCacheDir(cache), WithStyle(StyleIndex))
	r = treetest.List(t, l2, f.Subject, referrers.ModeAuto)
	if r.Mode != referrers.ModeIndex || c2.blobReads() != 0 {
		t.Fatalf("new instance: mode %q, %d blob reads; want index and none", r.Mode, c2.blobReads())
	}
	treetest.WantListed(t, r, a.Descriptor.Digest)

	// an attach through l2 carries the scan over, on disk too
	b := treetest.Attach(t, l2, f.Subject, "b", referrers.ModeAuto)
	l3, c3 := openCounting(t, f, WithCacheDir(cache))
	r = treetest.List(t, l3, f.Subject, referrers.ModeAuto)
	if r.Mode != referrers.ModeIndex || c3.blobReads() != 0 {
		t.Fatalf("after an attach elsewhere: mode %q, %d blob reads; want index and none", r.Mode, c3.blobReads())
	}
	treetest.WantListed(t, r, a.Descriptor.Digest, b.Descriptor.Digest)

	// a foreign change to index.json invalidates every instance's cache
	foreign := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "foreign")
	f.writeIndex(t, append(f.readIndex(t).Manifests, foreign)...)
	for i, l := range []*Layout{l3, f.open(t, WithCacheDir(cache))} {
		r = treetest.List(t, l, f.Subject, referrers.ModeAuto)
		if i == 0 && r.Mode != referrers.ModeScan {
			t.Fatalf("after a foreign write: mode %q, want scan", r.Mode)
		}
		treetest.WantListed(t, r, a.Descriptor.Digest, b.Descriptor.Digest, foreign.Digest)
	}

	// a corrupt cache file, or one for another directory, is ignored
	for _, content := range []string{"{not json", strings.Replace(readFile(t, files[0]), f.Dir, f.Dir+"-other", 1)} {
		if err := os.WriteFile(files[0], []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		l4, c4 := openCounting(t, f, WithCacheDir(cache))
		r = treetest.List(t, l4, f.Subject, referrers.ModeAuto)
		if r.Mode != referrers.ModeScan || c4.blobReads() == 0 {
			t.Fatalf("with a bad cache file: mode %q, %d blob reads; want a scan", r.Mode, c4.blobReads())
		}
		treetest.WantListed(t, r, a.Descriptor.Digest, b.Descriptor.Digest, foreign.Digest)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
