package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

var (
	_ target.BlobReader  = (*Repository)(nil)
	_ target.BlobMounter = (*Repository)(nil)
)

// MountBlobFrom implements target.BlobMounter with a cross-repository mount
// (distribution-spec v1.1.1, "Mounting a blob from another repository"): a
// POST with mount and from, which a registry answers 201 when it mounted the
// blob. from must be a repository of the same registry, reached the same way
// (else nothing is sent). A 202 is the registry starting an ordinary upload
// instead (the blob is not there, or the token does not grant pull on from):
// the session is left to expire, and the caller uploads the blob.
func (r *Repository) MountBlobFrom(ctx context.Context, from target.Target, desc ocispec.Descriptor) (bool, error) {
	src, ok := from.(*Repository)
	if !ok || src.host != r.host || src.client != r.client || src.name == r.name {
		return false, nil
	}
	q := url.Values{"mount": {desc.Digest.String()}, "from": {src.name}}
	rq := r.req(http.MethodPost, r.url("blobs/uploads/?"+q.Encode()), "pull", "push")
	rq.replayable = true
	resp, err := r.client.do(ctx, rq)
	if err != nil {
		return false, fmt.Errorf("mount blob %s from %s into %s: %w", desc.Digest, src.name, r.Name(), err)
	}
	if err := check(opUploadStart, resp, false); err != nil {
		return false, fmt.Errorf("mount blob %s from %s into %s: %w", desc.Digest, src.name, r.Name(), err)
	}
	drain(resp)
	return resp.StatusCode == http.StatusCreated, nil
}
