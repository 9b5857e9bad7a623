package static

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// repoName is the repository of every fixture: two components, as real
// names have.
const repoName = "library/app"

// staticStore is the static tree (repository repoName) as the harness of
// package treetest drives it.
var staticStore = &treetest.Store{
	Name:      "static tree",
	HelperEnv: "REFERRERS_STATIC_HELPER",
	Seed: func(t testing.TB, f *treetest.Fixture) ocispec.Descriptor {
		t.Helper()
		return (&fixture{f}).image(t, "v1", "linux")
	},
	PutBlob: func(t testing.TB, dir, mediaType string, b []byte) ocispec.Descriptor {
		t.Helper()
		d := digest.FromBytes(b)
		treetest.WriteFile(t, repoPath(dir, "blobs", d.String()), b)
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	},
	PutManifest: func(t testing.TB, dir, mediaType string, b []byte) ocispec.Descriptor {
		t.Helper()
		d := digest.FromBytes(b)
		writeManifestFile(t, dir, d.String(), mediaType, b)
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	},
	Open: func(dir string) (treetest.Target, error) { return Open(dir, repoName) },

	CheckListable: func(t *testing.T, tf *treetest.Fixture, tg treetest.Target, n int, leftovers bool) {
		// a scan (IndexFor, which ignores the pre-rendered file) finds at
		// least the n listed; the pre-rendered file, when there is one, is
		// a valid index whose entries all read back; with the planted
		// leftovers, IndexForAll succeeds
		t.Helper()
		f, tr, ctx := &fixture{tf}, tg.(*Tree), context.Background()
		scan, err := tr.IndexFor(ctx, f.Subject.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(scan.Manifests) < n {
			t.Fatalf("a scan finds %d referrers, fewer than the %d listed", len(scan.Manifests), n)
		}
		if idx, ok := f.readReferrersFile(t, f.Subject.Digest); ok {
			for _, d := range idx.Manifests {
				if _, err := tr.FetchManifest(ctx, d); err != nil {
					t.Fatalf("the referrers file lists %s, which does not read back: %v", d.Digest, err)
				}
			}
		}
		if leftovers {
			if _, err := f.open(t).IndexForAll(ctx, false); err != nil {
				t.Fatalf("IndexForAll with temporary files: %v", err)
			}
		}
	},
	PlantLeftovers: func(t *testing.T, tf *treetest.Fixture) {
		f, s := &fixture{tf}, tf.Subject.Digest.String()
		treetest.WriteFile(t, f.repo("manifests", ".tmp-"+s+"-0123456789abcdef"), []byte(`{"schemaVersion":2,"subject":`))
		treetest.WriteFile(t, f.repo("manifests", ".tmp-"+s+".mediatype-0123456789abcdef"), []byte(`application/vnd.oci.image.`))
		treetest.WriteFile(t, f.repo("referrers", ".tmp-"+s+"-0123456789abcdef"), []byte(`{"schemaVersion":2,"manifests":[`))
	},
	CheckConcurrent: func(t *testing.T, tf *treetest.Fixture, all, tagged []digest.Digest) {
		// the tag schema index lists exactly the tag-mode ones; the
		// pre-rendered referrers file lists all
		t.Helper()
		f := &fixture{tf}
		treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeTag), tagged...)
		idx, ok := f.readReferrersFile(t, f.Subject.Digest)
		if !ok {
			t.Fatal("no pre-rendered referrers file")
		}
		treetest.WantEntries(t, "pre-rendered referrers file", idx.Manifests, all...)
	},

	HostileOp: func(ctx context.Context, t *testing.T, f *treetest.Fixture, op, arg string) (error, bool) {
		if op != "index-all" { // IndexForAll(write)
			return nil, false
		}
		tr, err := Open(f.Dir, repoName)
		if err != nil {
			return err, true
		}
		defer tr.Close()
		_, err = tr.IndexForAll(ctx, true)
		return err, true
	},
	AllowedWrite: allowedWrite,
}

// fixture is a static tree written as another tool (or a registry export)
// would: an image under v2/library/app, tagged v1, no referrers files.
type fixture struct{ *treetest.Fixture }

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return &fixture{treetest.NewFixture(t, staticStore)}
}

// repoPath is the path of the repository's directory in the tree at dir.
func repoPath(dir string, parts ...string) string {
	return filepath.Join(append([]string{dir, "v2", "library", "app"}, parts...)...)
}

// repo is the path of the repository's directory.
func (f *fixture) repo(parts ...string) string { return repoPath(f.Dir, parts...) }

// image stores an image (config, layer, manifest) under tag.
func (f *fixture) image(t testing.TB, tag, os string) ocispec.Descriptor {
	t.Helper()
	cfg := f.PutBlob(t, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"`+os+`","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := f.PutBlob(t, ocispec.MediaTypeImageLayer, []byte("layer of "+tag))
	b := treetest.MustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: []ocispec.Descriptor{layer},
	})
	d := f.PutManifest(t, ocispec.MediaTypeImageManifest, b)
	writeManifestFile(t, f.Dir, tag, ocispec.MediaTypeImageManifest, b)
	return d
}

// writeManifestFile writes manifests/<ref> and its sidecar directly.
func writeManifestFile(t testing.TB, dir, ref, mediaType string, b []byte) {
	t.Helper()
	treetest.WriteFile(t, repoPath(dir, "manifests", ref+".mediatype"), []byte(mediaType))
	treetest.WriteFile(t, repoPath(dir, "manifests", ref), b)
}

// backdate sets the modification time of every referrers file (and the
// marker) 10 s back: "our last write was a while ago". Timestamps are coarse,
// so a foreign write right after ours may get the same time and go unnoticed
// (a documented limit); the tests of freshness make the order unambiguous.
func (f *fixture) backdate(t testing.TB) {
	t.Helper()
	old := time.Now().Add(-10 * time.Second)
	ents, _ := os.ReadDir(f.repo("referrers"))
	for _, e := range ents {
		if err := os.Chtimes(f.repo("referrers", e.Name()), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// readReferrersFile decodes the pre-rendered referrers index of subject.
func (f *fixture) readReferrersFile(t testing.TB, subject digest.Digest) (ocispec.Index, bool) {
	t.Helper()
	b, err := os.ReadFile(f.repo("referrers", subject.String()))
	if os.IsNotExist(err) {
		return ocispec.Index{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	idx, err := target.DecodeIndex(b)
	if err != nil {
		t.Fatalf("referrers/%s: %v", subject, err)
	}
	if mt, err := os.ReadFile(f.repo("referrers", subject.String()+".mediatype")); err != nil || string(mt) != ocispec.MediaTypeImageIndex {
		t.Fatalf("referrers/%s.mediatype = %q, %v", subject, mt, err)
	}
	return idx, true
}

// open opens the fixture through os.OpenRoot (the production path); it is
// closed when the test ends.
func (f *fixture) open(t testing.TB) *Tree {
	t.Helper()
	tr, err := Open(f.Dir, repoName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// referrersOf calls the tree's own Referrers.
func referrersOf(t testing.TB, tr *Tree, subject digest.Digest) target.ReferrersResult {
	t.Helper()
	r, err := tr.Referrers(context.Background(), subject, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// allowedWrite reports whether a change to a hostile tree is one of the two
// a failed operation may leave (see TestHostileStatic): the empty lock file,
// and, after an attach, a new blob whose content matches its digest name.
func allowedWrite(t *testing.T, f *treetest.Fixture, change string, attached bool) bool {
	if change == "added "+filepath.Join("v2", "library", "app", lockName) {
		return true
	}
	rel, ok := strings.CutPrefix(change, "added ")
	if !ok || !attached {
		return false
	}
	name, ok := strings.CutPrefix(rel, filepath.Join("v2", "library", "app", "blobs")+string(filepath.Separator))
	if !ok {
		return false
	}
	d, err := digest.Parse(name)
	if err != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join(f.Dir, rel))
	return err == nil && d.Algorithm().FromBytes(b) == d
}
