package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// copyStaticTree copies the bundled static tree (repository app) to
// DIR/static and returns its path.
func copyStaticTree(t *testing.T, f *fixture) string {
	t.Helper()
	dir := filepath.Join(f.dir, "static")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "testdata", "trees", "static"))); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestIndexForHeaders runs `index-for --all --headers FORMAT` on a copy of
// the bundled static tree, for each format: golden outputs (stdout is the
// configuration only, the summary is on stderr), and afterwards every
// manifest stored by digest has a referrers file that decodes as an image
// index, empty for those without referrers.
func TestIndexForHeaders(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"caddy", "nginx", "pages"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fakeregistry.Mode{})
			dir := copyStaticTree(t, f)
			args := []string{"index-for", "--all", "--headers", format, "static:DIR/static:app"}
			r := f.cli(args...).run(t)
			if r.code != exitOK {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			checkGolden(t, "indexfor/headers_"+format+".golden", goldenText(args, r))

			repo := filepath.Join(dir, "v2", "app")
			ents, err := os.ReadDir(filepath.Join(repo, "manifests"))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range ents {
				d, err := digest.Parse(e.Name())
				if err != nil {
					continue // tags, sidecars
				}
				n++
				b, err := os.ReadFile(filepath.Join(repo, "referrers", d.String()))
				if err != nil {
					t.Fatalf("manifest %s: %v", d, err)
				}
				if _, err := target.DecodeIndex(b); err != nil {
					t.Fatalf("referrers/%s: %v", d, err)
				}
				path := "/v2/app/referrers/" + d.String()
				if format == "pages" {
					path = strings.Replace(path, ":", "*", 1) // see package hosting
				}
				if !strings.Contains(r.stdout, path+" ") && !strings.Contains(r.stdout, path+"\n") {
					t.Errorf("no headers for %s", path)
				}
			}
			if n < 10 {
				t.Fatalf("%d manifests stored by digest, want the bundled tree's", n)
			}
		})
	}
}

// TestIndexForHeadersRefused proves the usage rules of --headers and --empty,
// and that a tree the configuration cannot describe safely (a sidecar with a
// line break) fails with nothing on stdout.
func TestIndexForHeadersRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	copyStaticTree(t, f)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--headers", "caddy", "static:DIR/static:app@sha256:43570db463657b2a0cc9cc722676a188f8f376602996f3fcaa80cfb5407206ac"}, "go with --all"},
		{[]string{"--empty", "static:DIR/static:app@sha256:43570db463657b2a0cc9cc722676a188f8f376602996f3fcaa80cfb5407206ac"}, "go with --all"},
		{[]string{"--all", "--headers", "apache", "static:DIR/static:app"}, "want caddy, nginx or pages"},
		{[]string{"--all", "--headers", "nginx", "--dry-run", "static:DIR/static:app"}, "--dry-run"},
		{[]string{"--all", "--headers", "nginx", "--format", "json", "static:DIR/static:app"}, "--format does not apply"},
		{[]string{"--all", "--headers", "nginx", "oci:DIR/static"}, "static: trees"},
	} {
		r := f.cli(append([]string{"index-for"}, c.args...)...).run(t)
		if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", c.args, r.code, r.stdout, r.stderr, exitUsage, c.want)
		}
	}

	sidecar := filepath.Join(f.dir, "static", "v2", "app", "manifests", "v1.mediatype")
	if err := os.WriteFile(sidecar, []byte("application/x\n}\nevil"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := f.cli("index-for", "--all", "--headers", "caddy", "static:DIR/static:app").run(t)
	if r.code != exitError || r.stdout != "" || !strings.Contains(r.stderr, "unsafe") {
		t.Errorf("hostile sidecar: exit %d, stdout %q, stderr %q; want %d, nothing, ErrUnsafe", r.code, r.stdout, r.stderr, exitError)
	}
}

// TestIndexForEmpty proves --empty without --headers: the summary on stderr
// counts the empty indexes, the json result lists them.
func TestIndexForEmpty(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	copyStaticTree(t, f)
	r := f.cli("index-for", "--all", "--empty", "--format", "text", "static:DIR/static:app").run(t)
	if r.code != exitOK || !strings.Contains(r.stderr, "empty one(s)") || strings.Contains(r.stderr, " 0 empty") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}
