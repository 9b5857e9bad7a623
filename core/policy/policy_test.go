package policy

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func desc(typ, note string, ann map[string]string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(typ + note), Size: 1, ArtifactType: typ, Annotations: ann}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	subject := desc("", "subject", nil)
	refs := []ocispec.Descriptor{
		desc("application/spdx+json", "a", nil),
		desc("application/vnd.example.scan", "pass", map[string]string{"result": "pass"}),
		desc("application/vnd.example.scan", "fail", map[string]string{"result": "fail"}),
		desc("application/vnd.example.sig", "1", nil),
		desc("application/vnd.example.sig", "2", nil),
	}
	for _, tc := range []struct {
		name  string
		p     Policy
		pass  bool
		found []int
	}{
		{"one type", Policy{Require: []Requirement{{ArtifactType: "application/spdx+json"}}}, true, []int{1}},
		{"missing type", Policy{Require: []Requirement{{ArtifactType: "application/spdx+json"}, {ArtifactType: "application/vnd.cyclonedx+json"}}}, false, []int{1, 0}},
		{"annotation", Policy{Require: []Requirement{{ArtifactType: "application/vnd.example.scan", Annotations: map[string]string{"result": "pass"}}}}, true, []int{1}},
		{"annotation absent", Policy{Require: []Requirement{{ArtifactType: "application/vnd.example.scan", Annotations: map[string]string{"result": "waived"}}}}, false, []int{0}},
		{"min met", Policy{Require: []Requirement{{ArtifactType: "application/vnd.example.sig", Min: 2}}}, true, []int{2}},
		{"min not met", Policy{Require: []Requirement{{ArtifactType: "application/vnd.example.sig", Min: 3}}}, false, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); err != nil {
				t.Fatal(err)
			}
			r := Evaluate(subject, refs, tc.p)
			if r.Pass != tc.pass {
				t.Errorf("pass = %v, want %v", r.Pass, tc.pass)
			}
			for i, want := range tc.found {
				if got := r.Requirements[i].Found; got != want || len(r.Requirements[i].Matches) != want {
					t.Errorf("requirement %d found %d, want %d", i, got, want)
				}
			}
		})
	}
	if r := Evaluate(subject, nil, Policy{Require: []Requirement{{ArtifactType: "x/y"}}}); r.Pass || r.Requirements[0].Matches == nil {
		t.Errorf("no referrers: %+v, want a failed verdict with an empty (not null) match list", r)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, p := range []Policy{
		{},
		{Require: []Requirement{{ArtifactType: " "}}},
		{Require: []Requirement{{ArtifactType: "x/y", Min: -1}}},
		{Require: []Requirement{{ArtifactType: "x/y", Annotations: map[string]string{"": "v"}}}},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", p)
		}
	}
}
