package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestCheck: exit 0 when every requirement is met, 3 when one is not, and 1
// (never 0 or 3) when the referrers cannot be listed; the JSON verdict says
// what was found per requirement.
func TestCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	if r := f.cli("attach", "REGISTRY/app:v1", "DIR/sbom.json:application/spdx+json", "--artifact-type", "application/spdx+json",
		"--annotation", "org.example.tool=syft", "--plain-http").run(t); r.code != 0 {
		t.Fatalf("attach: %d %s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"met", []string{"--require", "application/spdx+json"}, 0},
		{"met with annotation", []string{"--require", "application/spdx+json", "--require-annotation", "org.example.tool=syft"}, 0},
		{"annotation differs", []string{"--require", "application/spdx+json", "--require-annotation", "org.example.tool=trivy"}, exitNotMet},
		{"one of two missing", []string{"--require", "application/spdx+json,application/vnd.example.sig"}, exitNotMet},
		{"min not met", []string{"--require", "application/spdx+json", "--min", "2"}, exitNotMet},
		{"no requirement", nil, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"check", "REGISTRY/app:v1", "--plain-http", "--format", "json"}, tc.args...)
			r := f.cli(args...).run(t)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, tc.code, r.stderr)
			}
			if tc.code == exitUsage {
				return
			}
			var v policy.Result
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Fatalf("verdict is not JSON: %v\n%s", err, r.stdout)
			}
			if v.Pass != (tc.code == 0) || len(v.Requirements) == 0 {
				t.Errorf("verdict %+v does not match exit %d", v, r.code)
			}
		})
	}

	// The text table: the subject, then a row per requirement.
	r := f.cli("check", "REGISTRY/app:v1", "--plain-http", "--require", "application/spdx+json,application/vnd.example.sig").run(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != exitNotMet || len(lines) != 4 || !strings.HasPrefix(lines[0], "REGISTRY/app@sha256:") ||
		strings.Fields(lines[1])[0] != "REQUIRED" || strings.Join(strings.Fields(lines[2]), " ") != "application/spdx+json 1 1 ok" ||
		strings.Join(strings.Fields(lines[3]), " ") != "application/vnd.example.sig 0 1 MISSING" {
		t.Errorf("text verdict: exit %d\n%s", r.code, r.stdout)
	}

	// An error listing is an error, not a verdict.
	denied := newFixture(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden})
	r = denied.cli("check", "REGISTRY/app:v1", "--plain-http", "--require", "application/spdx+json").run(t)
	if r.code != exitError || !strings.Contains(r.stderr, "403") {
		t.Errorf("check on a registry answering 403: exit %d, stderr %q; want 1 and the status", r.code, r.stderr)
	}
}
