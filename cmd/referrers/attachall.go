package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
)

// platformAll is the --platform of attach that attaches the artifact to each
// platform image manifest of an index subject.
const platformAll = "all"

// platformChild is a child of an index that --platform all attaches to.
type platformChild struct {
	// desc is the artifact's subject: the child's mediaType, digest and size.
	desc ocispec.Descriptor
	// platform is "os/arch[/variant]".
	platform string
}

// platformChildren picks the children of idx that --platform all attaches to:
// its image manifests with a platform, in the index's order. It does not
// descend into nested indexes. skipped says which children it leaves out and
// why, among them the attestation manifests buildx adds (platform
// unknown/unknown).
func platformChildren(idx ocispec.Index) (children []platformChild, skipped []string) {
	for _, m := range idx.Manifests {
		p := m.Platform
		why := ""
		switch {
		case m.MediaType == ocispec.MediaTypeImageIndex || m.MediaType == target.MediaTypeDockerManifestList:
			why = "an index: --platform all does not descend into nested indexes"
		case m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != target.MediaTypeDockerManifest:
			why = fmt.Sprintf("media type %q, not an image manifest", m.MediaType)
		case p != nil && p.OS == "unknown" && p.Architecture == "unknown":
			why = "an attestation manifest (platform unknown/unknown)"
		case m.Annotations["vnd.docker.reference.type"] == "attestation-manifest":
			why = "an attestation manifest (vnd.docker.reference.type)"
		case p == nil || p.OS == "" || p.Architecture == "":
			why = "without a platform"
		}
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("%s, %s", m.Digest, why))
			continue
		}
		children = append(children, platformChild{
			desc:     ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size},
			platform: strings.TrimSuffix(p.OS+"/"+p.Architecture+"/"+p.Variant, "/"),
		})
	}
	return children, skipped
}

// exportNames returns the file --export-manifest FILE writes for each child
// with --platform all: FILE.<os>-<arch>[-<variant>]. It refuses platforms that
// would not make a plain file name suffix (the index is someone else's data)
// and two children that would share a file (windows images of several
// os.version, or names that differ only in case).
func exportNames(file string, children []platformChild) ([]string, error) {
	names := make([]string, len(children))
	seen := map[string]string{}
	for i, ch := range children {
		for _, part := range strings.Split(ch.platform, "/") {
			if !fileNamePart(part) {
				return nil, fmt.Errorf("--export-manifest: the platform %q of %s cannot be part of a file name", ch.platform, ch.desc.Digest)
			}
		}
		names[i] = file + "." + strings.ReplaceAll(ch.platform, "/", "-")
		key := strings.ToLower(names[i])
		if other, ok := seen[key]; ok {
			return nil, fmt.Errorf("--export-manifest: %s and %s would both be written to %s (platform %s); attach to each with --platform os/arch[/variant] instead",
				other, ch.desc.Digest, names[i], ch.platform)
		}
		seen[key] = ch.desc.Digest.String()
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

// attachAll is attach --platform all: the artifact is attached to each
// platform image manifest of the index SUBJECT in turn, as its own referrer
// (the blobs are the same and the store keeps one copy: the later children find
// them there). It stops at the first child that fails and says which children
// were done; stdout is written only when every child was.
func attachAll(ctx context.Context, e env, format string, loc *location, subject string,
	client *referrers.Client, art referrers.Artifact, opts referrers.AttachOptions, exportManifest string) error {
	desc, err := loc.target.Resolve(ctx, loc.reference)
	if err != nil {
		return err
	}
	if desc.MediaType != ocispec.MediaTypeImageIndex && desc.MediaType != target.MediaTypeDockerManifestList {
		return fmt.Errorf("--platform %s: %s is a single manifest (%s), not an index; attach to it without --platform",
			platformAll, subject, desc.MediaType)
	}
	b, err := loc.target.FetchManifest(ctx, desc)
	if err != nil {
		return err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return fmt.Errorf("index %s: %w: %w", desc.Digest, target.ErrInvalidManifest, err)
	}
	children, skipped := platformChildren(idx)
	for _, s := range skipped {
		fmt.Fprintf(e.stderr, "referrers attach: --platform %s: skipping %s\n", platformAll, display.Text(s))
	}
	if len(children) == 0 {
		return fmt.Errorf("--platform %s: the index %s has no image manifest with a platform to attach to", platformAll, desc.Digest)
	}
	var files []string
	if exportManifest != "" {
		if files, err = exportNames(exportManifest, children); err != nil {
			return err
		}
	}

	outs := make([]attachOutput, 0, len(children))
	for i, ch := range children {
		res, err := client.Attach(ctx, loc.target, ch.desc, art, opts)
		for _, w := range res.Warnings {
			fmt.Fprintf(e.stderr, "referrers attach: warning: %s: %s\n", display.Text(ch.platform), display.Text(w))
		}
		if err == nil && files != nil {
			if werr := os.WriteFile(files[i], res.Manifest, 0o644); werr != nil {
				err = fmt.Errorf("attached as %s, but export manifest: %w", loc.at(res.Descriptor.Digest), werr)
			}
		}
		if err != nil {
			return fmt.Errorf("--platform %s: %s (%s): %w; %s", platformAll, ch.platform, loc.at(ch.desc.Digest), err,
				allProgress(outs, children[i+1:], opts.SkipIfExists))
		}
		outs = append(outs, newAttachOutput(loc, art, res, ch.platform))
		if note := attachNote(res, opts.Mode); note != "" && format == "text" {
			fmt.Fprintf(e.stderr, "referrers attach: %s: %s\n", display.Text(ch.platform), display.Text(note))
		}
	}
	if format == "json" {
		enc := json.NewEncoder(display.NewJSONWriter(e.stdout))
		enc.SetIndent("", "  ")
		return enc.Encode(outs)
	}
	for i, o := range outs {
		fmt.Fprintln(e.stdout, display.Text(o.Reference), display.Text(o.Platform), display.Text(children[i].desc.Digest.String()))
	}
	return nil
}

// allProgress says, after a child failed, which children were attached and
// which were not tried.
func allProgress(done []attachOutput, rest []platformChild, skipIfExists bool) string {
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
			fmt.Fprintf(&b, " %s (%s)", ch.platform, ch.desc.Digest)
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
