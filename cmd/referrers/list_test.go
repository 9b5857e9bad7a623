package main

import (
	"encoding/json"
	"testing"

	"github.com/oci-referrers/referrers/internal/fakeregistry"
)

// TestGoldenOrder attaches three SBOMs created at different times (their
// digest order is not their time order), a scan report without a created
// time and a signature of the newest SBOM, then lists them with
// --sort-annotation and --latest in each format.
func TestGoldenOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	sbom := func(created string) []string {
		return []string{"attach", "REGISTRY/app:v1", "DIR/sbom.json:application/spdx+json",
			"--artifact-type", "application/spdx+json", "--created", created, "--plain-http", "--format", "json"}
	}
	scan := []string{"attach", "REGISTRY/app:v1", "--artifact-type", "application/vnd.example.scan+json",
		"--annotation", "org.example.result=pass", "--plain-http", "--format", "json"}
	digests := map[string]string{} // by step
	for _, step := range []struct {
		name string
		args []string
	}{
		{"january", sbom("2024-01-02T03:04:05Z")},
		{"march", sbom("2024-03-01T00:00:00Z")},
		{"december", sbom("2023-12-31T23:59:59Z")},
		{"scan", scan},
	} {
		r := f.cli(step.args...).run(t)
		if r.code != exitOK {
			t.Fatalf("%s: exit %d\n%s", step.name, r.code, r.stderr)
		}
		var out struct{ Digest string }
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		digests[step.name] = out.Digest
	}
	newest := digests["march"]
	if r := f.cli("attach", "REGISTRY/app@"+newest, "DIR/sig.bin", "--artifact-type", "application/vnd.example.signature",
		"--plain-http").run(t); r.code != exitOK {
		t.Fatalf("attach the signature: exit %d\n%s", r.code, r.stderr)
	}

	const created = "org.opencontainers.image.created"
	tests := []struct {
		golden   string
		args     []string
		wantCode int
	}{
		{"list_table", []string{"list", "REGISTRY/app:v1", "--plain-http"}, exitOK},
		{"list_sort_table", []string{"list", "REGISTRY/app:v1", "--sort-annotation", created, "--plain-http"}, exitOK},
		{"list_sort_json", []string{"list", "REGISTRY/app:v1", "--sort-annotation", created, "--format", "json", "--plain-http"}, exitOK},
		{"list_sort_tree_depth2", []string{"list", "REGISTRY/app:v1", "--sort-annotation", created, "--format", "tree", "--depth", "2", "--plain-http"}, exitOK},
		{"list_sort_other_key", []string{"list", "REGISTRY/app:v1", "--sort-annotation", "org.example.result", "--plain-http"}, exitOK},
		{"list_latest_sbom_table", []string{"list", "REGISTRY/app:v1", "--artifact-type", "application/spdx+json", "--latest", "--plain-http"}, exitOK},
		{"list_latest_sbom_json", []string{"list", "REGISTRY/app:v1", "--artifact-type", "application/spdx+json", "--latest", "--format", "json", "--plain-http"}, exitOK},
		{"list_latest_sbom_json_depth2", []string{"list", "REGISTRY/app:v1", "--artifact-type", "application/spdx+json", "--latest", "--format", "json", "--depth", "2", "--plain-http"}, exitOK},
		{"list_latest_other_key", []string{"list", "REGISTRY/app:v1", "--latest", "--sort-annotation", "org.example.result", "--plain-http"}, exitOK},
		{"list_latest_warning", []string{"list", "REGISTRY/app:v1", "--latest", "--plain-http"}, exitOK},
		{"list_latest_none_has_it", []string{"list", "REGISTRY/app:v1", "--artifact-type", "application/vnd.example.scan+json", "--latest", "--plain-http"}, exitError},
		{"list_latest_empty_json", []string{"list", "REGISTRY/app:v1", "--artifact-type", "application/vnd.example.none", "--latest", "--format", "json", "--plain-http"}, exitOK},
	}
	for _, tt := range tests {
		r := f.cli(tt.args...).run(t)
		if r.code != tt.wantCode {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.golden, r.code, tt.wantCode, r.stdout, r.stderr)
		}
		checkGolden(t, "order/"+tt.golden+".golden", goldenText(tt.args, r))
	}
}
