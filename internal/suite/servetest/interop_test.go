package servetest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/server"
	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

func TestMain(m *testing.M) {
	code := m.Run()
	oracle.Cleanup()
	os.Exit(code)
}

const (
	interopRepo   = "servetest/app"
	sbomType      = "application/spdx+json"
	signatureType = "application/vnd.example.signature"
	scanType      = "application/vnd.example.scan+json"
)

// entry is one referrer as a lister reports it.
type entry struct {
	Digest       string            `json:"digest"`
	ArtifactType string            `json:"artifactType"`
	Annotations  map[string]string `json:"annotations"`
}

// key is what listings are compared on: digest and artifactType.
func (e entry) key() string { return e.Digest + " " + e.ArtifactType }

// run runs a tool under ctx and fails the test on a non-zero exit.
func run(t *testing.T, ctx context.Context, x *oracle.Tool, args ...string) string {
	t.Helper()
	r := x.RunContext(ctx, args...)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r.Stdout
}

// writeFile writes content into the tool's working directory (oras refuses
// absolute file paths, so every tool gets relative ones).
func writeFile(t *testing.T, x *oracle.Tool, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(x.Dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func digestIn(t *testing.T, tool, s string) string {
	t.Helper()
	d, err := digest.Parse(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("%s printed %q, not a digest: %v", tool, s, err)
	}
	return d.String()
}

// lister lists the referrers of a reference (HOST/REPO:TAG or @DIGEST) with
// one tool, with the artifactType filter when set.
type lister struct {
	name string
	list func(t *testing.T, ctx context.Context, at, artifactType string) []entry
}

func orasLister(x *oracle.Tool) lister {
	return lister{"oras discover", func(t *testing.T, ctx context.Context, at, artifactType string) []entry {
		t.Helper()
		args := []string{"discover", "--plain-http", "--format", "json", "--depth", "1", at}
		if artifactType != "" {
			args = append(args, "--artifact-type", artifactType)
		}
		var out struct{ Referrers []entry }
		if err := json.Unmarshal([]byte(run(t, ctx, x, args...)), &out); err != nil {
			t.Fatalf("oras discover output: %v", err)
		}
		return out.Referrers
	}}
}

func regctlLister(x *oracle.Tool) lister {
	return lister{"regctl artifact list", func(t *testing.T, ctx context.Context, at, artifactType string) []entry {
		t.Helper()
		args := []string{"artifact", "list", at, "--format", "{{json .}}"}
		if artifactType != "" {
			args = append(args, "--filter-artifact-type", artifactType)
		}
		var out struct{ Descriptors []entry }
		if err := json.Unmarshal([]byte(run(t, ctx, x, args...)), &out); err != nil {
			t.Fatalf("regctl artifact list output: %v", err)
		}
		return out.Descriptors
	}}
}

// oursLister is `referrers list --format json`: at depth 1, the referrers
// image index. plainHTTP is off for static: subjects.
func oursLister(x *oracle.Tool, plainHTTP bool) lister {
	return lister{"referrers list", func(t *testing.T, ctx context.Context, at, artifactType string) []entry {
		t.Helper()
		args := []string{"list", "--format", "json", at}
		if plainHTTP {
			args = append(args, "--plain-http")
		}
		if artifactType != "" {
			args = append(args, "--artifact-type", artifactType)
		}
		var out struct{ Manifests []entry }
		if err := json.Unmarshal([]byte(run(t, ctx, x, args...)), &out); err != nil {
			t.Fatalf("referrers list output: %v", err)
		}
		return out.Manifests
	}}
}

// expectListed checks that got is exactly want, compared on (digest,
// artifactType), each once, and that the annotations of want are listed.
func expectListed(t *testing.T, what string, got, want []entry) {
	t.Helper()
	var g, w []string
	for _, e := range got {
		g = append(g, e.key())
	}
	for _, e := range want {
		w = append(w, e.key())
	}
	sort.Strings(g)
	sort.Strings(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s:\n got  %q\n want %q", what, g, w)
		return
	}
	for _, we := range want {
		for _, ge := range got {
			if ge.Digest != we.Digest {
				continue
			}
			for k, v := range we.Annotations {
				if ge.Annotations[k] != v {
					t.Errorf("%s: %s annotation %s = %q, want %q (listed: %v)", what, ge.Digest, k, ge.Annotations[k], v, ge.Annotations)
				}
			}
		}
	}
}

// TestServeInterop runs the peer tools and our CLI against the server: oras
// pushes an image, oras, regctl and referrers each attach one artifact to it,
// and each tool lists them through the server, unfiltered and filtered by
// artifactType; then the server is stopped and the tree it wrote is listed
// offline (static:DIR:NAME). A second server on the same tree serves the same
// referrers and a delete of one of them.
func TestServeInterop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	oras := oracle.NewOras(t)
	ours := oracle.NewReferrers(t)
	oracle.Require(t, oracle.Regctl)

	dir := t.TempDir()
	opts := []server.Option{server.WithAllowPush(true), server.WithAllowDelete(true)}
	s := startServer(t, dir, opts...)
	regctl := oracle.NewRegctl(t, s.host)
	raw := newRawClient(t, s.base)
	tagRef := s.host + "/" + interopRepo + ":v1"

	// The subject: an image pushed by oras (a config of the image config type
	// makes it an image-spec v1.0 style image manifest).
	writeFile(t, oras, "config.json", `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	writeFile(t, oras, "layer.tar", "servetest subject layer\n")
	var pushed struct {
		Digest    string
		MediaType string
		Size      int64
	}
	out := run(t, ctx, oras, "push", "--plain-http", "--format", "json", tagRef,
		"--config", "config.json:application/vnd.oci.image.config.v1+json", "layer.tar:application/vnd.oci.image.layer.v1.tar")
	if err := json.Unmarshal([]byte(out), &pushed); err != nil {
		t.Fatalf("oras push output %q: %v", out, err)
	}
	subject := digestIn(t, "oras push", pushed.Digest)
	if err := raw.checkResolves(ctx, interopRepo, "v1", descriptorOf(pushed.MediaType, subject, pushed.Size)); err != nil {
		t.Fatalf("the subject oras pushed: %v", err)
	}
	digestRef := s.host + "/" + interopRepo + "@" + subject

	// Three artifacts, one per tool.
	writeFile(t, oras, "sbom.spdx.json", `{"spdxVersion":"SPDX-2.3","name":"servetest"}`)
	var orasOut struct{ Digest string }
	out = run(t, ctx, oras, "attach", "--plain-http", "--format", "json", "--artifact-type", sbomType,
		"--annotation", "org.example.tool=oras", tagRef, "sbom.spdx.json:"+sbomType)
	if err := json.Unmarshal([]byte(out), &orasOut); err != nil {
		t.Fatalf("oras attach output %q: %v", out, err)
	}
	sbom := entry{digestIn(t, "oras attach", orasOut.Digest), sbomType, map[string]string{"org.example.tool": "oras"}}

	writeFile(t, regctl, "sig.bin", "signature bytes\n")
	out = run(t, ctx, regctl, "artifact", "put", "--subject", digestRef, "--artifact-type", signatureType,
		"--annotation", "org.example.tool=regctl", "-f", "sig.bin", "-m", signatureType,
		"--format", "{{.Manifest.GetDescriptor.Digest}}")
	sig := entry{digestIn(t, "regctl artifact put", out), signatureType, map[string]string{"org.example.tool": "regctl"}}

	writeFile(t, ours, "scan.json", `{"ok":true}`)
	var oursOut struct{ Digest, Mode string }
	out = run(t, ctx, ours, "attach", "--plain-http", "--format", "json", tagRef, "scan.json:"+scanType,
		"--artifact-type", scanType, "--annotation", "org.example.tool=referrers")
	if err := json.Unmarshal([]byte(out), &oursOut); err != nil {
		t.Fatalf("referrers attach output %q: %v", out, err)
	}
	if oursOut.Mode != "api" {
		t.Errorf("referrers attach through the server: mode %q, want api (the server has the Referrers API)", oursOut.Mode)
	}
	scan := entry{digestIn(t, "referrers attach", oursOut.Digest), scanType, map[string]string{"org.example.tool": "referrers"}}
	all := []entry{sbom, sig, scan}

	listers := []lister{orasLister(oras), regctlLister(regctl), oursLister(ours, true)}
	for _, l := range listers {
		for _, at := range []string{tagRef, digestRef} {
			expectListed(t, l.name+" "+at, l.list(t, ctx, at, ""), all)
		}
		expectListed(t, l.name+" --artifact-type "+signatureType, l.list(t, ctx, digestRef, signatureType), []entry{sig})
	}

	// The same through raw HTTP: what the tools may have filtered on their
	// side must be filtered by the server, and said so.
	l, err := raw.listReferrers(ctx, interopRepo, digest.Digest(subject), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	expectListed(t, "GET /v2/"+interopRepo+"/referrers/"+subject, entries(l), all)
	l, err = raw.listReferrers(ctx, interopRepo, digest.Digest(subject), signatureType, 0)
	if err != nil {
		t.Fatal(err)
	}
	expectListed(t, "GET /v2/"+interopRepo+"/referrers/"+subject+"?artifactType="+signatureType, entries(l), []entry{sig})
	if !slices.Contains(strings.Split(strings.ReplaceAll(l.filtersApplied, " ", ""), ","), "artifactType") {
		t.Errorf("filtered referrers answer: OCI-Filters-Applied %q, want artifactType", l.filtersApplied)
	}
	// With the API working, no tool fell back to the tag schema.
	tags := tagsList(t, ctx, raw, interopRepo)
	if !slices.Contains(tags, "v1") {
		t.Errorf("tags list %q lacks v1", tags)
	}
	for _, tag := range tags {
		if strings.HasPrefix(tag, "sha256-") {
			t.Errorf("tags list holds %q: a tool used the referrers tag schema although the server has the API", tag)
		}
	}

	// Offline, on the tree the server wrote.
	s.stop()
	offline := oursLister(ours, false)
	for _, at := range []string{"static:" + dir + ":" + interopRepo + "@" + subject, "static:" + dir + ":" + interopRepo + ":v1"} {
		expectListed(t, "referrers list "+at, offline.list(t, ctx, at, ""), all)
	}
	expectListed(t, "referrers list static (filtered)", offline.list(t, ctx, "static:"+dir+":"+interopRepo+"@"+subject, signatureType), []entry{sig})
	if t.Failed() {
		return
	}

	// A second server on the same tree: the same referrers, then a delete.
	s2 := startServer(t, dir, opts...)
	regctl2 := oracle.NewRegctl(t, s2.host)
	tagRef2, digestRef2 := s2.host+"/"+interopRepo+":v1", s2.host+"/"+interopRepo+"@"+subject
	listers = []lister{orasLister(oras), regctlLister(regctl2), oursLister(ours, true)}
	for _, l := range listers {
		expectListed(t, "after a restart: "+l.name+" "+tagRef2, l.list(t, ctx, tagRef2, ""), all)
	}
	run(t, ctx, oras, "manifest", "delete", "--plain-http", "--force", s2.host+"/"+interopRepo+"@"+scan.Digest)
	raw2 := newRawClient(t, s2.base)
	if resp, body, err := raw2.do(ctx, "GET", s2.base+"/v2/"+interopRepo+"/manifests/"+scan.Digest, "", nil); err != nil {
		t.Fatal(err)
	} else if resp.StatusCode != 404 {
		t.Errorf("GET of the deleted manifest: status %d, want 404; body %.200q", resp.StatusCode, body)
	}
	left := []entry{sbom, sig}
	for _, l := range listers {
		expectListed(t, "after deleting "+scan.Digest+": "+l.name+" "+digestRef2, l.list(t, ctx, digestRef2, ""), left)
	}
	s2.stop()
	expectListed(t, "after the delete, offline", offline.list(t, ctx, "static:"+dir+":"+interopRepo+"@"+subject, ""), left)
}

func entries(l listing) []entry {
	var out []entry
	for _, m := range l.manifests {
		out = append(out, entry{m.Digest.String(), m.ArtifactType, m.Annotations})
	}
	return out
}

func tagsList(t *testing.T, ctx context.Context, c *rawClient, name string) []string {
	t.Helper()
	u := c.base + "/v2/" + name + "/tags/list"
	resp, body, err := c.do(ctx, "GET", u, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatal(statusErr("GET", u, resp, body, 200))
	}
	var out struct {
		Name string
		Tags []string
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Name != name {
		t.Fatalf("GET %s: %q is not a tags list of %s (%v)", u, body, name, err)
	}
	return out.Tags
}

func descriptorOf(mediaType, d string, size int64) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.Digest(d), Size: size}
}
