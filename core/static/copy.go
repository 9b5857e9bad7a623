package static

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

var (
	_ target.BlobReader  = (*Tree)(nil)
	_ target.BlobMounter = (*Tree)(nil)
)

// OpenBlob implements target.BlobReader: the blob file, verified against
// desc as it is read.
func (t *Tree) OpenBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return target.OpenFileBlob(t.Name(), t.FetchBlob, desc)
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
