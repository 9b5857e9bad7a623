package layout

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/treetest"
)

// Artifact types the tests attach.
const (
	typeSBOM = "application/vnd.example.sbom.v1+json"
	typeSig  = "application/vnd.example.signature.v1"
)

// fixture is an OCI image layout on disk with one image, tagged v1.
type fixture struct {
	dir     string
	subject ocispec.Descriptor
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newFixture writes oci-layout, the image's config, layer and manifest, and
// index.json with the manifest tagged v1.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	writeFile(t, filepath.Join(f.dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`))
	cfg := f.putBlob(t, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := f.putBlob(t, ocispec.MediaTypeImageLayer, []byte("layer bytes"))
	f.subject = f.putBlob(t, ocispec.MediaTypeImageManifest, mustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: []ocispec.Descriptor{layer},
	}))
	tagged := f.subject
	tagged.Annotations = map[string]string{ocispec.AnnotationRefName: "v1"}
	f.writeIndex(t, tagged)
	return f
}

// putBlob stores b under blobs/sha256/ directly (as another tool would).
func (f *fixture) putBlob(t testing.TB, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	writeFile(t, filepath.Join(f.dir, "blobs", "sha256", d.Encoded()), b)
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// blobFile is the path of a blob in the fixture.
func (f *fixture) blobFile(d digest.Digest) string {
	return filepath.Join(f.dir, "blobs", string(d.Algorithm()), d.Encoded())
}

// writeIndex replaces index.json directly (temporary file and rename, as
// other tools do) with entries.
func (f *fixture) writeIndex(t testing.TB, entries ...ocispec.Descriptor) {
	t.Helper()
	b := mustJSON(t, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
	tmp := filepath.Join(f.dir, ".foreign-index.json")
	writeFile(t, tmp, b)
	if err := os.Rename(tmp, filepath.Join(f.dir, ocispec.ImageIndexFile)); err != nil {
		t.Fatal(err)
	}
}

// readIndex decodes index.json.
func (f *fixture) readIndex(t testing.TB) ocispec.Index {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, ocispec.ImageIndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json is not valid JSON: %v", err)
	}
	return idx
}

// foreignReferrer stores an artifact manifest for subject as another tool
// would (blobs written directly), without touching index.json.
func (f *fixture) foreignReferrer(t testing.TB, subject ocispec.Descriptor, artifactType, note string) ocispec.Descriptor {
	t.Helper()
	empty := f.putBlob(t, ocispec.MediaTypeEmptyJSON, []byte("{}"))
	d := f.putBlob(t, ocispec.MediaTypeImageManifest, mustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: empty, Layers: []ocispec.Descriptor{empty}, Subject: &subject,
		Annotations: map[string]string{"note": note},
	}))
	d.ArtifactType = artifactType
	return d
}

// open opens the fixture through os.OpenRoot (the production path); it is
// closed when the test ends.
func (f *fixture) open(t testing.TB, opts ...Option) *Layout {
	t.Helper()
	l, err := Open(f.dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// artifact is what the tests attach: a one-file artifact whose content (and
// so digest) is note.
func artifact(artifactType, note string) referrers.Artifact {
	return referrers.Artifact{
		ArtifactType: artifactType,
		Layers:       []referrers.Blob{referrers.BytesBlob("text/plain", []byte(note))},
		Annotations:  map[string]string{"note": note},
	}
}

func attach(t testing.TB, tg target.Target, subject ocispec.Descriptor, note string, mode referrers.Mode) referrers.AttachResult {
	t.Helper()
	res, err := referrers.New().Attach(context.Background(), tg, subject, artifact(typeSBOM, note), referrers.AttachOptions{Mode: mode})
	if err != nil {
		t.Fatalf("attach %s: %v", note, err)
	}
	return res
}

func list(t testing.TB, tg target.Target, subject ocispec.Descriptor, mode referrers.Mode) referrers.ListResult {
	t.Helper()
	res, err := referrers.New().List(context.Background(), tg, subject, referrers.ListOptions{Mode: mode})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return res
}

// listed returns the digests of a listing's first level, in order.
func listed(r referrers.ListResult) []digest.Digest {
	out := make([]digest.Digest, len(r.Referrers))
	for i, n := range r.Referrers {
		out[i] = n.Descriptor.Digest
	}
	return out
}

// wantListed fails unless the listing has exactly want, each once.
func wantListed(t testing.TB, r referrers.ListResult, want ...digest.Digest) {
	t.Helper()
	got := listed(r)
	w := append([]digest.Digest(nil), want...)
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	if fmt.Sprint(got) != fmt.Sprint(w) {
		t.Fatalf("listed %v, want %v", got, w)
	}
}

// hashTree and sameTree: see package treetest.
func hashTree(t testing.TB, dir string) map[string]string { return treetest.Hash(t, dir) }

func sameTree(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	treetest.Same(t, what, before, after)
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
