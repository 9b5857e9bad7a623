package referrers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// ListOptions qualify List.
type ListOptions struct {
	// Mode: auto (default), api or tag.
	Mode Mode
	// ArtifactTypes keeps referrers of any of these types (OR). It applies to the
	// subject's own referrers; nested levels are listed whole, so that filtering
	// for SBOMs still shows the signature of an SBOM.
	ArtifactTypes []string
	// Annotations keeps referrers that carry every one of these key=value pairs
	// (top level, like ArtifactTypes).
	Annotations map[string]string
	// Depth is how many levels of referrers to list: 1 (default) is the subject's
	// referrers, 2 adds their referrers, and so on.
	Depth int
}

// Node is a referrer and, for nested listings, its own referrers.
type Node struct {
	Descriptor ocispec.Descriptor `json:"descriptor"`
	// Mode says how this node's Referrers were found.
	Mode      Mode    `json:"mode,omitempty"`
	Referrers []*Node `json:"referrers,omitempty"`
}

// ListResult is what List found.
type ListResult struct {
	Subject ocispec.Descriptor
	// Mode is how the subject's referrers were found: ModeAPI or ModeTag.
	Mode      Mode
	Referrers []*Node
	Warnings  []string
}

// Index is the subject's referrers as the Referrers API shapes them: an image
// index, entries sorted by digest.
func (r ListResult) Index() ocispec.Index {
	idx := emptyIndex()
	for _, n := range r.Referrers {
		idx.Manifests = append(idx.Manifests, n.Descriptor)
	}
	return idx
}

// List lists the referrers of subject in t (distribution-spec v1.1.1, "Listing
// Referrers"): the API with the artifactType filter when exactly one type is
// asked for, our own filter when the registry did not apply it (checklist 18),
// the tag schema when the API is unsupported (checklist 21-23), descriptors
// without artifactType completed from their manifest (checklist 56), entries
// de-duplicated and sorted by digest. A nested listing keeps a visited set and
// a node cap, so a referrer graph with a cycle ends.
func (c *Client) List(ctx context.Context, t target.Target, subject ocispec.Descriptor, opts ListOptions) (ListResult, error) {
	mode, err := ParseMode(string(opts.Mode))
	if err != nil {
		return ListResult{}, err
	}
	if err := subject.Digest.Validate(); err != nil {
		return ListResult{}, fmt.Errorf("subject: %w", err)
	}
	depth := max(opts.Depth, 1)
	res := ListResult{Subject: subject}
	var wmu sync.Mutex
	warn := func(w []string) {
		wmu.Lock()
		res.Warnings = append(res.Warnings, w...)
		wmu.Unlock()
	}

	top, used, w, err := c.referrersOf(ctx, t, subject.Digest, mode, filter{types: opts.ArtifactTypes, annotations: opts.Annotations})
	if err != nil {
		return ListResult{}, err
	}
	warn(w)
	res.Mode = used
	visited := map[digest.Digest]bool{subject.Digest: true}
	level := make([]*Node, 0, len(top))
	for _, d := range top {
		if visited[d.Digest] {
			continue
		}
		visited[d.Digest] = true
		level = append(level, &Node{Descriptor: d})
	}
	res.Referrers = level
	count := len(level)
	for l := 2; l <= depth && len(level) > 0; l++ {
		var next []*Node
		var mu sync.Mutex
		var firstErr error
		sem := make(chan struct{}, c.parallel)
		var wg sync.WaitGroup
		for _, n := range level {
			wg.Add(1)
			sem <- struct{}{}
			go func(n *Node) {
				defer wg.Done()
				defer func() { <-sem }()
				kids, used, w, err := c.referrersOf(ctx, t, n.Descriptor.Digest, mode, filter{})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("referrers of %s: %w", n.Descriptor.Digest, err)
					}
					return
				}
				n.Mode = used
				for _, d := range kids {
					if visited[d.Digest] {
						continue
					}
					visited[d.Digest] = true
					k := &Node{Descriptor: d}
					n.Referrers = append(n.Referrers, k)
					next = append(next, k)
				}
				warn(w)
			}(n)
		}
		wg.Wait()
		if firstErr != nil {
			return ListResult{}, firstErr
		}
		count += len(next)
		if count > c.maxNodes {
			return ListResult{}, fmt.Errorf("more than %d referrers in the graph of %s: %w", c.maxNodes, subject.Digest, target.ErrTooLarge)
		}
		level = next
	}
	sortNodes(res.Referrers)
	return res, nil
}

func sortNodes(ns []*Node) {
	sort.Slice(ns, func(i, j int) bool { return ns[i].Descriptor.Digest < ns[j].Descriptor.Digest })
	for _, n := range ns {
		sortNodes(n.Referrers)
	}
}

type filter struct {
	types       []string
	annotations map[string]string
}

func (f filter) keep(d ocispec.Descriptor) bool {
	if len(f.types) > 0 {
		ok := false
		for _, t := range f.types {
			if d.ArtifactType == t {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for k, v := range f.annotations {
		if got, ok := d.Annotations[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// referrersOf lists one level: the API (or the target's own mechanism) unless the
// mode or the cached capability says tag schema.
func (c *Client) referrersOf(ctx context.Context, t target.Target, subject digest.Digest, mode Mode, f filter) ([]ocispec.Descriptor, Mode, []string, error) {
	var warnings []string
	var descs []ocispec.Descriptor
	applied := false
	used := ModeTag
	if mode == ModeAPI || (mode == ModeAuto && c.repo(t.Name()).cap != capNoAPI) {
		serverFilter := ""
		if len(f.types) == 1 && f.types[0] != "" {
			serverFilter = f.types[0] // never an empty artifactType= (checklist 20)
		}
		r, err := t.Referrers(ctx, subject, serverFilter)
		switch {
		case err == nil:
			c.setRepo(t.Name(), func(r *repoState) { r.cap = capAPI })
			descs, applied, used = r.Manifests, r.FilterApplied && serverFilter != "", ModeAPI
		case errors.Is(err, target.ErrUnsupported) && mode == ModeAPI:
			return nil, "", nil, fmt.Errorf("%w (use --referrers-mode auto or tag): %w", ErrAPIUnsupported, err)
		case errors.Is(err, target.ErrUnsupported):
			c.logf("%s: no Referrers API (%v): reading the referrers tag", t.Name(), err)
			c.setRepo(t.Name(), func(r *repoState) { r.cap = capNoAPI })
		default:
			return nil, "", nil, err
		}
	}
	if used == ModeTag {
		fb, err := readFallback(ctx, t, subject)
		if errors.Is(err, ErrFallbackInvalid) {
			// DS v1.1.1 L665: not a valid index means no referrers; say why.
			warnings = append(warnings, err.Error())
		} else if err != nil {
			return nil, "", nil, err
		}
		descs = fb.index.Manifests
	}
	descs, err := c.complete(ctx, t, dedupe(descs))
	if err != nil {
		return nil, "", nil, err
	}
	out := descs[:0]
	for _, d := range descs {
		if (applied && len(f.annotations) == 0) || f.keep(d) {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, used, warnings, nil
}

func dedupe(ds []ocispec.Descriptor) []ocispec.Descriptor {
	seen := make(map[digest.Digest]bool, len(ds))
	out := make([]ocispec.Descriptor, 0, len(ds))
	for _, d := range ds {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			out = append(out, d)
		}
	}
	return out
}

// complete fills in artifactType for descriptors of image manifests that lack
// it, from the manifest itself (checklist 56; image-spec v1.1.1 manifest.md,
// implementers note).
func (c *Client) complete(ctx context.Context, t target.Target, ds []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.parallel)
	errs := make([]error, len(ds))
	for i := range ds {
		d := ds[i]
		if d.ArtifactType != "" || d.MediaType == ocispec.MediaTypeImageIndex || d.MediaType == target.MediaTypeDockerManifestList {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b, err := t.FetchManifest(ctx, d)
			if err != nil {
				errs[i] = fmt.Errorf("complete artifactType of %s: %w", d.Digest, err)
				return
			}
			e, err := EntryFor(d, b)
			if err != nil {
				errs[i] = err
				return
			}
			ds[i].ArtifactType = e.ArtifactType
			if ds[i].Annotations == nil {
				ds[i].Annotations = e.Annotations
			}
		}()
	}
	wg.Wait()
	return ds, errors.Join(errs...)
}
