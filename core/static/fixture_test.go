package static

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

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

// repoName is the repository of every fixture: two components, as real
// names have.
const repoName = "library/app"

// fixture is a static tree written as another tool (or a registry export)
// would: an image under v2/library/app, tagged v1, no referrers files.
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

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.subject = f.image(t, "v1", "linux")
	return f
}

// repo is the path of the repository's directory.
func (f *fixture) repo(parts ...string) string {
	return filepath.Join(append([]string{f.dir, "v2", "library", "app"}, parts...)...)
}

// image stores an image (config, layer, manifest) under tag.
func (f *fixture) image(t testing.TB, tag, os string) ocispec.Descriptor {
	t.Helper()
	cfg := f.putBlob(t, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"`+os+`","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := f.putBlob(t, ocispec.MediaTypeImageLayer, []byte("layer of "+tag))
	b := mustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: []ocispec.Descriptor{layer},
	})
	d := f.putManifest(t, ocispec.MediaTypeImageManifest, b)
	f.writeManifestFile(t, tag, ocispec.MediaTypeImageManifest, b)
	return d
}

func (f *fixture) putBlob(t testing.TB, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	writeFile(t, f.repo("blobs", d.String()), b)
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// writeManifestFile writes manifests/<ref> and its sidecar directly.
func (f *fixture) writeManifestFile(t testing.TB, ref, mediaType string, b []byte) {
	t.Helper()
	writeFile(t, f.repo("manifests", ref+".mediatype"), []byte(mediaType))
	writeFile(t, f.repo("manifests", ref), b)
}

// putManifest stores a manifest under its digest directly (a foreign write).
func (f *fixture) putManifest(t testing.TB, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	f.writeManifestFile(t, d.String(), mediaType, b)
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// foreignReferrer stores an artifact manifest for subject directly, as
// another tool would, without touching any referrers file.
func (f *fixture) foreignReferrer(t testing.TB, subject ocispec.Descriptor, artifactType, note string) ocispec.Descriptor {
	t.Helper()
	empty := f.putBlob(t, ocispec.MediaTypeEmptyJSON, []byte("{}"))
	d := f.putManifest(t, ocispec.MediaTypeImageManifest, mustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: empty, Layers: []ocispec.Descriptor{empty}, Subject: &subject,
		Annotations: map[string]string{"note": note},
	}))
	d.ArtifactType = artifactType
	return d
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
	tr, err := Open(f.dir, repoName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

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

func listed(r referrers.ListResult) []digest.Digest {
	out := make([]digest.Digest, len(r.Referrers))
	for i, n := range r.Referrers {
		out[i] = n.Descriptor.Digest
	}
	return out
}

func sortedDigests(ds ...digest.Digest) []digest.Digest {
	w := append([]digest.Digest(nil), ds...)
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	return w
}

func wantListed(t testing.TB, r referrers.ListResult, want ...digest.Digest) {
	t.Helper()
	if got, w := listed(r), sortedDigests(want...); fmt.Sprint(got) != fmt.Sprint(w) {
		t.Fatalf("listed %v, want %v", got, w)
	}
}

func wantEntries(t testing.TB, what string, ds []ocispec.Descriptor, want ...digest.Digest) {
	t.Helper()
	got := make([]digest.Digest, len(ds))
	for i, d := range ds {
		got[i] = d.Digest
	}
	if fmt.Sprint(sortedDigests(got...)) != fmt.Sprint(sortedDigests(want...)) {
		t.Fatalf("%s: %v, want %v", what, got, sortedDigests(want...))
	}
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

// hashTree, treeDiff and sameTree: see package treetest.
func hashTree(t testing.TB, dir string) map[string]string { return treetest.Hash(t, dir) }

func treeDiff(before, after map[string]string) []string { return treetest.Diff(before, after) }

func sameTree(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	treetest.Same(t, what, before, after)
}
