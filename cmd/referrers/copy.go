package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/layout"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
)

const copyUsage = `Usage: referrers copy SRC DST [flags]

Copies SRC (an image, or an index with its children) and its referrers graph
(referrers of referrers too, and those of an index's children) to DST. SRC and
DST are each a registry reference, oci:DIR[:TAG|@DIGEST] or
static:DIR:NAME[:TAG|@DIGEST]. DST gets the tag DST names, else SRC's tag.
Manifests and blobs DST has are skipped, blobs on one registry are mounted, and
DST records the referrers by its Referrers API, else in the referrers tag schema
(without losing entries others add at the same time). Running the same copy
again pushes nothing; after a failure it completes what is missing.

Examples:
  referrers copy staging.example.com/app:1.2 prod.example.com/app
  referrers copy ghcr.io/org/app:1.2 oci:./airgap:app-1.2        # to carry over
  referrers copy oci:./airgap:app-1.2 registry.internal/app:1.2  # and back
  referrers copy --artifact-type application/spdx+json SRC DST   # SBOMs (and their signatures)
  referrers copy --referrers-only SRC DST                        # the image is there already
`

func cmdCopy(ctx context.Context, e env, args []string) (err error) {
	var c common
	defer func() { err = c.explain(err) }()
	fs := c.flags("copy", e, "text or json", "text")
	var types repeated
	fs.Var(&types, "artifact-type", "copy only the subject's referrers of this artifactType (repeatable: any of them);\n"+
		"their own referrers are copied whole")
	depth := fs.Int("depth", 0, "levels of referrers to copy (0: all; 1: the subject's referrers only)")
	referrersOnly := fs.Bool("referrers-only", false, "copy only the referrers: the subject must be at DST already")
	srcMode := fs.String("source-referrers-mode", "auto", "how SRC's referrers are found: auto, api or tag")
	gc := fs.Bool("gc-fallback-index", false, "delete the superseded referrers tag index at DST (needs delete permission)")
	concurrency := fs.Int("concurrency", referrers.DefaultCopyConcurrency, "manifests and blobs copied at once")
	showProgress := progressFlags(fs, "a status line on stderr (manifests, blobs, bytes)")
	fs.BoolVar(&c.scanBlobs, "scan-blobs", false, "oci: also scan every manifest blob in blobs/, not only those index.json reaches")
	fs.Lookup("referrers-mode").Usage = "how DST records the referrers: auto, api or tag"
	fs.Lookup("platform").Usage = "for an index SRC, copy only its child for os/arch[/variant]"
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), copyUsage)
		printDefaults(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want SRC and DST, got %d arguments", len(pos))
	}
	if c.format != "text" && c.format != "json" {
		return usagef("--format must be text or json")
	}
	if *depth < 0 || *depth > 64 {
		return usagef("--depth must be between 0 (all) and 64")
	}
	if *concurrency < 1 || *concurrency > 64 {
		return usagef("--concurrency must be between 1 and 64")
	}
	show, err := showProgress(e)
	if err != nil {
		return err
	}
	mode, err := referrers.ParseMode(c.mode)
	if err != nil {
		return usageError{err}
	}
	sm, err := referrers.ParseMode(*srcMode)
	if err != nil {
		return usagef("--source-referrers-mode: %w", err)
	}
	if err := c.checkPlatform(); err != nil {
		return err
	}

	src, dst, err := c.openPair(ctx, e, pos[0], pos[1])
	if err != nil {
		return err
	}
	defer src.close()
	defer dst.close()
	subject, err := referrers.ResolveSubject(ctx, src.target, src.reference, c.platform)
	if err != nil {
		return err
	}
	tag, err := dst.tagFor(subject.Digest, src)
	if err != nil {
		return err
	}
	opts := referrers.CopyOptions{Mode: mode, SourceMode: sm, Tag: tag, Depth: *depth, ArtifactTypes: types,
		ReferrersOnly: *referrersOnly, GCFallbackIndex: *gc, Concurrency: *concurrency}
	var pr *progressLine
	if show {
		pr = &progressLine{w: e.stderr, now: e.now}
		opts.Progress = pr.event
	}
	res, err := c.verbs(e).Copy(ctx, src.target, dst.target, subject, opts)
	pr.done()
	for _, w := range res.Warnings {
		fmt.Fprintln(e.stderr, "referrers copy: warning:", display.Text(w))
	}
	if err != nil {
		return err
	}
	out := newCopyOutput(dst, res)
	if c.format == "json" {
		enc := json.NewEncoder(display.NewJSONWriter(e.stdout))
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintln(e.stdout, display.Text(out.Reference))
	fmt.Fprintln(e.stderr, "referrers copy:", display.Text(copySummary(res, dst.target.Name())))
	return nil
}

// copyEnd is SRC or DST.
type copyEnd struct {
	*location
	// tag is the tag the reference names, "" when none was given (or a digest).
	tag    string
	digest digest.Digest
}

// tagFor is the tag DST gets: the one DST names, else SRC's. A DST digest
// must be the subject's.
func (d copyEnd) tagFor(subject digest.Digest, src copyEnd) (string, error) {
	if d.digest != "" && d.digest != subject {
		return "", usagef("DST names digest %s, but SRC is %s", d.digest, subject)
	}
	if d.tag != "" {
		return d.tag, nil
	}
	if d.digest != "" {
		return "", nil
	}
	return src.tag, nil
}

// openPair opens SRC and DST. Registry references share one client (so that
// a copy within one registry can mount blobs) whose credentials cover both
// registries. A DST layout or static tree that does not exist is created.
func (c *common) openPair(ctx context.Context, e env, srcArg, dstArg string) (src, dst copyEnd, err error) {
	var regs []ref.Reference
	ends := []*copyEnd{&src, &dst}
	refs := make([]*ref.Reference, 2)
	for i, arg := range []string{srcArg, dstArg} {
		tr, ok, err := parseTreeRef(arg)
		if err != nil {
			return src, dst, usageError{err}
		}
		if ok {
			if i == 1 {
				if err := createTree(tr); err != nil {
					return src, dst, err
				}
			}
			loc, err := c.openTree(e, tr)
			if err != nil {
				return src, dst, err
			}
			*ends[i] = copyEnd{location: loc}
			if tr.explicit {
				if d, err := digest.Parse(tr.reference); err == nil {
					ends[i].digest = d
				} else {
					ends[i].tag = tr.reference
				}
			} else if i == 0 {
				ends[i].tag = tr.reference // "latest"
			}
			continue
		}
		r, err := ref.Parse(arg)
		if err != nil {
			return src, dst, usageError{err}
		}
		ends[i].tag, ends[i].digest = r.Tag, r.Digest
		if i == 0 {
			r = r.WithDefaultTag()
			ends[i].tag = r.Tag
		}
		refs[i] = &r
		regs = append(regs, r)
	}
	if len(regs) > 0 {
		client, err := c.client(e, regs)
		if err != nil {
			return src, dst, err
		}
		for i, r := range refs {
			if r == nil {
				continue
			}
			r := *r
			ends[i].location = &location{target: client.Repository(r), reference: r.Ref(), close: func() error { return nil },
				at: func(d digest.Digest) string { return r.WithDigest(d).String() }}
		}
	}
	return src, dst, nil
}

// createTree makes the directory of a DST tree: an empty OCI layout, or the
// directory of a static tree.
func createTree(tr treeRef) error {
	if _, err := os.Stat(tr.dir); err == nil {
		return nil
	}
	if tr.kind == "oci" {
		return layout.Init(tr.dir)
	}
	return os.MkdirAll(tr.dir, 0o755)
}

// copyOutput is the json output of a copy.
type copyOutput struct {
	Subject      string              `json:"subject"`
	Reference    string              `json:"reference"`
	Tag          string              `json:"tag,omitempty"`
	Mode         string              `json:"mode,omitempty"`
	NothingToDo  bool                `json:"nothingCopied"`
	Copied       referrers.CopyCount `json:"copied"`
	Mounted      referrers.CopyCount `json:"mounted"`
	Existing     referrers.CopyCount `json:"existing"`
	Recorded     int                 `json:"recorded"`
	FallbackTags []string            `json:"fallbackTags,omitempty"`
	Referrers    []string            `json:"referrers"`
}

func newCopyOutput(dst copyEnd, res referrers.CopyResult) copyOutput {
	out := copyOutput{
		Subject: res.Subject.Digest.String(), Reference: dst.at(res.Subject.Digest), Tag: res.Tag, Mode: string(res.Mode),
		NothingToDo: res.NothingCopied(), Copied: res.Copied, Mounted: res.Mounted, Existing: res.Existing,
		Recorded: res.Recorded, FallbackTags: res.FallbackTags, Referrers: []string{},
	}
	var walk func([]*referrers.Node)
	walk = func(ns []*referrers.Node) {
		for _, n := range ns {
			out.Referrers = append(out.Referrers, n.Descriptor.Digest.String())
			walk(n.Referrers)
		}
	}
	walk(res.Referrers)
	for _, ch := range res.Children {
		walk(ch.Referrers)
	}
	return out
}

// copySummary is the text format's line on stderr.
func copySummary(res referrers.CopyResult, dst string) string {
	if res.NothingCopied() {
		return fmt.Sprintf("nothing to copy: %s has the subject and its %d referrer(s) already", dst, countNodes(res))
	}
	s := fmt.Sprintf("copied %d manifest(s) and %d blob(s) (%s)", res.Copied.Manifests, res.Copied.Blobs, size(res.Copied.Bytes))
	if res.Mounted.Blobs > 0 {
		s += fmt.Sprintf(", mounted %d blob(s)", res.Mounted.Blobs)
	}
	if n := res.Existing.Manifests + res.Existing.Blobs; n > 0 {
		s += fmt.Sprintf(", %d already there", n)
	}
	s += fmt.Sprintf("; %d referrer(s) in all", countNodes(res))
	switch res.Mode {
	case referrers.ModeTag:
		s += "; recorded in the referrers tag " + strings.Join(res.FallbackTags, ", ")
	case referrers.ModeAPI:
		s += "; listed by the Referrers API"
	}
	return s
}

func countNodes(res referrers.CopyResult) int {
	n := 0
	var walk func([]*referrers.Node)
	walk = func(ns []*referrers.Node) {
		for _, x := range ns {
			n++
			walk(x.Referrers)
		}
	}
	walk(res.Referrers)
	for _, ch := range res.Children {
		walk(ch.Referrers)
	}
	return n
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressLine is one status line on stderr, redrawn at most ten times a
// second.
type progressLine struct {
	w    io.Writer
	now  func() time.Time
	mu   sync.Mutex
	last time.Time
	n    referrers.CopyCount
	skip int
	line bool
}

func (p *progressLine) event(ev referrers.CopyEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Action {
	case referrers.CopyCopied, referrers.CopyMounted:
		if ev.Kind == "blob" {
			p.n.Blobs++
		} else {
			p.n.Manifests++
		}
		p.n.Bytes += ev.Descriptor.Size
	case referrers.CopyExists:
		p.skip++
	}
	if t := p.now(); t.Sub(p.last) >= 100*time.Millisecond {
		p.last = t
		p.draw()
	}
}

func (p *progressLine) draw() {
	fmt.Fprintf(p.w, "\r\x1b[Kcopying: %d manifest(s), %d blob(s), %s; %d already there", p.n.Manifests, p.n.Blobs, size(p.n.Bytes), p.skip)
	p.line = true
}

func (p *progressLine) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line {
		p.draw()
		fmt.Fprintln(p.w)
	}
}
