package layout

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// layoutStore is the OCI image layout as the harness of package treetest
// drives it.
var layoutStore = &treetest.Store{
	Name:      "layout",
	HelperEnv: "REFERRERS_LAYOUT_HELPER",
	Seed: func(t testing.TB, tf *treetest.Fixture) ocispec.Descriptor {
		t.Helper()
		f := &fixture{tf}
		treetest.WriteFile(t, filepath.Join(f.Dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`))
		cfg := f.PutBlob(t, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
		layer := f.PutBlob(t, ocispec.MediaTypeImageLayer, []byte("layer bytes"))
		subject := f.PutBlob(t, ocispec.MediaTypeImageManifest, treetest.MustJSON(t, ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			Config: cfg, Layers: []ocispec.Descriptor{layer},
		}))
		tagged := subject
		tagged.Annotations = map[string]string{ocispec.AnnotationRefName: "v1"}
		f.writeIndex(t, tagged)
		return subject
	},
	PutBlob:     putBlob,
	PutManifest: putBlob, // a manifest is a blob, in index.json or not
	Open:        func(dir string) (treetest.Target, error) { return Open(dir) },

	CheckListable: func(t *testing.T, f *treetest.Fixture, _ treetest.Target, n int, scanBlobs bool) {
		// index.json is valid JSON; with scanBlobs (planted leftovers), a
		// scan of every blob lists at least as many
		t.Helper()
		b, err := os.ReadFile(filepath.Join(f.Dir, ocispec.ImageIndexFile))
		if err != nil || !json.Valid(b) {
			t.Fatalf("index.json is not valid JSON (%v): %.200q", err, b)
		}
		if !scanBlobs {
			return
		}
		all := treetest.List(t, (&fixture{f}).open(t, WithScanBlobs(true)), f.Subject, referrers.ModeAuto)
		if len(all.Referrers) < n {
			t.Fatalf("scan-blobs lists %d referrers, fewer than index.json's %d", len(all.Referrers), n)
		}
	},
	PlantLeftovers: func(t *testing.T, f *treetest.Fixture) {
		treetest.WriteFile(t, filepath.Join(f.Dir, ".tmp-index.json-0123456789abcdef"), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":`))
		treetest.WriteFile(t, filepath.Join(f.Dir, "blobs", "sha256", ".tmp-"+f.Subject.Digest.Encoded()+"-0123456789abcdef"), []byte(`{"schemaVersion":2,"subject":`))
	},
	CheckConcurrent: func(t *testing.T, f *treetest.Fixture, all, _ []digest.Digest) {
		// auto mode writes the tag schema index too: all are listed in
		// tag mode; and index.json has one untagged entry each
		t.Helper()
		treetest.WantListed(t, treetest.List(t, f.Open(t), f.Subject, referrers.ModeTag), all...)
		untagged := 0
		for _, m := range (&fixture{f}).readIndex(t).Manifests {
			if m.Annotations[ocispec.AnnotationRefName] == "" {
				untagged++
			}
		}
		if untagged != len(all) {
			t.Fatalf("index.json has %d untagged entries, want %d", untagged, len(all))
		}
	},

	HostileOp: func(ctx context.Context, t *testing.T, f *treetest.Fixture, op, arg string) (error, bool) {
		switch op {
		case "open":
			l, err := Open(f.Dir)
			if err == nil {
				l.Close()
			}
			return err, true
		case "list-scan-blobs": // list, with WithScanBlobs
			l, err := Open(f.Dir, WithScanBlobs(true))
			if err != nil {
				return err, true
			}
			defer l.Close()
			_, err = referrers.New().List(ctx, l, f.Subject, referrers.ListOptions{})
			return err, true
		}
		return nil, false
	},
}

// fixture is an OCI image layout on disk with one image, tagged v1 (see
// layoutStore.Seed).
type fixture struct{ *treetest.Fixture }

// newFixture writes oci-layout, the image's config, layer and manifest, and
// index.json with the manifest tagged v1.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return &fixture{treetest.NewFixture(t, layoutStore)}
}

// putBlob stores b under blobs/sha256/ directly (as another tool would).
func putBlob(t testing.TB, dir, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	treetest.WriteFile(t, filepath.Join(dir, "blobs", "sha256", d.Encoded()), b)
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// blobFile is the path of a blob in the fixture.
func (f *fixture) blobFile(d digest.Digest) string {
	return filepath.Join(f.Dir, "blobs", string(d.Algorithm()), d.Encoded())
}

// writeIndex replaces index.json directly (temporary file and rename, as
// other tools do) with entries.
func (f *fixture) writeIndex(t testing.TB, entries ...ocispec.Descriptor) {
	t.Helper()
	b := treetest.MustJSON(t, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
	tmp := filepath.Join(f.Dir, ".foreign-index.json")
	treetest.WriteFile(t, tmp, b)
	if err := os.Rename(tmp, filepath.Join(f.Dir, ocispec.ImageIndexFile)); err != nil {
		t.Fatal(err)
	}
}

// readIndex decodes index.json.
func (f *fixture) readIndex(t testing.TB) ocispec.Index {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.Dir, ocispec.ImageIndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json is not valid JSON: %v", err)
	}
	return idx
}

// open opens the fixture through os.OpenRoot (the production path), with
// opts; it is closed when the test ends.
func (f *fixture) open(t testing.TB, opts ...Option) *Layout {
	t.Helper()
	l, err := Open(f.Dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// countingFS counts the files opened through it, to prove what a listing
// did not read.
type countingFS struct {
	fsys  fs.FS
	mu    sync.Mutex
	opens map[string]int
}

func newCountingFS(fsys fs.FS) *countingFS { return &countingFS{fsys: fsys, opens: map[string]int{}} }

func (c *countingFS) Open(name string) (fs.File, error) {
	c.mu.Lock()
	c.opens[name]++
	c.mu.Unlock()
	return c.fsys.Open(name)
}

// Stat is not counted: a stat reads no content.
func (c *countingFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(c.fsys, name) }

// blobReads is how many times a file under blobs/ was opened.
func (c *countingFS) blobReads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for name, k := range c.opens {
		if strings.HasPrefix(name, "blobs/") {
			n += k
		}
	}
	return n
}

func (c *countingFS) reset() {
	c.mu.Lock()
	c.opens = map[string]int{}
	c.mu.Unlock()
}
