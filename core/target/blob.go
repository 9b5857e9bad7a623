package target

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BlobReader is a Target whose blobs can be read: the source of a copy, and
// what `referrers serve` answers a blob GET from. Every store of this module
// implements it, and it is the only way they offer to read a blob.
type BlobReader interface {
	// OpenBlob streams the blob desc names. The reader fails with
	// ErrDigestMismatch at its end when the content does not match desc's
	// digest and size; a missing blob is ErrNotFound. A reader may also be
	// an io.Seeker (see VerifyBlob).
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
//
// When rc is an io.Seeker, so is the result (a server's Range requests): a
// seek back to the start verifies the next reading anew, and a seek
// anywhere else than where the reading is makes what follows a part of the
// blob, read as it is, since a part cannot be checked against the whole's
// digest.
func VerifyBlob(rc io.ReadCloser, desc ocispec.Descriptor) io.ReadCloser {
	alg := desc.Digest.Algorithm()
	if !alg.Available() {
		alg = digest.Canonical
	}
	v := &verifiedBlob{rc: rc, want: desc, alg: alg, d: alg.Digester()}
	if s, ok := rc.(io.Seeker); ok {
		return &seekableBlob{verifiedBlob: v, s: s}
	}
	return v
}

type verifiedBlob struct {
	rc     io.ReadCloser
	want   ocispec.Descriptor
	alg    digest.Algorithm
	d      digest.Digester
	n      int64
	failed error
	part   bool // after a seek away from the start: not verified
}

func (v *verifiedBlob) Read(p []byte) (int, error) {
	if v.part {
		return v.rc.Read(p)
	}
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

// seekableBlob is a verifiedBlob over an io.Seeker.
type seekableBlob struct {
	*verifiedBlob
	s io.Seeker
}

func (b *seekableBlob) Seek(offset int64, whence int) (int64, error) {
	pos, err := b.s.Seek(offset, whence)
	if err != nil || (!b.part && pos == b.n) {
		return pos, err // failed, or where the verified reading is
	}
	b.n, b.d, b.failed, b.part = 0, b.alg.Digester(), nil, pos != 0
	return pos, nil
}
