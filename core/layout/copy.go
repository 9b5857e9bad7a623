package layout

import (
	"context"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/target"
)

var _ target.BlobReader = (*Layout)(nil)

// OpenBlob implements target.BlobReader, the layout's one way to read a
// blob: the blob file (a regular file inside the layout; tree.Open),
// verified against desc as it is read.
func (l *Layout) OpenBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	p, err := BlobPath(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: blob: %w", l.Name(), err)
	}
	return tree.OpenBlob(l.Name(), l.fsys, p, desc)
}
