package main

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestSubjectByDigestWithoutManifest: list and check by digest read the
// referrers of a subject whose manifest is not in the registry (referrers may
// be pushed first); attach still needs the subject.
func TestSubjectByDigestWithoutManifest(t *testing.T) {
	f := newFixture(t, fakeregistry.Mode{})
	ghost := digest.FromString("a subject never pushed")
	empty := ocispec.DescriptorEmptyJSON
	f.reg.PutBlob("app", empty.Data)
	empty.Data = nil
	b := mustJSON(t, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sig",
		Config:       empty,
		Layers:       []ocispec.Descriptor{empty},
		Subject:      &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: ghost, Size: 100},
	})
	early := f.reg.PutManifest("app", digest.FromBytes(b).String(), ocispec.MediaTypeImageManifest, b)
	subject := "REGISTRY/app@" + ghost.String()

	r := f.run(t, step{inputs: map[string]string{"command": "list", "subject": subject, "plain-http": "true"}})
	if r.code != 0 || r.outputs["count"] != "1" || !strings.Contains(r.outputs["referrers"], early.String()) {
		t.Errorf("list: exit %d, outputs %v\n%s", r.code, r.outputs, r.stdout)
	}
	if !strings.Contains(r.stdout, "is not there; reading the referrers of its digest") {
		t.Errorf("list: no note in\n%s", r.stdout)
	}
	r = f.run(t, step{inputs: map[string]string{"command": "check", "subject": subject, "plain-http": "true",
		"require": "application/vnd.example.sig"}})
	if r.code != 0 || !strings.Contains(r.outputs["result"], `"pass":true`) {
		t.Errorf("check: exit %d, outputs %v\n%s", r.code, r.outputs, r.stdout)
	}
	r = f.run(t, step{inputs: attachInputs(map[string]string{"subject": subject})})
	if r.code != 1 || !strings.Contains(r.stdout, "no such manifest") {
		t.Errorf("attach: exit %d; want 1 (no subject)\n%s", r.code, r.stdout)
	}
}
