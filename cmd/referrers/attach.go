package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/layout"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/internal/frontend"
	"github.com/oci-referrers/referrers/internal/frontend/progress"
)

func cmdAttach(ctx context.Context, e env, args []string) (err error) {
	var c common
	defer func() { err = c.explain(err) }()
	fs := c.flags("attach", e, "text or json", "text")
	var (
		artifactType   = fs.String("artifact-type", "", "the artifact's type, e.g. application/spdx+json (required unless --config gives one)")
		annotations    repeated
		annotationFile = fs.String("annotation-file", "", "JSON file of annotations in the oras format ($manifest, $config and per-file keys)")
		config         = fs.String("config", "", "FILE:MEDIATYPE to use as the config instead of the empty descriptor")
		created        = fs.String("created", "", "org.opencontainers.image.created: now, an RFC 3339 time, or none (default: none, or SOURCE_DATE_EPOCH when set)")
		gc             = fs.Bool("gc-fallback-index", false, "delete the superseded referrers tag index (needs delete permission)")
		skipIfExists   = fs.Bool("skip-if-exists", false, "push nothing if a referrer with the same artifact type, config and files exists (annotations may differ)")
		exportManifest = fs.String("export-manifest", "", "also write the pushed manifest to this file")
		stdinName      = fs.String("stdin-name", "", "the title (org.opencontainers.image.title) of the file - read from standard input\n"+
			"(required with -; it is spooled to a temporary file, removed afterwards)")
	)
	fs.StringVar(&c.ociStyle, "oci-referrers", "both", "how an oci: layout records the referrer: both (an untagged index.json entry, which oras reads,\n"+
		"and the <alg>-<hex> referrers tag, which regctl reads), index or tag (one of them only)")
	fs.Var(&annotations, "annotation", "manifest annotation key=value (repeatable)")
	showProgress := progressFlags(fs, "progress of each upload of "+progressMiB+" or more on stderr")
	fs.Lookup("platform").Usage = "for an index SUBJECT, attach to its child for os/arch[/variant], or with all to each of its platform image manifests"
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: referrers attach SUBJECT [FILE[:MEDIATYPE]...] --artifact-type TYPE [flags]")
		fmt.Fprintln(fs.Output(), "A FILE of - is standard input (with --stdin-name; ./- for a file named -).")
		printDefaults(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 {
		return usagef("missing SUBJECT")
	}
	if c.format != "text" && c.format != "json" {
		return usagef("--format must be text or json")
	}
	mode, err := referrers.ParseMode(c.mode)
	if err != nil {
		return usageError{err}
	}
	if _, err := layout.ParseStyle(c.ociStyle); err != nil {
		return usagef("--oci-referrers: %w", err)
	}
	all := c.platform == referrers.PlatformAll
	if all {
		c.platform = "" // the subject is the index; attachAll picks its children
	} else if c.platform != "" {
		if _, err := referrers.ParsePlatform(c.platform); err != nil {
			return usagef("--platform: %w, or %s", err, referrers.PlatformAll)
		}
	}
	spoolDir, err := stdinSpool(pos[1:], c.passwordStdin)
	if err != nil {
		return err
	}
	if spoolDir != "" {
		defer os.RemoveAll(spoolDir)
	}
	art, err := frontend.ArtifactSpec{
		ArtifactType:   *artifactType,
		Files:          pos[1:],
		Annotations:    annotations,
		AnnotationFile: *annotationFile,
		Config:         *config,
		Created:        *created,
		Stdin:          ctxReader{ctx, e.stdin},
		StdinName:      *stdinName,
		SpoolDir:       spoolDir,
	}.Build(e.getenv, e.now)
	if errors.Is(err, frontend.ErrInput) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if on, err := showProgress(e); err != nil {
		return err
	} else if on {
		progress.Artifact(&art, func(name string, total int64) *progress.Meter {
			return progress.New(e.stderr, progress.Line, name, total, e.now)
		})
	}

	loc, err := c.openLocation(ctx, e, pos[0])
	if err != nil {
		return err
	}
	defer loc.close()
	repo := loc.target
	client := c.verbs(e)
	opts := referrers.AttachOptions{Mode: mode, GCFallbackIndex: *gc, SkipIfExists: *skipIfExists}
	if all {
		return attachAll(ctx, e, c.format, loc, pos[0], client, art, opts, *exportManifest)
	}
	subject, err := referrers.ResolveSubject(ctx, repo, loc.reference, c.platform)
	if err != nil {
		return err
	}
	res, err := client.Attach(ctx, repo, subject, art, opts)
	for _, w := range res.Warnings {
		fmt.Fprintln(e.stderr, "referrers attach: warning:", display.Text(w))
	}
	if err != nil {
		return err
	}
	if *exportManifest != "" {
		if err := os.WriteFile(*exportManifest, res.Manifest, 0o644); err != nil {
			return fmt.Errorf("export manifest: %w", err)
		}
	}
	out := newAttachOutput(loc, art, res, "")
	if c.format == "json" {
		enc := json.NewEncoder(display.NewJSONWriter(e.stdout))
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintln(e.stdout, display.Text(out.Reference))
	if note := attachNote(res, mode); note != "" {
		fmt.Fprintln(e.stderr, "referrers attach:", display.Text(note))
	}
	return nil
}

// attachOutput is the json output of one attach (an element of the array that
// --platform all prints).
type attachOutput struct {
	Digest       string `json:"digest"`
	Reference    string `json:"reference"`
	Subject      string `json:"subject"`
	Platform     string `json:"platform,omitempty"` // --platform all only
	ArtifactType string `json:"artifactType"`
	Mode         string `json:"mode"`
	FallbackTag  string `json:"fallbackTag,omitempty"`
	Skipped      bool   `json:"skipped,omitempty"`
}

func newAttachOutput(loc *location, art referrers.Artifact, res referrers.AttachResult, platform string) attachOutput {
	return attachOutput{
		Digest:       res.Descriptor.Digest.String(),
		Reference:    loc.at(res.Descriptor.Digest),
		Subject:      loc.at(res.Subject.Digest),
		Platform:     platform,
		ArtifactType: art.ArtifactType,
		Mode:         string(res.Mode),
		FallbackTag:  res.FallbackTag,
		Skipped:      res.Skipped,
	}
}

// attachNote is what the text format says on stderr about an attach that
// succeeded, or "": that nothing was pushed, or that the referrers tag schema
// recorded it (mode is the one asked for).
func attachNote(res referrers.AttachResult, mode referrers.Mode) string {
	switch {
	case res.Skipped:
		return "an equivalent referrer exists; nothing pushed"
	case res.Mode == referrers.ModeTag && mode == referrers.ModeTag:
		return fmt.Sprintf("recorded in the referrers tag %s (--referrers-mode tag)", res.FallbackTag)
	case res.Mode == referrers.ModeTag:
		return fmt.Sprintf("the registry has no Referrers API; recorded in the referrers tag %s", res.FallbackTag)
	}
	return ""
}

// stdinSpool returns a new temporary directory to spool standard input to
// when the files name it ("-"), and "" when they do not. Standard input cannot
// be both a file and the password of --password-stdin.
func stdinSpool(files []string, passwordStdin bool) (string, error) {
	if !frontend.ReadsStdin(files) {
		return "", nil
	}
	if passwordStdin {
		return "", usagef("the file %s and --password-stdin both read standard input; "+
			"give the credentials with REFERRERS_USERNAME and REFERRERS_PASSWORD instead", frontend.StdinFile)
	}
	dir, err := os.MkdirTemp("", "referrers-stdin-")
	if err != nil {
		return "", fmt.Errorf("spool standard input: %w", err)
	}
	return dir, nil
}

// ctxReader is r whose reads give up when ctx ends, so that an interrupt stops
// an attach waiting on a terminal's standard input. A read that gives up goes
// on in its goroutine; the process is about to exit.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := c.r.Read(p)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}
