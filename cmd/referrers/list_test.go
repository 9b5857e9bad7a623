package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
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

// TestGoldenChildren attaches an SBOM to the index "multi", a scan report to
// its linux/amd64 child (which is also the manifest of tag v1), two SBOMs
// created at different times (their digest order is not their time order) to
// its linux/arm64/v8 child and a signature of the newer one, then lists the index
// with --include-children in each format, with the filters, on a subject that
// is not an index, and with a child whose listing fails.
func TestGoldenChildren(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	attach := func(args ...string) string {
		t.Helper()
		r := f.cli(append([]string{"attach"}, append(args, "--plain-http", "--format", "json")...)...).run(t)
		if r.code != exitOK {
			t.Fatalf("attach %v: exit %d\n%s", args, r.code, r.stderr)
		}
		var out struct{ Digest string }
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		return out.Digest
	}
	sbom := func(created string) []string {
		return []string{"DIR/sbom.json:application/spdx+json", "--artifact-type", "application/spdx+json", "--created", created}
	}
	attach(append([]string{"REGISTRY/app:multi"}, sbom("2024-01-02T03:04:05Z")...)...)
	attach("REGISTRY/app:multi", "--platform", "linux/amd64", "--artifact-type", "application/vnd.example.scan+json")
	attach(append([]string{"REGISTRY/app:multi", "--platform", "linux/arm64"}, sbom("2023-12-31T23:59:59Z")...)...)
	newest := attach(append([]string{"REGISTRY/app:multi", "--platform", "linux/arm64"}, sbom("2024-03-01T00:00:00Z")...)...)
	attach("REGISTRY/app@"+newest, "DIR/sig.bin", "--artifact-type", "application/vnd.example.signature")

	tests := []struct {
		golden   string
		args     []string
		wantCode int
	}{
		{"list_table", []string{"list", "REGISTRY/app:multi", "--include-children", "--plain-http"}, exitOK},
		{"list_table_depth2", []string{"list", "REGISTRY/app:multi", "--include-children", "--depth", "2", "--plain-http"}, exitOK},
		{"list_tree_depth2", []string{"list", "REGISTRY/app:multi", "--include-children", "--format", "tree", "--depth", "2", "--plain-http"}, exitOK},
		{"list_json", []string{"list", "REGISTRY/app:multi", "--include-children", "--format", "json", "--plain-http"}, exitOK},
		{"list_json_depth2", []string{"list", "REGISTRY/app:multi", "--include-children", "--format", "json", "--depth", "2", "--plain-http"}, exitOK},
		{"list_latest_sbom_tree", []string{"list", "REGISTRY/app:multi", "--include-children", "--artifact-type", "application/spdx+json", "--latest", "--format", "tree", "--plain-http"}, exitOK},
		{"list_sort_table", []string{"list", "REGISTRY/app:multi", "--include-children", "--sort-annotation", "org.opencontainers.image.created", "--plain-http"}, exitOK},
		{"list_filter_table", []string{"list", "REGISTRY/app:multi", "--include-children", "--artifact-type", "application/vnd.example.scan+json", "--plain-http"}, exitOK},
		{"list_latest_child_none_has_it", []string{"list", "REGISTRY/app:multi", "--include-children", "--artifact-type", "application/vnd.example.scan+json", "--latest", "--plain-http"}, exitError},
		{"list_not_index_table", []string{"list", "REGISTRY/app:v1", "--include-children", "--plain-http"}, exitOK},
		{"list_not_index_json", []string{"list", "REGISTRY/app:v1", "--include-children", "--format", "json", "--plain-http"}, exitOK},
		{"list_with_platform", []string{"list", "REGISTRY/app:multi", "--include-children", "--platform", "linux/amd64", "--plain-http"}, exitUsage},
	}
	for _, tt := range tests {
		r := f.cli(tt.args...).run(t)
		if r.code != tt.wantCode {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.golden, r.code, tt.wantCode, r.stdout, r.stderr)
		}
		checkGolden(t, "children/"+tt.golden+".golden", goldenText(tt.args, r))
	}

	// A child whose referrers cannot be listed fails the command: no output,
	// exit 1, never "no referrers" for that child.
	for _, format := range []string{"table", "json", "tree"} {
		f.reg.FailNext(http.MethodGet, "/referrers/"+f.children["linux/arm64"].String(), http.StatusForbidden, 1)
		args := []string{"list", "REGISTRY/app:multi", "--include-children", "--format", format, "--plain-http"}
		r := f.cli(args...).run(t)
		if r.code != exitError || r.stdout != "" {
			t.Errorf("child error, %s: exit %d, want %d, and no output\nstdout:\n%s\nstderr:\n%s", format, r.code, exitError, r.stdout, r.stderr)
		}
		if format == "table" {
			checkGolden(t, "children/list_child_error.golden", goldenText(args, r))
		}
	}
}

// TestChildrenTrees lists the index "multi" of the bundled golden trees
// (testdata/trees: an SBOM of the index, one of its linux/arm64 child) with
// --include-children: golden outputs for the layout, and the same referrers
// from the static tree (whose modes depend on file times, so no golden).
func TestChildrenTrees(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	if err := os.CopyFS(filepath.Join(f.dir, "trees"), os.DirFS(filepath.Join("..", "..", "testdata", "trees"))); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "tree", "json"} {
		args := []string{"list", "oci:DIR/trees/layout:multi", "--include-children", "--format", format}
		r := f.cli(args...).run(t)
		if r.code != exitOK {
			t.Errorf("%s: exit %d\n%s", format, r.code, r.stderr)
		}
		checkGolden(t, "children/oci_"+format+".golden", goldenText(args, r))
	}

	// digests is what a --format json --include-children listing found: the
	// subject's referrers, then per child "platform child-digest referrers...".
	digests := func(location string) []string {
		t.Helper()
		r := f.cli("list", location, "--include-children", "--format", "json").run(t)
		if r.code != exitOK {
			t.Fatalf("%s: exit %d\n%s", location, r.code, r.stderr)
		}
		var out struct {
			Referrers ocispec.Index
			Children  []struct {
				Descriptor ocispec.Descriptor
				Platform   string
				Referrers  ocispec.Index
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range out.Referrers.Manifests {
			got = append(got, m.Digest.String())
		}
		for _, c := range out.Children {
			got = append(got, c.Platform, c.Descriptor.Digest.String())
			for _, m := range c.Referrers.Manifests {
				got = append(got, m.Digest.String())
			}
		}
		return got
	}
	oci, static := digests("oci:DIR/trees/layout:multi"), digests("static:DIR/trees/static:app:multi")
	if !slices.Equal(oci, static) {
		t.Errorf("static tree:\n%q\nlayout:\n%q", static, oci)
	}
	if len(oci) != 6 { // index SBOM, amd64 + digest, arm64 + digest + SBOM
		t.Errorf("layout: %q, want the index's SBOM, linux/amd64 without referrers, linux/arm64 with its SBOM", oci)
	}
}

// TestChildrenOrder lists an index of nine children, one without a platform,
// in an order that is not their digest order, with referrers on some: the
// children come back in the index's order, each with its own referrers,
// although they are listed a few at a time.
func TestChildrenOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{Latency: 5 * time.Millisecond})
	var idx ocispec.Index
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	var want [][2]string // per child: its platform and its referrer's artifactType ("" for none)
	for i := range 9 {
		p := &ocispec.Platform{OS: "linux", Architecture: fmt.Sprintf("arch%d", i)}
		b := imageManifest(t, f.reg, *p)
		d := f.reg.PutManifest("app", digest.FromBytes(b).String(), ocispec.MediaTypeImageManifest, b)
		label := p.OS + "/" + p.Architecture
		if i == 4 {
			p, label = nil, "unknown"
		}
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(b)), Platform: p})
		typ := ""
		if i%3 != 1 {
			typ = fmt.Sprintf("application/vnd.example.child%d", i)
			if r := f.cli("attach", "REGISTRY/app@"+d.String(), "--artifact-type", typ, "--plain-http").run(t); r.code != exitOK {
				t.Fatalf("attach to child %d: exit %d\n%s", i, r.code, r.stderr)
			}
		}
		want = append(want, [2]string{label, typ})
	}
	// not the order they were made in, nor (by chance) digest order
	slices.Reverse(idx.Manifests)
	slices.Reverse(want)
	f.reg.PutManifest("app", "many", ocispec.MediaTypeImageIndex, mustJSON(t, idx))

	r := f.cli("list", "REGISTRY/app:many", "--include-children", "--format", "json", "--plain-http").run(t)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var out struct {
		Children []struct {
			Descriptor ocispec.Descriptor
			Platform   string
			Referrers  ocispec.Index
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	for i, c := range out.Children {
		if c.Descriptor.Digest != idx.Manifests[i].Digest {
			t.Errorf("child %d is %s, want %s", i, c.Descriptor.Digest, idx.Manifests[i].Digest)
		}
		typ := ""
		for _, m := range c.Referrers.Manifests {
			typ += m.ArtifactType
		}
		got = append(got, [2]string{c.Platform, typ})
	}
	if !slices.Equal(got, want) {
		t.Errorf("children (platform, referrer type):\n%q\nwant:\n%q", got, want)
	}
}
