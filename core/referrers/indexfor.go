package referrers

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// Indexer is a target that can build a referrers index by scanning what it
// stores (the on-disk trees: layout.Layout, static.Tree).
type Indexer interface {
	IndexFor(ctx context.Context, subject digest.Digest) (ocispec.Index, error)
}

// IndexFor builds the referrers index of subject by scanning the stored
// manifests' subject fields, ignoring any kept index (`referrers index-for`),
// which feeds a registry server's referrers endpoint. A target that cannot scan
// (a registry) gives target.ErrUnsupported.
func IndexFor(ctx context.Context, t target.Target, subject digest.Digest) (ocispec.Index, error) {
	ix, ok := t.(Indexer)
	if !ok {
		return ocispec.Index{}, fmt.Errorf("%s cannot be scanned (index-for reads on-disk trees; list a registry instead): %w", t.Name(), target.ErrUnsupported)
	}
	if err := subject.Validate(); err != nil {
		return ocispec.Index{}, fmt.Errorf("subject: %w", err)
	}
	return ix.IndexFor(ctx, subject)
}
