package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestCopyUsage: the usage errors of copy, and its help with examples.
func TestCopyUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"one argument", []string{"copy", "a.example/x:1"}, exitUsage, "want SRC and DST, got 1 arguments"},
		{"bad depth", []string{"copy", "--depth", "-1", "a.example/x:1", "b.example/x"}, exitUsage, "--depth must be between 0 (all) and 64"},
		{"bad progress", []string{"copy", "--progress", "sometimes", "a.example/x:1", "b.example/x"}, exitUsage, "--progress must be auto, always or never"},
		{"bad source mode", []string{"copy", "--source-referrers-mode", "x", "a.example/x:1", "b.example/x"}, exitUsage, "--source-referrers-mode"},
		{"bad format", []string{"copy", "--format", "tree", "a.example/x:1", "b.example/x"}, exitUsage, "--format must be text or json"},
		{"help", []string{"copy", "-h"}, exitOK, "referrers copy ghcr.io/org/app:1.2 oci:./airgap:app-1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}

// TestCopyCLI copies app:v1 and its SBOM from a registry to an OCI layout
// (created by the copy), then from the layout to a static tree; the second
// copy of each says that there was nothing to copy.
func TestCopyCLI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	at := f.reg.Host() + "/app:v1"
	if r := runCLI(t, "attach", "--plain-http", at, filepath.Join(f.dir, "sbom.json")+":application/spdx+json", "--artifact-type", "application/spdx+json"); r.code != 0 {
		t.Fatalf("attach: %s", r.stderr)
	}
	lay := "oci:" + filepath.Join(t.TempDir(), "airgap")
	st := "static:" + filepath.Join(t.TempDir(), "tree") + ":app"
	for _, step := range [][2]string{{at, lay + ":v1"}, {lay + ":v1", st}} {
		r := runCLI(t, "copy", "--plain-http", "--format", "json", step[0], step[1])
		if r.code != 0 {
			t.Fatalf("copy %s %s: exit %d: %s", step[0], step[1], r.code, r.stderr)
		}
		var out copyOutput
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		if out.NothingToDo || len(out.Referrers) != 1 || out.Tag != "v1" || out.Mode != "index" {
			t.Errorf("copy %s %s: %+v", step[0], step[1], out)
		}
		again := runCLI(t, "copy", "--plain-http", step[0], step[1])
		if again.code != 0 || !strings.Contains(again.stderr, "nothing to copy") {
			t.Errorf("second copy %s %s: exit %d, stderr %q", step[0], step[1], again.code, again.stderr)
		}
	}
	r := runCLI(t, "list", "--format", "json", st+":v1")
	if r.code != 0 || !strings.Contains(r.stdout, "application/spdx+json") {
		t.Errorf("list of the static tree: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}
