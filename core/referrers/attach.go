package referrers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// AttachOptions qualify Attach.
type AttachOptions struct {
	// Mode: auto (default), api or tag.
	Mode Mode
	// GCFallbackIndex deletes the superseded tag schema index after an update
	// (off by default: it needs delete permission; distribution-spec v1.1.1, Referrers Tag Schema).
	GCFallbackIndex bool
	// SkipIfExists makes Attach push nothing when the subject already has a
	// referrer with the same artifactType, config and layers (by digest), even if
	// its annotations differ (a timestamp, another tool): the idempotency key of
	// a CI step that may run twice.
	SkipIfExists bool

	// AllPlatforms attaches the artifact not to the subject, which must be an
	// image index (else ErrNotIndex), but to each of its platform image
	// manifests in turn (PlatformChildren says which), in the index's order,
	// each as its own referrer with these options. The result lists each
	// child's attach in Platforms. The first child that fails stops the
	// attach with a *PlatformError; the children before it stay attached.
	AllPlatforms bool
	// BeforePlatforms, with AllPlatforms, is called with the children to
	// attach to before anything is pushed; its error is Attach's, and then
	// nothing is pushed (a front end checks that it can record each child's
	// result).
	BeforePlatforms func(children []PlatformChild) error
	// AfterPlatform, with AllPlatforms, is called with each child's result
	// once it is attached (i is its index in the children BeforePlatforms
	// is given); its error is that child's error (the children after it are
	// not tried).
	AfterPlatform func(i int, res AttachResult) error
}

// AttachResult reports an attach.
type AttachResult struct {
	// Descriptor of the artifact's manifest.
	Descriptor ocispec.Descriptor
	// Manifest is its exact bytes.
	Manifest []byte
	// Subject the artifact refers to.
	Subject ocispec.Descriptor
	// Mode actually used: ModeAPI or ModeTag.
	Mode Mode
	// FallbackTag is the tag schema tag that was updated (ModeTag only).
	FallbackTag string
	// Warnings are problems that did not fail the attach.
	Warnings []string
	// Skipped is true when SkipIfExists found an equivalent referrer, which
	// Descriptor then describes; nothing was pushed.
	Skipped bool

	// Platform is the os/arch[/variant] of the child this result is for (an
	// element of Platforms), "" otherwise.
	Platform string
	// Platforms are, with AllPlatforms, the attaches to the index's children,
	// in the index's order; of the fields above, only Subject (the index) is
	// set then.
	Platforms []AttachResult
	// SkippedChildren are, with AllPlatforms, the index's children left out.
	SkippedChildren []SkippedChild
}

// Attach packs a for subject, pushes its blobs and manifest to t, and makes sure
// the referrer can be listed: by the target's Referrers API when it recorded the
// subject (confirmed once per repository, since registries have sent OCI-Subject
// without serving the API: distribution-spec v1.1.1, Pushing Manifests with Subject), else by updating the referrers tag
// schema index (distribution-spec v1.1.1, Pushing Manifests with Subject and Referrers Tag Schema). With AllPlatforms, it does so for each
// platform child of the index subject.
func (c *Client) Attach(ctx context.Context, t target.Target, subject ocispec.Descriptor, a Artifact, opts AttachOptions) (AttachResult, error) {
	mode, err := ParseMode(string(opts.Mode))
	if err != nil {
		return AttachResult{}, err
	}
	if opts.AllPlatforms {
		if err := subject.Digest.Validate(); err != nil {
			return AttachResult{}, fmt.Errorf("subject: %w", err)
		}
		return c.attachAll(ctx, t, subject, a, opts)
	}
	if err := subject.Digest.Validate(); err != nil {
		return AttachResult{}, fmt.Errorf("subject: %w", err)
	}
	var streamed map[digest.Digest]bool
	if !opts.SkipIfExists {
		// a large file is sent as it is hashed (its digest is needed for
		// the manifest, not to send it), once the artifact is known good
		if _, _, _, err := a.parts(); err != nil {
			return AttachResult{}, err
		}
		if streamed, err = c.streamBlobs(ctx, t, &a); err != nil {
			return AttachResult{}, err
		}
	}
	data, desc, blobs, err := Pack(subject, a)
	if err != nil {
		return AttachResult{}, err
	}
	res := AttachResult{Descriptor: desc, Manifest: data, Subject: subject}
	if opts.SkipIfExists {
		found, used, err := c.findEquivalent(ctx, t, subject, mode, data)
		if err != nil {
			return res, fmt.Errorf("look for an existing equivalent referrer: %w", err)
		}
		if found != nil {
			res.Descriptor, res.Manifest, res.Mode, res.Skipped = found.desc, found.data, used, true
			if used == ModeTag {
				res.FallbackTag = FallbackTag(subject.Digest)
			}
			return res, nil
		}
	}
	// to a registry the blobs (the config and the layers not streamed
	// already) go up at the same time: it takes them in any order, and only
	// the manifest must wait for all of them (distribution-spec v1.1.1,
	// Pushing Manifests: its blobs must exist first); a tree writes them one
	// by one (target.Remote)
	limit := 1
	if r, ok := t.(target.Remote); ok && r.Remote() {
		limit = c.parallel
	}
	var todo []Blob
	for _, b := range blobs {
		if !streamed[b.Descriptor.Digest] {
			todo = append(todo, b)
		}
	}
	if err := fanOut(ctx, len(todo), limit, func(ctx context.Context, i int) error {
		return pushBlob(ctx, t, todo[i])
	}); err != nil {
		return res, err
	}
	pushed, err := t.PushManifest(ctx, desc, data, target.PushOptions{})
	if err != nil {
		return res, err
	}

	used, warnings, err := c.recordMode(ctx, t, subject.Digest, a.ArtifactType, mode, pushed)
	res.Mode = used
	res.Warnings = append(res.Warnings, warnings...)
	if err != nil {
		return res, fmt.Errorf("artifact %s pushed, but checking the Referrers API failed: %w", desc.Digest, err)
	}
	if used != ModeTag {
		return res, nil
	}
	entry, err := EntryFor(desc, data)
	if err != nil {
		return res, err
	}
	upd, err := c.updateFallback(ctx, t, subject.Digest, entry, opts.GCFallbackIndex)
	res.FallbackTag = upd.tag
	res.Warnings = append(res.Warnings, upd.warnings...)
	if err != nil {
		return res, fmt.Errorf("artifact %s pushed, but the referrers tag %s was not updated: %w", desc.Digest, upd.tag, err)
	}
	return res, nil
}

// recordMode decides how a referrer of subject that was just pushed to t
// (pushed is the store's answer) gets listed: ModeIndex when the store
// records referrers itself (a tree), ModeAPI when the Referrers API lists it
// (asked for, or the store sent OCI-Subject and the API is confirmed once per
// repository), else ModeTag: the caller then updates the referrers tag
// schema index (distribution-spec v1.1.1, "Pushing Manifests with Subject":
// a client that gets no OCI-Subject header MUST). artifactType keeps the
// confirming request small.
func (c *Client) recordMode(ctx context.Context, t target.Target, subject digest.Digest, artifactType string, mode Mode, pushed target.PushResult) (Mode, []string, error) {
	switch mode {
	case ModeAPI:
		if !pushed.SubjectRecorded {
			return ModeAPI, []string{"the registry did not confirm the subject (no OCI-Subject header); the referrer may not be listed by its Referrers API"}, nil
		}
		return ModeAPI, nil, nil
	case ModeAuto:
		if pushed.Indexed {
			// A tree records the referrer itself (an index.json entry, a
			// pre-rendered index): nothing to confirm or fall back to.
			return ModeIndex, nil, nil
		}
		if pushed.SubjectRecorded {
			useAPI, err := c.confirmAPI(ctx, t, subject, artifactType)
			if err != nil {
				return "", nil, err
			}
			if useAPI {
				return ModeAPI, nil, nil
			}
		}
	}
	return ModeTag, nil, nil
}

func pushBlob(ctx context.Context, t target.Target, b Blob) error {
	rc, err := b.Open()
	if err != nil {
		return fmt.Errorf("open blob %s: %w", b.Descriptor.Digest, err)
	}
	defer rc.Close()
	d := b.Descriptor
	d.Data = nil
	return t.PushBlob(ctx, d, rc)
}

// streamBlobs uploads each blob of a whose digest is not known yet (a large
// file, see FileBlob) to t in one read of its content, hashing it as it is
// sent, when t can take a blob of unknown digest (target.BlobStreamer), and
// records the digests in a's blobs (a gets its own Layers and Config). It
// returns the digests it pushed. A store that refuses such an upload gets
// the blob whole later: Pack hashes it and pushBlob sends it.
func (c *Client) streamBlobs(ctx context.Context, t target.Target, a *Artifact) (map[digest.Digest]bool, error) {
	bs, ok := t.(target.BlobStreamer)
	if !ok {
		return nil, nil
	}
	pushed := map[digest.Digest]bool{}
	one := func(b *Blob) error {
		if b.lazy == nil || b.Descriptor.Digest != "" {
			return nil
		}
		b.lazy.mu.Lock()
		defer b.lazy.mu.Unlock()
		if b.lazy.d == "" {
			rc, err := b.Open()
			if err != nil {
				return err
			}
			d, err := bs.PushBlobStream(ctx, rc, b.Descriptor.Size, digest.Canonical)
			rc.Close()
			if errors.Is(err, target.ErrUnsupported) {
				c.logf("%s: the registry refused a chunked upload (%v): hashing the file, then uploading it whole", t.Name(), err)
				return nil
			}
			if err != nil {
				return err
			}
			b.lazy.d = d
			pushed[d] = true
		}
		b.Descriptor.Digest = b.lazy.d
		return nil
	}
	a.Layers = append([]Blob(nil), a.Layers...)
	for i := range a.Layers {
		if err := one(&a.Layers[i]); err != nil {
			return nil, err
		}
	}
	if a.Config != nil {
		cfg := *a.Config
		if err := one(&cfg); err != nil {
			return nil, err
		}
		a.Config = &cfg
	}
	return pushed, nil
}

// confirmAPI decides, once per repository, whether the Referrers API is there.
// It asks for the referrers of the subject (filtered to the new artifact's type
// to keep the answer small): only target.ErrUnsupported means "no API".
func (c *Client) confirmAPI(ctx context.Context, t target.Target, subject digest.Digest, artifactType string) (bool, error) {
	switch c.repo(t.Name()).cap {
	case capAPI:
		return true, nil
	case capNoAPI:
		return false, nil
	}
	_, err := t.Referrers(ctx, subject, artifactType)
	switch {
	case err == nil:
		c.logf("%s: the Referrers API answered: using it", t.Name())
		c.setRepo(t.Name(), func(r *repoState) { r.cap = capAPI })
		return true, nil
	case errors.Is(err, target.ErrUnsupported):
		c.logf("%s: sent OCI-Subject but has no Referrers API (%v): using the referrers tag", t.Name(), err)
		c.setRepo(t.Name(), func(r *repoState) { r.cap = capNoAPI })
		return false, nil
	}
	return false, err
}

// ResolveSubject resolves reference (a tag or digest) in t to the subject's
// exact descriptor (image-spec v1.1.1, Guidelines for Artifact Usage). With platform ("os/arch[/variant]"), an index
// is replaced by its child for that platform.
func ResolveSubject(ctx context.Context, t target.Target, reference, platform string) (ocispec.Descriptor, error) {
	desc, err := t.Resolve(ctx, reference)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if platform == "" {
		return desc, nil
	}
	want, err := ParsePlatform(platform)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if !IsIndex(desc.MediaType) {
		return ocispec.Descriptor{}, fmt.Errorf("--platform %s: %s is a single manifest (%s), not an index", platform, reference, desc.MediaType)
	}
	idx, err := fetchIndex(ctx, t, desc)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var found []string
	for _, m := range idx.Manifests {
		if m.Platform == nil {
			continue
		}
		p := m.Platform
		found = append(found, platformName(*p))
		if p.OS == want.OS && p.Architecture == want.Architecture && (want.Variant == "" || p.Variant == want.Variant) {
			return ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("no platform %s in index %s (it has: %s): %w", platform, desc.Digest, strings.Join(found, ", "), target.ErrNotFound)
}

// ParsePlatform parses "os/arch[/variant]".
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

type existing struct {
	desc ocispec.Descriptor
	data []byte
}

// findEquivalent looks among the subject's referrers of the same artifactType
// for one whose config and layers have the same digests as the manifest in data.
func (c *Client) findEquivalent(ctx context.Context, t target.Target, subject ocispec.Descriptor, mode Mode, data []byte) (*existing, Mode, error) {
	var want ocispec.Manifest
	if err := json.Unmarshal(data, &want); err != nil {
		return nil, "", err
	}
	types := []string{want.ArtifactType}
	if want.ArtifactType == "" {
		types = []string{want.Config.MediaType}
	}
	descs, used, _, err := c.referrersOf(ctx, t, subject.Digest, mode, filter{types: types}, nil)
	if err != nil {
		return nil, "", err
	}
	for _, d := range descs {
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		b, err := t.FetchManifest(ctx, d)
		if err != nil {
			return nil, "", err
		}
		var m ocispec.Manifest
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		if sameContent(m, want) {
			return &existing{desc: d, data: b}, used, nil
		}
	}
	return nil, used, nil
}

func sameContent(a, b ocispec.Manifest) bool {
	if a.ArtifactType != b.ArtifactType || a.Config.Digest != b.Config.Digest || len(a.Layers) != len(b.Layers) {
		return false
	}
	if a.Subject == nil || b.Subject == nil || a.Subject.Digest != b.Subject.Digest {
		return false
	}
	for i := range a.Layers {
		if a.Layers[i].Digest != b.Layers[i].Digest {
			return false
		}
	}
	return true
}
