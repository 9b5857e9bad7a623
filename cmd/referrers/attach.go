package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
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
	)
	fs.Var(&annotations, "annotation", "manifest annotation key=value (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: referrers attach SUBJECT [FILE[:MEDIATYPE]...] --artifact-type TYPE [flags]")
		fs.PrintDefaults()
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
	if *artifactType == "" && *config == "" {
		return usagef("--artifact-type is required (or --config FILE:MEDIATYPE with an artifact-specific media type)")
	}
	if *artifactType != "" {
		if err := referrers.ValidMediaType(*artifactType); err != nil {
			return usagef("--artifact-type: %v", err)
		}
	}
	mode, err := referrers.ParseMode(c.mode)
	if err != nil {
		return usageError{err}
	}
	art := referrers.Artifact{ArtifactType: *artifactType, Annotations: map[string]string{}}
	var af referrers.AnnotationFile
	if *annotationFile != "" {
		b, err := readSmallFile(*annotationFile, 1<<20)
		if err != nil {
			return err
		}
		if af, err = referrers.ParseAnnotationFile(b); err != nil {
			return fmt.Errorf("%s: %w", *annotationFile, err)
		}
		for k, v := range af.Manifest {
			art.Annotations[k] = v
		}
	}
	for _, a := range annotations {
		k, v, err := referrers.ParseAnnotation(a)
		if err != nil {
			return usageError{err}
		}
		art.Annotations[k] = v
	}
	if art.Created, err = createdValue(*created, e); err != nil {
		return usageError{err}
	}
	if *config != "" {
		path, mt := splitFileArg(*config)
		if mt == "" {
			return usagef("--config wants FILE:MEDIATYPE")
		}
		b, err := referrers.FileBlob(path, mt)
		if err != nil {
			return err
		}
		delete(b.Descriptor.Annotations, ocispec.AnnotationTitle)
		b.Descriptor.Annotations = mergeAnn(nil, af.Config)
		art.Config = &b
	}
	used := map[string]bool{}
	for _, f := range pos[1:] {
		path, mt := splitFileArg(f)
		b, err := referrers.FileBlob(path, mt)
		if err != nil {
			return err
		}
		title := b.Descriptor.Annotations[ocispec.AnnotationTitle]
		used[title] = true
		b.Descriptor.Annotations = mergeAnn(b.Descriptor.Annotations, af.Files[title])
		art.Layers = append(art.Layers, b)
	}
	for title := range af.Files {
		if !used[title] {
			return usagef("annotation file names %q, which is not one of the files", title)
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
	client := c.verbs(e)
	res, err := client.Attach(ctx, repo, subject, art, referrers.AttachOptions{Mode: mode, GCFallbackIndex: *gc, SkipIfExists: *skipIfExists})
	for _, w := range res.Warnings {
		fmt.Fprintln(e.stderr, "referrers attach: warning:", w)
	}
	if err != nil {
		return err
	}
	if *exportManifest != "" {
		if err := os.WriteFile(*exportManifest, res.Manifest, 0o644); err != nil {
			return fmt.Errorf("export manifest: %w", err)
		}
	}
	reference := loc.at(res.Descriptor.Digest)
	if c.format == "json" {
		out := struct {
			Digest       string `json:"digest"`
			Reference    string `json:"reference"`
			Subject      string `json:"subject"`
			ArtifactType string `json:"artifactType"`
			Mode         string `json:"mode"`
			FallbackTag  string `json:"fallbackTag,omitempty"`
			Skipped      bool   `json:"skipped,omitempty"`
		}{res.Descriptor.Digest.String(), reference, loc.at(subject.Digest), art.ArtifactType, string(res.Mode), res.FallbackTag, res.Skipped}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintln(e.stdout, reference)
	if res.Skipped {
		fmt.Fprintln(e.stderr, "referrers attach: an equivalent referrer exists; nothing pushed")
		return nil
	}
	switch {
	case res.Mode == referrers.ModeTag && mode == referrers.ModeTag:
		fmt.Fprintf(e.stderr, "referrers attach: recorded in the referrers tag %s (--referrers-mode tag)\n", res.FallbackTag)
	case res.Mode == referrers.ModeTag:
		fmt.Fprintf(e.stderr, "referrers attach: the registry has no Referrers API; recorded in the referrers tag %s\n", res.FallbackTag)
	}
	return nil
}

// splitFileArg splits "path[:mediatype]"; the part after the last ':' is a media
// type only if it has a '/', so paths with colons still work. When that split
// names no file but the whole argument does ("build:2024/out.txt"), the whole
// argument is the path.
func splitFileArg(s string) (path, mediaType string) {
	if i := strings.LastIndexByte(s, ':'); i > 0 && strings.Contains(s[i+1:], "/") {
		path, mediaType = s[:i], s[i+1:]
		if _, err := os.Stat(path); err != nil {
			if st, err := os.Stat(s); err == nil && st.Mode().IsRegular() {
				return s, ""
			}
		}
		return path, mediaType
	}
	return s, ""
}

// createdValue turns --created (or SOURCE_DATE_EPOCH) into an RFC 3339 string;
// "" means no created annotation (the default: deterministic digests).
func createdValue(flagValue string, e env) (string, error) {
	switch flagValue {
	case "none":
		return "", nil
	case "now":
		return e.now().UTC().Format(time.RFC3339), nil
	case "":
		if s := e.getenv("SOURCE_DATE_EPOCH"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return "", fmt.Errorf("SOURCE_DATE_EPOCH %q is not a non-negative integer", s)
			}
			return time.Unix(n, 0).UTC().Format(time.RFC3339), nil
		}
		return "", nil
	}
	t, err := time.Parse(time.RFC3339, flagValue)
	if err != nil {
		return "", fmt.Errorf("--created %q: want now, none or an RFC 3339 time", flagValue)
	}
	return t.Format(time.RFC3339), nil
}

func mergeAnn(a, b map[string]string) map[string]string {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	b := make([]byte, st.Size())
	_, err = io.ReadFull(f, b)
	return b, err
}
