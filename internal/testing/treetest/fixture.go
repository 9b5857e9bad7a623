package treetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
)

// Artifact types the tests attach.
const (
	TypeSBOM = "application/vnd.example.sbom.v1+json"
	TypeSig  = "application/vnd.example.signature.v1"
)

// Target is an opened store.
type Target interface {
	target.Target
	io.Closer
}

// Store is one on-disk store as the harness drives it: how to write a tree
// as another tool would (straight to its files: no lock, no index or
// referrers file updated), how to open it, and the checks that differ from
// one store to the other. Hooks left nil are skipped.
type Store struct {
	// Name is the store's kind in messages ("layout", "static tree").
	Name string
	// HelperEnv is the variable that makes the test binary a child process
	// of the process tests (see HelperProcess).
	HelperEnv string

	// Seed writes a new tree in the empty f.Dir holding one image tagged
	// v1, and returns the image's descriptor.
	Seed func(t testing.TB, f *Fixture) ocispec.Descriptor
	// PutBlob stores b as a blob of the tree.
	PutBlob func(t testing.TB, dir, mediaType string, b []byte) ocispec.Descriptor
	// PutManifest stores a manifest under its digest, untagged and in no
	// index.
	PutManifest func(t testing.TB, dir, mediaType string, b []byte) ocispec.Descriptor
	// Open opens the tree at dir through os.OpenRoot (the production path).
	Open func(dir string) (Target, error)

	// CheckListable adds the store's own checks to those of a tree after a
	// crash (see CrashDuringAttach): tg is a new instance that listed n
	// referrers of f.Subject; thorough is set once planted leftovers are in
	// place.
	CheckListable func(t *testing.T, f *Fixture, tg Target, n int, thorough bool)
	// PlantLeftovers writes the temporary files of writes killed half way.
	PlantLeftovers func(t *testing.T, f *Fixture)
	// CheckConcurrent checks the tree after the concurrent attaches of
	// ConcurrentProcesses (every one of all is already listed in auto
	// mode; tagged are those attached in tag mode).
	CheckConcurrent func(t *testing.T, f *Fixture, all, tagged []digest.Digest)

	// HostileOp runs the store's own operations of a hostile test (ok
	// false: not one of them; see RunHostile).
	HostileOp func(ctx context.Context, t *testing.T, f *Fixture, op, arg string) (err error, ok bool)
	// AllowedWrite reports whether a change to the tree (as Diff words it)
	// after the operations of a hostile test is allowed; attached is set
	// when an attach ran. Nil: none is.
	AllowedWrite func(t *testing.T, f *Fixture, change string, attached bool) bool
}

// Fixture is a tree of a store on disk with one image, tagged v1.
type Fixture struct {
	Store   *Store
	Dir     string
	Subject ocispec.Descriptor
}

// NewFixture seeds a tree of s in a new temporary directory.
func NewFixture(t testing.TB, s *Store) *Fixture {
	t.Helper()
	f := &Fixture{Store: s, Dir: t.TempDir()}
	f.Subject = s.Seed(t, f)
	return f
}

// Base is f itself: the fixture types of the stores embed *Fixture, and the
// harness reaches it through Base.
func (f *Fixture) Base() *Fixture { return f }

// PutBlob stores b as a blob directly (as another tool would).
func (f *Fixture) PutBlob(t testing.TB, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	return f.Store.PutBlob(t, f.Dir, mediaType, b)
}

// PutManifest stores a manifest under its digest directly (a foreign write).
func (f *Fixture) PutManifest(t testing.TB, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	return f.Store.PutManifest(t, f.Dir, mediaType, b)
}

// ForeignReferrer stores an artifact manifest for subject as another tool
// would (files written directly), without touching any index or referrers
// file.
func (f *Fixture) ForeignReferrer(t testing.TB, subject ocispec.Descriptor, artifactType, note string) ocispec.Descriptor {
	t.Helper()
	empty := f.PutBlob(t, ocispec.MediaTypeEmptyJSON, []byte("{}"))
	d := f.PutManifest(t, ocispec.MediaTypeImageManifest, MustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: empty, Layers: []ocispec.Descriptor{empty}, Subject: &subject,
		Annotations: map[string]string{"note": note},
	}))
	d.ArtifactType = artifactType
	return d
}

// Open opens the tree with the store's Open; it is closed when the test ends.
func (f *Fixture) Open(t testing.TB) Target {
	t.Helper()
	tg, err := f.Store.Open(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// MustJSON is v as JSON.
func MustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteFile writes b to path, creating its directories.
func WriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// SparseFile creates path as a sparse file of size bytes.
func SparseFile(t testing.TB, path string, size int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := fh.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// Symlink replaces newname (whatever it was) with a symlink to oldname.
func Symlink(t testing.TB, oldname, newname string) {
	t.Helper()
	if err := os.RemoveAll(newname); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(newname), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}

// Artifact is what the tests attach: a one-file artifact whose content (and
// so digest) is note.
func Artifact(artifactType, note string) referrers.Artifact {
	return referrers.Artifact{
		ArtifactType: artifactType,
		Layers:       []referrers.Blob{referrers.BytesBlob("text/plain", []byte(note))},
		Annotations:  map[string]string{"note": note},
	}
}

// Attach attaches Artifact(TypeSBOM, note) to subject.
func Attach(t testing.TB, tg target.Target, subject ocispec.Descriptor, note string, mode referrers.Mode) referrers.AttachResult {
	t.Helper()
	res, err := referrers.New().Attach(context.Background(), tg, subject, Artifact(TypeSBOM, note), referrers.AttachOptions{Mode: mode})
	if err != nil {
		t.Fatalf("attach %s: %v", note, err)
	}
	return res
}

// List lists the referrers of subject.
func List(t testing.TB, tg target.Target, subject ocispec.Descriptor, mode referrers.Mode) referrers.ListResult {
	t.Helper()
	res, err := referrers.New().List(context.Background(), tg, subject, referrers.ListOptions{Mode: mode})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return res
}

// Listed returns the digests of a listing's first level, in order.
func Listed(r referrers.ListResult) []digest.Digest {
	out := make([]digest.Digest, len(r.Referrers))
	for i, n := range r.Referrers {
		out[i] = n.Descriptor.Digest
	}
	return out
}

// SortedDigests is a sorted copy of ds.
func SortedDigests(ds ...digest.Digest) []digest.Digest {
	w := append([]digest.Digest(nil), ds...)
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	return w
}

// WantListed fails unless the listing has exactly want, each once.
func WantListed(t testing.TB, r referrers.ListResult, want ...digest.Digest) {
	t.Helper()
	if got, w := Listed(r), SortedDigests(want...); fmt.Sprint(got) != fmt.Sprint(w) {
		t.Fatalf("listed %v, want %v", got, w)
	}
}

// WantEntries fails unless ds are exactly want, in any order.
func WantEntries(t testing.TB, what string, ds []ocispec.Descriptor, want ...digest.Digest) {
	t.Helper()
	got := make([]digest.Digest, len(ds))
	for i, d := range ds {
		got[i] = d.Digest
	}
	if fmt.Sprint(SortedDigests(got...)) != fmt.Sprint(SortedDigests(want...)) {
		t.Fatalf("%s: %v, want %v", what, got, SortedDigests(want...))
	}
}
