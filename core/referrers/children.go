package referrers

import (
	"context"
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// childParallel bounds how many children of an index IncludeChildren lists
// at once (each listing may fan out in turn, up to WithParallel).
const childParallel = 4

// Child is a child manifest of an index subject and its referrers, listed
// with the subject's options (ListOptions.IncludeChildren).
type Child struct {
	// Descriptor is the child's entry in the index, platform included.
	Descriptor ocispec.Descriptor `json:"descriptor"`
	// Platform is os/arch[/variant], or "unknown" when the entry has none.
	Platform string `json:"platform"`
	// Mode, Referrers and Warnings are the child's listing, as in ListResult.
	Mode      Mode     `json:"mode"`
	Referrers []*Node  `json:"referrers"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Result is the child's listing as a ListResult (its subject is the child
// without its platform).
func (ch Child) Result() ListResult {
	d := ch.Descriptor
	return ListResult{Subject: ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size},
		Mode: ch.Mode, Referrers: ch.Referrers, Warnings: ch.Warnings}
}

// listChildren lists the referrers of each direct child of the index subject
// (image-spec v1.1.1, "Image Index": its manifests), with opts, at most
// childParallel at a time. The children come back in the index's order. An
// error on any child is the error of the whole listing (the first one met;
// it cancels the rest): never "no referrers" for that child.
func (c *Client) listChildren(ctx context.Context, t target.Target, subject ocispec.Descriptor, opts ListOptions) ([]Child, error) {
	idx, err := fetchIndex(ctx, t, subject)
	if err != nil {
		return nil, err
	}
	children := make([]Child, len(idx.Manifests))
	for i, m := range idx.Manifests {
		if err := m.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("index %s: child %d: %w: %w", subject.Digest, i, target.ErrInvalidManifest, err)
		}
		children[i] = Child{Descriptor: m, Platform: platformOrUnknown(m.Platform)}
	}
	err = fanOut(ctx, len(children), childParallel, func(ctx context.Context, i int) error {
		ch := &children[i]
		res, err := c.listOne(ctx, t, ch.Result().Subject, opts)
		if err != nil {
			return fmt.Errorf("child %s %s: %w", ch.Platform, ch.Descriptor.Digest, err)
		}
		ch.Mode, ch.Referrers, ch.Warnings = res.Mode, res.Referrers, res.Warnings
		return nil
	})
	return children, err
}

// fetchIndex fetches and decodes the image index desc.
func fetchIndex(ctx context.Context, t target.Target, desc ocispec.Descriptor) (ocispec.Index, error) {
	b, err := t.FetchManifest(ctx, desc)
	if err != nil {
		return ocispec.Index{}, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Index{}, fmt.Errorf("index %s: %w: %w", desc.Digest, target.ErrInvalidManifest, err)
	}
	return idx, nil
}

// platformName renders p as os/arch[/variant].
func platformName(p ocispec.Platform) string {
	if p.Variant != "" {
		return p.OS + "/" + p.Architecture + "/" + p.Variant
	}
	return p.OS + "/" + p.Architecture
}

// platformOrUnknown is platformName, or "unknown" when p is missing or has
// no os or architecture.
func platformOrUnknown(p *ocispec.Platform) string {
	if p == nil || p.OS == "" || p.Architecture == "" {
		return "unknown"
	}
	return platformName(*p)
}
