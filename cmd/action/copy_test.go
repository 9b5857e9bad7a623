package main

import (
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestCopyInputs reads copy's inputs and refuses them where they do not
// apply.
func TestCopyInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string // INPUT_* without the prefix
		want    inputs            // the fields checked: destination, depth, referrersOnly
		wantErr string
	}{
		{name: "destination", env: map[string]string{"COMMAND": "copy", "DESTINATION": "prod.example.com/app"},
			want: inputs{destination: "prod.example.com/app"}},
		{name: "all", env: map[string]string{"COMMAND": "copy", "DESTINATION": "prod.example.com/app:v1", "DEPTH": "1", "REFERRERS_ONLY": "true"},
			want: inputs{destination: "prod.example.com/app:v1", depth: 1, referrersOnly: true}},
		{name: "no destination", env: map[string]string{"COMMAND": "copy"}, wantErr: "input destination is required for command copy"},
		{name: "depth not a number", env: map[string]string{"COMMAND": "copy", "DESTINATION": "x.example/a", "DEPTH": "all"}, wantErr: "input depth"},
		{name: "depth negative", env: map[string]string{"COMMAND": "copy", "DESTINATION": "x.example/a", "DEPTH": "-1"}, wantErr: "input depth"},
		{name: "destination on list", env: map[string]string{"COMMAND": "list", "DESTINATION": "x.example/a"},
			wantErr: "input destination is only used by command copy, not list"},
		{name: "referrers-only on attach", env: map[string]string{"COMMAND": "attach", "REFERRERS_ONLY": "true"},
			wantErr: "input referrers-only is only used by command copy, not attach"},
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
			if got.destination != tt.want.destination || got.depth != tt.want.depth || got.referrersOnly != tt.want.referrersOnly {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCopyCommand promotes app:v1 with its SBOM to another repository of
// the registry (without the Referrers API: the tag schema), then does it
// again: the second step copies nothing and says so.
func TestCopyCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, ETag: fakeregistry.ETagIgnored})
	if r := f.run(t, step{inputs: map[string]string{"subject": "REGISTRY/app:v1", "files": "DIR/sbom.spdx.json",
		"artifact-type": "application/spdx+json", "plain-http": "true"}}); r.code != 0 {
		t.Fatalf("attach: exit %d: %s", r.code, r.stdout)
	}
	copyStep := step{inputs: map[string]string{"command": "copy", "subject": "REGISTRY/app:v1",
		"destination": "REGISTRY/prod/app", "plain-http": "true"}}
	r := f.run(t, copyStep)
	if r.code != 0 {
		t.Fatalf("copy: exit %d: %s", r.code, r.stdout)
	}
	want := map[string]string{
		"subject-digest": f.subject.String(),
		"digest":         f.subject.String(),
		"reference":      "REGISTRY/prod/app@" + f.subject.String(),
		"mode":           "tag",
		"count":          "1",
	}
	for k, v := range want {
		if r.outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, r.outputs[k], v)
		}
	}
	if !strings.HasPrefix(r.outputs["fallback-tag"], "sha256-") {
		t.Errorf("output fallback-tag = %q", r.outputs["fallback-tag"])
	}
	if _, _, ok := f.reg.Manifest("prod/app", "v1"); !ok {
		t.Error("the destination has no tag v1")
	}
	if !strings.Contains(r.summary, "referrers copy") || !strings.Contains(r.summary, "application/spdx+json") {
		t.Errorf("summary:\n%s", r.summary)
	}
	again := f.run(t, copyStep)
	if again.code != 0 || !strings.Contains(again.stdout, "Nothing to copy") {
		t.Errorf("second copy: exit %d, log:\n%s", again.code, again.stdout)
	}
}
