package hosting

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/opencontainers/go-digest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenTree is the bundled static tree (repository app).
var goldenTree = filepath.Join("..", "..", "testdata", "trees", "static")

// TestGolden renders the headers of the bundled static tree in every format
// and compares them with testdata/<format>.golden.
func TestGolden(t *testing.T) {
	t.Parallel()
	es, err := Headers(context.Background(), os.DirFS(goldenTree), "DIR", "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Formats {
		var b bytes.Buffer
		o := Options{Repository: "app", Root: "DIR", Command: "referrers index-for --all --headers " + string(f) + " static:DIR:app"}
		if err := Render(&b, f, es, o); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", string(f)+".golden")
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run 'go test ./core/hosting -run TestGolden -update' to create it)", err)
		}
		if got := b.String(); got != string(want) {
			t.Errorf("%s differs (rerun with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
		}
	}
}

// TestHeaders checks what Headers finds in the bundled tree: a tag's digest
// is the one its manifest is stored under (sha512 for v512), a manifest
// without a sidecar takes its mediaType field, referrers files have no
// digest, sidecars and dot files are not served as entries.
func TestHeaders(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{}
	if err := fsCopy(fsys, os.DirFS(goldenTree)); err != nil {
		t.Fatal(err)
	}
	// a manifest without its sidecar, and the files a tree keeps beside
	delete(fsys, "v2/app/manifests/v1.mediatype")
	fsys["v2/app/referrers/.complete"] = &fstest.MapFile{Data: []byte("x")}
	fsys["v2/app/manifests/.tmp-1"] = &fstest.MapFile{Data: []byte("x")}
	es, err := Headers(context.Background(), fsys, "DIR", "app")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]Entry{}
	for _, e := range es {
		if strings.Contains(e.Path, ".mediatype") || strings.Contains(e.Path, "/.") {
			t.Errorf("entry for %s", e.Path)
		}
		byPath[e.Path] = e
	}
	v512 := byPath["/v2/app/manifests/v512"]
	if v512.Digest.Algorithm() != digest.SHA512 {
		t.Errorf("v512: digest %s, want the sha512 digest it is stored under", v512.Digest)
	}
	if _, ok := byPath["/v2/app/manifests/"+v512.Digest.String()]; !ok {
		t.Errorf("no entry for the manifest v512 is stored as (%s)", v512.Digest)
	}
	if v1 := byPath["/v2/app/manifests/v1"]; v1.ContentType != "application/vnd.oci.image.manifest.v1+json" || v1.Digest == "" {
		t.Errorf("v1 without a sidecar: %+v", v1)
	}
	kinds := map[Kind]int{}
	for _, e := range es {
		kinds[e.Kind]++
		if e.Kind == Referrers && (e.Digest != "" || e.ContentType != "application/vnd.oci.image.index.v1+json") {
			t.Errorf("referrers entry %+v", e)
		}
	}
	if kinds[Manifest] == 0 || kinds[Referrers] == 0 || kinds[Blob] == 0 {
		t.Errorf("kinds found: %v", kinds)
	}
}

// fsCopy copies the regular files of src into dst.
func fsCopy(dst fstest.MapFS, src fs.FS) error {
	return fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		dst[p] = &fstest.MapFile{Data: b}
		return err
	})
}

// TestHostile proves that names and values of a hostile tree that could
// change a configuration's meaning are ErrUnsafe, from Headers (the tree) or
// from Render (entries made by hand), and that Render then writes nothing.
func TestHostile(t *testing.T) {
	t.Parallel()
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	d := digest.FromBytes(manifest)
	tree := func(files map[string]string) fstest.MapFS {
		fsys := fstest.MapFS{"v2/app/manifests/" + d.String(): &fstest.MapFile{Data: manifest}}
		for p, c := range files {
			if c == "MANIFEST" {
				c = string(manifest)
			}
			fsys[p] = &fstest.MapFile{Data: []byte(c)}
		}
		return fsys
	}
	for _, c := range []struct {
		name  string
		files map[string]string
	}{
		{"sidecar with a quote", map[string]string{"v2/app/manifests/v1": "MANIFEST", "v2/app/manifests/v1.mediatype": `application/x"; evil`}},
		{"sidecar with a line break", map[string]string{"v2/app/manifests/v1": "MANIFEST", "v2/app/manifests/v1.mediatype": "application/x\nadd_header X y"}},
		{"sidecar with an inner line break", map[string]string{"v2/app/manifests/v1": "MANIFEST", "v2/app/manifests/v1.mediatype": "application/x\n  X-Evil: 1"}},
		{"sidecar with braces", map[string]string{"v2/app/manifests/v1": "MANIFEST", "v2/app/manifests/v1.mediatype": "application/{env.SECRET}"}},
		{"sidecar with a space", map[string]string{"v2/app/manifests/v1": "MANIFEST", "v2/app/manifests/v1.mediatype": "application/x y"}},
		{"sidecar with parameters", map[string]string{"v2/app/manifests/v1": "MANIFEST", "v2/app/manifests/v1.mediatype": "application/json; charset=utf-8"}},
		{"mediaType field with a brace", map[string]string{"v2/app/manifests/v1": `{"schemaVersion":2,"mediaType":"a/b}"}`}},
		{"tag with a space", map[string]string{"v2/app/manifests/v 1": "MANIFEST"}},
		{"tag with a brace", map[string]string{"v2/app/manifests/v{1}": "MANIFEST"}},
		{"tag with a line break", map[string]string{"v2/app/manifests/v1\nlocation": "MANIFEST"}},
		{"tag with a quote", map[string]string{`v2/app/manifests/v"1`: "MANIFEST"}},
		{"referrers file not named by a digest", map[string]string{"v2/app/referrers/x;y": "{}"}},
		{"blob not named by a digest", map[string]string{"v2/app/blobs/sha256:{x}": "x"}},
		{"a directory among the manifests", map[string]string{"v2/app/manifests/sub/x": "x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{}
			for p, v := range c.files {
				files[strings.ReplaceAll(p, `\n`, "\n")] = strings.ReplaceAll(v, `\n`, "\n")
			}
			_, err := Headers(context.Background(), tree(files), "DIR", "app")
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Headers: %v, want ErrUnsafe", err)
			}
		})
	}
	good := Entry{Path: "/v2/app/manifests/v1", Kind: Manifest, ContentType: "application/vnd.oci.image.manifest.v1+json", Digest: d}
	for _, c := range []struct {
		name   string
		entry  func(e *Entry)
		format Format
		repo   string
	}{
		{"path with a space", func(e *Entry) { e.Path = "/v2/app/manifests/v 1" }, Caddy, "app"},
		{"path with a brace", func(e *Entry) { e.Path = "/v2/app/manifests/{x}" }, Nginx, "app"},
		{"path with a semicolon", func(e *Entry) { e.Path = "/v2/app/manifests/v1;" }, Nginx, "app"},
		{"path with a line break", func(e *Entry) { e.Path = "/v2/app/manifests/v1\n/evil" }, Pages, "app"},
		{"path outside /v2/", func(e *Entry) { e.Path = "/etc/passwd" }, Caddy, "app"},
		{"path with a dot file", func(e *Entry) { e.Path = "/v2/app/referrers/.complete" }, Caddy, "app"},
		{"path with two colons", func(e *Entry) { e.Path = "/v2/app/manifests/a:b:c" }, Pages, "app"},
		{"content type with a quote", func(e *Entry) { e.ContentType = `a/b"` }, Caddy, "app"},
		{"content type with a dollar, for nginx it is fine", func(e *Entry) { e.ContentType = "application/x$y" }, Nginx, "app"},
		{"content type with a hash in _headers", func(e *Entry) { e.ContentType = "a/b#c" }, Pages, "app"},
		{"bad digest", func(e *Entry) { e.Digest = "sha256:{x}" }, Nginx, "app"},
		{"bad repository", nil, Caddy, "app\n}"},
		{"no format", nil, "apache", "app"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := good
			if c.entry != nil {
				c.entry(&e)
			}
			e.Path = strings.ReplaceAll(e.Path, `\n`, "\n")
			var b bytes.Buffer
			err := Render(&b, c.format, []Entry{e}, Options{Repository: strings.ReplaceAll(c.repo, `\n`, "\n")})
			if strings.HasPrefix(c.name, "content type with a dollar") {
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				return
			}
			if err == nil || b.Len() != 0 {
				t.Fatalf("Render: %v, wrote %q; want an error and nothing", err, b.String())
			}
		})
	}
}

// TestPagesCollision: a _headers pattern writes a digest's ':' as '*', which
// would also match a tag named like the digest's tag-schema tag; such a tree
// is refused for pages (and served by caddy and nginx, whose paths are exact).
func TestPagesCollision(t *testing.T) {
	t.Parallel()
	const hex = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	d := digest.Digest("sha256:" + hex)
	entry := func(path string) Entry {
		return Entry{Path: path, Kind: Manifest, ContentType: "application/vnd.oci.image.manifest.v1+json", Digest: d}
	}
	for _, c := range []struct {
		name  string
		other string
		ok    bool
	}{
		{"tag-schema tag", "/v2/app/manifests/sha256-" + hex, false},
		{"tag with no separator", "/v2/app/manifests/sha256" + hex, false},
		{"tag with a longer infix", "/v2/app/manifests/sha256-x-" + hex, false},
		{"same name in another directory", "/v2/app/referrers/sha256-" + hex, true},
		{"other hex", "/v2/app/manifests/sha256-" + strings.Repeat("0", 64), true},
		{"plain tag", "/v2/app/manifests/v1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			es := []Entry{entry("/v2/app/manifests/" + d.String()), entry(c.other)}
			var b bytes.Buffer
			err := Render(&b, Pages, es, Options{Repository: "app"})
			if c.ok != (err == nil) || (!c.ok && !errors.Is(err, ErrUnsafe)) {
				t.Fatalf("Render pages: %v, want ok=%v", err, c.ok)
			}
			for _, f := range []Format{Caddy, Nginx} {
				if err := Render(&bytes.Buffer{}, f, es, Options{Repository: "app"}); err != nil {
					t.Errorf("Render %s: %v", f, err)
				}
			}
		})
	}
}
