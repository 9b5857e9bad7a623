package referrers

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// ResolveListSubject is ResolveSubject for listing. A referrer may be pushed
// before its subject (distribution-spec v1.1.1, "Pushing Manifests with
// Subject"; image-spec v1.1.1, "subject"), and the Referrers API and the tag
// schema are both keyed by the subject's digest alone: so when reference is
// a digest whose manifest t does not hold and no platform is asked for, the
// subject is the bare descriptor {Digest} and missing is true (its media
// type is unknown: the caller treats it as no index). A tag, or a platform
// (which needs the index's manifest), must resolve.
func ResolveListSubject(ctx context.Context, t target.Target, reference, platform string) (desc ocispec.Descriptor, missing bool, err error) {
	desc, err = ResolveSubject(ctx, t, reference, platform)
	if err == nil || platform != "" || !errors.Is(err, target.ErrNotFound) {
		return desc, false, err
	}
	d, perr := digest.Parse(reference)
	if perr != nil {
		return desc, false, err
	}
	return ocispec.Descriptor{Digest: d}, true, nil
}
