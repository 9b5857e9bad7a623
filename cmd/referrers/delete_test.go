package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// attachedDigest runs an attach with --format json and returns the digest.
func attachedDigest(t *testing.T, f *fixture, args ...string) string {
	t.Helper()
	r := f.cli(append([]string{"attach", "--plain-http", "--format", "json"}, args...)...).run(t)
	if r.code != exitOK {
		t.Fatalf("attach %v: exit %d\n%s", args, r.code, r.stderr)
	}
	var out attachOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("attach output: %v\n%s", err, r.stdout)
	}
	return out.Digest
}

// TestDeleteRegistry: on a registry with the Referrers API, one without it
// and one that refuses deletes, `delete` refuses an image and a referrer
// with referrers of its own, deletes recursively (deepest first, in JSON),
// and a registry that refuses deletes gives a clear error with nothing lost.
func TestDeleteRegistry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		mode     fakeregistry.Mode
		disabled bool
	}{
		{"api", fakeregistry.Mode{}, false},
		{"tag schema", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, false},
		{"deletes disabled", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, DeleteDisabled: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.mode)
			subject := phRegistry + "/app:v1"
			sbom := attachedDigest(t, f, subject, "DIR/sbom.json:application/spdx+json", "--artifact-type", "application/spdx+json")
			sig := attachedDigest(t, f, phRegistry+"/app@"+sbom, "DIR/sig.bin:application/octet-stream", "--artifact-type", "application/vnd.example.sig")

			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{subject}, "not images"},
				{[]string{phRegistry + "/app@" + sbom}, "--recursive deletes them too"},
			} {
				r := f.cli(append([]string{"delete", "--plain-http"}, c.args...)...).run(t)
				if r.code != exitError || !strings.Contains(r.stderr, c.want) {
					t.Errorf("delete %v: exit %d, stderr %q; want exit 1 and %q", c.args, r.code, r.stderr, c.want)
				}
			}
			r := f.cli("delete", "--plain-http", "--recursive", "--format", "json", phRegistry+"/app@"+sbom).run(t)
			listedAfter := f.cli("list", "--plain-http", "--format", "json", subject).run(t)
			if tc.disabled {
				if r.code != exitError || !strings.Contains(r.stderr, "refuses to delete") || !strings.Contains(r.stderr, "nothing was changed") {
					t.Errorf("exit %d, stderr %q; want exit 1 and a clear refusal", r.code, r.stderr)
				}
				if got := listed(t, listedAfter, "list"); len(got) != 1 || !strings.HasPrefix(got[0], sbom) {
					t.Errorf("after a refused delete the subject lists %v, want the SBOM", got)
				}
				return
			}
			if r.code != exitOK {
				t.Fatalf("delete --recursive: exit %d\n%s", r.code, r.stderr)
			}
			var out deleteOutput
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatalf("%v\n%s", err, r.stdout)
			}
			if len(out.Deleted) != 2 || out.Deleted[0].Digest != sig || out.Deleted[1].Digest != sbom ||
				out.Deleted[1].Reference != phRegistry+"/app@"+sbom {
				t.Errorf("deleted %+v, want the signature then the SBOM", out.Deleted)
			}
			if got := listed(t, listedAfter, "list"); len(got) != 0 {
				t.Errorf("after the delete the subject lists %v", got)
			}
		})
	}
}

// TestDeleteTrees deletes the SBOM of the bundled golden trees' image (and,
// with --recursive, its signature) from a copy of the OCI layout and of the
// static tree: the scan result stays, in text output the deleted references
// are printed deepest first.
func TestDeleteTrees(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	if err := os.CopyFS(filepath.Join(f.dir, "trees"), os.DirFS(filepath.Join("..", "..", "testdata", "trees"))); err != nil {
		t.Fatal(err)
	}
	for _, at := range []func(ref string) string{
		func(ref string) string { return "oci:DIR/trees/layout" + ref },
		func(ref string) string { return "static:DIR/trees/static:app" + ref },
	} {
		before := listed(t, f.cli("list", "--format", "json", at(":v1")).run(t), "list")
		var sbom, scan string
		for _, l := range before {
			d, typ, _ := strings.Cut(l, " ")
			switch typ {
			case "application/spdx+json":
				sbom = d
			case "application/vnd.example.scan+json":
				scan = d
			}
		}
		if len(before) != 2 || sbom == "" || scan == "" {
			t.Fatalf("%s lists %v, want an SBOM and a scan", at(":v1"), before)
		}
		if r := f.cli("delete", at("@"+sbom)).run(t); r.code != exitError || !strings.Contains(r.stderr, "--recursive") {
			t.Errorf("%s: exit %d, stderr %q; want a refusal naming --recursive", at("@"+sbom), r.code, r.stderr)
		}
		r := f.cli("delete", "--recursive", at("@"+sbom)).run(t)
		if r.code != exitOK {
			t.Fatalf("%s: exit %d\n%s", at("@"+sbom), r.code, r.stderr)
		}
		if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || lines[1] != at("@"+sbom) {
			t.Errorf("stdout %q, want the signature then %s", r.stdout, at("@"+sbom))
		}
		after := listed(t, f.cli("list", "--format", "json", at(":v1")).run(t), "list")
		if len(after) != 1 || !strings.HasPrefix(after[0], scan) {
			t.Errorf("%s lists %v after the delete, want only the scan", at(":v1"), after)
		}
	}
}

// TestDeleteUsage: what `delete` refuses before opening anything.
func TestDeleteUsage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	for _, args := range [][]string{
		{"delete"},
		{"delete", "a@sha256:" + strings.Repeat("0", 64), "b"},
		{"delete", "--platform", "linux/amd64", phRegistry + "/app:v1"},
		{"delete", "--subject", "sha256:nothex", phRegistry + "/app:v1"},
		{"delete", "--format", "table", phRegistry + "/app:v1"},
		{"attach", "--oci-referrers", "sideways", "oci:DIR/layout:v1", "--artifact-type", "a/b"},
	} {
		if r := f.cli(args...).run(t); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, exitUsage, r.stderr)
		}
	}
	if n := len(f.reg.Requests()); n != 0 {
		t.Errorf("%d requests for usage errors", n)
	}
}
