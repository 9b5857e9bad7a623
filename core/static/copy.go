package static

import (
	"context"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/target"
)

var (
	_ target.BlobReader  = (*Tree)(nil)
	_ target.BlobMounter = (*Tree)(nil)
)

// OpenBlob implements target.BlobReader, the tree's one way to read a blob
// (for a copy and for `referrers serve`): the blob file (a regular file
// inside the tree; tree.Open), verified against desc as it is read,
// seekable for Range requests.
func (t *Tree) OpenBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	p, err := t.blobPath(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: blob: %w", t.Name(), err)
	}
	return tree.OpenBlob(t.Name(), t.fsys, p, desc)
}

// MountBlobFrom implements target.BlobMounter for a repository of the same
// tree (MountBlob: a hard link where the file system allows, else a verified
// copy). Another store is not mounted from.
func (t *Tree) MountBlobFrom(ctx context.Context, from target.Target, desc ocispec.Descriptor) (bool, error) {
	src, ok := from.(*Tree)
	if !ok || src.dir != t.dir || src.name == t.name {
		return false, nil
	}
	if err := t.MountBlob(src, desc.Digest); err != nil {
		return false, err
	}
	return true, nil
}
