package main

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestListByDigestWithoutSubject: `list REPO@DIGEST` lists the referrers of
// a subject whose manifest was never pushed (a referrer may come first), with
// a note; --include-children notes it cannot know the subject is an index;
// --platform, which needs the manifest, and a missing tag still fail, the
// latter naming REPO:TAG and a missing digest REPO@DIGEST (issue 13, items 8a
// and 8c).
func TestListByDigestWithoutSubject(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	ghost := digest.FromString("a subject never pushed")
	empty := ocispec.DescriptorEmptyJSON
	f.reg.PutBlob("app", empty.Data)
	empty.Data = nil
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sig",
		Config:       empty,
		Layers:       []ocispec.Descriptor{empty},
		Subject:      &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: ghost, Size: 100},
	}
	b := mustJSON(t, m)
	early := f.reg.PutManifest("app", digest.FromBytes(b).String(), ocispec.MediaTypeImageManifest, b)

	r := f.cli("list", "REGISTRY/app@"+ghost.String(), "--plain-http").run(t)
	if r.code != exitOK || !strings.Contains(r.stdout, early.String()) || !strings.Contains(r.stdout, "application/vnd.example.sig") {
		t.Fatalf("list by digest: exit %d, stdout %q, stderr %q; want the early referrer", r.code, r.stdout, r.stderr)
	}
	if want := "note: the subject manifest REGISTRY/app@" + ghost.String() + " is not there; listing the referrers of its digest"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q; want %q", r.stderr, want)
	}

	r = f.cli("list", "REGISTRY/app@"+ghost.String(), "--plain-http", "--include-children").run(t)
	if r.code != exitOK || !strings.Contains(r.stdout, early.String()) || !strings.Contains(r.stderr, "is not known to be an index: --include-children has no children") {
		t.Errorf("--include-children: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = f.cli("list", "REGISTRY/app@"+ghost.String(), "--plain-http", "--platform", "linux/amd64").run(t)
	if r.code != exitError || !strings.Contains(r.stderr, "resolve REGISTRY/app@"+ghost.String()+": no such manifest") {
		t.Errorf("--platform: exit %d, stderr %q; want 1 and REPO@DIGEST named", r.code, r.stderr)
	}
	// check gates on the same referrers
	r = f.cli("check", "REGISTRY/app@"+ghost.String(), "--plain-http", "--require", "application/vnd.example.sig").run(t)
	if r.code != exitOK || !strings.Contains(r.stderr, "checking the referrers of its digest") {
		t.Errorf("check by digest: exit %d, stdout %q, stderr %q; want 0 with a note", r.code, r.stdout, r.stderr)
	}
	r = f.cli("check", "REGISTRY/app@"+ghost.String(), "--plain-http", "--require", "application/spdx+json").run(t)
	if r.code != exitNotMet {
		t.Errorf("check by digest, type missing: exit %d; want %d", r.code, exitNotMet)
	}
	r = f.cli("list", "REGISTRY/app:nope", "--plain-http").run(t)
	if r.code != exitError || !strings.Contains(r.stderr, "resolve REGISTRY/app:nope: no such manifest") {
		t.Errorf("missing tag: exit %d, stderr %q; want 1 and REPO:TAG named", r.code, r.stderr)
	}
}
