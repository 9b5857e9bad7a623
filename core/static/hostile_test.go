package static

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// moveOut moves a directory of the repository outside and leaves a symlink.
func moveOut(t *testing.T, f *fixture, outside, name string) {
	t.Helper()
	if err := os.MkdirAll(f.repo(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.repo(name), filepath.Join(outside, name)); err != nil {
		t.Fatal(err)
	}
	treetest.Symlink(t, filepath.Join(outside, name), f.repo(name))
}

// freshFile writes a referrers file dated in the future, so that it is
// trusted without a scan.
func freshFile(t *testing.T, path string, b []byte) {
	t.Helper()
	treetest.WriteFile(t, path, b)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
}

// TestHostileStatic proves that a hostile static tree ends each operation
// with a clear error (errors.Is the right sentinel, the message naming the
// file), never a panic, and writes nothing outside the tree: symlinks out of
// the tree (a tag file, a digest-named manifest, a sidecar, the blobs,
// manifests and referrers directories) refused through os.OpenRoot; ../ in
// a tag; bad digests as manifest file names; a 1 GiB (sparse) manifest under
// a digest name and under a tag; a manifest file whose content does not
// match its name; a corrupt or oversized pre-rendered referrers file.
//
// Inside the tree, an operation that fails writes nothing, with two
// exceptions. A write takes the tree's lock first, so the empty lock file
// v2/<name>/.referrers.lock may be created. An attach, whose blobs the verbs
// push before the manifest (where the tree is found unusable, when its
// referrers file is stale and a scan fails), may leave the artifact's blobs
// in v2/<name>/blobs/, each verified against its digest name. No manifest,
// tag, sidecar, referrers file or marker is written (allowedWrite).
//
// The harness is treetest.RunHostile; the static tree adds the op
// index-all (IndexForAll, writing).
func TestHostileStatic(t *testing.T) {
	t.Parallel()
	big := digest.FromString("pretends to be 1 GiB")
	treetest.RunHostile(t, newFixture, []treetest.HostileCase[*fixture]{
		{
			Name: "tag file symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				b, _ := os.ReadFile(f.repo("manifests", "v1"))
				treetest.WriteFile(t, filepath.Join(outside, "m"), b)
				treetest.Symlink(t, filepath.Join(outside, "m"), f.repo("manifests", "v1"))
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: tree.ErrUnsafePath, Names: "manifests/v1"},
				{Op: "fetch-tagged", Arg: "v1", Err: tree.ErrUnsafePath, Names: "manifests/v1"},
				{Op: "push-tag", Arg: "v1", Err: tree.ErrUnsafePath, Names: "manifests/v1"},
				{Op: "list"}, // tags are not scanned
			},
		},
		{
			Name: "sidecar symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, filepath.Join(outside, "passwd"), []byte("root:x:0:0"))
				treetest.Symlink(t, filepath.Join(outside, "passwd"), f.repo("manifests", "v1.mediatype"))
			},
			Ops: []treetest.HostileOp{{Op: "resolve", Arg: "v1", Err: tree.ErrUnsafePath, Names: "v1.mediatype"}},
		},
		{
			Name: "subject manifest symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				b, _ := os.ReadFile(f.repo("manifests", f.Subject.Digest.String()))
				treetest.WriteFile(t, filepath.Join(outside, "m"), b)
				treetest.Symlink(t, filepath.Join(outside, "m"), f.repo("manifests", f.Subject.Digest.String()))
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "SUBJECT", Err: tree.ErrUnsafePath, Names: "SUBJECT"},
				{Op: "fetch", Err: tree.ErrUnsafePath, Names: "SUBJECT"},
				{Op: "list", Err: tree.ErrUnsafePath, Names: "SUBJECT"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "SUBJECT"},
				{Op: "index-all", Err: tree.ErrUnsafePath, Names: "SUBJECT"},
			},
		},
		{
			Name: "blobs symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				f.PutBlob(t, "application/octet-stream", []byte("kept"))
				moveOut(t, f, outside, "blobs")
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1"},
				{Op: "open-blob", Arg: "kept", Err: tree.ErrUnsafePath, Names: "blobs/"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "blobs"},
				{Op: "attach-tag", Err: tree.ErrUnsafePath, Names: "blobs"},
			},
		},
		{
			Name: "blobs read by OpenBlob",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.SpoilBlobs(t, f.Fixture, outside, func(d digest.Digest) string { return f.repo("blobs", d.String()) })
			},
			Ops: []treetest.HostileOp{
				{Op: "open-blob", Arg: "kept"},
				{Op: "open-blob", Arg: "linked out", Err: tree.ErrUnsafePath, Names: digest.FromString("linked out").Encoded()},
				{Op: "open-blob", Arg: "a directory", Err: tree.ErrUnsafePath, Names: digest.FromString("a directory").Encoded()},
				{Op: "open-blob", Arg: "altered", Err: target.ErrDigestMismatch, Names: digest.FromString("altered").Encoded()},
				{Op: "open-blob", Arg: "missing", Err: target.ErrNotFound, Names: digest.FromString("missing").Encoded()},
			},
		},
		{
			Name: "manifests symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) { moveOut(t, f, outside, "manifests") },
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: tree.ErrUnsafePath, Names: "manifests/v1"},
				{Op: "list", Err: tree.ErrUnsafePath, Names: "manifests"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "manifests"},
				{Op: "index-all", Err: tree.ErrUnsafePath, Names: "manifests"},
			},
		},
		{
			Name: "referrers symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				moveOut(t, f, outside, "referrers")
				freshFile(t, filepath.Join(outside, "referrers", f.Subject.Digest.String()), treetest.MustJSON(t, target.NewIndex(nil)))
			},
			Ops: []treetest.HostileOp{
				{Op: "list", Err: tree.ErrUnsafePath, Names: "referrers/SUBJECT"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "referrers/SUBJECT"},
				{Op: "index-all", Err: tree.ErrUnsafePath, Names: "referrers"},
			},
		},
		{
			Name: "../ in a tag",
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "../../x", Err: ref.ErrInvalid, Names: "../../x"},
				{Op: "resolve", Arg: "../../../../etc/passwd", Err: ref.ErrInvalid, Names: "../../../../etc/passwd"},
				{Op: "fetch-tagged", Arg: "../../x", Err: ref.ErrInvalid, Names: "../../x"},
				{Op: "push-tag", Arg: "../../x", Err: ref.ErrInvalid, Names: "../../x"},
			},
		},
		{
			Name: "bad digest as a manifest name",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, f.repo("manifests", "sha256:not-a-digest"), []byte(`{"subject":{}}`))
			},
			Ops: []treetest.HostileOp{
				{Op: "list", Err: tree.ErrUnsafePath, Names: "manifests/sha256:not-a-digest"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "manifests/sha256:not-a-digest"},
				{Op: "index-all", Err: tree.ErrUnsafePath, Names: "manifests/sha256:not-a-digest"},
			},
		},
		{
			Name: "upper-case and unknown-algorithm digest names",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, f.repo("manifests", "sha256:"+strings.ToUpper(digest.FromString("x").Encoded())), []byte("x"))
				treetest.WriteFile(t, f.repo("manifests", "md5:d41d8cd98f00b204e9800998ecf8427e"), []byte("x"))
			},
			Ops: []treetest.HostileOp{
				{Op: "list", Err: tree.ErrUnsafePath, Names: "manifests/"},
				{Op: "index-all", Err: tree.ErrUnsafePath, Names: "manifests/"},
			},
		},
		{
			Name: "1 GiB manifest under a digest name",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.SparseFile(t, f.repo("manifests", big.String()), 1<<30)
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: big.String(), Err: target.ErrTooLarge, Names: big.String()},
				{Op: "list", Err: target.ErrTooLarge, Names: big.String()},
				{Op: "attach", Err: target.ErrTooLarge, Names: big.String()},
				{Op: "index-all", Err: target.ErrTooLarge, Names: big.String()},
			},
		},
		{
			Name: "1 GiB tag",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.SparseFile(t, f.repo("manifests", "v1"), 1<<30)
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: target.ErrTooLarge, Names: "manifests/v1"},
				{Op: "fetch-tagged", Arg: "v1", Err: target.ErrTooLarge, Names: "manifests/v1"},
			},
		},
		{
			Name: "1 GiB sidecar",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.SparseFile(t, f.repo("manifests", "v1.mediatype"), 1<<30)
			},
			Ops: []treetest.HostileOp{{Op: "resolve", Arg: "v1", Err: target.ErrTooLarge, Names: "v1.mediatype"}},
		},
		{
			Name: "manifest content does not match its name",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, f.repo("manifests", f.Subject.Digest.String()), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`))
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "SUBJECT", Err: target.ErrDigestMismatch, Names: "SUBJECT"},
				{Op: "fetch", Err: target.ErrDigestMismatch, Names: "SUBJECT"},
				{Op: "list", Err: target.ErrDigestMismatch, Names: "SUBJECT"},
				{Op: "attach", Err: target.ErrDigestMismatch, Names: "SUBJECT"},
				{Op: "index-all", Err: target.ErrDigestMismatch, Names: "SUBJECT"},
			},
		},
		{
			Name: "corrupt referrers file",
			Prep: func(t *testing.T, f *fixture, outside string) {
				freshFile(t, f.repo("referrers", f.Subject.Digest.String()), []byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:../../x"`))
			},
			Ops: []treetest.HostileOp{
				{Op: "list", Err: target.ErrInvalidManifest, Names: "referrers index of SUBJECT"},
				{Op: "attach", Err: target.ErrInvalidManifest, Names: "referrers index of SUBJECT"},
			},
		},
		{
			Name: "1 GiB referrers file",
			Prep: func(t *testing.T, f *fixture, outside string) {
				p := f.repo("referrers", f.Subject.Digest.String())
				treetest.SparseFile(t, p, 1<<30)
				future := time.Now().Add(time.Hour)
				if err := os.Chtimes(p, future, future); err != nil {
					t.Fatal(err)
				}
			},
			Ops: []treetest.HostileOp{
				{Op: "list", Err: target.ErrTooLarge, Names: "SUBJECT"},
				{Op: "attach", Err: target.ErrTooLarge, Names: "SUBJECT"},
			},
		},
		{
			Name: "no such repository",
			Prep: func(t *testing.T, f *fixture, outside string) {
				if err := os.RemoveAll(f.repo("manifests")); err != nil {
					t.Fatal(err)
				}
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: target.ErrNotFound, Names: "v1"},
				{Op: "list", Err: target.ErrNotFound, Names: "manifests"},
				{Op: "index-all", Err: target.ErrNotFound, Names: "manifests"},
			},
		},
	})
}
