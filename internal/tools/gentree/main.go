// Command gentree writes the deterministic trees of the scale benchmarks
// (scripts/bench-trees.sh): an OCI image layout and/or a registry-v2 static
// tree with N manifests: K referrers of one subject and N-K images, image 0
// (the subject) tagged "subject". See package treegen for the exact content.
//
//	gentree [-n N] [-k K] [-artifact-type T] [-layout DIR] [-static DIR:NAME] [-list FILE]
//
// -layout writes an OCI image layout into DIR (`referrers list oci:DIR:subject`,
// `oras discover --oci-layout DIR:subject`); -static writes repository NAME of
// a static tree into DIR (`referrers list static:DIR:NAME:subject`). Either
// directory must be empty or absent. -list writes the referrers' digests,
// sorted, one a line: what a correct list must print. A summary goes to
// stderr; the subject's digest to stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/oci-referrers/referrers/internal/tools/gentree/treegen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gentree", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 10000, "manifests in all: K referrers and N-K images (image 0 is the subject)")
	k := fs.Int("k", 100, "referrers of the subject")
	at := fs.String("artifact-type", treegen.DefaultArtifactType, "the referrers' artifactType")
	layoutDir := fs.String("layout", "", "write an OCI image layout into this directory")
	staticRef := fs.String("static", "", "write a static tree: DIR:NAME")
	list := fs.String("list", "", "write the referrers' digests (sorted, one a line) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *layoutDir == "" && *staticRef == "" {
		return errors.New("nothing to do: give -layout DIR and/or -static DIR:NAME")
	}
	spec := treegen.Spec{Manifests: *n, Referrers: *k, ArtifactType: *at}
	var res treegen.Result
	if *layoutDir != "" {
		r, err := treegen.Layout(*layoutDir, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gentree: layout %s: %d manifests (%d images, %d referrers), %d files, %d bytes in %s\n",
			*layoutDir, r.Manifests, r.Images, *k, r.Files, r.Bytes, r.Elapsed.Round(1e6))
		res = r
	}
	if *staticRef != "" {
		i := strings.LastIndex(*staticRef, ":")
		if i <= 0 || i == len(*staticRef)-1 {
			return fmt.Errorf("-static %q: want DIR:NAME", *staticRef)
		}
		dir, name := (*staticRef)[:i], (*staticRef)[i+1:]
		r, err := treegen.Static(dir, name, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gentree: static %s:%s: %d manifests (%d images, %d referrers), %d files, %d bytes in %s\n",
			dir, name, r.Manifests, r.Images, *k, r.Files, r.Bytes, r.Elapsed.Round(1e6))
		res = r
	}
	if *list != "" {
		var b strings.Builder
		for _, d := range res.Referrers {
			b.WriteString(d.String())
			b.WriteByte('\n')
		}
		if err := os.WriteFile(*list, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, res.Subject.Digest)
	return nil
}
