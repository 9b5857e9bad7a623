package static

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/core/tree"
)

func sparseFile(t *testing.T, path string, size int64) {
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

func symlink(t *testing.T, oldname, newname string) {
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

// moveOut moves a directory of the repository outside and leaves a symlink.
func moveOut(t *testing.T, f *fixture, outside, name string) {
	t.Helper()
	if err := os.MkdirAll(f.repo(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.repo(name), filepath.Join(outside, name)); err != nil {
		t.Fatal(err)
	}
	symlink(t, filepath.Join(outside, name), f.repo(name))
}

// freshFile writes a referrers file dated in the future, so that it is
// trusted without a scan.
func freshFile(t *testing.T, path string, b []byte) {
	t.Helper()
	writeFile(t, path, b)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
}

type hostileOp struct {
	op    string // resolve, fetch, fetch-tagged, push-tag, list, attach, index-all
	arg   string // "SUBJECT": the subject's digest
	err   error
	names string // part of the message ("SUBJECT": the subject's digest)
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
// tag, sidecar, referrers file or marker is written.
func TestHostileStatic(t *testing.T) {
	t.Parallel()
	big := digest.FromString("pretends to be 1 GiB")
	for _, tc := range []struct {
		name string
		prep func(t *testing.T, f *fixture, outside string)
		ops  []hostileOp
	}{
		{
			name: "tag file symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				b, _ := os.ReadFile(f.repo("manifests", "v1"))
				writeFile(t, filepath.Join(outside, "m"), b)
				symlink(t, filepath.Join(outside, "m"), f.repo("manifests", "v1"))
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: tree.ErrUnsafePath, names: "manifests/v1"},
				{op: "fetch-tagged", arg: "v1", err: tree.ErrUnsafePath, names: "manifests/v1"},
				{op: "push-tag", arg: "v1", err: tree.ErrUnsafePath, names: "manifests/v1"},
				{op: "list"}, // tags are not scanned
			},
		},
		{
			name: "sidecar symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, filepath.Join(outside, "passwd"), []byte("root:x:0:0"))
				symlink(t, filepath.Join(outside, "passwd"), f.repo("manifests", "v1.mediatype"))
			},
			ops: []hostileOp{{op: "resolve", arg: "v1", err: tree.ErrUnsafePath, names: "v1.mediatype"}},
		},
		{
			name: "subject manifest symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				b, _ := os.ReadFile(f.repo("manifests", f.subject.Digest.String()))
				writeFile(t, filepath.Join(outside, "m"), b)
				symlink(t, filepath.Join(outside, "m"), f.repo("manifests", f.subject.Digest.String()))
			},
			ops: []hostileOp{
				{op: "resolve", arg: "SUBJECT", err: tree.ErrUnsafePath, names: "SUBJECT"},
				{op: "fetch", err: tree.ErrUnsafePath, names: "SUBJECT"},
				{op: "list", err: tree.ErrUnsafePath, names: "SUBJECT"},
				{op: "attach", err: tree.ErrUnsafePath, names: "SUBJECT"},
				{op: "index-all", err: tree.ErrUnsafePath, names: "SUBJECT"},
			},
		},
		{
			name: "blobs symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) { moveOut(t, f, outside, "blobs") },
			ops: []hostileOp{
				{op: "resolve", arg: "v1"},
				{op: "attach", err: tree.ErrUnsafePath, names: "blobs"},
				{op: "attach-tag", err: tree.ErrUnsafePath, names: "blobs"},
			},
		},
		{
			name: "manifests symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) { moveOut(t, f, outside, "manifests") },
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: tree.ErrUnsafePath, names: "manifests/v1"},
				{op: "list", err: tree.ErrUnsafePath, names: "manifests"},
				{op: "attach", err: tree.ErrUnsafePath, names: "manifests"},
				{op: "index-all", err: tree.ErrUnsafePath, names: "manifests"},
			},
		},
		{
			name: "referrers symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				moveOut(t, f, outside, "referrers")
				freshFile(t, filepath.Join(outside, "referrers", f.subject.Digest.String()), mustJSON(t, target.NewIndex(nil)))
			},
			ops: []hostileOp{
				{op: "list", err: tree.ErrUnsafePath, names: "referrers/SUBJECT"},
				{op: "attach", err: tree.ErrUnsafePath, names: "referrers/SUBJECT"},
				{op: "index-all", err: tree.ErrUnsafePath, names: "referrers"},
			},
		},
		{
			name: "../ in a tag",
			ops: []hostileOp{
				{op: "resolve", arg: "../../x", err: ref.ErrInvalid, names: "../../x"},
				{op: "resolve", arg: "../../../../etc/passwd", err: ref.ErrInvalid, names: "../../../../etc/passwd"},
				{op: "fetch-tagged", arg: "../../x", err: ref.ErrInvalid, names: "../../x"},
				{op: "push-tag", arg: "../../x", err: ref.ErrInvalid, names: "../../x"},
			},
		},
		{
			name: "bad digest as a manifest name",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, f.repo("manifests", "sha256:not-a-digest"), []byte(`{"subject":{}}`))
			},
			ops: []hostileOp{
				{op: "list", err: tree.ErrUnsafePath, names: "manifests/sha256:not-a-digest"},
				{op: "attach", err: tree.ErrUnsafePath, names: "manifests/sha256:not-a-digest"},
				{op: "index-all", err: tree.ErrUnsafePath, names: "manifests/sha256:not-a-digest"},
			},
		},
		{
			name: "upper-case and unknown-algorithm digest names",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, f.repo("manifests", "sha256:"+strings.ToUpper(digest.FromString("x").Encoded())), []byte("x"))
				writeFile(t, f.repo("manifests", "md5:d41d8cd98f00b204e9800998ecf8427e"), []byte("x"))
			},
			ops: []hostileOp{
				{op: "list", err: tree.ErrUnsafePath, names: "manifests/"},
				{op: "index-all", err: tree.ErrUnsafePath, names: "manifests/"},
			},
		},
		{
			name: "1 GiB manifest under a digest name",
			prep: func(t *testing.T, f *fixture, outside string) {
				sparseFile(t, f.repo("manifests", big.String()), 1<<30)
			},
			ops: []hostileOp{
				{op: "resolve", arg: big.String(), err: target.ErrTooLarge, names: big.String()},
				{op: "list", err: target.ErrTooLarge, names: big.String()},
				{op: "attach", err: target.ErrTooLarge, names: big.String()},
				{op: "index-all", err: target.ErrTooLarge, names: big.String()},
			},
		},
		{
			name: "1 GiB tag",
			prep: func(t *testing.T, f *fixture, outside string) { sparseFile(t, f.repo("manifests", "v1"), 1<<30) },
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: target.ErrTooLarge, names: "manifests/v1"},
				{op: "fetch-tagged", arg: "v1", err: target.ErrTooLarge, names: "manifests/v1"},
			},
		},
		{
			name: "1 GiB sidecar",
			prep: func(t *testing.T, f *fixture, outside string) {
				sparseFile(t, f.repo("manifests", "v1.mediatype"), 1<<30)
			},
			ops: []hostileOp{{op: "resolve", arg: "v1", err: target.ErrTooLarge, names: "v1.mediatype"}},
		},
		{
			name: "manifest content does not match its name",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, f.repo("manifests", f.subject.Digest.String()), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`))
			},
			ops: []hostileOp{
				{op: "resolve", arg: "SUBJECT", err: target.ErrDigestMismatch, names: "SUBJECT"},
				{op: "fetch", err: target.ErrDigestMismatch, names: "SUBJECT"},
				{op: "list", err: target.ErrDigestMismatch, names: "SUBJECT"},
				{op: "attach", err: target.ErrDigestMismatch, names: "SUBJECT"},
				{op: "index-all", err: target.ErrDigestMismatch, names: "SUBJECT"},
			},
		},
		{
			name: "corrupt referrers file",
			prep: func(t *testing.T, f *fixture, outside string) {
				freshFile(t, f.repo("referrers", f.subject.Digest.String()), []byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:../../x"`))
			},
			ops: []hostileOp{
				{op: "list", err: target.ErrInvalidManifest, names: "referrers index of SUBJECT"},
				{op: "attach", err: target.ErrInvalidManifest, names: "referrers index of SUBJECT"},
			},
		},
		{
			name: "1 GiB referrers file",
			prep: func(t *testing.T, f *fixture, outside string) {
				p := f.repo("referrers", f.subject.Digest.String())
				sparseFile(t, p, 1<<30)
				future := time.Now().Add(time.Hour)
				if err := os.Chtimes(p, future, future); err != nil {
					t.Fatal(err)
				}
			},
			ops: []hostileOp{
				{op: "list", err: target.ErrTooLarge, names: "SUBJECT"},
				{op: "attach", err: target.ErrTooLarge, names: "SUBJECT"},
			},
		},
		{
			name: "no such repository",
			prep: func(t *testing.T, f *fixture, outside string) {
				if err := os.RemoveAll(f.repo("manifests")); err != nil {
					t.Fatal(err)
				}
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: target.ErrNotFound, names: "v1"},
				{op: "list", err: target.ErrNotFound, names: "manifests"},
				{op: "index-all", err: target.ErrNotFound, names: "manifests"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			outside := t.TempDir()
			if tc.prep != nil {
				tc.prep(t, f, outside)
			}
			before, beforeOut := hashTree(t, f.dir), hashTree(t, outside)
			ctx := context.Background()
			attached := false
			for _, op := range tc.ops {
				arg := strings.ReplaceAll(op.arg, "SUBJECT", f.subject.Digest.String())
				var err error
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("%s %s: panic: %v", op.op, arg, p)
						}
					}()
					err = runHostileOp(ctx, t, f, op.op, arg)
				}()
				attached = attached || strings.HasPrefix(op.op, "attach")
				if op.err == nil {
					if err != nil {
						t.Errorf("%s %s: %v, want success", op.op, arg, err)
					}
					continue
				}
				if !errors.Is(err, op.err) {
					t.Errorf("%s %s: %v, want %v", op.op, arg, err, op.err)
					continue
				}
				if names := strings.ReplaceAll(op.names, "SUBJECT", f.subject.Digest.String()); !strings.Contains(err.Error(), names) {
					t.Errorf("%s %s: error %q does not name %q", op.op, arg, err, names)
				}
			}
			sameTree(t, "the operations on a hostile tree (outside)", beforeOut, hashTree(t, outside))
			var bad []string
			for _, d := range treeDiff(before, hashTree(t, f.dir)) {
				if d != "added "+filepath.Join("v2", "library", "app", lockName) && (!attached || !allowedAfterFailedAttach(t, f, d)) {
					bad = append(bad, d)
				}
			}
			if len(bad) > 0 {
				t.Fatalf("the operations on a hostile tree wrote: %s", strings.Join(bad, ", "))
			}
		})
	}
}

// allowedAfterFailedAttach reports whether a change is a new blob whose
// content matches its digest name (see TestHostileStatic).
func allowedAfterFailedAttach(t *testing.T, f *fixture, change string) bool {
	rel, ok := strings.CutPrefix(change, "added ")
	if !ok {
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
	b, err := os.ReadFile(filepath.Join(f.dir, rel))
	return err == nil && d.Algorithm().FromBytes(b) == d
}

func runHostileOp(ctx context.Context, t *testing.T, f *fixture, op, arg string) error {
	tr, err := Open(f.dir, repoName)
	if err != nil {
		return err
	}
	defer tr.Close()
	c := referrers.New()
	switch op {
	case "resolve":
		if _, err := tr.Resolve(ctx, arg); err != nil {
			return err
		}
		_, err = referrers.ResolveSubject(ctx, tr, arg, "")
		return err
	case "fetch":
		_, err = tr.FetchManifest(ctx, f.subject)
		return err
	case "fetch-tagged":
		_, err = tr.FetchTagged(ctx, arg)
		return err
	case "push-tag":
		b := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
		_, err = tr.PushManifest(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}, b, target.PushOptions{Tag: arg, IfNoneMatch: true})
		return err
	case "list":
		_, err = c.List(ctx, tr, f.subject, referrers.ListOptions{})
		return err
	case "attach":
		_, err = c.Attach(ctx, tr, f.subject, artifact(typeSBOM, "hostile attach"), referrers.AttachOptions{})
		return err
	case "attach-tag":
		_, err = c.Attach(ctx, tr, f.subject, artifact(typeSBOM, "hostile attach by tag"), referrers.AttachOptions{Mode: referrers.ModeTag})
		return err
	case "index-all":
		_, err = tr.IndexForAll(ctx, true)
		return err
	}
	t.Fatalf("unknown op %q", op)
	return nil
}
