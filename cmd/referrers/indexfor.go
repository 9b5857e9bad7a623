package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/static"
)

// cmdIndexFor is `referrers index-for`: the seed's index_for.
//
//	referrers index-for static:DIR:NAME@DIGEST [--write]   one subject's index (stored with --write)
//	referrers index-for oci:DIR@DIGEST                     the same for a layout (print only)
//	referrers index-for --all static:DIR:NAME [--dry-run]  rebuild every index in one pass
func cmdIndexFor(ctx context.Context, e env, args []string) error {
	var c common
	fs := c.flags("index-for", e, "json or text (--all)", "json")
	write := fs.Bool("write", false, "static: store the index as the subject's pre-rendered referrers file")
	all := fs.Bool("all", false, "static: rebuild the index of every subject in one pass over the tree")
	dryRun := fs.Bool("dry-run", false, "with --all: report what would be written, write nothing")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: referrers index-for static:DIR:NAME@DIGEST [--write]
       referrers index-for oci:DIR[:TAG|@DIGEST]
       referrers index-for --all static:DIR:NAME [--dry-run]`)
		fs.PrintDefaults()
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
	if *dryRun && !*all {
		return usagef("--dry-run goes with --all")
	}
	loc, err := c.openTree(e, tr)
	if err != nil {
		return err
	}
	defer loc.close()
	if *all {
		return indexForAll(ctx, e, loc.target.(*static.Tree), !*dryRun, c.format)
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

func indexForAll(ctx context.Context, e env, t *static.Tree, write bool, format string) error {
	res, err := t.IndexForAll(ctx, write)
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
			Removed   []digest.Digest                 `json:"removed"`
			Manifests int                             `json:"manifestsRead"`
			Bytes     int64                           `json:"bytesRead"`
			Written   bool                            `json:"written"`
		}{res.Subjects, append([]digest.Digest{}, res.Removed...), res.Manifests, res.Bytes, write}
		enc := json.NewEncoder(display.NewJSONWriter(e.stdout))
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, s := range subjects {
		fmt.Fprintf(e.stdout, "%s  %d referrer(s)\n", display.Text(s.String()), len(res.Subjects[s].Manifests))
	}
	verb := "wrote"
	if !write {
		verb = "would write"
	}
	fmt.Fprintf(e.stderr, "referrers index-for: %s %d index(es), %d stale removed; read %d manifests (%d bytes) in one pass\n",
		verb, len(subjects), len(res.Removed), res.Manifests, res.Bytes)
	return nil
}
