package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/referrers"
)

// exportNames returns the file --export-manifest FILE writes for each child
// with --platform all: FILE.<os>-<arch>[-<variant>]. It refuses platforms that
// would not make a plain file name suffix (the index is someone else's data)
// and two children that would share a file (windows images of several
// os.version, or names that differ only in case).
func exportNames(file string, children []referrers.PlatformChild) ([]string, error) {
	names := make([]string, len(children))
	seen := map[string]string{}
	for i, ch := range children {
		for _, part := range strings.Split(ch.Platform, "/") {
			if !fileNamePart(part) {
				return nil, fmt.Errorf("--export-manifest: the platform %q of %s cannot be part of a file name", ch.Platform, ch.Descriptor.Digest)
			}
		}
		names[i] = file + "." + strings.ReplaceAll(ch.Platform, "/", "-")
		key := strings.ToLower(names[i])
		if other, ok := seen[key]; ok {
			return nil, fmt.Errorf("--export-manifest: %s and %s would both be written to %s (platform %s); attach to each with --platform os/arch[/variant] instead",
				other, ch.Descriptor.Digest, names[i], ch.Platform)
		}
		seen[key] = ch.Descriptor.Digest.String()
	}
	return names, nil
}

// fileNamePart reports whether s is a non-empty run of ASCII letters, digits,
// '.', '_' and '-'.
func fileNamePart(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// attachAll is attach --platform all: the verb attaches the artifact to each
// platform image manifest of the index SUBJECT in turn
// (referrers.AttachOptions.AllPlatforms); this renders what it did, and with
// --export-manifest writes each child's manifest as it is attached. stdout
// is written only when every child was attached.
func attachAll(ctx context.Context, e env, format string, loc *location, subject string,
	client *referrers.Client, art referrers.Artifact, opts referrers.AttachOptions, exportManifest string) error {
	desc, err := referrers.ResolveSubject(ctx, loc.target, loc.reference, "")
	if err != nil {
		return err
	}
	var files []string
	var exportErr error
	opts.AllPlatforms = true
	if exportManifest != "" {
		opts.BeforePlatforms = func(children []referrers.PlatformChild) error {
			files, exportErr = exportNames(exportManifest, children)
			return exportErr
		}
		opts.AfterPlatform = func(i int, res referrers.AttachResult) error {
			if err := os.WriteFile(files[i], res.Manifest, 0o644); err != nil {
				return fmt.Errorf("attached as %s, but export manifest: %w", loc.at(res.Descriptor.Digest), err)
			}
			return nil
		}
	}
	res, err := client.Attach(ctx, loc.target, desc, art, opts)
	for _, s := range res.SkippedChildren {
		fmt.Fprintf(e.stderr, "referrers attach: --platform %s: skipping %s\n", referrers.PlatformAll, display.Text(s.String()))
	}
	outs := make([]attachOutput, 0, len(res.Platforms))
	for _, r := range res.Platforms {
		warnChild(e, r)
		outs = append(outs, newAttachOutput(loc, art, r, r.Platform))
		if note := attachNote(r, opts.Mode); note != "" && format == "text" {
			fmt.Fprintf(e.stderr, "referrers attach: %s: %s\n", display.Text(r.Platform), display.Text(note))
		}
	}
	var pe *referrers.PlatformError
	switch {
	case err == nil:
	case exportErr != nil:
		return exportErr
	case errors.Is(err, referrers.ErrNotIndex):
		return fmt.Errorf("--platform %s: %s is a single manifest (%s), not an index; attach to it without --platform",
			referrers.PlatformAll, subject, desc.MediaType)
	case errors.As(err, &pe):
		warnChild(e, pe.Result)
		return fmt.Errorf("--platform %s: %s (%s): %w; %s", referrers.PlatformAll, pe.Child.Platform, loc.at(pe.Child.Descriptor.Digest), pe.Err,
			allProgress(outs, pe.NotTried, opts.SkipIfExists))
	default:
		return fmt.Errorf("--platform %s: %w", referrers.PlatformAll, err)
	}
	if format == "json" {
		enc := json.NewEncoder(display.NewJSONWriter(e.stdout))
		enc.SetIndent("", "  ")
		return enc.Encode(outs)
	}
	for _, r := range res.Platforms {
		fmt.Fprintln(e.stdout, display.Text(loc.at(r.Descriptor.Digest)), display.Text(r.Platform), display.Text(r.Subject.Digest.String()))
	}
	return nil
}

// warnChild prints the warnings of one child's attach.
func warnChild(e env, r referrers.AttachResult) {
	for _, w := range r.Warnings {
		fmt.Fprintf(e.stderr, "referrers attach: warning: %s: %s\n", display.Text(r.Platform), display.Text(w))
	}
}

// allProgress says, after a child failed, which children were attached and
// which were not tried.
func allProgress(done []attachOutput, rest []referrers.PlatformChild, skipIfExists bool) string {
	var b strings.Builder
	if len(done) == 0 {
		b.WriteString("nothing was attached before it")
	} else {
		b.WriteString("attached before it:")
		for i, o := range done {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, " %s as %s", o.Platform, o.Reference)
		}
	}
	if len(rest) > 0 {
		b.WriteString("; not tried:")
		for i, ch := range rest {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, " %s (%s)", ch.Platform, ch.Descriptor.Digest)
		}
	}
	switch {
	case len(done) == 0:
	case skipIfExists:
		b.WriteString("; rerun to attach where it is missing")
	default:
		b.WriteString("; rerun with --skip-if-exists to attach only where it is missing")
	}
	return b.String()
}
