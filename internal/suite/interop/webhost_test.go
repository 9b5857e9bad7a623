package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// A static tree on a plain web server (Caddy, no registry code in it) with
// the per-path headers `referrers index-for --all --headers caddy` prints:
// every client resolves, pulls and lists referrers from it, and each lists
// what our CLI lists from the same tree offline. Issue 18: behind a web
// server without those headers oras failed on the missing
// Docker-Content-Digest, regctl on application/octet-stream, and oras's
// recursive discover stopped with "unsupported" at the first manifest
// without a pre-rendered (empty) index.

// hostedSubject is one subject a static-host test lists: ref is ":TAG" or
// "@DIGEST"; platform, when set, picks a child of an index.
type hostedSubject struct {
	ref, platform string
	// regctlDepth is the depth regctl is asked for: regctl has no
	// recursive list, our harness runs one regctl per referrer, which is
	// too slow for a hundred referrers.
	regctlDepth int
}

// serveWithCaddy rebuilds the indexes of repository app of the static tree
// in dir and writes the Caddy snippet, then serves dir with Caddy.
func serveWithCaddy(t *testing.T, dir string) *oracle.WebHost {
	t.Helper()
	our := oracle.NewReferrers(t)
	r := our.Run("index-for", "--all", "--headers", "caddy", "static:"+dir+":app")
	if r.Err != nil {
		t.Fatalf("index-for --all --headers caddy: %v\n%s", r.Err, r.Stderr)
	}
	snippet := filepath.Join(t.TempDir(), "referrers.caddy")
	if err := os.WriteFile(snippet, []byte(r.Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return oracle.StartCaddy(t, dir, "\timport "+snippet)
}

// offlineListing is what our CLI lists from the tree itself, depth 2.
func offlineListing(t *testing.T, our *ours, dir string, s hostedSubject) []seen {
	t.Helper()
	args := []string{"list", "--format", "json", "--depth", "2", "static:" + dir + ":app" + s.ref}
	if s.platform != "" {
		args = append(args, "--platform", s.platform)
	}
	var l staticListing
	out := our.x.Must(args...)
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("referrers list output: %v\n%s", err, out)
	}
	return l.seen()
}

// typedTree renders a listing as sorted "digest type" lines with children
// as "parent>digest type", to depth levels.
func typedTree(ss []seen, depth int) string {
	var lines []string
	for _, s := range ss {
		lines = append(lines, s.Digest+" "+s.ArtifactType)
		if depth > 1 {
			for _, c := range s.Children {
				lines = append(lines, s.Digest+">"+c.Digest+" "+c.ArtifactType)
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// checkHosted lists each subject through host with every client and
// compares with the offline listing of the tree in dir.
func checkHosted(t *testing.T, dir, host string, subjects []hostedSubject, wantSome int) {
	t.Helper()
	cs := clients(t, host)
	our := cs[0].(*ours)
	nonEmpty := 0
	for _, s := range subjects {
		want := offlineListing(t, our, dir, s)
		if len(want) > 0 {
			nonEmpty++
		}
		for _, c := range cs {
			depth := 2
			if c.name() == "regctl" && s.regctlDepth > 0 {
				depth = s.regctlDepth
			}
			got := c.list(t, host+"/app"+s.ref, depth, s.platform)
			if g, w := typedTree(got, depth), typedTree(want, depth); g != w {
				t.Errorf("%s lists app%s %s through the web server:\n%s\nwant (referrers list offline):\n%s",
					c.name(), s.ref, s.platform, g, w)
			}
		}
	}
	if nonEmpty < wantSome {
		t.Fatalf("only %d of the subjects have referrers offline, want at least %d: the test would compare empty lists", nonEmpty, wantSome)
	}
}

func TestStaticHostCaddyGolden(t *testing.T) {
	t.Parallel()
	record(t, "static-host", "golden tree behind Caddy", "referrers index-for", "all")
	dir := copyDir(t, filepath.Join("..", "..", "..", "testdata", "trees", "static"))
	w := serveWithCaddy(t, dir)

	// The amd64 child of the multi-platform index has no referrers: it is
	// answered with an empty index (200), not a 404.
	var multi ocispec.Index
	b, err := os.ReadFile(filepath.Join(dir, "v2", "app", "manifests", "multi"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &multi); err != nil {
		t.Fatal(err)
	}
	var amd64 string
	for _, m := range multi.Manifests {
		if m.Platform != nil && m.Platform.Architecture == "amd64" {
			amd64 = m.Digest.String()
		}
	}
	if amd64 == "" {
		t.Fatal("the golden multi index has no amd64 child")
	}
	checkHosted(t, dir, w.Host, []hostedSubject{
		{ref: ":v1"}, {ref: ":multi"}, {ref: ":multi", platform: "linux/arm64"},
		{ref: ":v512"}, {ref: "@" + amd64},
	}, 4)

	// Resolve and pull, with each client's own digest checks: the image and
	// the SBOM, whole, into an OCI layout (regctl) and to files (oras).
	regctl := oracle.NewRegctl(t, w.Host)
	regctl.Must("image", "copy", w.Host+"/app:v1", "ocidir://"+filepath.Join(t.TempDir(), "out")+":v1")
	oras := oracle.NewOras(t)
	if d := oras.Must("resolve", "--plain-http", w.Host+"/app:v1"); !strings.HasPrefix(strings.TrimSpace(d), "sha256:") {
		t.Errorf("oras resolve: %q", d)
	}
	oras.Must("copy", "--from-plain-http", "-r", w.Host+"/app:v1", "--to-oci-layout", filepath.Join(t.TempDir(), "oras")+":v1")

	// No request was answered with an error status: a 404 for a referrers
	// list would be the "unsupported" answer the snippet exists to avoid.
	for _, line := range strings.Split(strings.TrimSpace(w.AccessLog()), "\n") {
		var e struct {
			Status  int `json:"status"`
			Request struct {
				Method, URI string
			} `json:"request"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		if e.Status >= 400 && strings.Contains(e.Request.URI, "/referrers/") {
			t.Errorf("%s %s answered %d", e.Request.Method, e.Request.URI, e.Status)
		}
	}
}

// TestStaticHostCaddyLarge serves a generated tree of 10,000 manifests: 100
// images with 98 referrers each (one of them signed), written as another
// tool would (manifest files and sidecars, no indexes), indexed by
// `index-for --all --headers caddy`.
func TestStaticHostCaddyLarge(t *testing.T) {
	t.Parallel()
	record(t, "static-host", "10k-manifest tree behind Caddy", "referrers index-for", "all")
	dir, images := writeLargeStaticTree(t, 100, 98)
	w := serveWithCaddy(t, dir)
	var subjects []hostedSubject
	for _, i := range []int{0, 57, 99} {
		subjects = append(subjects, hostedSubject{ref: "@" + images[i].String(), regctlDepth: 1})
	}
	subjects = append(subjects, hostedSubject{ref: ":img-42", regctlDepth: 1})
	checkHosted(t, dir, w.Host, subjects, 4)
}

// writeLargeStaticTree writes repository app of a static tree with n images
// (tagged img-I) and per referrers each: manifests stored under their digest
// with a .mediatype sidecar (every other referrer without one: its type is
// its own mediaType field), blobs shared; the first referrer of each image
// has a signature. No referrers files are written.
func writeLargeStaticTree(t *testing.T, n, per int) (string, []digest.Digest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "static")
	base := filepath.Join(dir, "v2", "app")
	for _, d := range []string{"manifests", "blobs"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel string, b []byte) {
		if err := os.WriteFile(filepath.Join(base, filepath.FromSlash(rel)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	blob := func(b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		write("blobs/"+d.String(), b)
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: int64(len(b))}
	}
	manifest := func(m ocispec.Manifest, tag string, sidecar bool) ocispec.Descriptor {
		m.Versioned = specs.Versioned{SchemaVersion: 2}
		m.MediaType = ocispec.MediaTypeImageManifest
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		d := digest.FromBytes(b)
		for _, name := range []string{d.String(), tag} {
			if name == "" {
				continue
			}
			write("manifests/"+name, b)
			if sidecar {
				write("manifests/"+name+".mediatype", []byte(ocispec.MediaTypeImageManifest))
			}
		}
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(b))}
	}
	empty := ocispec.DescriptorEmptyJSON
	write("blobs/"+empty.Digest.String(), empty.Data)
	cfg := blob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	images := make([]digest.Digest, n)
	for i := range n {
		layer := blob([]byte(fmt.Sprintf("layer of image %d", i)))
		img := manifest(ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{layer}}, fmt.Sprintf("img-%d", i), true)
		images[i] = img.Digest
		for j := range per {
			typ := fmt.Sprintf("application/vnd.example.kind%d", j%7)
			r := manifest(ocispec.Manifest{ArtifactType: typ, Config: empty, Layers: []ocispec.Descriptor{empty},
				Subject: &img, Annotations: map[string]string{"org.example.n": fmt.Sprintf("%d-%d", i, j)}}, "", j%2 == 0)
			if j == 0 {
				manifest(ocispec.Manifest{ArtifactType: "application/vnd.example.signature", Config: empty,
					Layers: []ocispec.Descriptor{empty}, Subject: &r}, "", true)
			}
		}
	}
	return dir, images
}

// copyDir copies the directory tree src to a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "tree")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
