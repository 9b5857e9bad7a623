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
	// SortAnnotation sorts the subject's referrers (after the filters; nested
	// levels keep their digest order) by the value of this annotation,
	// ascending, instead of by digest. Values compare as strings, so UTC RFC
	// 3339 times of one precision sort by time; referrers without it come
	// last; ties go by digest.
	SortAnnotation string
	// Latest keeps only the subject's referrer with the greatest value of
	// SortAnnotation, or of LatestAnnotation when SortAnnotation is empty
	// (of equal values, the greatest digest), after the filters. Referrers
	// without the annotation are left out with a warning; if none has it,
	// List fails (nothing says which is the latest). No referrers at all is
	// no error.
	Latest bool
	// IncludeChildren also lists, when the subject is an image index, the
	// referrers of each of its child manifests (ListResult.Children, in the
	// index's order), each with these same options. A subject that is not an
	// index (or whose manifest is missing: its media type is unknown) has no
	// children.
	IncludeChildren bool
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
	// Children are the index subject's children with their referrers
	// (IncludeChildren).
	Children []Child
}

// Index is the subject's referrers as the Referrers API shapes them: an image
// index, entries sorted by digest.
func (r ListResult) Index() ocispec.Index {
	idx := emptyIndex()
	idx.Manifests = make([]ocispec.Descriptor, 0, len(r.Referrers))
	for _, n := range r.Referrers {
		idx.Manifests = append(idx.Manifests, n.Descriptor)
	}
	return idx
}

// List lists the referrers of subject in t (distribution-spec v1.1.1, "Listing
// Referrers"): the API with the artifactType filter when exactly one type is
// asked for, our own filter when the registry did not apply it (distribution-spec v1.1.1, Listing Referrers),
// the tag schema when the API is unsupported (distribution-spec v1.1.1, Listing Referrers and Unavailable Referrers API), descriptors
// without artifactType completed from their manifest (image-spec v1.1.1, Guidelines for Artifact Usage), entries
// de-duplicated and sorted by digest (or as SortAnnotation and Latest say). A
// nested listing keeps a visited set and a node cap, so a referrer graph with
// a cycle ends. Concurrent requests are bounded (WithParallel), and the first
// error of any of them is List's.
func (c *Client) List(ctx context.Context, t target.Target, subject ocispec.Descriptor, opts ListOptions) (ListResult, error) {
	res, err := c.listOne(ctx, t, subject, opts)
	if err != nil {
		return ListResult{}, err
	}
	if opts.IncludeChildren && IsIndex(subject.MediaType) {
		if res.Children, err = c.listChildren(ctx, t, subject, opts); err != nil {
			return ListResult{}, err
		}
	}
	return res, nil
}

// listOne is List without the children: the subject's referrers, ordered.
func (c *Client) listOne(ctx context.Context, t target.Target, subject ocispec.Descriptor, opts ListOptions) (ListResult, error) {
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

	var tags *tagSet
	if depth > 1 && mode != ModeAPI {
		// one listing of the tags says which referrers tags exist
		lctx, cancel := context.WithCancel(ctx)
		tags = c.listTags(lctx, t)
		// a listing that ends early (an error, no referrers) does not wait
		// for the pages it no longer needs
		defer func() { cancel(); tags.wait() }()
	}
	top, used, w, err := c.referrersOf(ctx, t, subject.Digest, mode, filter{types: opts.ArtifactTypes, annotations: opts.Annotations}, tags)
	if err != nil {
		return ListResult{}, err
	}
	warn(w)
	res.Mode = used
	visited := map[digest.Digest]bool{subject.Digest: true}
	level := make([]*Node, 0, len(top))
	nodes := make([]Node, len(top)) // one allocation, not one per node
	for i, d := range top {
		if d.Digest == subject.Digest {
			continue // top is sorted and unique: only the subject repeats
		}
		if depth > 1 {
			visited[d.Digest] = true
		}
		nodes[i].Descriptor = d
		level = append(level, &nodes[i])
	}
	res.Referrers = level
	count := len(level)
	for l := 2; l <= depth && len(level) > 0; l++ {
		var next []*Node
		var mu sync.Mutex
		err := fanOut(ctx, len(level), c.parallel, func(ctx context.Context, i int) error {
			n := level[i]
			kids, used, w, err := c.referrersOf(ctx, t, n.Descriptor.Digest, mode, filter{}, tags)
			if err != nil {
				return fmt.Errorf("referrers of %s: %w", n.Descriptor.Digest, err)
			}
			mu.Lock()
			defer mu.Unlock()
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
			return nil
		})
		if err != nil {
			return ListResult{}, err
		}
		count += len(next)
		if count > c.maxNodes {
			return ListResult{}, fmt.Errorf("more than %d referrers in the graph of %s: %w", c.maxNodes, subject.Digest, target.ErrTooLarge)
		}
		level = next
	}
	sortNodes(res.Referrers)
	var ow string
	if res.Referrers, ow, err = order(res.Referrers, opts); err != nil {
		return ListResult{}, err
	}
	if ow != "" {
		res.Warnings = append(res.Warnings, ow)
	}
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
// mode or the cached capability says tag schema. tags, when not nil, says
// which referrers tags exist: a tag it does not list is not read.
func (c *Client) referrersOf(ctx context.Context, t target.Target, subject digest.Digest, mode Mode, f filter, tags *tagSet) ([]ocispec.Descriptor, Mode, []string, error) {
	var warnings []string
	var descs []ocispec.Descriptor
	var self digest.Digest // left out of a tag schema index that lists it
	applied := false
	used := ModeTag
	apiFirst := mode == ModeAPI || (mode == ModeAuto && c.repo(t.Name()).cap != capNoAPI)
	var tagRead chan fallbackRead
	if apiFirst && mode == ModeAuto && !tags.absent(subject) {
		// In auto mode the tag schema is read alongside the API: it is the
		// answer when the API turns out to be unsupported (one round trip
		// saved), and on a registry with the API it may hold referrers the API
		// does not list (see mergeTagSchema).
		tctx, cancel := context.WithCancel(ctx)
		tagRead = make(chan fallbackRead, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			fb, err := tags.readFallback(tctx, t, subject)
			tagRead <- fallbackRead{fb, err}
		}()
		// on every return, the read is over: no request (or --debug line) of
		// this call outlives it, also when the API answered an error
		defer func() { cancel(); <-done }()
	}
	if apiFirst {
		serverFilter := ""
		if len(f.types) == 1 && f.types[0] != "" {
			serverFilter = f.types[0] // never an empty artifactType= (distribution-spec v1.1.1, Listing Referrers)
		}
		r, err := t.Referrers(ctx, subject, serverFilter)
		switch {
		case err == nil:
			c.setRepo(t.Name(), func(r *repoState) { r.cap = capAPI })
			descs, applied, used = r.Manifests, r.FilterApplied && serverFilter != "", ModeAPI
			if r.Source == target.SourceScan || r.Source == target.SourceIndex {
				used = Mode(r.Source)
			}
		case errors.Is(err, target.ErrUnsupported) && mode == ModeAPI:
			return nil, "", nil, fmt.Errorf("%w (use --referrers-mode auto or tag): %w", ErrAPIUnsupported, err)
		case errors.Is(err, target.ErrUnsupported):
			c.logf("%s: no Referrers API (%v): reading the referrers tag", t.Name(), err)
			// an answer that is not the spec's "no API" one (a 200 that is
			// not an image index) is named: an empty listing never hides it
			if r := target.UnsupportedReason(err); r != "" {
				warnings = append(warnings, r+": read the tag schema instead")
			}
			c.setRepo(t.Name(), func(r *repoState) { r.cap = capNoAPI })
		default:
			return nil, "", nil, err
		}
	}
	if used == ModeTag {
		var fb fallback
		var err error
		if tagRead != nil {
			r := <-tagRead
			fb, err = r.fb, r.err
		} else {
			fb, err = tags.readFallback(ctx, t, subject)
		}
		if errors.Is(err, ErrFallbackInvalid) {
			// distribution-spec v1.1.1, Referrers Tag Schema: not a valid index means no referrers; say why.
			warnings = append(warnings, err.Error())
		} else if err != nil {
			return nil, "", nil, err
		}
		descs = fb.index.Manifests
		for _, d := range descs {
			if d.Digest == subject {
				warnings = append(warnings, selfListedWarning(fb.tag, subject))
				self = subject
			}
		}
	} else if tagRead != nil {
		r := <-tagRead
		extra, w := c.mergeTagSchema(ctx, t, subject, descs, r)
		warnings = append(warnings, w...)
		if len(extra) > 0 {
			// a new array: descs may be a store's own slice, with room after it
			descs = append(descs[:len(descs):len(descs)], extra...)
			applied = false // the tag's entries were not filtered by the registry
		}
	}
	// the tag schema's index was decoded for this call alone: it is ours to edit
	descs, w, err := c.complete(ctx, t, sortUnique(descs, self, used == ModeTag))
	if err != nil {
		return nil, "", nil, err
	}
	warnings = append(warnings, w...)
	out := descs[:0]
	for _, d := range descs {
		if (applied && len(f.annotations) == 0) || f.keep(d) {
			out = append(out, d)
		}
	}
	return out, used, warnings, nil
}

// sortUnique returns ds sorted by digest, keeping the first entry of each
// digest (the Referrers API's before the tag schema's) and leaving out the
// entries of digest skip (none when it is ""). What follows edits and filters the result in place,
// and a store may hand out a slice it keeps (an on-disk tree's cached index),
// so the result is a new slice unless owned says ds is the caller's alone. A
// list that is sorted already (as the tag schema index we write, and most
// registries' answers) is compacted in place when owned, else copied once;
// others are sorted by position, without moving a descriptor more than once.
// Each copy of 2,000 descriptors is 240 kB of fresh memory.
func sortUnique(ds []ocispec.Descriptor, skip digest.Digest, owned bool) []ocispec.Descriptor {
	sorted := true
	for i := 1; i < len(ds) && sorted; i++ {
		sorted = ds[i-1].Digest <= ds[i].Digest
	}
	var out []ocispec.Descriptor
	if sorted && owned {
		out = ds[:0] // each kept entry moves back or stays
	} else {
		out = make([]ocispec.Descriptor, 0, len(ds))
	}
	keep := func(d *ocispec.Descriptor) {
		if (skip == "" || d.Digest != skip) && (len(out) == 0 || out[len(out)-1].Digest != d.Digest) {
			out = append(out, *d)
		}
	}
	if sorted {
		for i := range ds {
			keep(&ds[i])
		}
		return out
	}
	pos := make([]int, len(ds))
	for i := range pos {
		pos[i] = i
	}
	sort.Slice(pos, func(a, b int) bool {
		x, y := ds[pos[a]].Digest, ds[pos[b]].Digest
		return x < y || x == y && pos[a] < pos[b]
	})
	for _, i := range pos {
		keep(&ds[i])
	}
	return out
}

// complete resolves, from the manifest itself, the artifactType of the
// entries that lack it (old registry data, ACR; image-spec
// v1.1.1 manifest.md, implementers note) or carry the empty descriptor's
// media type, application/vnd.oci.empty.v1+json, which some clients write
// into referrers tag schema entries although the manifest declares its real
// type (image-spec v1.1.1 manifest.md: an artifact with an empty config sets
// artifactType). Only those entries are fetched, each named in --debug. An
// entry whose manifest is gone (a stale tag schema entry) is left out with a
// warning.
func (c *Client) complete(ctx context.Context, t target.Target, ds []ocispec.Descriptor) ([]ocispec.Descriptor, []string, error) {
	var todo []int
	for i, d := range ds {
		if d.ArtifactType == ocispec.MediaTypeEmptyJSON || d.ArtifactType == "" && !IsIndex(d.MediaType) {
			todo = append(todo, i)
		}
	}
	gone := make([]bool, len(ds))
	err := fanOut(ctx, len(todo), c.parallel, func(ctx context.Context, j int) error {
		i := todo[j]
		b, err := t.FetchManifest(ctx, ds[i])
		if errors.Is(err, target.ErrNotFound) {
			gone[i] = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("complete artifactType of %s: %w", ds[i].Digest, err)
		}
		e, err := EntryFor(ds[i], b)
		if err != nil {
			return err
		}
		c.logf("%s: entry %s has artifactType %q; its manifest says %q", t.Name(), ds[i].Digest, ds[i].ArtifactType, e.ArtifactType)
		ds[i].ArtifactType = e.ArtifactType
		if ds[i].Annotations == nil {
			ds[i].Annotations = e.Annotations
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	out := ds[:0]
	for i, d := range ds {
		if gone[i] {
			warnings = append(warnings, fmt.Sprintf("%s is listed but its manifest no longer exists; left out", d.Digest))
			continue
		}
		out = append(out, d)
	}
	return out, warnings, nil
}

// selfListedWarning is the warning for a referrers tag index that lists the
// subject itself: a manifest cannot refer to itself (image-spec v1.1.1,
// "subject"), so the entry is left out of the listing.
func selfListedWarning(tag string, subject digest.Digest) string {
	return fmt.Sprintf("referrers tag %s lists the subject %s itself; left out", tag, subject)
}

type fallbackRead struct {
	fb  fallback
	err error
}

// mergeTagSchema returns the entries of a subject's referrers tag that the
// Referrers API did not list and whose manifests still exist.
//
// A registry with the API MUST list manifests pushed with a subject, including
// those an older fallback index lists (distribution-spec v1.1.1 "Enabling the
// Referrers API"; distribution-spec v1.1.1, Upgrade Procedures), but a real one does not always: olareg
// v0.2.2 drops a referrer from its API answer once a client in tag-schema mode
// writes the referrers tag (the interop test TestMixedState shows it). Listing
// the union, each referrer once, is what a user expects. An entry whose
// manifest is gone (deleted through the API, the stale tag left behind) is
// left out with a warning. A tag that cannot be read or is not a valid index
// only costs a warning: the API has answered.
func (c *Client) mergeTagSchema(ctx context.Context, t target.Target, subject digest.Digest, api []ocispec.Descriptor, r fallbackRead) ([]ocispec.Descriptor, []string) {
	if r.err != nil {
		if errors.Is(r.err, ErrFallbackInvalid) {
			return nil, nil // e.g. a registry that maps the tag to the subject itself
		}
		return nil, []string{fmt.Sprintf("the Referrers API answered but the referrers tag could not be read (%v); only the API's answer is listed", r.err)}
	}
	if !r.fb.exists {
		return nil, nil
	}
	listed := make(map[digest.Digest]bool, len(api))
	for _, d := range api {
		listed[d.Digest] = true
	}
	var extra []ocispec.Descriptor
	var warnings []string
	for _, d := range r.fb.index.Manifests {
		if d.Digest == subject {
			warnings = append(warnings, selfListedWarning(r.fb.tag, subject))
			continue
		}
		if listed[d.Digest] || d.Digest.Validate() != nil {
			continue
		}
		listed[d.Digest] = true
		if _, err := t.Resolve(ctx, d.Digest.String()); err != nil {
			if errors.Is(err, target.ErrNotFound) {
				warnings = append(warnings, fmt.Sprintf("referrers tag %s lists %s, which no longer exists; left out", r.fb.tag, d.Digest))
				continue
			}
			warnings = append(warnings, fmt.Sprintf("referrers tag %s lists %s, which could not be checked (%v); listed anyway", r.fb.tag, d.Digest, err))
		}
		extra = append(extra, d)
	}
	if len(extra) > 0 {
		c.logf("%s: referrers tag %s lists %d referrer(s) of %s that the Referrers API does not; merged", t.Name(), r.fb.tag, len(extra), subject)
		warnings = append(warnings, fmt.Sprintf("the referrers tag %s lists %d referrer(s) that the registry's Referrers API does not (mixed state); they are included", r.fb.tag, len(extra)))
	}
	return extra, warnings
}

// tagSet is one listing of a repository's tags, taken before a nested
// listing: a referrers tag that is not in it is not read. Asking each
// referrer's tag costs one request per referrer (answered 404 but for a
// few); the listing costs one request per page of tags (distribution-spec
// v1.1.1, "Listing Tags"). A listing that fails leaves the set unknown, and
// every tag is read as before.
type tagSet struct {
	done chan struct{}
	tags map[string]bool // nil: unknown
}

// listTags starts listing the tags of t, when t can; nil when it cannot.
func (c *Client) listTags(ctx context.Context, t target.Target) *tagSet {
	tl, ok := t.(target.TagLister)
	if !ok {
		return nil
	}
	s := &tagSet{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tags, err := tl.Tags(ctx)
		if err != nil {
			c.logf("%s: listing the tags failed (%v): reading each referrers tag", t.Name(), err)
			return
		}
		s.tags = make(map[string]bool, len(tags))
		for _, tg := range tags {
			s.tags[tg] = true
		}
	}()
	return s
}

// wait returns once the listing is over.
func (s *tagSet) wait() {
	if s != nil {
		<-s.done
	}
}

// absent reports, without waiting, that the tag listing is done and has no
// referrers tag for subject: then nothing is read beside the API.
func (s *tagSet) absent(subject digest.Digest) bool {
	if s == nil {
		return false
	}
	select {
	case <-s.done:
		return s.tags != nil && !s.tags[FallbackTag(subject)]
	default:
		return false
	}
}

// readFallback reads subject's referrers tag unless the set knows it does
// not exist (then it is an empty index, as for a 404).
func (s *tagSet) readFallback(ctx context.Context, t target.Target, subject digest.Digest) (fallback, error) {
	if s != nil {
		select {
		case <-s.done:
		case <-ctx.Done():
			return fallback{}, ctx.Err()
		}
		if s.tags != nil && !s.tags[FallbackTag(subject)] {
			return fallback{tag: FallbackTag(subject), index: emptyIndex()}, nil
		}
	}
	return readFallback(ctx, t, subject)
}
