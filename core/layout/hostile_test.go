package layout

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/core/tree"
)

// emptyDigest is the digest of "{}", the empty descriptor every attach pushes.
var emptyDigest = digest.FromString("{}")

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
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}

// hostileOp is one thing a user does to a hostile layout, and the error it
// must end with.
type hostileOp struct {
	op    string // open, resolve, fetch, list, list-scan-blobs, attach, attach-tag, fetch-tagged, push-tag
	arg   string // the reference, tag or digest the op uses ("SUBJECT": the subject's digest)
	err   error
	names string // a part of the message: the file at fault ("SUBJECTHEX": the subject's encoded digest)
}

// TestHostileLayout proves that a hostile layout ends each operation with a
// clear error (errors.Is the right sentinel, the message naming the file),
// never a panic, and that nothing is written, in the tree or outside it, even
// by an attach that fails: symlinks out of the tree (index.json, a blob, the
// blob directories, oci-layout) refused through os.OpenRoot; ../ in a tag;
// bad digests as blob names (with scan-blobs) and in index.json; a truncated
// index.json; a 1 GiB manifest (sparse) named by index.json, and a 1 GiB
// index.json (over the 64 MiB cap); a blob whose content does not match its
// name; index.json missing or a directory; an index whose child digest
// escapes.
func TestHostileLayout(t *testing.T) {
	t.Parallel()
	big := digest.FromString("pretends to be 1 GiB")
	for _, tc := range []struct {
		name string
		prep func(t *testing.T, f *fixture, outside string)
		ops  []hostileOp
	}{
		{
			name: "index.json symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, filepath.Join(outside, "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"))
				symlink(t, filepath.Join(outside, "passwd"), filepath.Join(f.dir, "index.json"))
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: tree.ErrUnsafePath, names: "index.json"},
				{op: "list", err: tree.ErrUnsafePath, names: "index.json"},
				{op: "attach", err: tree.ErrUnsafePath, names: "index.json"},
				{op: "attach-tag", err: tree.ErrUnsafePath, names: "index.json"},
			},
		},
		{
			name: "index.json symlinked out relatively",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, filepath.Join(outside, "index.json"), mustJSON(t, f.readIndex(t)))
				symlink(t, "../"+filepath.Base(outside)+"/index.json", filepath.Join(f.dir, "index.json"))
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: tree.ErrUnsafePath, names: "index.json"},
				{op: "list", err: tree.ErrUnsafePath, names: "index.json"},
				{op: "attach", err: tree.ErrUnsafePath, names: "index.json"},
			},
		},
		{
			name: "oci-layout symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, filepath.Join(outside, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
				symlink(t, filepath.Join(outside, "oci-layout"), filepath.Join(f.dir, "oci-layout"))
			},
			ops: []hostileOp{{op: "open", err: tree.ErrUnsafePath, names: "oci-layout"}},
		},
		{
			name: "subject manifest blob symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				p := f.blobFile(f.subject.Digest)
				b, _ := os.ReadFile(p)
				writeFile(t, filepath.Join(outside, "manifest"), b) // even the right content
				symlink(t, filepath.Join(outside, "manifest"), p)
			},
			ops: []hostileOp{
				{op: "fetch", err: tree.ErrUnsafePath, names: "blobs/sha256/"},
				{op: "list", err: tree.ErrUnsafePath, names: "blobs/sha256/"},
				{op: "list-scan-blobs", err: tree.ErrUnsafePath, names: "blobs/sha256/SUBJECTHEX"},
			},
		},
		{
			name: "empty blob symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, filepath.Join(outside, "secret"), []byte("{}"))
				if err := os.MkdirAll(filepath.Dir(f.blobFile(emptyDigest)), 0o755); err != nil {
					t.Fatal(err)
				}
				symlink(t, filepath.Join(outside, "secret"), f.blobFile(emptyDigest))
			},
			ops: []hostileOp{
				{op: "attach", err: tree.ErrUnsafePath, names: emptyDigest.Encoded()},
				{op: "attach-tag", err: tree.ErrUnsafePath, names: emptyDigest.Encoded()},
			},
		},
		{
			name: "blobs/sha256 symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				if err := os.Rename(filepath.Join(f.dir, "blobs", "sha256"), filepath.Join(outside, "sha256")); err != nil {
					t.Fatal(err)
				}
				symlink(t, filepath.Join(outside, "sha256"), filepath.Join(f.dir, "blobs", "sha256"))
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1"}, // index.json alone answers
				{op: "fetch", err: tree.ErrUnsafePath, names: "blobs/sha256/"},
				{op: "list", err: tree.ErrUnsafePath, names: "blobs/sha256/"},
				{op: "list-scan-blobs", err: tree.ErrUnsafePath, names: "blobs/sha256"},
				{op: "attach", err: tree.ErrUnsafePath, names: "blobs/sha256"},
			},
		},
		{
			name: "blobs symlinked out",
			prep: func(t *testing.T, f *fixture, outside string) {
				if err := os.Rename(filepath.Join(f.dir, "blobs"), filepath.Join(outside, "blobs")); err != nil {
					t.Fatal(err)
				}
				symlink(t, filepath.Join(outside, "blobs"), filepath.Join(f.dir, "blobs"))
			},
			ops: []hostileOp{
				{op: "fetch", err: tree.ErrUnsafePath, names: "blobs/sha256/"},
				{op: "list", err: tree.ErrUnsafePath, names: "blobs/sha256/"},
				{op: "list-scan-blobs", err: tree.ErrUnsafePath, names: "blobs"},
				{op: "attach", err: tree.ErrUnsafePath, names: "blobs"},
			},
		},
		{
			name: "../ in a tag",
			ops: []hostileOp{
				{op: "resolve", arg: "../x", err: ref.ErrInvalid, names: "../x"},
				{op: "resolve", arg: "../../../etc/passwd", err: ref.ErrInvalid, names: "../../../etc/passwd"},
				{op: "fetch-tagged", arg: "../x", err: ref.ErrInvalid, names: "../x"},
				{op: "push-tag", arg: "../x", err: ref.ErrInvalid, names: "../x"},
			},
		},
		{
			name: "bad digest as a blob name",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, filepath.Join(f.dir, "blobs", "sha256", "not-a-digest"), []byte(`{"subject":{}}`))
			},
			ops: []hostileOp{
				{op: "list"}, // index.json does not name it: only a blob scan meets it
				{op: "list-scan-blobs", err: tree.ErrUnsafePath, names: "blobs/sha256/not-a-digest"},
			},
		},
		{
			name: "upper-case digest as a blob name",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, filepath.Join(f.dir, "blobs", "sha256", strings.ToUpper(digest.FromString("x").Encoded())), []byte("x"))
			},
			ops: []hostileOp{{op: "list-scan-blobs", err: tree.ErrUnsafePath, names: strings.ToUpper(digest.FromString("x").Encoded())}},
		},
		{
			name: "bad digest in index.json",
			prep: func(t *testing.T, f *fixture, outside string) {
				f.writeIndex(t, f.subject, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:../../../etc/passwd", Size: 3})
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: target.ErrInvalidManifest, names: "index.json"},
				{op: "list", err: target.ErrInvalidManifest, names: "index.json"},
				{op: "attach", err: target.ErrInvalidManifest, names: "index.json"},
			},
		},
		{
			name: "truncated index.json",
			prep: func(t *testing.T, f *fixture, outside string) {
				b, _ := os.ReadFile(filepath.Join(f.dir, "index.json"))
				writeFile(t, filepath.Join(f.dir, "index.json"), b[:len(b)/2])
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: target.ErrInvalidManifest, names: "index.json"},
				{op: "list", err: target.ErrInvalidManifest, names: "index.json"},
				{op: "attach", err: target.ErrInvalidManifest, names: "index.json"},
				{op: "attach-tag", err: target.ErrInvalidManifest, names: "index.json"},
			},
		},
		{
			name: "1 GiB index.json",
			prep: func(t *testing.T, f *fixture, outside string) {
				sparseFile(t, filepath.Join(f.dir, "index.json"), 1<<30)
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: target.ErrTooLarge, names: "index.json"},
				{op: "resolve", arg: "SUBJECT"}, // a digest is resolved from its blob
				{op: "list", err: target.ErrTooLarge, names: "index.json"},
				{op: "attach", err: target.ErrTooLarge, names: "index.json"},
			},
		},
		{
			name: "1 GiB manifest named by index.json",
			prep: func(t *testing.T, f *fixture, outside string) {
				sparseFile(t, f.blobFile(big), 1<<30)
				f.writeIndex(t, append(f.readIndex(t).Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: big, Size: 1 << 30})...)
			},
			ops: []hostileOp{
				{op: "resolve", arg: big.String()}, // index.json's entry answers
				{op: "fetch", arg: big.String(), err: target.ErrTooLarge, names: big.Encoded()},
				{op: "list", err: target.ErrTooLarge, names: big.Encoded()},
				{op: "list-scan-blobs"}, // over 4 MiB: not a manifest, skipped unread
			},
		},
		{
			name: "1 GiB subject manifest",
			prep: func(t *testing.T, f *fixture, outside string) {
				sparseFile(t, f.blobFile(f.subject.Digest), 1<<30)
			},
			ops: []hostileOp{
				{op: "fetch", err: target.ErrTooLarge, names: "SUBJECTHEX"},
				{op: "list", err: target.ErrTooLarge, names: "SUBJECTHEX"},
			},
		},
		{
			name: "blob content does not match its name",
			prep: func(t *testing.T, f *fixture, outside string) {
				writeFile(t, f.blobFile(f.subject.Digest), []byte(`{"schemaVersion":2,"subject":{"mediaType":"x","digest":"`+digest.FromString("a").String()+`","size":1}}`))
			},
			ops: []hostileOp{
				{op: "fetch", err: target.ErrDigestMismatch, names: "SUBJECTHEX"},
				{op: "resolve", arg: "SUBJECT"}, // index.json's entry answers
				{op: "list", err: target.ErrDigestMismatch, names: "SUBJECTHEX"},
			},
		},
		{
			name: "index child digest escapes",
			prep: func(t *testing.T, f *fixture, outside string) {
				idx := f.putBlob(t, ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":1}]}`))
				f.writeIndex(t, append(f.readIndex(t).Manifests, idx)...)
			},
			ops: []hostileOp{{op: "list", err: target.ErrInvalidManifest, names: "child 0"}},
		},
		{
			name: "index.json is a directory",
			prep: func(t *testing.T, f *fixture, outside string) {
				p := filepath.Join(f.dir, "index.json")
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: tree.ErrUnsafePath, names: "index.json"},
				{op: "list", err: tree.ErrUnsafePath, names: "index.json"},
				{op: "attach", err: tree.ErrUnsafePath, names: "index.json"},
			},
		},
		{
			name: "index.json missing",
			prep: func(t *testing.T, f *fixture, outside string) {
				if err := os.Remove(filepath.Join(f.dir, "index.json")); err != nil {
					t.Fatal(err)
				}
			},
			ops: []hostileOp{
				{op: "resolve", arg: "v1", err: target.ErrNotFound, names: "index.json"},
				{op: "list", err: target.ErrNotFound, names: "index.json"},
				{op: "attach", err: target.ErrNotFound, names: "index.json"},
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
				if names := strings.ReplaceAll(op.names, "SUBJECTHEX", f.subject.Digest.Encoded()); !strings.Contains(err.Error(), names) {
					t.Errorf("%s %s: error %q does not name %q", op.op, arg, err, names)
				}
			}
			sameTree(t, "the operations on a hostile layout", before, hashTree(t, f.dir))
			sameTree(t, "the operations on a hostile layout (outside)", beforeOut, hashTree(t, outside))
		})
	}
}

func runHostileOp(ctx context.Context, t *testing.T, f *fixture, op, arg string) error {
	switch op {
	case "open":
		l, err := Open(f.dir)
		if err == nil {
			l.Close()
		}
		return err
	}
	opts := []Option{}
	if op == "list-scan-blobs" {
		opts = append(opts, WithScanBlobs(true))
	}
	l, err := Open(f.dir, opts...)
	if err != nil {
		return err
	}
	defer l.Close()
	c := referrers.New()
	switch op {
	case "resolve":
		_, err = l.Resolve(ctx, arg)
		if err == nil {
			_, err = referrers.ResolveSubject(ctx, l, arg, "")
		}
		return err
	case "fetch":
		desc := f.subject
		if arg != "" {
			desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(arg), Size: 1 << 30}
		}
		_, err = l.FetchManifest(ctx, desc)
		return err
	case "list", "list-scan-blobs":
		_, err = c.List(ctx, l, f.subject, referrers.ListOptions{})
		return err
	case "attach":
		_, err = c.Attach(ctx, l, f.subject, artifact(typeSBOM, "hostile attach"), referrers.AttachOptions{})
		return err
	case "attach-tag":
		_, err = c.Attach(ctx, l, f.subject, artifact(typeSBOM, "hostile attach by tag"), referrers.AttachOptions{Mode: referrers.ModeTag})
		return err
	case "fetch-tagged":
		_, err = l.FetchTagged(ctx, arg)
		return err
	case "push-tag":
		b := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
		_, err = l.PushManifest(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}, b, target.PushOptions{Tag: arg})
		return err
	}
	t.Fatalf("unknown op %q", op)
	return nil
}
