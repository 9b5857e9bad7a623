package layout

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

var _ target.BlobReader = (*Layout)(nil)

// OpenBlob implements target.BlobReader: the blob file, verified against
// desc as it is read.
func (l *Layout) OpenBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return target.OpenFileBlob(l.Name(), l.FetchBlob, desc)
}
