package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/referrers"
)

func cmdList(ctx context.Context, e env, args []string) (err error) {
	var c common
	defer func() { err = c.explain(err) }()
	fs := c.flags("list", e, "table, json or tree", "table")
	var types, annotations repeated
	fs.Var(&types, "artifact-type", "keep referrers of this artifactType (repeatable: any of them)")
	fs.Var(&annotations, "annotation", "keep referrers with this annotation key=value (repeatable: all of them)")
	depth := fs.Int("depth", 1, "levels of referrers to list (2 adds the referrers of referrers)")
	fs.BoolVar(&c.scanBlobs, "scan-blobs", false, "oci: also scan every manifest blob in blobs/, not only those index.json reaches")
	sortKey := fs.String("sort-annotation", "", "sort the referrers (first level) by the value of annotation `KEY`, ascending, instead of by digest;\n"+
		"values compare as strings, so UTC RFC 3339 times of one precision (as --created now writes them) sort by time;\n"+
		"referrers without KEY come last; ties go by digest")
	latest := fs.Bool("latest", false, "keep only the referrer with the greatest value of the --sort-annotation KEY\n"+
		"(default "+referrers.LatestAnnotation+"), after --artifact-type and --annotation;\n"+
		"referrers without KEY are skipped with a warning; if none has it, an error (exit 1)")
	includeChildren := fs.Bool("include-children", false, "for an index SUBJECT, also list the referrers of each of its child manifests\n"+
		"(in the index's order, each with the same filters); not with --platform")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: referrers list SUBJECT [flags]")
		printDefaults(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one SUBJECT, got %d arguments", len(pos))
	}
	if c.format != "table" && c.format != "json" && c.format != "tree" {
		return usagef("--format must be table, json or tree")
	}
	if *depth < 1 || *depth > 64 {
		return usagef("--depth must be between 1 and 64")
	}
	if *includeChildren && c.platform != "" {
		return usagef("--include-children lists every child of the index and --platform picks one: give one of them")
	}
	mode, err := referrers.ParseMode(c.mode)
	if err != nil {
		return usageError{err}
	}
	opts := referrers.ListOptions{Mode: mode, ArtifactTypes: types, Depth: *depth,
		SortAnnotation: *sortKey, Latest: *latest, IncludeChildren: *includeChildren}
	if len(annotations) > 0 {
		opts.Annotations = map[string]string{}
		for _, a := range annotations {
			k, v, err := referrers.ParseAnnotation(a)
			if err != nil {
				return usageError{err}
			}
			opts.Annotations[k] = v
		}
	}
	loc, err := c.openLocation(ctx, e, pos[0])
	if err != nil {
		return err
	}
	defer loc.close()
	repo := loc.target
	subject, missing, err := referrers.ResolveListSubject(ctx, repo, loc.reference, c.platform)
	if err != nil {
		return err
	}
	if missing {
		fmt.Fprintf(e.stderr, "referrers list: note: the subject manifest %s is not there; listing the referrers of its digest\n",
			display.Text(loc.at(subject.Digest)))
	}
	res, err := c.verbs(e).List(ctx, repo, subject, opts)
	if err != nil {
		return err
	}
	isIndex := referrers.IsIndex(subject.MediaType)
	switch {
	case !*includeChildren || isIndex:
	case missing:
		fmt.Fprintf(e.stderr, "referrers list: note: without the subject manifest, %s is not known to be an index: --include-children has no children to list\n",
			display.Text(loc.at(subject.Digest)))
	default:
		fmt.Fprintf(e.stderr, "referrers list: note: %s is not an index (%s): --include-children has no children to list\n",
			display.Text(loc.at(subject.Digest)), display.Text(subject.MediaType))
	}
	children := make([]child, len(res.Children))
	for i, ch := range res.Children {
		children[i] = child{desc: ch.Descriptor, platform: ch.Platform, res: ch.Result()}
	}
	writeWarnings(e.stderr, res, children)
	switch {
	case c.format == "json" && *includeChildren:
		return writeJSONChildren(e.stdout, res, children, *depth)
	case c.format == "json":
		return writeJSON(e.stdout, res, *depth)
	case c.format == "tree":
		writeTree(e.stdout, loc.at(subject.Digest), res, children)
	case *includeChildren && isIndex:
		fmt.Fprintln(e.stdout, "index", display.Text(loc.at(subject.Digest)))
		writeTable(e.stdout, res)
		for _, ch := range children {
			fmt.Fprintln(e.stdout)
			fmt.Fprintln(e.stdout, "child", display.Text(ch.platform), display.Text(loc.at(ch.desc.Digest)))
			writeTable(e.stdout, ch.res)
		}
	default:
		writeTable(e.stdout, res)
	}
	return nil
}

// writeWarnings prints the warnings of the listing and of its children, each
// on a line of its own (they carry registry data: package display renders
// them).
func writeWarnings(w io.Writer, res referrers.ListResult, children []child) {
	for _, s := range res.Warnings {
		fmt.Fprintln(w, "referrers list: warning:", display.Text(s))
	}
	for _, ch := range children {
		for _, s := range ch.res.Warnings {
			fmt.Fprintf(w, "referrers list: warning: child %s %s: %s\n",
				display.Text(ch.platform), display.Text(ch.desc.Digest.String()), display.Text(s))
		}
	}
}

// child is a child manifest of an index SUBJECT and its referrers
// (--include-children), as the renderers take it.
type child struct {
	// desc is the child's entry in the index, platform included.
	desc ocispec.Descriptor
	// platform is os/arch[/variant], or "unknown" when the entry has none.
	platform string
	res      referrers.ListResult
}

// writeJSON prints the referrers image index as the Referrers API shapes it
// (entries sorted by digest, unless --sort-annotation or --latest reordered or
// dropped them). With --depth > 1 it prints
// {"subject", "mode", "referrers": [{"descriptor", "mode", "referrers"}]}.
func writeJSON(w io.Writer, res referrers.ListResult, depth int) error {
	if depth <= 1 {
		return writeListJSON(w, res)
	}
	enc := json.NewEncoder(display.NewJSONWriter(w))
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Subject   ocispec.Descriptor `json:"subject"`
		Mode      referrers.Mode     `json:"mode"`
		Referrers []*referrers.Node  `json:"referrers"`
	}{res.Subject, res.Mode, nonNil(res.Referrers)})
}

// writeJSONChildren prints the --include-children shape:
// {"subject", "mode", "referrers", "children": [{"descriptor", "platform",
// "mode", "referrers"}]}, where each "referrers" is what writeJSON prints for
// that subject at depth: an image index, or with --depth above 1 the nodes.
// "children" is [] when the subject is not an index, so the shape does not
// depend on the subject.
func writeJSONChildren(w io.Writer, res referrers.ListResult, children []child, depth int) error {
	type childJSON struct {
		Descriptor ocispec.Descriptor `json:"descriptor"`
		Platform   string             `json:"platform"`
		Mode       referrers.Mode     `json:"mode"`
		Referrers  any                `json:"referrers"`
	}
	list := func(r referrers.ListResult) any {
		if depth <= 1 {
			return r.Index()
		}
		return nonNil(r.Referrers)
	}
	out := struct {
		Subject   ocispec.Descriptor `json:"subject"`
		Mode      referrers.Mode     `json:"mode"`
		Referrers any                `json:"referrers"`
		Children  []childJSON        `json:"children"`
	}{res.Subject, res.Mode, list(res), []childJSON{}}
	for _, ch := range children {
		out.Children = append(out.Children, childJSON{ch.desc, ch.platform, ch.res.Mode, list(ch.res)})
	}
	enc := json.NewEncoder(display.NewJSONWriter(w))
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func nonNil(n []*referrers.Node) []*referrers.Node {
	if n == nil {
		return []*referrers.Node{}
	}
	return n
}

func writeTable(w io.Writer, res referrers.ListResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIGEST\tARTIFACT TYPE\tSIZE\tCREATED\tMODE")
	var rows func(ns []*referrers.Node, indent string, mode referrers.Mode)
	rows = func(ns []*referrers.Node, indent string, mode referrers.Mode) {
		for _, n := range ns {
			d := n.Descriptor
			fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t%s\n", indent, display.Text(d.Digest.String()), orDash(d.ArtifactType), d.Size,
				orDash(d.Annotations[ocispec.AnnotationCreated]), display.Text(string(mode)))
			rows(n.Referrers, indent+"  ", n.Mode)
		}
	}
	rows(res.Referrers, "", res.Mode)
	tw.Flush()
}

// writeTree prints the subject, its referrers below it and then, with
// --include-children, each child of the index as a node ("child PLATFORM
// DIGEST (MODE)") with the child's referrers below it.
func writeTree(w io.Writer, subject string, res referrers.ListResult, children []child) {
	fmt.Fprintf(w, "%s (%s)\n", display.Text(subject), display.Text(string(res.Mode)))
	var walk func(ns []*referrers.Node, prefix string, more bool)
	walk = func(ns []*referrers.Node, prefix string, more bool) {
		for i, n := range ns {
			branch, next := "├── ", "│   "
			if i == len(ns)-1 && !more {
				branch, next = "└── ", "    "
			}
			d := n.Descriptor
			line := orDash(d.ArtifactType) + "  " + display.Text(d.Digest.String())
			if t := d.Annotations[ocispec.AnnotationTitle]; t != "" {
				line += "  " + display.Text(t)
			}
			fmt.Fprintf(w, "%s%s%s\n", prefix, branch, line)
			walk(n.Referrers, prefix+next, false)
		}
	}
	if len(res.Referrers) == 0 && len(children) == 0 {
		fmt.Fprintln(w, "(no referrers)")
	}
	walk(res.Referrers, "", len(children) > 0)
	for i, ch := range children {
		branch, next := "├── ", "│   "
		if i == len(children)-1 {
			branch, next = "└── ", "    "
		}
		fmt.Fprintf(w, "%schild %s  %s (%s)\n", branch, display.Text(ch.platform), display.Text(ch.desc.Digest.String()),
			display.Text(string(ch.res.Mode)))
		if len(ch.res.Referrers) == 0 {
			fmt.Fprintf(w, "%s(no referrers)\n", next)
		}
		walk(ch.res.Referrers, next, false)
	}
}

// orDash renders s (outside data) for a column: "-" when it is empty or only
// spaces, otherwise as package display renders it.
func orDash(s string) string {
	if s = display.Text(s); strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
