package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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
	var ord orderOptions
	fs.StringVar(&ord.sortKey, "sort-annotation", "", "sort the referrers (first level) by the value of annotation `KEY`, ascending, instead of by digest;\n"+
		"values compare as strings, so UTC RFC 3339 times of one precision (as --created now writes them) sort by time;\n"+
		"referrers without KEY come last; ties go by digest")
	fs.BoolVar(&ord.latest, "latest", false, "keep only the referrer with the greatest value of the --sort-annotation KEY\n"+
		"(default "+latestKey+"), after --artifact-type and --annotation;\n"+
		"referrers without KEY are skipped with a warning; if none has it, an error (exit 1)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: referrers list SUBJECT [flags]")
		fs.PrintDefaults()
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
	mode, err := referrers.ParseMode(c.mode)
	if err != nil {
		return usageError{err}
	}
	opts := referrers.ListOptions{Mode: mode, ArtifactTypes: types, Depth: *depth}
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
	subject, err := referrers.ResolveSubject(ctx, repo, loc.reference, c.platform)
	if err != nil {
		return err
	}
	res, err := c.verbs(e).List(ctx, repo, subject, opts)
	if err != nil {
		return err
	}
	var w string
	if res.Referrers, w, err = order(res.Referrers, ord); err != nil {
		return err
	}
	if w != "" {
		res.Warnings = append(res.Warnings, w)
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(e.stderr, "referrers list: warning:", w)
	}
	switch c.format {
	case "json":
		return writeJSON(e.stdout, res, *depth)
	case "tree":
		writeTree(e.stdout, loc.at(subject.Digest), res)
	default:
		writeTable(e.stdout, res)
	}
	return nil
}

// writeJSON prints the referrers image index as the Referrers API shapes it
// (entries sorted by digest, unless --sort-annotation or --latest reordered or
// dropped them). With --depth > 1 it prints
// {"subject", "mode", "referrers": [{"descriptor", "mode", "referrers"}]}.
func writeJSON(w io.Writer, res referrers.ListResult, depth int) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if depth <= 1 {
		return enc.Encode(res.Index())
	}
	return enc.Encode(struct {
		Subject   ocispec.Descriptor `json:"subject"`
		Mode      referrers.Mode     `json:"mode"`
		Referrers []*referrers.Node  `json:"referrers"`
	}{res.Subject, res.Mode, nonNil(res.Referrers)})
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
			fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t%s\n", indent, d.Digest, orDash(d.ArtifactType), d.Size,
				orDash(d.Annotations[ocispec.AnnotationCreated]), mode)
			rows(n.Referrers, indent+"  ", n.Mode)
		}
	}
	rows(res.Referrers, "", res.Mode)
	tw.Flush()
}

func writeTree(w io.Writer, subject string, res referrers.ListResult) {
	fmt.Fprintf(w, "%s (%s)\n", subject, res.Mode)
	var walk func(ns []*referrers.Node, prefix string)
	walk = func(ns []*referrers.Node, prefix string) {
		for i, n := range ns {
			branch, next := "├── ", "│   "
			if i == len(ns)-1 {
				branch, next = "└── ", "    "
			}
			d := n.Descriptor
			line := orDash(d.ArtifactType) + "  " + d.Digest.String()
			if t := d.Annotations[ocispec.AnnotationTitle]; t != "" {
				line += "  " + t
			}
			fmt.Fprintf(w, "%s%s%s\n", prefix, branch, line)
			walk(n.Referrers, prefix+next)
		}
	}
	if len(res.Referrers) == 0 {
		fmt.Fprintln(w, "(no referrers)")
	}
	walk(res.Referrers, "")
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
