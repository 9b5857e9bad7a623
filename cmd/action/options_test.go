package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestListOptionInputs reads the inputs of list's options (sort-annotation,
// latest, include-children) and platform all, and refuses them where they
// do not apply.
func TestListOptionInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string // INPUT_* without the prefix
		want    inputs            // the fields checked: sortAnnotation, latest, includeChildren, platform
		wantErr string
	}{
		{name: "defaults", env: map[string]string{"COMMAND": "list"}},
		{name: "all three", env: map[string]string{"COMMAND": "list", "SORT_ANNOTATION": "org.example.time", "LATEST": "true", "INCLUDE_CHILDREN": "True"},
			want: inputs{sortAnnotation: "org.example.time", latest: true, includeChildren: true}},
		{name: "platform all on attach", env: map[string]string{"COMMAND": "attach", "PLATFORM": "all"}, want: inputs{platform: "all"}},
		{name: "latest not a boolean", env: map[string]string{"COMMAND": "list", "LATEST": "yes"}, wantErr: `input latest: "yes" is not a boolean`},
		{name: "include-children not a boolean", env: map[string]string{"COMMAND": "list", "INCLUDE_CHILDREN": "1"}, wantErr: "input include-children"},
		{name: "latest on attach", env: map[string]string{"COMMAND": "attach", "LATEST": "true"}, wantErr: "input latest is only used by command list, not attach"},
		{name: "sort-annotation on check", env: map[string]string{"COMMAND": "check", "REQUIRE": "a/b", "SORT_ANNOTATION": "k"},
			wantErr: "input sort-annotation is only used by command list, not check"},
		{name: "include-children with platform", env: map[string]string{"COMMAND": "list", "INCLUDE_CHILDREN": "true", "PLATFORM": "linux/amd64"},
			wantErr: "give one of them"},
		{name: "platform all on list", env: map[string]string{"COMMAND": "list", "PLATFORM": "all"}, wantErr: "all is only for command attach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"INPUT_SUBJECT": "example.com/app:v1"}
			for k, v := range tt.env {
				env["INPUT_"+k] = v
			}
			got, err := readInputs(func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.sortAnnotation != tt.want.sortAnnotation || got.latest != tt.want.latest ||
				got.includeChildren != tt.want.includeChildren || got.platform != tt.want.platform {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// putIndex stores the index "multi" in the fixture: its image v1 as
// linux/amd64 and a second image as linux/arm64. It returns the second
// image's digest.
func (f *fixture) putIndex(t *testing.T) digest.Digest {
	t.Helper()
	cfg := mustJSON(t, ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}})
	m := mustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: f.reg.PutBlob("app", cfg), Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{},
	})
	arm := f.reg.PutManifest("app", "arm", ocispec.MediaTypeImageManifest, m)
	_, amd, _ := f.reg.Manifest("app", "v1")
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: f.subject, Size: int64(len(amd)), Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: arm, Size: int64(len(m)), Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}},
	}}
	f.reg.PutManifest("app", "multi", ocispec.MediaTypeImageIndex, mustJSON(t, idx))
	return arm
}

// TestPlatformAllAndChildren attaches an SBOM with platform all to the
// index "multi", then a newer one to its linux/amd64 child, and lists the
// index with include-children, latest and sort-annotation.
func TestPlatformAllAndChildren(t *testing.T) {
	t.Parallel()
	for _, mode := range []fakeregistry.Mode{{}, {Referrers: fakeregistry.ReferrersNotFoundText}} {
		f := newFixture(t, mode)
		arm := f.putIndex(t)
		r := f.run(t, step{inputs: attachInputs(map[string]string{"subject": "REGISTRY/app:multi", "platform": "all", "created": "2026-01-01T00:00:00Z"})})
		if r.code != exitOK {
			t.Fatalf("attach platform all: exit %d\n%s", r.code, r.stdout)
		}
		digests := strings.Split(r.outputs["digest"], "\n")
		if len(digests) != 2 || len(strings.Split(r.outputs["reference"], "\n")) != 2 {
			t.Fatalf("outputs %q: want one digest and reference per child", r.outputs)
		}
		if !strings.Contains(r.summary, "linux/arm64") || !strings.Contains(r.summary, arm.String()) {
			t.Errorf("summary does not name the arm64 child:\n%s", r.summary)
		}
		if r := f.run(t, step{inputs: attachInputs(map[string]string{"subject": "REGISTRY/app:multi", "platform": "linux/amd64",
			"created": "2026-06-01T00:00:00Z", "annotations": "org.example.n=2"})}); r.code != exitOK {
			t.Fatalf("attach to amd64: exit %d\n%s", r.code, r.stdout)
		}
		list := map[string]string{"command": "list", "subject": "REGISTRY/app:multi", "plain-http": "true", "include-children": "true"}
		r = f.run(t, step{inputs: list})
		if r.code != exitOK || r.outputs["count"] != "0" {
			t.Fatalf("list: exit %d, outputs %q\n%s", r.code, r.outputs, r.stdout)
		}
		if !strings.Contains(r.summary, "child linux/amd64") || !strings.Contains(r.summary, "child linux/arm64") ||
			!strings.Contains(r.stdout, "child linux/amd64 "+f.subject.String()+": 2 referrers") {
			t.Errorf("children missing:\nstdout:\n%s\nsummary:\n%s", r.stdout, r.summary)
		}
		var kids []struct {
			Platform  string
			Referrers []json.RawMessage
		}
		if err := json.Unmarshal([]byte(r.outputs["children"]), &kids); err != nil || len(kids) != 2 ||
			kids[0].Platform != "linux/amd64" || len(kids[0].Referrers) != 2 || kids[1].Platform != "linux/arm64" {
			t.Errorf("children output %q (%v): want amd64 with 2 referrers, then arm64", r.outputs["children"], err)
		}
		list["latest"] = "true"
		r = f.run(t, step{inputs: list})
		if r.code != exitOK || !strings.Contains(r.stdout, "child linux/amd64 "+f.subject.String()+": 1 referrer\n") {
			t.Errorf("latest: exit %d\n%s", r.code, r.stdout)
		}
		// the subject itself: latest over its own referrers
		r = f.run(t, step{inputs: map[string]string{"command": "list", "subject": "REGISTRY/app:v1", "plain-http": "true",
			"latest": "true", "sort-annotation": "org.example.n"}})
		if r.code != exitOK || r.outputs["count"] != "1" || !strings.Contains(r.outputs["referrers"], `"org.example.n":"2"`) {
			t.Errorf("latest by org.example.n: exit %d, outputs %q\n%s", r.code, r.outputs, r.stdout)
		}
		// platform all on a single manifest is an input error
		r = f.run(t, step{inputs: attachInputs(map[string]string{"platform": "all"})})
		if r.code != exitError || !strings.Contains(r.stdout, "title=referrers inputs") || !strings.Contains(r.stdout, "is a single manifest") {
			t.Errorf("platform all on v1: exit %d\n%s", r.code, r.stdout)
		}
	}
}
