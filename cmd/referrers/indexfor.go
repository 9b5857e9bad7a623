package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/hosting"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/static"
)

// cmdIndexFor is `referrers index-for`.
//
//	referrers index-for static:DIR:NAME@DIGEST [--write]   one subject's index (stored with --write)
//	referrers index-for oci:DIR@DIGEST                     the same for a layout (print only)
//	referrers index-for --all static:DIR:NAME [--dry-run]  rebuild every index in one pass
//	referrers index-for --all --empty static:DIR:NAME      ... and an empty one for each manifest without referrers
//	referrers index-for --all --headers caddy|nginx|pages static:DIR:NAME
//	                                                       ... and print the headers a web server needs (package hosting)
func cmdIndexFor(ctx context.Context, e env, args []string) error {
	var c common
	fs := c.flags("index-for", e, "json or text (--all)", "json")
	write := fs.Bool("write", false, "static: store the index as the subject's pre-rendered referrers file")
	all := fs.Bool("all", false, "static: rebuild the index of every subject in one pass over the tree")
	dryRun := fs.Bool("dry-run", false, "with --all: report what would be written, write nothing")
	empty := fs.Bool("empty", false, "with --all: also write an empty referrers index for every manifest without referrers,\n"+
		"so that a web server serving the tree answers 200 for them, not 404")
	headers := fs.String("headers", "", "with --all: write the empty indexes (--empty) and print on stdout the response headers\n"+
		"a web server serving DIR needs, as `FORMAT`: caddy (a Caddyfile snippet), nginx (an include), pages (a _headers file)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: referrers index-for static:DIR:NAME@DIGEST [--write]
       referrers index-for oci:DIR[:TAG|@DIGEST]
       referrers index-for --all static:DIR:NAME [--dry-run] [--empty]
       referrers index-for --all --headers caddy|nginx|pages static:DIR:NAME`)
		printDefaults(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one tree reference, got %d arguments", len(pos))
	}
	tr, ok, err := parseTreeRef(pos[0])
	if !ok {
		return usagef("index-for scans on-disk trees (oci:... or static:...); for a registry use list")
	}
	if err != nil {
		return usageError{err}
	}
	if (*all || *write) && tr.kind != "static" {
		return usagef("--all and --write apply to static: trees")
	}
	if *all && tr.explicit {
		return usagef("--all takes static:DIR:NAME without a tag or digest")
	}
	if (*dryRun || *empty || *headers != "") && !*all {
		return usagef("--dry-run, --empty and --headers go with --all")
	}
	var format hosting.Format
	if *headers != "" {
		if format = hosting.Format(*headers); !slices.Contains(hosting.Formats, format) {
			return usagef("--headers %q: want caddy, nginx or pages", *headers)
		}
		if *dryRun {
			return usagef("--headers describes the tree as written; it does not go with --dry-run")
		}
		formatSet := false
		fs.Visit(func(f *flag.Flag) { formatSet = formatSet || f.Name == "format" })
		if formatSet {
			return usagef("--headers prints the configuration on stdout; --format does not apply")
		}
	}
	loc, err := c.openTree(e, tr)
	if err != nil {
		return err
	}
	defer loc.close()
	if *all {
		opts := static.AllOptions{Write: !*dryRun, Empty: *empty || *headers != ""}
		if *headers == "" {
			return indexForAll(ctx, e, loc.target.(*static.Tree), opts, c.format)
		}
		return indexForHeaders(ctx, e, loc.target.(*static.Tree), tr, opts, format)
	}
	subject, err := referrers.ResolveSubject(ctx, loc.target, loc.reference, c.platform)
	if err != nil {
		return err
	}
	var idx ocispec.Index
	if *write {
		idx, err = loc.target.(*static.Tree).WriteIndexFor(ctx, subject.Digest)
	} else {
		idx, err = referrers.IndexFor(ctx, loc.target, subject.Digest)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(display.NewJSONWriter(e.stdout))
	enc.SetIndent("", "  ")
	return enc.Encode(idx)
}

func indexForAll(ctx context.Context, e env, t *static.Tree, opts static.AllOptions, format string) error {
	res, err := t.IndexForAllWith(ctx, opts)
	if err != nil {
		return err
	}
	subjects := make([]digest.Digest, 0, len(res.Subjects))
	for s := range res.Subjects {
		subjects = append(subjects, s)
	}
	sort.Slice(subjects, func(i, j int) bool { return subjects[i] < subjects[j] })
	if format == "json" {
		out := struct {
			Subjects  map[digest.Digest]ocispec.Index `json:"subjects"`
			Empty     []digest.Digest                 `json:"empty"`
			Removed   []digest.Digest                 `json:"removed"`
			Manifests int                             `json:"manifestsRead"`
			Bytes     int64                           `json:"bytesRead"`
			Written   bool                            `json:"written"`
		}{res.Subjects, append([]digest.Digest{}, res.Empty...), append([]digest.Digest{}, res.Removed...), res.Manifests, res.Bytes, opts.Write}
		enc := json.NewEncoder(display.NewJSONWriter(e.stdout))
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, s := range subjects {
		fmt.Fprintf(e.stdout, "%s  %d referrer(s)\n", display.Text(s.String()), len(res.Subjects[s].Manifests))
	}
	summary(e, res, opts.Write)
	return nil
}

// summary is the line on stderr that ends `index-for --all`.
func summary(e env, res static.AllResult, write bool) {
	verb := "wrote"
	if !write {
		verb = "would write"
	}
	fmt.Fprintf(e.stderr, "referrers index-for: %s %d index(es) and %d empty one(s), %d stale removed; read %d manifests (%d bytes) in one pass\n",
		verb, len(res.Subjects), len(res.Empty), len(res.Removed), res.Manifests, res.Bytes)
}

// indexForHeaders is `index-for --all --headers FORMAT`: the rebuild (with
// the empty indexes), then the configuration on stdout (package hosting),
// the summary on stderr. Nothing is printed when the configuration cannot be
// made.
func indexForHeaders(ctx context.Context, e env, t *static.Tree, tr treeRef, opts static.AllOptions, f hosting.Format) error {
	res, err := t.IndexForAllWith(ctx, opts)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(tr.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	entries, err := hosting.Headers(ctx, root.FS(), tr.dir, tr.name)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	o := hosting.Options{Repository: tr.name, Root: tr.dir,
		Command: "referrers index-for --all --headers " + string(f) + " static:" + tr.dir + ":" + tr.name}
	if err := hosting.Render(&b, f, entries, o); err != nil {
		return err
	}
	if _, err := e.stdout.Write(b.Bytes()); err != nil {
		return err
	}
	summary(e, res, opts.Write)
	return nil
}
