package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BlobReader is a Target whose blobs can be read: the source of a copy.
type BlobReader interface {
	// OpenBlob streams the blob desc names. The reader fails with
	// ErrDigestMismatch at its end when the content does not match desc's
	// digest and size; a missing blob is ErrNotFound.
	OpenBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// BlobMounter is a Target that can take a blob from another repository of
// the same store without moving its bytes (distribution-spec v1.1.1,
// "Mounting a blob from another repository").
type BlobMounter interface {
	// MountBlobFrom makes blob desc of from a blob of this repository. It
	// reports false, with no error, when it could not (another store, a
	// registry that started an upload instead): the caller copies the bytes.
	MountBlobFrom(ctx context.Context, from Target, desc ocispec.Descriptor) (bool, error)
}

// BlobStreamer is a Target that can store a blob whose digest is known only
// once its content has been read, so that a large file is read once, hashed
// as it is sent, instead of once to hash it and again to send it.
type BlobStreamer interface {
	// PushBlobStream stores the size bytes r yields and returns their digest
	// (of algorithm alg). ErrUnsupported means the store refused this way of
	// uploading before it stored anything: the caller hashes the content and
	// uses PushBlob.
	PushBlobStream(ctx context.Context, r io.Reader, size int64, alg digest.Algorithm) (digest.Digest, error)
}

// VerifyBlob wraps rc so that its reads fail with ErrDigestMismatch once the
// content turns out not to match desc: longer than desc.Size (as soon as it
// is), or of another size or digest (at the end).
func VerifyBlob(rc io.ReadCloser, desc ocispec.Descriptor) io.ReadCloser {
	alg := desc.Digest.Algorithm()
	if !alg.Available() {
		alg = digest.Canonical
	}
	return &verifiedBlob{rc: rc, want: desc, d: alg.Digester()}
}

type verifiedBlob struct {
	rc     io.ReadCloser
	want   ocispec.Descriptor
	d      digest.Digester
	n      int64
	failed error
}

func (v *verifiedBlob) Read(p []byte) (int, error) {
	if v.failed != nil {
		return 0, v.failed
	}
	n, err := v.rc.Read(p)
	v.n += int64(n)
	v.d.Hash().Write(p[:n])
	switch {
	case v.n > v.want.Size:
		v.failed = fmt.Errorf("content of %s is longer than %d bytes: %w", v.want.Digest, v.want.Size, ErrDigestMismatch)
		return n, v.failed
	case err == io.EOF && (v.n != v.want.Size || v.d.Digest() != v.want.Digest):
		v.failed = fmt.Errorf("content read for %s has digest %s and %d bytes: %w", v.want.Digest, v.d.Digest(), v.n, ErrDigestMismatch)
		return n, v.failed
	}
	return n, err
}

func (v *verifiedBlob) Close() error { return v.rc.Close() }

// OpenFileBlob is OpenBlob for a store that keeps blobs as files: open is the
// store's own blob open (store names it in errors); a missing file is
// ErrNotFound, and what is read is verified against desc.
func OpenFileBlob(store string, open func(digest.Digest) (fs.File, error), desc ocispec.Descriptor) (io.ReadCloser, error) {
	f, err := open(desc.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: blob %s: %w", store, desc.Digest, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return VerifyBlob(f, desc), nil
}
