// Package tree holds what the on-disk stores (package layout, the OCI image
// layout; package static, the registry-v2 static tree) share: capped and
// verified reads through an fs.FS, atomic writes and an inter-process lock
// through an *os.Root, and the scanner that finds referrers among stored
// manifests.
//
// Safety: reads go through an fs.FS (in production the FS of an os.Root, which
// refuses paths and symlinks that leave the tree), every name is checked with
// fs.ValidPath (no "..", no absolute paths), files are capped before they are
// read, and every blob read back is verified against its digest. Writes go to a
// temporary file in the same directory, are synced, and renamed over the target,
// so a reader (or a crash, even kill -9) sees the old file or the new one,
// never half of one.
package tree

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"strconv"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
)

// ErrUnsafePath is returned for a name that could leave the tree or is not a
// plain file: "..", an absolute path, a symlink out of the tree, a directory
// where a file is expected.
var ErrUnsafePath = errors.New("unsafe path in tree")

// CheckPath refuses names that are not valid, unrooted, slash-separated paths
// inside the tree (fs.ValidPath: no "..", no "." elements, no leading slash).
func CheckPath(name string) error {
	if !fs.ValidPath(name) || name == "." {
		return fmt.Errorf("%w: %q", ErrUnsafePath, name)
	}
	return nil
}

// ReadFile reads name from fsys, refusing non-regular files and files larger
// than limit (target.ErrTooLarge) before reading them. A missing file is
// target.ErrNotFound.
func ReadFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	if err := CheckPath(name); err != nil {
		return nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, wrapOpen(name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (%s)", ErrUnsafePath, name, fi.Mode().Type())
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the %d byte limit: %w", name, fi.Size(), limit, target.ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s grew over the %d byte limit while read: %w", name, limit, target.ErrTooLarge)
	}
	return b, nil
}

// Open opens name of fsys to be streamed (a blob), refusing what is not a
// regular file, with Stat's errors: a missing file is target.ErrNotFound, a
// path or symlink that leaves the tree ErrUnsafePath.
func Open(fsys fs.FS, name string) (fs.File, error) {
	if err := CheckPath(name); err != nil {
		return nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, wrapOpen(name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file (%s)", ErrUnsafePath, name, fi.Mode().Type())
	}
	return f, nil
}

// OpenBlob is target.BlobReader's OpenBlob for an on-disk store: the blob
// file name of fsys, opened with Open and verified against desc as it is
// read (target.VerifyBlob: it can seek when the file can). Errors name store
// and the blob; a missing file is target.ErrNotFound.
func OpenBlob(store string, fsys fs.FS, name string, desc ocispec.Descriptor) (io.ReadCloser, error) {
	f, err := Open(fsys, name)
	if errors.Is(err, target.ErrNotFound) {
		err = target.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%s: blob %s: %w", store, desc.Digest, err)
	}
	return target.VerifyBlob(f, desc), nil
}

// ReadVerified reads name (at most limit bytes) and checks it against d.
func ReadVerified(fsys fs.FS, name string, d digest.Digest, limit int64) ([]byte, error) {
	b, err := ReadFile(fsys, name, limit)
	if err != nil {
		return nil, err
	}
	if got := d.Algorithm().FromBytes(b); got != d {
		return nil, fmt.Errorf("%s holds content of digest %s, not %s: %w", name, got, d, target.ErrDigestMismatch)
	}
	return b, nil
}

// Stat stats name in fsys: a missing file is target.ErrNotFound, a path or
// symlink that leaves the tree ErrUnsafePath.
func Stat(fsys fs.FS, name string) (fs.FileInfo, error) {
	if err := CheckPath(name); err != nil {
		return nil, err
	}
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, wrapOpen(name, err)
	}
	return fi, nil
}

// ReadDir lists the directory name of fsys, with Stat's errors.
func ReadDir(fsys fs.FS, name string) ([]fs.DirEntry, error) {
	if err := CheckPath(name); err != nil {
		return nil, err
	}
	ents, err := fs.ReadDir(fsys, name)
	if err != nil {
		return nil, wrapOpen(name, err)
	}
	return ents, nil
}

func wrapOpen(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", name, target.ErrNotFound)
	case isEscape(err):
		return fmt.Errorf("%w: %s: %v", ErrUnsafePath, name, err)
	}
	return fmt.Errorf("open %s: %w", name, err)
}

// isEscape reports the error an os.Root gives for a path or symlink that
// leaves it, however deep in the chain (MkdirAll nests two PathErrors).
func isEscape(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "path escapes from parent" {
			return true
		}
	}
	return false
}

// wrapWrite names what failed in a write, as ErrUnsafePath when the path or
// a symlink on it leaves the tree.
func wrapWrite(op, name string, err error) error {
	if isEscape(err) {
		return fmt.Errorf("%w: %s %s: %v", ErrUnsafePath, op, name, err)
	}
	return fmt.Errorf("%s %s: %w", op, name, err)
}

// WriteFile writes data to name in root atomically (temp file, fsync, rename,
// fsync of the directory), creating parent directories.
func WriteFile(root *os.Root, name string, data []byte) error {
	return writeAtomic(root, name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteBlob streams r into name in root atomically, verifying that it has
// desc's digest and size before the rename: nothing is left behind on a
// mismatch. A file already at name is kept (and r not read) when its size
// matches and, if it is at most target.MaxManifestBytes, its content too: a
// small file of the right size but the wrong content (written by someone
// else) is replaced; a large one is trusted on its size. A blob path that is
// a symlink out of the tree is ErrUnsafePath, as a read of it would be.
func WriteBlob(root *os.Root, name string, d digest.Digest, size int64, r io.Reader) error {
	fi, err := root.Stat(name)
	switch {
	case err == nil && fi.Mode().IsRegular() && fi.Size() == size:
		if size > target.MaxManifestBytes {
			return nil
		}
		if _, err := ReadVerified(root.FS(), name, d, size); err == nil {
			return nil
		}
	case err != nil && isEscape(err):
		return wrapWrite("write", name, err)
	}
	return writeAtomic(root, name, func(w io.Writer) error {
		v := d.Verifier()
		n, err := io.Copy(io.MultiWriter(w, v), io.LimitReader(r, size+1))
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("blob %s: got %d bytes, want %d: %w", d, n, size, target.ErrDigestMismatch)
		}
		if !v.Verified() {
			return fmt.Errorf("blob %s: content does not match the digest: %w", d, target.ErrDigestMismatch)
		}
		return nil
	})
}

func writeAtomic(root *os.Root, name string, fill func(io.Writer) error) (err error) {
	if err := CheckPath(name); err != nil {
		return err
	}
	dir := path.Dir(name)
	if dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return wrapWrite("create", dir, err)
		}
	}
	// A unique name, not a secret: O_EXCL refuses a collision.
	tmp := path.Join(dir, ".tmp-"+path.Base(name)+"-"+strconv.FormatUint(rand.Uint64(), 16))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return wrapWrite("create", tmp, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = root.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err = root.Rename(tmp, name); err != nil {
		return wrapWrite("rename into", name, err)
	}
	if d, err2 := root.Open(dir); err2 == nil {
		_ = d.Sync() // make the rename durable; best effort where directories cannot be synced
		d.Close()
	}
	return nil
}

// CheckManifest checks a manifest push to a tree before anything is written:
// the size cap, the digest against the bytes, the tag's grammar. It returns
// the referrers index entry for the manifest and its subject (nil if none).
func CheckManifest(desc ocispec.Descriptor, data []byte, tag string) (ocispec.Descriptor, *ocispec.Descriptor, error) {
	if int64(len(data)) > target.MaxManifestBytes {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest of %d bytes: %w", len(data), target.ErrTooLarge)
	}
	if err := desc.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if got := desc.Digest.Algorithm().FromBytes(data); got != desc.Digest {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest bytes have digest %s, not %s: %w", got, desc.Digest, target.ErrDigestMismatch)
	}
	if tag != "" && !ref.ValidTag(tag) {
		return ocispec.Descriptor{}, nil, fmt.Errorf("tag %q: %w", tag, ref.ErrInvalid)
	}
	return target.ParseReferrer(desc, data)
}

// Commit renames the file tmp over name in root (creating parent
// directories) and syncs the directory: tmp must be complete and synced.
func Commit(root *os.Root, tmp, name string) error {
	if err := CheckPath(tmp); err != nil {
		return err
	}
	if err := CheckPath(name); err != nil {
		return err
	}
	dir := path.Dir(name)
	if dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return wrapWrite("create", dir, err)
		}
	}
	if err := root.Rename(tmp, name); err != nil {
		return wrapWrite("rename into", name, err)
	}
	if d, err := root.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// LinkFile makes name a hard link to the regular file src, both in root,
// atomically (a link under a temporary name, then a rename). It fails where
// the file system has no hard links; the caller then copies.
func LinkFile(root *os.Root, src, name string) error {
	if err := CheckPath(src); err != nil {
		return err
	}
	if err := CheckPath(name); err != nil {
		return err
	}
	fi, err := root.Lstat(src)
	if err != nil {
		return wrapWrite("link", src, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrUnsafePath, src)
	}
	dir := path.Dir(name)
	if dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return wrapWrite("create", dir, err)
		}
	}
	tmp := path.Join(dir, ".tmp-"+path.Base(name)+"-"+strconv.FormatUint(rand.Uint64(), 16))
	if err := root.Link(src, tmp); err != nil {
		return wrapWrite("link", name, err)
	}
	return Commit(root, tmp, name)
}
