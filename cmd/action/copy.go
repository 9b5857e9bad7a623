package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/oci-referrers/referrers/core/credential"
	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/registry"
)

// copyCommand is command copy: subject (with subject-digest) and its
// referrers graph to destination, for promotion workflows. destination gets
// its own tag, else the subject's.
func (a *action) copyCommand(ctx context.Context) error {
	in := a.in
	src, err := a.subjectRef()
	if err != nil {
		return err
	}
	if strings.HasPrefix(in.destination, "oci:") || strings.HasPrefix(in.destination, "static:") {
		return inputErrorf("input destination %q: the action works on registries; for an on-disk tree, run the referrers command line", in.destination)
	}
	dst, err := ref.Parse(in.destination)
	if err != nil {
		return inputErrorf("input destination: %v", err)
	}
	mode, err := referrers.ParseMode(in.mode)
	if err != nil {
		return inputErrorf("input referrers-mode: %v", err)
	}
	if in.platform != "" {
		if _, err := referrers.ParsePlatform(in.platform); err != nil {
			return inputErrorf("input platform: %v", err)
		}
	}
	client := a.client(src, dst)
	srcRepo, dstRepo := client.Repository(src), client.Repository(dst)
	subject, err := referrers.ResolveSubject(ctx, srcRepo, src.Ref(), in.platform)
	if err != nil {
		return a.explain(src, err)
	}
	if dst.Digest != "" && dst.Digest != subject.Digest {
		return inputErrorf("input destination names digest %s, but subject is %s", dst.Digest, subject.Digest)
	}
	tag := dst.Tag
	if tag == "" && dst.Digest == "" && in.platform == "" {
		tag = src.Tag
	}
	a.setOutput("subject-digest", subject.Digest.String())
	res, err := a.verbs().Copy(ctx, srcRepo, dstRepo, subject, referrers.CopyOptions{
		Mode: mode, Tag: tag, Depth: in.depth, ArtifactTypes: in.artifactTypes, ReferrersOnly: in.referrersOnly})
	a.warn(res.Warnings)
	if err != nil {
		return a.explain(dst, err)
	}
	at := dst.WithDigest(subject.Digest).String()
	a.setOutput("digest", subject.Digest.String())
	a.setOutput("reference", at)
	a.setOutput("mode", string(res.Mode))
	a.setOutput("fallback-tag", strings.Join(res.FallbackTags, "\n"))
	n := 0
	var rows [][]string
	var walk func(level int, ns []*referrers.Node)
	walk = func(level int, ns []*referrers.Node) {
		for _, x := range ns {
			n++
			rows = append(rows, []string{fmt.Sprint(level), x.Descriptor.ArtifactType, x.Descriptor.Digest.String()})
			walk(level+1, x.Referrers)
		}
	}
	walk(1, res.Referrers)
	for _, ch := range res.Children {
		walk(1, ch.Referrers)
	}
	a.setOutput("count", fmt.Sprint(n))
	note := fmt.Sprintf("Copied %d manifest(s) and %d blob(s), mounted %d blob(s), %d already there.",
		res.Copied.Manifests, res.Copied.Blobs, res.Mounted.Blobs, res.Existing.Manifests+res.Existing.Blobs)
	if res.NothingCopied() {
		note = "Nothing to copy: the destination has the subject and its referrers already."
	}
	a.gha.Infof("%s", display.Text(note))
	a.summary = append(a.summary, &table{
		title:  "referrers copy " + src.String() + " → " + at,
		header: []string{"level", "artifact type", "digest"},
		rows:   rows,
		notes:  []string{note, "Referrers recorded at the destination: " + modeName(res.Mode, strings.Join(res.FallbackTags, ", "))},
	})
	return nil
}

// client builds one registry client for both ends of a copy (so that a
// copy within a registry mounts blobs): the username and password inputs
// and the github-token apply to each registry named, after them the
// Docker config and containers auth.json files, as for one repository.
func (a *action) client(refs ...ref.Reference) *registry.Client {
	in := a.in
	var stores []credential.Store
	if in.username != "" {
		for _, r := range refs {
			stores = append(stores, credential.Static(r.Registry, credential.Credential{Username: in.username, Password: in.password}))
		}
	}
	stores = append(stores, credential.Default(a.getenv))
	for _, r := range refs {
		if in.githubToken != "" && tokenHosts[r.Registry] {
			user := a.getenv("GITHUB_ACTOR")
			if user == "" {
				user = "github-actions"
			}
			stores = append(stores, credential.Static(r.Registry, credential.Credential{Username: user, Password: in.githubToken}))
		}
	}
	opts := []registry.Option{
		registry.WithCredentials(maskStore{credential.Chain(stores...), a.gha}),
		registry.WithPlainHTTP(in.plainHTTP),
		registry.WithUserAgent("referrers-action/" + version),
	}
	if a.debug() {
		opts = append(opts, registry.WithDebug(debugWriter{&a.mu, a.gha}))
	}
	return registry.New(opts...)
}
