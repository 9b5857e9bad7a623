package layout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// emptyDigest is the digest of "{}", the empty descriptor every attach pushes.
var emptyDigest = digest.FromString("{}")

// TestHostileLayout proves that a hostile layout ends each operation with a
// clear error (errors.Is the right sentinel, the message naming the file),
// never a panic, and that nothing is written, in the tree or outside it, even
// by an attach that fails: symlinks out of the tree (index.json, a blob, the
// blob directories, oci-layout) refused through os.OpenRoot; ../ in a tag;
// bad digests as blob names (with scan-blobs) and in index.json; a truncated
// index.json; a 1 GiB manifest (sparse) named by index.json, and a 1 GiB
// index.json (over the 64 MiB cap); a blob whose content does not match its
// name; index.json missing or a directory; an index whose child digest
// escapes. The harness is treetest.RunHostile; the layout adds the ops open
// (Open alone) and list-scan-blobs (a list by a Layout WithScanBlobs).
func TestHostileLayout(t *testing.T) {
	t.Parallel()
	big := digest.FromString("pretends to be 1 GiB")
	treetest.RunHostile(t, newFixture, []treetest.HostileCase[*fixture]{
		{
			Name: "index.json symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, filepath.Join(outside, "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"))
				treetest.Symlink(t, filepath.Join(outside, "passwd"), filepath.Join(f.Dir, "index.json"))
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: tree.ErrUnsafePath, Names: "index.json"},
				{Op: "list", Err: tree.ErrUnsafePath, Names: "index.json"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "index.json"},
				{Op: "attach-tag", Err: tree.ErrUnsafePath, Names: "index.json"},
			},
		},
		{
			Name: "index.json symlinked out relatively",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, filepath.Join(outside, "index.json"), treetest.MustJSON(t, f.readIndex(t)))
				treetest.Symlink(t, "../"+filepath.Base(outside)+"/index.json", filepath.Join(f.Dir, "index.json"))
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: tree.ErrUnsafePath, Names: "index.json"},
				{Op: "list", Err: tree.ErrUnsafePath, Names: "index.json"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "index.json"},
			},
		},
		{
			Name: "oci-layout symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, filepath.Join(outside, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
				treetest.Symlink(t, filepath.Join(outside, "oci-layout"), filepath.Join(f.Dir, "oci-layout"))
			},
			Ops: []treetest.HostileOp{{Op: "open", Err: tree.ErrUnsafePath, Names: "oci-layout"}},
		},
		{
			Name: "subject manifest blob symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				p := f.blobFile(f.Subject.Digest)
				b, _ := os.ReadFile(p)
				treetest.WriteFile(t, filepath.Join(outside, "manifest"), b) // even the right content
				treetest.Symlink(t, filepath.Join(outside, "manifest"), p)
			},
			Ops: []treetest.HostileOp{
				{Op: "fetch", Err: tree.ErrUnsafePath, Names: "blobs/sha256/"},
				{Op: "list", Err: tree.ErrUnsafePath, Names: "blobs/sha256/"},
				{Op: "list-scan-blobs", Err: tree.ErrUnsafePath, Names: "blobs/sha256/SUBJECTHEX"},
			},
		},
		{
			Name: "empty blob symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, filepath.Join(outside, "secret"), []byte("{}"))
				if err := os.MkdirAll(filepath.Dir(f.blobFile(emptyDigest)), 0o755); err != nil {
					t.Fatal(err)
				}
				treetest.Symlink(t, filepath.Join(outside, "secret"), f.blobFile(emptyDigest))
			},
			Ops: []treetest.HostileOp{
				{Op: "attach", Err: tree.ErrUnsafePath, Names: emptyDigest.Encoded()},
				{Op: "attach-tag", Err: tree.ErrUnsafePath, Names: emptyDigest.Encoded()},
			},
		},
		{
			Name: "blobs read by OpenBlob",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.SpoilBlobs(t, f.Fixture, outside, f.blobFile)
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
			Name: "blobs/sha256 symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				if err := os.Rename(filepath.Join(f.Dir, "blobs", "sha256"), filepath.Join(outside, "sha256")); err != nil {
					t.Fatal(err)
				}
				treetest.Symlink(t, filepath.Join(outside, "sha256"), filepath.Join(f.Dir, "blobs", "sha256"))
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1"}, // index.json alone answers
				{Op: "fetch", Err: tree.ErrUnsafePath, Names: "blobs/sha256/"},
				{Op: "list", Err: tree.ErrUnsafePath, Names: "blobs/sha256/"},
				{Op: "list-scan-blobs", Err: tree.ErrUnsafePath, Names: "blobs/sha256"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "blobs/sha256"},
			},
		},
		{
			Name: "blobs symlinked out",
			Prep: func(t *testing.T, f *fixture, outside string) {
				f.PutBlob(t, "application/octet-stream", []byte("kept"))
				if err := os.Rename(filepath.Join(f.Dir, "blobs"), filepath.Join(outside, "blobs")); err != nil {
					t.Fatal(err)
				}
				treetest.Symlink(t, filepath.Join(outside, "blobs"), filepath.Join(f.Dir, "blobs"))
			},
			Ops: []treetest.HostileOp{
				{Op: "fetch", Err: tree.ErrUnsafePath, Names: "blobs/sha256/"},
				{Op: "list", Err: tree.ErrUnsafePath, Names: "blobs/sha256/"},
				{Op: "list-scan-blobs", Err: tree.ErrUnsafePath, Names: "blobs"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "blobs"},
				{Op: "open-blob", Arg: "kept", Err: tree.ErrUnsafePath, Names: "blobs/sha256/"},
			},
		},
		{
			Name: "../ in a tag",
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "../x", Err: ref.ErrInvalid, Names: "../x"},
				{Op: "resolve", Arg: "../../../etc/passwd", Err: ref.ErrInvalid, Names: "../../../etc/passwd"},
				{Op: "fetch-tagged", Arg: "../x", Err: ref.ErrInvalid, Names: "../x"},
				{Op: "push-tag", Arg: "../x", Err: ref.ErrInvalid, Names: "../x"},
			},
		},
		{
			Name: "bad digest as a blob name",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, filepath.Join(f.Dir, "blobs", "sha256", "not-a-digest"), []byte(`{"subject":{}}`))
			},
			Ops: []treetest.HostileOp{
				{Op: "list"}, // index.json does not name it: only a blob scan meets it
				{Op: "list-scan-blobs", Err: tree.ErrUnsafePath, Names: "blobs/sha256/not-a-digest"},
			},
		},
		{
			Name: "upper-case digest as a blob name",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, filepath.Join(f.Dir, "blobs", "sha256", strings.ToUpper(digest.FromString("x").Encoded())), []byte("x"))
			},
			Ops: []treetest.HostileOp{{Op: "list-scan-blobs", Err: tree.ErrUnsafePath, Names: strings.ToUpper(digest.FromString("x").Encoded())}},
		},
		{
			Name: "bad digest in index.json",
			Prep: func(t *testing.T, f *fixture, outside string) {
				f.writeIndex(t, f.Subject, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:../../../etc/passwd", Size: 3})
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: target.ErrInvalidManifest, Names: "index.json"},
				{Op: "list", Err: target.ErrInvalidManifest, Names: "index.json"},
				{Op: "attach", Err: target.ErrInvalidManifest, Names: "index.json"},
			},
		},
		{
			Name: "truncated index.json",
			Prep: func(t *testing.T, f *fixture, outside string) {
				b, _ := os.ReadFile(filepath.Join(f.Dir, "index.json"))
				treetest.WriteFile(t, filepath.Join(f.Dir, "index.json"), b[:len(b)/2])
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: target.ErrInvalidManifest, Names: "index.json"},
				{Op: "list", Err: target.ErrInvalidManifest, Names: "index.json"},
				{Op: "attach", Err: target.ErrInvalidManifest, Names: "index.json"},
				{Op: "attach-tag", Err: target.ErrInvalidManifest, Names: "index.json"},
			},
		},
		{
			Name: "1 GiB index.json",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.SparseFile(t, filepath.Join(f.Dir, "index.json"), 1<<30)
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: target.ErrTooLarge, Names: "index.json"},
				{Op: "resolve", Arg: "SUBJECT"}, // a digest is resolved from its blob
				{Op: "list", Err: target.ErrTooLarge, Names: "index.json"},
				{Op: "attach", Err: target.ErrTooLarge, Names: "index.json"},
			},
		},
		{
			Name: "1 GiB manifest named by index.json",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.SparseFile(t, f.blobFile(big), 1<<30)
				f.writeIndex(t, append(f.readIndex(t).Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: big, Size: 1 << 30})...)
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: big.String()}, // index.json's entry answers
				{Op: "fetch", Arg: big.String(), Err: target.ErrTooLarge, Names: big.Encoded()},
				{Op: "list", Err: target.ErrTooLarge, Names: big.Encoded()},
				{Op: "list-scan-blobs"}, // over 4 MiB: not a manifest, skipped unread
			},
		},
		{
			Name: "1 GiB subject manifest",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.SparseFile(t, f.blobFile(f.Subject.Digest), 1<<30)
			},
			Ops: []treetest.HostileOp{
				{Op: "fetch", Err: target.ErrTooLarge, Names: "SUBJECTHEX"},
				{Op: "list", Err: target.ErrTooLarge, Names: "SUBJECTHEX"},
			},
		},
		{
			Name: "blob content does not match its name",
			Prep: func(t *testing.T, f *fixture, outside string) {
				treetest.WriteFile(t, f.blobFile(f.Subject.Digest), []byte(`{"schemaVersion":2,"subject":{"mediaType":"x","digest":"`+digest.FromString("a").String()+`","size":1}}`))
			},
			Ops: []treetest.HostileOp{
				{Op: "fetch", Err: target.ErrDigestMismatch, Names: "SUBJECTHEX"},
				{Op: "resolve", Arg: "SUBJECT"}, // index.json's entry answers
				{Op: "list", Err: target.ErrDigestMismatch, Names: "SUBJECTHEX"},
			},
		},
		{
			Name: "index child digest escapes",
			Prep: func(t *testing.T, f *fixture, outside string) {
				idx := f.PutBlob(t, ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":1}]}`))
				f.writeIndex(t, append(f.readIndex(t).Manifests, idx)...)
			},
			Ops: []treetest.HostileOp{{Op: "list", Err: target.ErrInvalidManifest, Names: "child 0"}},
		},
		{
			Name: "index.json is a directory",
			Prep: func(t *testing.T, f *fixture, outside string) {
				p := filepath.Join(f.Dir, "index.json")
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: tree.ErrUnsafePath, Names: "index.json"},
				{Op: "list", Err: tree.ErrUnsafePath, Names: "index.json"},
				{Op: "attach", Err: tree.ErrUnsafePath, Names: "index.json"},
			},
		},
		{
			Name: "index.json missing",
			Prep: func(t *testing.T, f *fixture, outside string) {
				if err := os.Remove(filepath.Join(f.Dir, "index.json")); err != nil {
					t.Fatal(err)
				}
			},
			Ops: []treetest.HostileOp{
				{Op: "resolve", Arg: "v1", Err: target.ErrNotFound, Names: "index.json"},
				{Op: "list", Err: target.ErrNotFound, Names: "index.json"},
				{Op: "attach", Err: target.ErrNotFound, Names: "index.json"},
			},
		},
	})
}
