package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestAttachStdin attaches a file read from standard input ("-"), titled by
// --stdin-name, and checks the usage errors around it.
func TestAttachStdin(t *testing.T) {
	t.Parallel()
	const content = `{"spdxVersion":"SPDX-2.3","name":"from-stdin"}` + "\n"
	tests := []struct {
		name      string
		files     map[string]string // created under DIR
		stdin     string
		args      []string // after "attach REGISTRY/app:v1"
		wantCode  int
		wantTitle string
		wantType  string
		wantData  string // the layer's content; defaults to stdin
		wantLayer map[string]string
		stderrHas string
	}{
		{name: "with a media type", stdin: content, args: []string{"-:application/spdx+json", "--stdin-name", "sbom.spdx.json"},
			wantTitle: "sbom.spdx.json", wantType: "application/spdx+json"},
		{name: "without a media type", stdin: content, args: []string{"-", "--stdin-name", "sbom.spdx.json"},
			wantTitle: "sbom.spdx.json", wantType: "application/octet-stream"},
		{name: "empty", args: []string{"-", "--stdin-name", "empty.txt"}, wantTitle: "empty.txt", wantType: "application/octet-stream"},
		{name: "beside a file", stdin: content, args: []string{"DIR/sig.bin", "-:application/spdx+json", "--stdin-name", "sbom.spdx.json"},
			wantTitle: "sbom.spdx.json", wantType: "application/spdx+json"},
		{name: "annotation file names it", stdin: content, files: map[string]string{"ann.json": `{"sbom.spdx.json":{"k":"v"}}`},
			args:      []string{"-", "--stdin-name", "sbom.spdx.json", "--annotation-file", "DIR/ann.json"},
			wantTitle: "sbom.spdx.json", wantType: "application/octet-stream",
			wantLayer: map[string]string{ocispec.AnnotationTitle: "sbom.spdx.json", "k": "v"}},
		{name: "a file named - is a file", stdin: "not read", files: map[string]string{"-": content},
			args: []string{"DIR/-"}, wantTitle: "-", wantType: "application/octet-stream", wantData: content},

		{name: "twice", stdin: content, args: []string{"-", "-:text/plain", "--stdin-name", "x"},
			wantCode: exitUsage, stderrHas: "the file - (standard input) can be given only once"},
		{name: "without --stdin-name", stdin: content, args: []string{"-"},
			wantCode: exitUsage, stderrHas: "needs --stdin-name NAME"},
		{name: "--stdin-name without -", args: []string{"DIR/sig.bin", "--stdin-name", "x"},
			wantCode: exitUsage, stderrHas: "--stdin-name names the file - (standard input), which is not among the files"},
		{name: "--stdin-name with a directory", stdin: content, args: []string{"-", "--stdin-name", "../x"},
			wantCode: exitUsage, stderrHas: `--stdin-name "../x": want a file name without a directory`},
		{name: "--stdin-name ..", stdin: content, args: []string{"-", "--stdin-name", ".."},
			wantCode: exitUsage, stderrHas: "want a file name without a directory"},
		{name: "with --password-stdin", stdin: content, args: []string{"-", "--stdin-name", "x", "--username", "u", "--password-stdin"},
			wantCode: exitUsage, stderrHas: "the file - and --password-stdin both read standard input"},
		{name: "bad media type", stdin: content, args: []string{"-:application/spdx json", "--stdin-name", "x"},
			wantCode: exitError, stderrHas: `file -: media type "application/spdx json"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fakeregistry.Mode{})
			for name, c := range tt.files {
				writeFile(t, filepath.Join(f.dir, name), c)
			}
			in := f.cli(append([]string{"attach", "REGISTRY/app:v1", "--artifact-type", "application/vnd.example",
				"--export-manifest", "DIR/manifest.json", "--plain-http"}, tt.args...)...)
			in.stdin = tt.stdin
			r := in.run(t)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if tt.wantCode != exitOK {
				if !strings.Contains(r.stderr, tt.stderrHas) {
					t.Errorf("stderr does not contain %q:\n%s", tt.stderrHas, r.stderr)
				}
				if r.stdout != "" {
					t.Errorf("stdout on failure:\n%s", r.stdout)
				}
				if got := f.reg.Requests(); len(got) != 0 {
					t.Errorf("%d requests sent, want none", len(got))
				}
				return
			}
			checkStdinLayer(t, f, tt.wantTitle, tt.wantType, orString(tt.wantData, tt.stdin), tt.wantLayer)
		})
	}
}

// checkStdinLayer checks the last layer of the manifest written to
// DIR/manifest.json: its title, media type and content (pushed), and its
// annotations when want is set.
func checkStdinLayer(t *testing.T, f *fixture, title, mediaType, data string, want map[string]string) {
	t.Helper()
	m := readManifest(t, filepath.Join(f.dir, "manifest.json"))
	if len(m.Layers) == 0 {
		t.Fatal("no layers")
	}
	l := m.Layers[len(m.Layers)-1]
	if got := l.Annotations[ocispec.AnnotationTitle]; got != title {
		t.Errorf("title = %q, want %q", got, title)
	}
	if l.MediaType != mediaType {
		t.Errorf("media type = %q, want %q", l.MediaType, mediaType)
	}
	if d := digest.FromString(data); l.Digest != d || l.Size != int64(len(data)) {
		t.Errorf("layer = %s (%d bytes), want %s (%d bytes)", l.Digest, l.Size, d, len(data))
	}
	if !f.reg.HasBlob("app", l.Digest) {
		t.Errorf("layer %s was not pushed", l.Digest)
	}
	if want != nil {
		checkAnnotations(t, "layer", l.Annotations, want)
	}
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestAttachStdinSpoolRemoved checks that standard input is spooled under
// TMPDIR and the spool is removed after the push, and after a failed one. It
// sets TMPDIR, so it does not run in parallel.
func TestAttachStdinSpoolRemoved(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("os.TempDir reads TMP, not TMPDIR, on Windows")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, tt := range []struct {
		name     string
		mode     fakeregistry.Mode
		wantCode int
	}{
		{"pushed", fakeregistry.Mode{}, exitOK},
		{"push failed", fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden, SubjectHeaderWithoutAPI: true}, exitError},
	} {
		f := newFixture(t, tt.mode)
		in := f.cli("attach", "REGISTRY/app:v1", "-", "--stdin-name", "x.txt", "--artifact-type", "application/vnd.example", "--plain-http")
		in.stdin = "some content\n"
		if r := in.run(t); r.code != tt.wantCode {
			t.Fatalf("%s: exit %d, want %d; stderr:\n%s", tt.name, r.code, tt.wantCode, r.stderr)
		}
		entries, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "referrers-stdin-") {
				t.Errorf("%s: the spool %s is left in TMPDIR", tt.name, e.Name())
			}
		}
	}
}

// putBuildxIndex stores, in the fixture's repository "app", the index tag as
// buildx writes it: the fixture's linux/amd64 and linux/arm64/v8 images and an
// attestation manifest of the amd64 one (platform unknown/unknown). extra
// descriptors are appended to the index. It returns the attestation manifest's
// digest.
func putBuildxIndex(t *testing.T, f *fixture, tag string, extra ...ocispec.Descriptor) digest.Digest {
	t.Helper()
	var idx ocispec.Index
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	for _, p := range []ocispec.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
	} {
		idx.Manifests = append(idx.Manifests, f.childDescriptor(t, p.OS+"/"+p.Architecture, p))
	}
	att := f.attestation(t, f.children["linux/amd64"])
	idx.Manifests = append(idx.Manifests, att)
	idx.Manifests = append(idx.Manifests, extra...)
	f.reg.PutManifest("app", tag, ocispec.MediaTypeImageIndex, mustJSON(t, idx))
	return att.Digest
}

// childDescriptor is the index entry of the fixture's child for key (see
// fixture.children), labelled with platform p.
func (f *fixture) childDescriptor(t *testing.T, key string, p ocispec.Platform) ocispec.Descriptor {
	t.Helper()
	d := f.children[key]
	_, b, ok := f.reg.Manifest("app", d.String())
	if !ok {
		t.Fatalf("no manifest %s", d)
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(b)), Platform: &p}
}

// attestation stores a buildx-style attestation manifest of image and returns
// its index entry.
func (f *fixture) attestation(t *testing.T, image digest.Digest) ocispec.Descriptor {
	t.Helper()
	unknown := ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	cfg := mustJSON(t, ocispec.Image{Platform: unknown, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}})
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2"}`)
	b := mustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: f.reg.PutBlob("app", cfg), Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: "application/vnd.in-toto+json", Digest: f.reg.PutBlob("app", stmt), Size: int64(len(stmt)),
			Annotations: map[string]string{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}},
	})
	d := f.reg.PutManifest("app", digest.FromBytes(b).String(), ocispec.MediaTypeImageManifest, b)
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(b)), Platform: &unknown,
		Annotations: map[string]string{"vnd.docker.reference.digest": image.String(), "vnd.docker.reference.type": "attestation-manifest"}}
}

// referrersOf lists the referrers of the manifest d of repository "app" with
// the CLI and returns their digests.
func (f *fixture) referrersOf(t *testing.T, d digest.Digest) []digest.Digest {
	t.Helper()
	r := f.cli("list", "REGISTRY/app@"+d.String(), "--format", "json", "--plain-http").run(t)
	if r.code != exitOK {
		t.Fatalf("list %s: exit %d; stderr:\n%s", d, r.code, r.stderr)
	}
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(r.stdout), &idx); err != nil {
		t.Fatal(err)
	}
	var out []digest.Digest
	for _, m := range idx.Manifests {
		out = append(out, m.Digest)
	}
	return out
}

// TestGoldenPlatformAll attaches an SBOM to every platform image manifest of
// an index as buildx writes it (with an attestation manifest, skipped), in
// json, then again with --skip-if-exists in text (nothing pushed), then a
// signature in text; against a registry with the Referrers API and one without.
func TestGoldenPlatformAll(t *testing.T) {
	t.Parallel()
	modes := []struct {
		name string
		mode fakeregistry.Mode
	}{
		{"api", fakeregistry.Mode{}},
		{"tag", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}},
	}
	steps := []struct {
		golden string
		args   []string
	}{
		{"attach_json", []string{"attach", "REGISTRY/app:buildx", "DIR/sbom.json:application/spdx+json",
			"--artifact-type", "application/spdx+json", "--platform", "all", "--format", "json", "--plain-http"}},
		{"attach_text_skip_if_exists", []string{"attach", "REGISTRY/app:buildx", "DIR/sbom.json:application/spdx+json",
			"--artifact-type", "application/spdx+json", "--platform", "all", "--skip-if-exists", "--plain-http"}},
		{"attach_text", []string{"attach", "REGISTRY/app:buildx", "DIR/sig.bin",
			"--artifact-type", "application/vnd.example.signature", "--platform", "all", "--plain-http"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, m.mode)
			att := putBuildxIndex(t, f, "buildx")
			var sboms []attachOutput
			for _, s := range steps {
				r := f.cli(s.args...).run(t)
				if r.code != exitOK {
					t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", s.golden, r.code, r.stdout, r.stderr)
				}
				if s.golden == "attach_json" {
					if err := json.Unmarshal([]byte(r.stdout), &sboms); err != nil {
						t.Fatalf("%v\n%s", err, r.stdout)
					}
				}
				checkGolden(t, "platform_all/"+m.name+"_"+s.golden+".golden", goldenText(s.args, r))
			}
			// Each platform child has the SBOM and the signature; the index
			// and the attestation manifest have nothing.
			if len(sboms) != 2 {
				t.Fatalf("%d results, want 2", len(sboms))
			}
			for i, key := range []string{"linux/amd64", "linux/arm64"} {
				child := f.children[key]
				if got, want := sboms[i].Subject, "REGISTRY/app@"+child.String(); got != want {
					t.Errorf("result %d: subject %s, want %s", i, got, want)
				}
				if got := f.referrersOf(t, child); len(got) != 2 || !slices.Contains(got, digest.Digest(sboms[i].Digest)) {
					t.Errorf("%s: referrers %v, want 2 with the SBOM %s", key, got, sboms[i].Digest)
				}
			}
			_, idx, _ := f.reg.Manifest("app", "buildx")
			for what, d := range map[string]digest.Digest{"the index": digest.FromBytes(idx), "the attestation manifest": att} {
				if got := f.referrersOf(t, d); len(got) != 0 {
					t.Errorf("%s has referrers %v", what, got)
				}
			}
		})
	}
}

// TestPlatformAll checks what --platform all pushes: one artifact per platform
// child, with that child as its subject and the same blobs, each pushed once,
// and with --export-manifest FILE, each manifest in FILE.<os>-<arch>[-<variant>].
func TestPlatformAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	putBuildxIndex(t, f, "buildx")
	f.reg.ResetRequests()
	r := f.cli("attach", "REGISTRY/app:buildx", "DIR/sbom.json:application/spdx+json", "--artifact-type", "application/spdx+json",
		"--platform", "all", "--export-manifest", "DIR/m.json", "--format", "json", "--plain-http").run(t)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	var outs []attachOutput
	if err := json.Unmarshal([]byte(r.stdout), &outs); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "m.json")); !os.IsNotExist(err) {
		t.Errorf("DIR/m.json was written (%v); want only the per-platform files", err)
	}
	var blobs []ocispec.Descriptor
	for i, c := range []struct{ key, platform, file string }{
		{"linux/amd64", "linux/amd64", "m.json.linux-amd64"},
		{"linux/arm64", "linux/arm64/v8", "m.json.linux-arm64-v8"},
	} {
		if outs[i].Platform != c.platform {
			t.Errorf("result %d: platform %q, want %q", i, outs[i].Platform, c.platform)
		}
		m := readManifest(t, filepath.Join(f.dir, c.file))
		if m.Subject == nil || m.Subject.Digest != f.children[c.key] || m.Subject.MediaType != ocispec.MediaTypeImageManifest || m.Subject.Platform != nil {
			t.Errorf("%s: subject %+v, want the image manifest %s", c.file, m.Subject, f.children[c.key])
		}
		b, err := os.ReadFile(filepath.Join(f.dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := digest.FromBytes(b).String(); got != outs[i].Digest {
			t.Errorf("%s has digest %s, want the pushed %s", c.file, got, outs[i].Digest)
		}
		these := append([]ocispec.Descriptor{m.Config}, m.Layers...)
		if blobs != nil && !slices.EqualFunc(blobs, these, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest }) {
			t.Errorf("%s: blobs %v, want the same as the first child's %v", c.file, these, blobs)
		}
		blobs = these
	}
	for _, b := range blobs {
		n := 0
		for _, q := range f.reg.Requests() {
			if q.Method == "PUT" && strings.Contains(q.Path, "/blobs/uploads/") && strings.Contains(q.Path, b.Digest.Encoded()) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("blob %s uploaded %d times, want once", b.Digest, n)
		}
	}
}

// TestPlatformAllErrors checks the failures of --platform all: a subject that
// is not an index or has no platform child, --export-manifest names it cannot
// use, and a child that fails, which stops the run and says what was done.
func TestPlatformAllErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mode      fakeregistry.Mode
		setup     func(t *testing.T, f *fixture) // replaces the index "x"
		fail      func(f *fixture)               // faults to inject
		args      []string                       // after "attach SUBJECT --artifact-type a/b --plain-http"
		subject   string                         // default REGISTRY/app:x
		wantCode  int
		stderrHas []string // DIGEST:key stands for the digest of f.children[key]
		attached  []string // children (keys) that must have a referrer afterwards
	}{
		{name: "not an index", subject: "REGISTRY/app:v1", args: []string{"--platform", "all"}, wantCode: exitError,
			stderrHas: []string{"--platform all: REGISTRY/app:v1 is a single manifest (application/vnd.oci.image.manifest.v1+json), not an index"}},
		{name: "only an attestation", wantCode: exitError, args: []string{"--platform", "all"},
			setup: func(t *testing.T, f *fixture) {
				idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
					Manifests: []ocispec.Descriptor{f.attestation(t, f.children["linux/amd64"])}}
				f.reg.PutManifest("app", "x", ocispec.MediaTypeImageIndex, mustJSON(t, idx))
			},
			stderrHas: []string{"skipping sha256:", "an attestation manifest (platform unknown/unknown)", "has no image manifest with a platform to attach to"}},
		{name: "bad platform", args: []string{"--platform", "linux"}, wantCode: exitUsage,
			stderrHas: []string{`--platform: platform "linux": want os/arch[/variant], or all`}},
		{name: "ALL", args: []string{"--platform", "ALL"}, wantCode: exitUsage, stderrHas: []string{`platform "ALL"`}},
		{name: "export: two children of one platform", args: []string{"--platform", "all", "--export-manifest", "DIR/m.json"}, wantCode: exitError,
			setup: func(t *testing.T, f *fixture) {
				amd := ocispec.Platform{OS: "linux", Architecture: "amd64"}
				idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
					Manifests: []ocispec.Descriptor{f.childDescriptor(t, "linux/amd64", amd), f.childDescriptor(t, "linux/arm64", amd)}}
				f.reg.PutManifest("app", "x", ocispec.MediaTypeImageIndex, mustJSON(t, idx))
			},
			stderrHas: []string{"--export-manifest: DIGEST:linux/amd64 and DIGEST:linux/arm64 would both be written to DIR/m.json.linux-amd64"}},
		{name: "export: a platform that is not a file name", args: []string{"--platform", "all", "--export-manifest", "DIR/m.json"}, wantCode: exitError,
			setup: func(t *testing.T, f *fixture) {
				idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
					Manifests: []ocispec.Descriptor{f.childDescriptor(t, "linux/amd64", ocispec.Platform{OS: "linux", Architecture: "amd64"}),
						f.childDescriptor(t, "linux/arm64", ocispec.Platform{OS: "..", Architecture: "..\\x"})}}
				f.reg.PutManifest("app", "x", ocispec.MediaTypeImageIndex, mustJSON(t, idx))
			},
			stderrHas: []string{`--export-manifest: the platform "../..\\x" of DIGEST:linux/arm64 cannot be part of a file name`}},
		{name: "the first child fails", args: []string{"--platform", "all", "--skip-if-exists"}, wantCode: exitError,
			fail: func(f *fixture) { f.reg.FailNext("GET", "/referrers/"+f.children["linux/amd64"].String(), 403, 1) },
			stderrHas: []string{"--platform all: linux/amd64 (REGISTRY/app@DIGEST:linux/amd64): look for an existing equivalent referrer:", "403",
				"; nothing was attached before it; not tried: linux/arm64/v8 (DIGEST:linux/arm64)\n"}},
		{name: "the second child fails", args: []string{"--platform", "all"}, wantCode: exitError,
			mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText},
			fail: func(f *fixture) {
				f.reg.FailNext("PUT", "/manifests/sha256-"+f.children["linux/arm64"].Encoded(), 403, 1)
			},
			stderrHas: []string{"--platform all: linux/arm64/v8 (REGISTRY/app@DIGEST:linux/arm64): artifact sha256:", "403",
				"; attached before it: linux/amd64 as REGISTRY/app@sha256:", "; rerun with --skip-if-exists to attach only where it is missing\n"},
			attached: []string{"linux/amd64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.mode)
			putBuildxIndex(t, f, "x")
			if tt.setup != nil {
				tt.setup(t, f)
			}
			if tt.fail != nil {
				tt.fail(f)
			}
			f.reg.ResetRequests()
			r := f.cli(append([]string{"attach", orString(tt.subject, "REGISTRY/app:x"), "--artifact-type", "a/b", "--plain-http"}, tt.args...)...).run(t)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout on failure:\n%s", r.stdout)
			}
			for _, s := range tt.stderrHas {
				for key, d := range f.children {
					s = strings.ReplaceAll(s, "DIGEST:"+key, d.String())
				}
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, r.stderr)
				}
			}
			if tt.fail == nil {
				for _, q := range f.reg.Requests() {
					if q.Method != "GET" && q.Method != "HEAD" {
						t.Errorf("%s %s sent; want nothing pushed", q.Method, q.Path)
					}
				}
			}
			for key, d := range f.children {
				want := 0
				if slices.Contains(tt.attached, key) {
					want = 1
				}
				if got := f.referrersOf(t, d); len(got) != want {
					t.Errorf("%s has %d referrers, want %d", key, len(got), want)
				}
			}
		})
	}
}

// TestPlatformAllLayout attaches with --platform all to the index "multi" of
// the bundled OCI layout (linux/amd64 and linux/arm64): each child gets its
// referrer as an index.json entry.
func TestPlatformAllLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	if err := os.CopyFS(layoutDir, os.DirFS(filepath.Join("..", "..", "testdata", "trees", "layout"))); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sbom.json"), fixtureFiles["sbom.json"])
	getenv := func(k string) string {
		if k == "REFERRERS_CACHE_DIR" {
			return "off"
		}
		return ""
	}
	cli := func(args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		code := run(t.Context(), args, getenv, strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	subject := "oci:" + layoutDir + ":multi"
	code, stdout, stderr := cli("attach", subject, filepath.Join(dir, "sbom.json"), "--artifact-type", "application/vnd.example.sbom",
		"--platform", "all", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr:\n%s", stderr)
	}
	var outs []attachOutput
	if err := json.Unmarshal([]byte(stdout), &outs); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	want := []struct{ platform, child string }{
		{"linux/amd64", "sha256:47dbe44474bc10845f52bd91fdba38712fbc19786a600b6038ecf6cab0df49fe"},
		{"linux/arm64", "sha256:96504f286feee056cfbb41aa72ce7ff71433efbb6ebc6669190b7346b6c856bb"},
	}
	if len(outs) != len(want) {
		t.Fatalf("%d results, want %d:\n%s", len(outs), len(want), stdout)
	}
	for i, w := range want {
		o := outs[i]
		if o.Platform != w.platform || o.Subject != "oci:"+layoutDir+"@"+w.child || o.Mode != string(referrers.ModeIndex) {
			t.Errorf("result %d: %+v, want platform %s, subject %s, mode index", i, o, w.platform, w.child)
		}
		code, stdout, stderr := cli("list", subject, "--platform", w.platform, "--artifact-type", "application/vnd.example.sbom", "--format", "json")
		if code != exitOK {
			t.Fatalf("list: exit %d; stderr:\n%s", code, stderr)
		}
		var idx ocispec.Index
		if err := json.Unmarshal([]byte(stdout), &idx); err != nil {
			t.Fatal(err)
		}
		if len(idx.Manifests) != 1 || idx.Manifests[0].Digest.String() != o.Digest {
			t.Errorf("%s: list finds %v, want %s", w.platform, idx.Manifests, o.Digest)
		}
	}
}

// TestCtxReader: a read waiting on a reader that never answers (a terminal)
// gives up when the context ends.
func TestCtxReader(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r := ctxReader{ctx, pr}
	go func() {
		_, _ = pw.Write([]byte("hi"))
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	b := make([]byte, 8)
	if n, err := r.Read(b); err != nil || string(b[:n]) != "hi" {
		t.Fatalf("Read = %q, %v; want \"hi\", nil", b[:n], err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read did not give up when the context ended")
	}
}
