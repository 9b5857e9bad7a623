package layout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

var _ target.BlobReader = (*Layout)(nil)

// OpenBlob implements target.BlobReader: the blob file, verified against
// desc as it is read.
func (l *Layout) OpenBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	f, err := l.FetchBlob(desc.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: blob %s: %w", l.Name(), desc.Digest, target.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return target.VerifyBlob(f, desc), nil
}
