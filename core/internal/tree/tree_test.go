package tree

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// openRoot opens dir as an os.Root, closed when the test ends: the
// production path, where symlinks out of the tree are refused by the OS.
func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sparse makes a file of size bytes that takes no disk space.
func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// listDir returns every entry under dir (relative path -> size, or -1 for a
// directory, -2 for a symlink): what a failed write must leave as it was.
func listDir(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			out[rel] = -2
		case d.IsDir():
			out[rel] = -1
		default:
			fi, err := d.Info()
			if err != nil {
				return err
			}
			out[rel] = fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameListing(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCheckPath proves that only valid, unrooted, slash-separated names inside
// the tree pass (fs.ValidPath), and that every refusal is ErrUnsafePath.
func TestCheckPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"index.json", true},
		{"blobs/sha256/abc", true},
		{"v2/a/b/manifests/sha256:00", true},
		{".tmp-x", true},
		{"", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/../../x", false},
		{"a/./b", false},
		{"/etc/passwd", false},
		{"a//b", false},
		{"a/", false},
	} {
		err := CheckPath(tc.name)
		if tc.ok != (err == nil) {
			t.Errorf("CheckPath(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CheckPath(%q) = %v, not ErrUnsafePath", tc.name, err)
		}
	}
}

// TestReadFile proves the capped read through an os.Root: a regular file is
// read, and a missing file, a directory, a file over the cap (a sparse 1 GiB
// file, refused from its size without reading it), a symlink out of the tree
// and a name with ".." are each a clear error that wraps the right sentinel
// and names the file.
func TestReadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := t.TempDir()
	writeTestFile(t, filepath.Join(outside, "passwd"), []byte("root:x:0:0"))
	writeTestFile(t, filepath.Join(dir, "small"), []byte("hello"))
	writeTestFile(t, filepath.Join(dir, "sub", "inner"), []byte("inner"))
	sparse(t, filepath.Join(dir, "huge"), 1<<30)
	if err := os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+filepath.Base(outside)+"/passwd", filepath.Join(dir, "escape-rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/inner", filepath.Join(dir, "inside")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "outdir")); err != nil {
		t.Fatal(err)
	}
	fsys := openRoot(t, dir).FS()
	for _, tc := range []struct {
		name  string
		limit int64
		want  string
		err   error
	}{
		{"small", 5, "hello", nil},
		{"inside", 100, "inner", nil}, // a symlink that stays in the tree is followed
		{"small", 4, "", target.ErrTooLarge},
		{"huge", target.MaxManifestBytes, "", target.ErrTooLarge},
		{"missing", 100, "", target.ErrNotFound},
		{"sub", 100, "", ErrUnsafePath},
		{"escape", 100, "", ErrUnsafePath},
		{"escape-rel", 100, "", ErrUnsafePath},
		{"outdir/passwd", 100, "", ErrUnsafePath},
		{"../passwd", 100, "", ErrUnsafePath},
		{"/etc/passwd", 100, "", ErrUnsafePath},
	} {
		b, err := ReadFile(fsys, tc.name, tc.limit)
		if tc.err == nil {
			if err != nil || string(b) != tc.want {
				t.Errorf("ReadFile(%q) = %q, %v; want %q", tc.name, b, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("ReadFile(%q) = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if !strings.Contains(err.Error(), tc.name) {
			t.Errorf("ReadFile(%q): error %q does not name the file", tc.name, err)
		}
	}
}

// TestReadVerified proves that content is checked against the digest it is
// read by: a mismatch is ErrDigestMismatch and names the file.
func TestReadVerified(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "blob"), []byte("content"))
	fsys := openRoot(t, dir).FS()
	if b, err := ReadVerified(fsys, "blob", digest.FromString("content"), 100); err != nil || string(b) != "content" {
		t.Fatalf("ReadVerified = %q, %v", b, err)
	}
	_, err := ReadVerified(fsys, "blob", digest.FromString("other"), 100)
	if !errors.Is(err, target.ErrDigestMismatch) || !strings.Contains(err.Error(), "blob") {
		t.Fatalf("ReadVerified with the wrong digest = %v, want ErrDigestMismatch naming the file", err)
	}
}

// TestOpenBlob proves the on-disk stores' OpenBlob: Open's refusals
// (ReadFile's, without its cap), each naming the store and the blob, a
// missing file as target.ErrNotFound, and content verified as it is read.
func TestOpenBlob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := t.TempDir()
	writeTestFile(t, filepath.Join(outside, "passwd"), []byte("root:x:0:0"))
	writeTestFile(t, filepath.Join(dir, "blob"), []byte("content"))
	writeTestFile(t, filepath.Join(dir, "sub", "inner"), []byte("inner"))
	if err := os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	fsys := openRoot(t, dir).FS()
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString("content"), Size: 7}
	rc, err := OpenBlob("oci:dir", fsys, "blob", desc)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || string(b) != "content" {
		t.Errorf("read %q, %v", b, err)
	}
	rc.Close()
	other := desc
	other.Digest = digest.FromString("contenT")
	rc, err = OpenBlob("oci:dir", fsys, "blob", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, target.ErrDigestMismatch) {
		t.Errorf("read under another digest: %v, want ErrDigestMismatch", err)
	}
	rc.Close()
	for name, want := range map[string]error{"missing": target.ErrNotFound, "sub": ErrUnsafePath, "escape": ErrUnsafePath, "../blob": ErrUnsafePath} {
		_, err := OpenBlob("oci:dir", fsys, name, desc)
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "oci:dir") || !strings.Contains(err.Error(), desc.Digest.String()) {
			t.Errorf("OpenBlob(%q) = %v, want %v naming the store and the blob", name, err, want)
		}
	}
}

// TestStatReadDir proves that Stat and ReadDir map a missing name to
// target.ErrNotFound and a symlink out of the tree to ErrUnsafePath.
func TestStatReadDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "d", "f"), []byte("x"))
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	fsys := openRoot(t, dir).FS()
	if fi, err := Stat(fsys, "d/f"); err != nil || fi.Size() != 1 {
		t.Fatalf("Stat(d/f) = %v, %v", fi, err)
	}
	if ents, err := ReadDir(fsys, "d"); err != nil || len(ents) != 1 {
		t.Fatalf("ReadDir(d) = %v, %v", ents, err)
	}
	for name, want := range map[string]error{"nope": target.ErrNotFound, "out": ErrUnsafePath, "../x": ErrUnsafePath} {
		if _, err := Stat(fsys, name); !errors.Is(err, want) {
			t.Errorf("Stat(%q) = %v, want %v", name, err, want)
		}
		if _, err := ReadDir(fsys, name); !errors.Is(err, want) {
			t.Errorf("ReadDir(%q) = %v, want %v", name, err, want)
		}
	}
}

// TestWriteFile proves the atomic write: parents are created, an existing
// file is replaced, no temporary file is left, and a name or a directory
// symlink that leaves the tree is ErrUnsafePath with nothing written on
// either side.
func TestWriteFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := t.TempDir()
	root := openRoot(t, dir)
	if err := WriteFile(root, "a/b/c.json", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(root, "a/b/c.json", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a/b/c.json")); string(b) != "two" {
		t.Fatalf("content %q, want two", b)
	}
	if got := listDir(t, dir); !sameListing(got, map[string]int64{".": -1, "a": -1, "a/b": -1, "a/b/c.json": 3}) {
		t.Fatalf("tree after two writes: %v (a temporary file left?)", got)
	}

	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	before, beforeOut := listDir(t, dir), listDir(t, outside)
	for _, name := range []string{"out/x", "out/sub/x", "../x", "/abs"} {
		if err := WriteFile(root, name, []byte("x")); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("WriteFile(%q) = %v, want ErrUnsafePath", name, err)
		}
	}
	if !sameListing(before, listDir(t, dir)) || !sameListing(beforeOut, listDir(t, outside)) {
		t.Fatalf("a refused write changed a tree: %v / %v", listDir(t, dir), listDir(t, outside))
	}
}

// failReader fails the test if a blob that is already stored is read again.
type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("an existing, intact blob was read again")
	return 0, io.EOF
}

// TestWriteBlob proves the verified blob write: content that does not match
// the digest or the size is refused with ErrDigestMismatch and leaves nothing;
// an intact existing blob is kept without reading the source; a small blob of
// the right size but the wrong content (written by another tool) is replaced;
// a blob path symlinked out of the tree is ErrUnsafePath and the outside file
// is untouched.
func TestWriteBlob(t *testing.T) {
	t.Parallel()
	content := []byte("blob content")
	d := digest.FromBytes(content)
	for _, tc := range []struct {
		name   string
		prep   func(t *testing.T, dir, outside string)
		src    io.Reader
		size   int64
		err    error
		result string // the file's content after, "" for none
	}{
		{name: "new", src: bytes.NewReader(content), size: int64(len(content)), result: string(content)},
		{name: "wrong content", src: strings.NewReader("blob CONTENT"), size: int64(len(content)), err: target.ErrDigestMismatch},
		{name: "short", src: bytes.NewReader(content[:4]), size: int64(len(content)), err: target.ErrDigestMismatch},
		{name: "long", src: io.MultiReader(bytes.NewReader(content), strings.NewReader("tail")), size: int64(len(content)), err: target.ErrDigestMismatch},
		{name: "wrong size declared", src: bytes.NewReader(content), size: 3, err: target.ErrDigestMismatch},
		{
			name: "intact existing",
			prep: func(t *testing.T, dir, _ string) { writeTestFile(t, filepath.Join(dir, "blobs", "b"), content) },
			src:  nil, size: int64(len(content)), result: string(content), // nil: must not be read
		},
		{
			name: "corrupt existing of the same size",
			prep: func(t *testing.T, dir, _ string) {
				writeTestFile(t, filepath.Join(dir, "blobs", "b"), []byte("BLOB CONTENT"))
			},
			src: bytes.NewReader(content), size: int64(len(content)), result: string(content),
		},
		{
			name: "symlink out of the tree",
			prep: func(t *testing.T, dir, outside string) {
				writeTestFile(t, filepath.Join(outside, "target"), []byte("keep"))
				if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.Join(outside, "target"), filepath.Join(dir, "blobs", "b")); err != nil {
					t.Fatal(err)
				}
			},
			src: bytes.NewReader(content), size: int64(len(content)), err: ErrUnsafePath,
		},
		{
			name: "blobs dir symlinked out of the tree",
			prep: func(t *testing.T, dir, outside string) {
				if err := os.Symlink(outside, filepath.Join(dir, "blobs")); err != nil {
					t.Fatal(err)
				}
			},
			src: bytes.NewReader(content), size: int64(len(content)), err: ErrUnsafePath,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, outside := t.TempDir(), t.TempDir()
			if tc.prep != nil {
				tc.prep(t, dir, outside)
			} else if err := os.Mkdir(filepath.Join(dir, "blobs"), 0o755); err != nil {
				t.Fatal(err) // the stores' blob directories exist; a refused write may create a missing parent
			}
			root := openRoot(t, dir)
			before, beforeOut := listDir(t, dir), listDir(t, outside)
			src := tc.src
			if src == nil {
				src = failReader{t}
			}
			err := WriteBlob(root, "blobs/b", d, tc.size, src)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("WriteBlob = %v, want %v", err, tc.err)
				}
				if after := listDir(t, dir); !sameListing(before, after) {
					t.Fatalf("a refused blob changed the tree: %v -> %v", before, after)
				}
				if after := listDir(t, outside); !sameListing(beforeOut, after) {
					t.Fatalf("a refused blob changed the outside: %v -> %v", beforeOut, after)
				}
				if b, err := os.ReadFile(filepath.Join(outside, "target")); err == nil && string(b) != "keep" {
					t.Fatalf("the file outside was overwritten: %q", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "blobs", "b")); string(b) != tc.result {
				t.Fatalf("blob holds %q, want %q", b, tc.result)
			}
			if got := listDir(t, dir); len(got) != 3 {
				t.Fatalf("tree %v: want the blob and its directory only", got)
			}
		})
	}
}

// TestWriteBlobLargeTrusted proves the documented trade-off: an existing blob
// over target.MaxManifestBytes with the right size is trusted without being
// read again (it was verified when written; re-reading layers would double
// the I/O of every attach).
func TestWriteBlobLargeTrusted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	size := int64(target.MaxManifestBytes + 1)
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	sparse(t, filepath.Join(dir, "blobs", "big"), size)
	if err := WriteBlob(openRoot(t, dir), "blobs/big", digest.FromString("anything"), size, failReader{t}); err != nil {
		t.Fatal(err)
	}
}

// TestLock proves the inter-process lock on the open file description: a
// second Lock on its own open of the file (as another process has) waits and
// gives up with the context's error, and succeeds once the first is released;
// the lock name is checked like any path.
func TestLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r1, r2 := openRoot(t, dir), openRoot(t, dir)
	if unlock, err := Lock(context.Background(), r1, "sub/.lock"); err == nil {
		unlock()
		t.Fatal("Lock in a missing directory succeeded") // no MkdirAll: the stores lock in existing dirs
	}
	unlock, err := Lock(context.Background(), r1, ".lock")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if u, err := Lock(ctx, r2, ".lock"); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			u()
		}
		t.Fatalf("second Lock while held = %v, want context.DeadlineExceeded", err)
	}
	done := make(chan error, 1)
	go func() {
		u, err := Lock(context.Background(), r2, ".lock")
		if err == nil {
			u()
		}
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock did not get the lock after it was released")
	}
	if _, err := Lock(context.Background(), r1, "../.lock"); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("Lock(../.lock) = %v, want ErrUnsafePath", err)
	}
}
