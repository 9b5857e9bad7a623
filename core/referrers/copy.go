package referrers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// DefaultCopyConcurrency is the default of CopyOptions.Concurrency (and of
// the CLI's copy --concurrency): 8 uploads at once. Copy keeps it apart from
// WithParallel: its requests are uploads, and a registry that loses
// referrers pushed at once (olareg v0.2.2 does) makes the copy's check push
// them again.
const DefaultCopyConcurrency = 8

// CopyOptions qualify Copy.
type CopyOptions struct {
	// Mode is how the destination records the referrers: auto (default),
	// api or tag, as for Attach.
	Mode Mode
	// SourceMode is how the source's referrers are found: auto (default),
	// api or tag, as for List.
	SourceMode Mode
	// Tag, when set, is the tag the subject gets at the destination.
	Tag string
	// Depth is how many levels of referrers to copy: 0 (default) every
	// level, 1 the subject's referrers, 2 adds their referrers, and so on;
	// a negative Depth copies none (the subject alone).
	Depth int
	// ArtifactTypes keeps, of the subject's own referrers (and of its
	// children's), those of any of these types; the referrers of those are
	// copied whole (as List filters), so that copying the SBOMs also copies
	// the SBOMs' signatures.
	ArtifactTypes []string
	// ReferrersOnly copies the referrers and not the subject, which must be
	// at the destination already (else an error wrapping
	// target.ErrNotFound, and nothing is copied).
	ReferrersOnly bool
	// GCFallbackIndex deletes superseded referrers tag schema indexes at the
	// destination, as for Attach.
	GCFallbackIndex bool
	// Concurrency bounds the manifests and blobs copied at once (default
	// DefaultCopyConcurrency).
	Concurrency int
	// Progress, when set, is called for each manifest and blob once it is at
	// the destination, and for each referrers tag updated. Calls come one at
	// a time, from any goroutine.
	Progress func(CopyEvent)
}

// CopyAction says what happened to one manifest or blob.
type CopyAction string

// The actions of a CopyEvent.
const (
	// CopyCopied: the content was read from the source and written.
	CopyCopied CopyAction = "copied"
	// CopyMounted: a blob was mounted from the source repository (the same
	// store), its bytes not moved.
	CopyMounted CopyAction = "mounted"
	// CopyExists: the destination had it already.
	CopyExists CopyAction = "exists"
	// CopyTagged: the subject, at the destination already, got the tag.
	CopyTagged CopyAction = "tagged"
	// CopyRecorded: a referrers tag schema index listing copied referrers
	// was updated (Descriptor is the subject; Tag the index's tag).
	CopyRecorded CopyAction = "recorded"
)

// CopyEvent reports progress.
type CopyEvent struct {
	Action CopyAction
	// Kind is "manifest", "blob" or "referrers" (a tag schema update).
	Kind       string
	Descriptor ocispec.Descriptor
	// Tag is the referrers tag of a CopyRecorded event.
	Tag string
}

// CopyCount counts manifests and blobs.
type CopyCount struct {
	Manifests int   `json:"manifests"`
	Blobs     int   `json:"blobs"`
	Bytes     int64 `json:"bytes"`
}

func (n *CopyCount) add(kind string, size int64) {
	if kind == "blob" {
		n.Blobs++
	} else {
		n.Manifests++
	}
	n.Bytes += size
}

// CopyResult reports a copy.
type CopyResult struct {
	// Subject is the subject's descriptor (the same at both ends).
	Subject ocispec.Descriptor
	// Tag is the subject's tag at the destination, "" when none.
	Tag string
	// Mode is how the destination records the copied referrers (ModeAPI,
	// ModeTag or ModeIndex); "" when none needed recording.
	Mode Mode
	// Referrers are the subject's referrers that were copied (or found at
	// the destination already), nested as List nests them.
	Referrers []*Node
	// Children are, for an index subject, its children with their
	// referrers.
	Children []Child
	// Copied are the manifests and blobs written; Mounted the blobs mounted;
	// Existing those the destination had.
	Copied, Mounted, Existing CopyCount
	// Recorded counts the referrers added to a tag schema index.
	Recorded int
	// FallbackTags are the tag schema tags updated at the destination.
	FallbackTags []string
	Warnings     []string

	retagged bool // the subject was at dst and got the tag
}

// NothingCopied reports whether the copy changed nothing at the
// destination: everything was there and recorded already.
func (r CopyResult) NothingCopied() bool {
	return r.Copied == (CopyCount{}) && r.Mounted == (CopyCount{}) && r.Recorded == 0 && !r.retagged
}

// CopyError is a copy that stopped part way. Done are the manifests at the
// destination (copied, or there already), Pending those that are not there or
// whose referrer is not recorded yet; running the same copy again completes
// it, skipping what is done.
type CopyError struct {
	Done, Pending []ocispec.Descriptor
	Err           error
}

func (e *CopyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "copy incomplete: %d manifest(s) at the destination, %d not copied", len(e.Done), len(e.Pending))
	for i, d := range e.Pending {
		if i == 8 {
			fmt.Fprintf(&b, " and %d more", len(e.Pending)-i)
			break
		}
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		b.WriteString(sep + d.Digest.String())
	}
	if len(e.Pending) > 0 {
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; run it again to complete it: %v", e.Err)
	return b.String()
}

func (e *CopyError) Unwrap() error { return e.Err }

// Copy copies subject and its referrers graph from src to dst, two stores of
// any kind (registry, OCI layout, static tree):
//
//  1. the subject with everything it references (an image's config and
//     layers, an index's children), unless ReferrersOnly; tagged Tag when set;
//  2. the referrers of the subject, and of each child of an index subject
//     (image-spec v1.1.1, "Image Index"), as List finds them at src with
//     ArtifactTypes, then their referrers down to Depth, each with what it
//     references, level by level;
//  3. at dst, each referrer recorded as Attach records one (Mode): by the
//     Referrers API where the registry has one (distribution-spec v1.1.1,
//     "Pushing Manifests with Subject"), by the store itself for trees,
//     else in the referrers tag schema index, one update per subject for
//     all its referrers, with the same no-lost-entry guarantee as Attach.
//
// Manifests at dst are found by digest and skipped with everything they
// reference (a registry stores no manifest whose references are missing);
// a referrer already listed at dst is skipped; blobs are skipped when dst
// has them (PushBlob looks first), mounted from src on one registry, and
// otherwise streamed from src to dst, never read whole, their digest and
// size verified on both sides. A copy of what is there already pushes
// nothing (NothingCopied). A copy that stops returns a *CopyError naming
// what is and is not at dst; the same copy run again completes it.
//
// src must implement target.BlobReader (every store of this module does).
func (c *Client) Copy(ctx context.Context, src, dst target.Target, subject ocispec.Descriptor, opts CopyOptions) (CopyResult, error) {
	dstMode, err := ParseMode(string(opts.Mode))
	if err != nil {
		return CopyResult{}, err
	}
	srcMode, err := ParseMode(string(opts.SourceMode))
	if err != nil {
		return CopyResult{}, err
	}
	if err := subject.Digest.Validate(); err != nil {
		return CopyResult{}, fmt.Errorf("subject: %w", err)
	}
	reader, ok := src.(target.BlobReader)
	if !ok {
		return CopyResult{}, fmt.Errorf("%s cannot be copied from: its blobs cannot be read: %w", src.Name(), target.ErrUnsupported)
	}
	parallel := opts.Concurrency
	if parallel <= 0 {
		parallel = DefaultCopyConcurrency
	}
	cp := &copier{c: c, src: src, dst: dst, reader: reader, opts: opts, mode: dstMode, parallel: parallel,
		blobs: map[digest.Digest]*blobCopy{}, atDst: map[digest.Digest]bool{}, done: map[digest.Digest]bool{},
		fresh: map[digest.Digest]bool{}}
	cp.res.Subject, cp.res.Tag = subject, opts.Tag

	// The plan: what is at src.
	anchors, err := cp.anchors(ctx, subject)
	if err != nil {
		return cp.res, err
	}
	for _, a := range anchors {
		cp.planned = append(cp.planned, a.desc)
	}
	// The subject is copied while its referrers graph is listed at src.
	var levels [][]copyRef
	var walkErr, subjectErr error
	fanOut(ctx, 2, 2, func(ctx context.Context, i int) error {
		if i == 0 {
			levels, walkErr = cp.walk(ctx, anchors, srcMode)
		} else {
			subjectErr = cp.subject(ctx, subject, anchors)
		}
		return nil // each error is judged below: a failed listing is not a partial copy
	})
	if walkErr != nil {
		if subjectErr == nil && ctx.Err() == nil {
			return cp.res, cp.fail(walkErr)
		}
		return cp.res, walkErr
	}
	cp.mu.Lock()
	for _, l := range levels {
		for _, r := range l {
			cp.planned = append(cp.planned, r.node.Descriptor)
		}
	}
	cp.mu.Unlock()
	if subjectErr != nil {
		return cp.res, cp.fail(subjectErr)
	}
	for _, l := range levels {
		if err := cp.level(ctx, l); err != nil {
			return cp.res, cp.fail(err)
		}
	}
	return cp.res, nil
}

// copier is one Copy's state.
type copier struct {
	c        *Client
	src, dst target.Target
	reader   target.BlobReader
	opts     CopyOptions
	mode     Mode
	parallel int

	mu    sync.Mutex
	res   CopyResult
	blobs map[digest.Digest]*blobCopy
	// atDst: manifests known to be at dst, recorded where they are referrers.
	atDst map[digest.Digest]bool
	// fresh: manifests this copy pushed that were not at dst before, whose
	// referrers at dst need no listing.
	fresh map[digest.Digest]bool
	// done: planned manifests that are at dst and, for referrers, recorded.
	done    map[digest.Digest]bool
	planned []ocispec.Descriptor
}

// anchor is the subject or, for an index subject, one of its descendants:
// a manifest whose referrers are copied.
type anchor struct {
	desc  ocispec.Descriptor
	child *Child // nil for the subject
}

// copyRef is one referrer to copy.
type copyRef struct {
	node    *Node
	subject digest.Digest
}

// anchors returns the subject and, when it is an index, its children
// (depth first, in the index's order; an index child contributes its own).
func (cp *copier) anchors(ctx context.Context, subject ocispec.Descriptor) ([]anchor, error) {
	out := []anchor{{desc: subject}}
	seen := map[digest.Digest]bool{subject.Digest: true}
	var add func(d ocispec.Descriptor, depth int) error
	add = func(d ocispec.Descriptor, depth int) error {
		if !IsIndex(d.MediaType) {
			return nil
		}
		if depth > 8 {
			return fmt.Errorf("index %s: nested more than 8 deep: %w", d.Digest, target.ErrTooLarge)
		}
		idx, err := fetchIndex(ctx, cp.src, d)
		if err != nil {
			return err
		}
		for i, m := range idx.Manifests {
			if err := m.Digest.Validate(); err != nil {
				return fmt.Errorf("index %s: child %d: %w: %w", d.Digest, i, target.ErrInvalidManifest, err)
			}
			if seen[m.Digest] {
				continue
			}
			seen[m.Digest] = true
			out = append(out, anchor{desc: plain(m), child: &Child{Descriptor: m, Platform: platformOrUnknown(m.Platform)}})
			if err := add(m, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, add(subject, 0)
}

// plain is d with only mediaType, digest and size: how it is fetched.
func plain(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// walk lists the referrers graph at src, level by level: level 0 the
// anchors' referrers (filtered by ArtifactTypes), then theirs, down to Depth,
// each referrer once (a visited set: a graph with a cycle ends), at most the
// Client's node cap in all.
func (cp *copier) walk(ctx context.Context, anchors []anchor, mode Mode) ([][]copyRef, error) {
	visited := map[digest.Digest]bool{}
	var nodes []*[]*Node
	var subjects []digest.Digest
	for i := range anchors {
		a := &anchors[i]
		visited[a.desc.Digest] = true
		if a.child == nil {
			nodes = append(nodes, &cp.res.Referrers)
		} else {
			nodes = append(nodes, &a.child.Referrers)
		}
		subjects = append(subjects, a.desc.Digest)
	}
	var levels [][]copyRef
	var tags *tagSet
	if (cp.opts.Depth == 0 || cp.opts.Depth > 1) && mode != ModeAPI {
		// every referrer is asked for referrers of its own: one listing of
		// the tags says which referrers tags exist (see tagSet)
		lctx, cancel := context.WithCancel(ctx)
		tags = cp.c.listTags(lctx, cp.src)
		defer func() { cancel(); tags.wait() }()
	}
	count := 0
	for l := 1; len(subjects) > 0 && cp.opts.Depth >= 0 && (cp.opts.Depth == 0 || l <= cp.opts.Depth); l++ {
		f := filter{}
		if l == 1 {
			f.types = cp.opts.ArtifactTypes
		}
		found := make([][]ocispec.Descriptor, len(subjects))
		modes := make([]Mode, len(subjects))
		var wmu sync.Mutex
		err := fanOut(ctx, len(subjects), cp.parallel, func(ctx context.Context, i int) error {
			descs, used, w, err := cp.c.referrersOf(ctx, cp.src, subjects[i], mode, f, tags)
			if err != nil {
				return fmt.Errorf("list the referrers of %s in %s: %w", subjects[i], cp.src.Name(), err)
			}
			found[i], modes[i] = descs, used
			wmu.Lock()
			cp.res.Warnings = append(cp.res.Warnings, w...)
			wmu.Unlock()
			return nil
		})
		if err != nil {
			return nil, err
		}
		var level []copyRef
		var nextNodes []*[]*Node
		var next []digest.Digest
		for i, descs := range found {
			if l == 1 && i < len(anchors) && anchors[i].child != nil {
				anchors[i].child.Mode = modes[i]
			}
			for _, d := range descs {
				if visited[d.Digest] {
					continue
				}
				visited[d.Digest] = true
				n := &Node{Descriptor: d}
				*nodes[i] = append(*nodes[i], n)
				level = append(level, copyRef{node: n, subject: subjects[i]})
				nextNodes = append(nextNodes, &n.Referrers)
				next = append(next, d.Digest)
			}
		}
		count += len(level)
		if count > cp.c.maxNodes {
			return nil, fmt.Errorf("more than %d referrers in the graph of %s: %w", cp.c.maxNodes, anchors[0].desc.Digest, target.ErrTooLarge)
		}
		if len(level) > 0 {
			levels = append(levels, level)
		}
		nodes, subjects = nextNodes, next
	}
	for _, a := range anchors {
		if a.child != nil {
			cp.res.Children = append(cp.res.Children, *a.child)
		}
	}
	return levels, nil
}

// subject puts the subject (with its content) at dst, tagged when asked.
func (cp *copier) subject(ctx context.Context, subject ocispec.Descriptor, anchors []anchor) error {
	tag := cp.opts.Tag
	if tag != "" {
		if d, err := cp.dst.Resolve(ctx, tag); err == nil && d.Digest == subject.Digest {
			cp.markThere(anchors)
			return nil
		} else if err != nil && !errors.Is(err, target.ErrNotFound) {
			return fmt.Errorf("resolve %s in %s: %w", tag, cp.dst.Name(), err)
		}
	}
	there, err := cp.exists(ctx, subject)
	if err != nil {
		return err
	}
	if cp.opts.ReferrersOnly {
		if !there {
			return fmt.Errorf("--referrers-only: the subject %s is not in %s: %w", subject.Digest, cp.dst.Name(), target.ErrNotFound)
		}
		cp.res.Tag = "" // the subject is left as it is
		cp.markThere(anchors)
		return nil
	}
	if there {
		cp.markThere(anchors)
		if tag == "" {
			return nil
		}
		data, err := cp.src.FetchManifest(ctx, subject)
		if err != nil {
			return fmt.Errorf("fetch %s from %s: %w", subject.Digest, cp.src.Name(), err)
		}
		if _, err := cp.dst.PushManifest(ctx, subject, data, target.PushOptions{Tag: tag}); err != nil {
			return err
		}
		cp.mu.Lock()
		cp.res.retagged = true
		cp.mu.Unlock()
		cp.event(CopyEvent{Action: CopyTagged, Kind: "manifest", Descriptor: subject, Tag: tag})
		return nil
	}
	_, _, err = cp.manifest(ctx, subject, tag, 0)
	if err == nil {
		cp.markThere(anchors)
	}
	return err
}

// markThere records the anchors as at dst (a registry holds no index whose
// children are missing).
func (cp *copier) markThere(anchors []anchor) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, a := range anchors {
		cp.atDst[a.desc.Digest], cp.done[a.desc.Digest] = true, true
	}
}

// exists reports whether dst has the manifest d (by digest).
func (cp *copier) exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	_, err := cp.dst.Resolve(ctx, d.Digest.String())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, target.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("look for %s in %s: %w", d.Digest, cp.dst.Name(), err)
}

// manifest copies the manifest desc and what it references (children of an
// index first, each skipped when dst has it), then pushes it (under tag when
// set). It returns the store's answer to the push.
func (cp *copier) manifest(ctx context.Context, desc ocispec.Descriptor, tag string, depth int) (target.PushResult, []byte, error) {
	if depth > 8 {
		return target.PushResult{}, nil, fmt.Errorf("index %s: nested more than 8 deep: %w", desc.Digest, target.ErrTooLarge)
	}
	data, err := cp.src.FetchManifest(ctx, desc)
	if err != nil {
		return target.PushResult{}, nil, fmt.Errorf("fetch %s from %s: %w", desc.Digest, cp.src.Name(), err)
	}
	children, blobs, err := references(desc, data)
	if err != nil {
		return target.PushResult{}, nil, err
	}
	err = fanOut(ctx, len(children), cp.parallel, func(ctx context.Context, i int) error {
		ch := plain(children[i])
		if cp.known(ch.Digest) {
			return nil
		}
		there, err := cp.exists(ctx, ch)
		if err != nil {
			return err
		}
		if there {
			cp.mu.Lock()
			cp.atDst[ch.Digest] = true
			cp.mu.Unlock()
			cp.event(CopyEvent{Action: CopyExists, Kind: "manifest", Descriptor: ch})
			return nil
		}
		_, _, err = cp.manifest(ctx, ch, "", depth+1)
		return err
	})
	if err != nil {
		return target.PushResult{}, nil, err
	}
	err = fanOut(ctx, len(blobs), cp.parallel, func(ctx context.Context, i int) error {
		return cp.blob(ctx, blobs[i])
	})
	if err != nil {
		return target.PushResult{}, nil, err
	}
	pushed, err := cp.dst.PushManifest(ctx, plain(desc), data, target.PushOptions{Tag: tag})
	if err != nil {
		return pushed, nil, err
	}
	cp.mu.Lock()
	cp.atDst[desc.Digest], cp.fresh[desc.Digest] = true, true
	cp.mu.Unlock()
	cp.event(CopyEvent{Action: CopyCopied, Kind: "manifest", Descriptor: plain(desc), Tag: tag})
	return pushed, data, nil
}

func (cp *copier) setMode(m Mode) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.res.Mode != ModeTag {
		cp.res.Mode = m
	}
}

func (cp *copier) known(d digest.Digest) bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.atDst[d]
}

// references returns what the manifest data (desc describes it) references:
// the child manifests of an index, the blobs of an image manifest (config
// and layers; the blobs of an artifact manifest of the image-spec v1.1.0
// release candidates). Blobs with URLs only (non-distributable layers) are
// left out.
func references(desc ocispec.Descriptor, data []byte) (children, blobs []ocispec.Descriptor, err error) {
	var m struct {
		MediaType string               `json:"mediaType"`
		Manifests []ocispec.Descriptor `json:"manifests"`
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Blobs     []ocispec.Descriptor `json:"blobs"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w: %w", desc.Digest, target.ErrInvalidManifest, err)
	}
	mt := desc.MediaType
	if mt == "" {
		mt = m.MediaType
	}
	if IsIndex(mt) {
		return m.Manifests, nil, validDescs(desc, m.Manifests)
	}
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	for _, l := range append(m.Layers, m.Blobs...) {
		if len(l.URLs) > 0 && strings.Contains(l.MediaType, "nondistributable") {
			continue
		}
		blobs = append(blobs, l)
	}
	return nil, blobs, validDescs(desc, blobs)
}

func validDescs(in ocispec.Descriptor, ds []ocispec.Descriptor) error {
	for i, d := range ds {
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("manifest %s: descriptor %d: %w: %w", in.Digest, i, target.ErrInvalidManifest, err)
		}
		if d.Size < 0 {
			return fmt.Errorf("manifest %s: descriptor %d: negative size: %w", in.Digest, i, target.ErrInvalidManifest)
		}
	}
	return nil
}

// blobCopy is one blob's copy, shared by the manifests that reference it.
type blobCopy struct {
	done chan struct{}
	err  error
}

// blob puts one blob at dst, once per Copy: mounted from src where dst can,
// else pushed from a reader that opens src only when dst asks for the bytes
// (PushBlob skips a blob dst has without reading it).
func (cp *copier) blob(ctx context.Context, desc ocispec.Descriptor) error {
	desc = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	cp.mu.Lock()
	b, ok := cp.blobs[desc.Digest]
	if !ok {
		b = &blobCopy{done: make(chan struct{})}
		cp.blobs[desc.Digest] = b
	}
	cp.mu.Unlock()
	if ok {
		select {
		case <-b.done:
			return b.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(b.done)
	b.err = cp.putBlob(ctx, desc)
	return b.err
}

func (cp *copier) putBlob(ctx context.Context, desc ocispec.Descriptor) error {
	if m, ok := cp.dst.(target.BlobMounter); ok {
		mounted, err := m.MountBlobFrom(ctx, cp.src, desc)
		if err != nil {
			return err
		}
		if mounted {
			cp.event(CopyEvent{Action: CopyMounted, Kind: "blob", Descriptor: desc})
			return nil
		}
	}
	lr := &lazyBlob{ctx: ctx, src: cp.reader, desc: desc}
	err := cp.dst.PushBlob(ctx, desc, lr)
	opened := lr.close()
	if err != nil {
		return fmt.Errorf("copy blob %s from %s to %s: %w", desc.Digest, cp.src.Name(), cp.dst.Name(), err)
	}
	action := CopyExists
	if opened {
		action = CopyCopied
	}
	cp.event(CopyEvent{Action: action, Kind: "blob", Descriptor: desc})
	return nil
}

// lazyBlob reads a blob of src, opening it at the first Read. Seek to the
// start (a retried upload) reopens it.
type lazyBlob struct {
	ctx    context.Context
	src    target.BlobReader
	desc   ocispec.Descriptor
	mu     sync.Mutex
	rc     io.ReadCloser
	opened bool
}

func (l *lazyBlob) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rc == nil {
		rc, err := l.src.OpenBlob(l.ctx, l.desc)
		if err != nil {
			return 0, err
		}
		l.rc, l.opened = rc, true
	}
	return l.rc.Read(p)
}

func (l *lazyBlob) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, errors.New("a blob stream can only be read again from its start")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rc != nil {
		l.rc.Close()
		l.rc = nil
	}
	return 0, nil
}

// close closes the source and reports whether it was ever opened.
func (l *lazyBlob) close() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rc != nil {
		l.rc.Close()
		l.rc = nil
	}
	return l.opened
}

// level copies one level of referrers and records them at dst.
func (cp *copier) level(ctx context.Context, level []copyRef) error {
	// What dst lists already, for each subject that was there before this
	// copy (a subject this copy pushed has no referrers there yet that
	// matter: pushing one again is harmless).
	var subjects []digest.Digest
	seen := map[digest.Digest]bool{}
	for _, r := range level {
		if !seen[r.subject] {
			seen[r.subject] = true
			subjects = append(subjects, r.subject)
		}
	}
	listed := make([]map[digest.Digest]bool, len(subjects))
	err := fanOut(ctx, len(subjects), cp.parallel, func(ctx context.Context, i int) error {
		cp.mu.Lock()
		fresh := cp.fresh[subjects[i]]
		cp.mu.Unlock()
		if fresh {
			return nil
		}
		descs, _, _, err := cp.c.referrersOf(ctx, cp.dst, subjects[i], cp.mode, filter{}, nil)
		if err != nil {
			return fmt.Errorf("list the referrers of %s in %s: %w", subjects[i], cp.dst.Name(), err)
		}
		listed[i] = make(map[digest.Digest]bool, len(descs))
		for _, d := range descs {
			listed[i][d.Digest] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	isListed := map[digest.Digest]bool{}
	for _, l := range listed {
		for d := range l {
			isListed[d] = true
		}
	}

	// Push what is not listed, and decide how each is recorded.
	records := make([]copyRecord, len(level))
	err = fanOut(ctx, len(level), cp.parallel, func(ctx context.Context, i int) error {
		r := level[i]
		d := plain(r.node.Descriptor)
		if isListed[d.Digest] {
			cp.mu.Lock()
			cp.atDst[d.Digest], cp.done[d.Digest] = true, true
			cp.mu.Unlock()
			cp.event(CopyEvent{Action: CopyExists, Kind: "manifest", Descriptor: d})
			return nil
		}
		pushed, data, err := cp.manifest(ctx, d, "", 0)
		if err != nil {
			return err
		}
		used, w, err := cp.c.recordMode(ctx, cp.dst, r.subject, r.node.Descriptor.ArtifactType, cp.mode, pushed)
		if err != nil {
			return fmt.Errorf("referrer %s pushed, but checking the Referrers API of %s failed: %w", d.Digest, cp.dst.Name(), err)
		}
		cp.warn(w...)
		records[i] = copyRecord{copyRef: r, data: data, mode: used}
		return nil
	})
	if err != nil {
		return err
	}

	// Record: one tag schema update per subject for all its new referrers;
	// the Referrers API's answer checked once per subject.
	tagged := map[digest.Digest][]copyRecord{}
	api := map[digest.Digest][]copyRecord{}
	var order []digest.Digest
	for _, rec := range records {
		if rec.data == nil {
			continue // listed at dst already
		}
		cp.setMode(rec.mode)
		switch rec.mode {
		case ModeTag:
			if tagged[rec.subject] == nil && api[rec.subject] == nil {
				order = append(order, rec.subject)
			}
			tagged[rec.subject] = append(tagged[rec.subject], rec)
		case ModeAPI:
			if tagged[rec.subject] == nil && api[rec.subject] == nil {
				order = append(order, rec.subject)
			}
			api[rec.subject] = append(api[rec.subject], rec)
		default:
			cp.mu.Lock()
			cp.done[rec.node.Descriptor.Digest] = true
			cp.mu.Unlock()
		}
	}
	return fanOut(ctx, len(order), cp.parallel, func(ctx context.Context, i int) error {
		s := order[i]
		if recs := tagged[s]; len(recs) > 0 {
			entries := make([]ocispec.Descriptor, len(recs))
			for j, rec := range recs {
				e, err := EntryFor(plain(rec.node.Descriptor), rec.data)
				if err != nil {
					return err
				}
				entries[j] = e
			}
			upd, err := cp.c.updateFallbackAll(ctx, cp.dst, s, entries, cp.opts.GCFallbackIndex)
			cp.warn(upd.warnings...)
			if err != nil {
				return fmt.Errorf("%d referrer(s) of %s pushed, but the referrers tag %s was not updated: %w", len(entries), s, upd.tag, err)
			}
			cp.mu.Lock()
			cp.res.Recorded += len(entries)
			cp.res.FallbackTags = append(cp.res.FallbackTags, upd.tag)
			for _, e := range entries {
				cp.done[e.Digest] = true
			}
			cp.mu.Unlock()
			cp.event(CopyEvent{Action: CopyRecorded, Kind: "referrers", Descriptor: ocispec.Descriptor{Digest: s}, Tag: upd.tag})
		}
		if recs := api[s]; len(recs) > 0 {
			return cp.confirmListed(ctx, s, recs)
		}
		return nil
	})
}

// copyRecord is a referrer pushed to dst, to be recorded.
type copyRecord struct {
	copyRef
	data []byte
	mode Mode
}

// confirmListed checks that dst's Referrers API lists the referrers of
// subject this copy pushed, and pushes those it misses again, up to three
// rounds: a registry has been seen to drop referrers from its index when
// manifests with one subject are pushed at once (olareg v0.2.2).
func (cp *copier) confirmListed(ctx context.Context, subject digest.Digest, recs []copyRecord) error {
	missing := recs
	for round := 1; ; round++ {
		descs, _, _, err := cp.c.referrersOf(ctx, cp.dst, subject, cp.mode, filter{}, nil)
		if err != nil {
			return fmt.Errorf("list the referrers of %s in %s: %w", subject, cp.dst.Name(), err)
		}
		have := make(map[digest.Digest]bool, len(descs))
		for _, d := range descs {
			have[d.Digest] = true
		}
		var still []copyRecord
		cp.mu.Lock()
		for _, r := range missing {
			if have[r.node.Descriptor.Digest] {
				cp.done[r.node.Descriptor.Digest] = true
			} else {
				still = append(still, r)
			}
		}
		cp.mu.Unlock()
		if len(still) == 0 {
			return nil
		}
		if round == 3 {
			return fmt.Errorf("%s: its Referrers API does not list %d referrer(s) of %s pushed to it, such as %s (use --referrers-mode tag to record them in the referrers tag schema)",
				cp.dst.Name(), len(still), subject, still[0].node.Descriptor.Digest)
		}
		cp.c.logf("%s: the Referrers API does not list %d referrer(s) of %s just pushed; pushing them again (round %d)", cp.dst.Name(), len(still), subject, round)
		for _, r := range still {
			if _, err := cp.dst.PushManifest(ctx, plain(r.node.Descriptor), r.data, target.PushOptions{}); err != nil {
				return err
			}
		}
		missing = still
	}
}

func (cp *copier) warn(w ...string) {
	if len(w) == 0 {
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.res.Warnings = append(cp.res.Warnings, w...)
}

func (cp *copier) event(e CopyEvent) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	switch e.Action {
	case CopyCopied:
		cp.res.Copied.add(e.Kind, e.Descriptor.Size)
	case CopyMounted:
		cp.res.Mounted.add(e.Kind, e.Descriptor.Size)
	case CopyExists:
		cp.res.Existing.add(e.Kind, e.Descriptor.Size)
	}
	if cp.opts.Progress != nil {
		cp.opts.Progress(e)
	}
}

// fail wraps err in a *CopyError naming what is at dst and what is not.
func (cp *copier) fail(err error) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	ce := &CopyError{Err: err}
	for _, d := range cp.planned {
		if cp.done[d.Digest] {
			ce.Done = append(ce.Done, d)
		} else {
			ce.Pending = append(ce.Pending, d)
		}
	}
	return ce
}
