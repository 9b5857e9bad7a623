package referrers

import (
	"context"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// PlatformAll is the platform the front ends take for AttachOptions.AllPlatforms
// (`--platform all`, the Action's `platform: all`).
const PlatformAll = "all"

// PlatformChild is a child of an image index that AllPlatforms attaches to.
type PlatformChild struct {
	// Descriptor is the artifact's subject: the child's mediaType, digest and
	// size (no platform, no annotations).
	Descriptor ocispec.Descriptor
	// Platform is "os/arch[/variant]".
	Platform string
}

// SkippedChild is a child of an image index that AllPlatforms leaves out.
type SkippedChild struct {
	Digest string
	// Reason says why, e.g. "an attestation manifest (platform unknown/unknown)".
	Reason string
}

func (s SkippedChild) String() string { return s.Digest + ", " + s.Reason }

// PlatformChildren picks the children of idx that AllPlatforms attaches to:
// its image manifests with a platform (image-spec v1.1.1, "Image Index",
// platform), in the index's order. It does not descend into nested indexes.
// skipped says which children it leaves out and why, among them the
// attestation manifests buildx adds (platform unknown/unknown, or the
// annotation vnd.docker.reference.type).
func PlatformChildren(idx ocispec.Index) (children []PlatformChild, skipped []SkippedChild) {
	for _, m := range idx.Manifests {
		p := m.Platform
		why := ""
		switch {
		case IsIndex(m.MediaType):
			why = "an index: --platform all does not descend into nested indexes"
		case m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != target.MediaTypeDockerManifest:
			why = fmt.Sprintf("media type %q, not an image manifest", m.MediaType)
		case p != nil && p.OS == "unknown" && p.Architecture == "unknown":
			why = "an attestation manifest (platform unknown/unknown)"
		case m.Annotations["vnd.docker.reference.type"] == "attestation-manifest":
			why = "an attestation manifest (vnd.docker.reference.type)"
		case p == nil || p.OS == "" || p.Architecture == "":
			why = "without a platform"
		}
		if why != "" {
			skipped = append(skipped, SkippedChild{Digest: m.Digest.String(), Reason: why})
			continue
		}
		children = append(children, PlatformChild{
			Descriptor: ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size},
			Platform:   platformName(*p),
		})
	}
	return children, skipped
}

// PlatformError is the error of an AllPlatforms attach whose child failed.
// The children before it were attached (AttachResult.Platforms); those after
// it were not tried.
type PlatformError struct {
	// Child is the child that failed, and Result its attach as far as it
	// went (its Warnings).
	Child  PlatformChild
	Result AttachResult
	// NotTried are the children after it.
	NotTried []PlatformChild
	Err      error
}

func (e *PlatformError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "platform %s (%s): %v", e.Child.Platform, e.Child.Descriptor.Digest, e.Err)
	if len(e.NotTried) > 0 {
		b.WriteString("; not tried:")
		for i, ch := range e.NotTried {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, " %s (%s)", ch.Platform, ch.Descriptor.Digest)
		}
	}
	return b.String()
}

func (e *PlatformError) Unwrap() error { return e.Err }

// attachAll is Attach with AllPlatforms: a is attached to each platform image
// manifest of the index subject in turn, as its own referrer (the blobs are
// the same, and the target keeps one copy: the later children find them
// there). It stops at the first child that fails, with a *PlatformError.
func (c *Client) attachAll(ctx context.Context, t target.Target, subject ocispec.Descriptor, a Artifact, opts AttachOptions) (AttachResult, error) {
	res := AttachResult{Subject: subject}
	if !IsIndex(subject.MediaType) {
		return res, fmt.Errorf("%s is a single manifest (%s): %w", subject.Digest, subject.MediaType, ErrNotIndex)
	}
	idx, err := fetchIndex(ctx, t, subject)
	if err != nil {
		return res, err
	}
	children, skipped := PlatformChildren(idx)
	res.SkippedChildren = skipped
	if len(children) == 0 {
		return res, fmt.Errorf("the index %s has no image manifest with a platform to attach to", subject.Digest)
	}
	if opts.BeforePlatforms != nil {
		if err := opts.BeforePlatforms(children); err != nil {
			return res, err
		}
	}
	one := opts
	one.AllPlatforms, one.BeforePlatforms, one.AfterPlatform = false, nil, nil
	for i, ch := range children {
		r, err := c.Attach(ctx, t, ch.Descriptor, a, one)
		r.Platform = ch.Platform
		if err == nil && opts.AfterPlatform != nil {
			err = opts.AfterPlatform(i, r)
		}
		if err != nil {
			return res, &PlatformError{Child: ch, Result: r, NotTried: children[i+1:], Err: err}
		}
		res.Platforms = append(res.Platforms, r)
	}
	return res, nil
}
