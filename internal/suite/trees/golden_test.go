// Package trees checks listing on the bundled golden trees of testdata/trees
// (described in testdata/trees/README.md) against golden JSON, and runs the
// README's demo. Regenerate the trees and the goldens with
//
//	go test ./internal/suite/trees/ -update
package trees

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/layout"
	_ "github.com/oci-referrers/referrers/core/ref" // registers sha512
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/core/target"
)

var update = flag.Bool("update", false, "regenerate testdata/trees and the golden files")

const treesDir = "../../../testdata/trees"

// store is what both tree kinds offer the generator.
type store interface {
	target.Target
	Close() error
}

// pushImage stores a one-layer image (or, with alg sha512, under a sha512
// digest) and tags it.
func pushImage(t *testing.T, s store, seed, tag string, alg digest.Algorithm) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	cfg := blob(t, s, ocispec.MediaTypeImageConfig, fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"seed":%q}}}`, seed))
	layer := blob(t, s, ocispec.MediaTypeImageLayer, "layer of "+seed)
	b, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: alg.FromBytes(b), Size: int64(len(b))}
	if _, err := s.PushManifest(ctx, d, b, target.PushOptions{Tag: tag}); err != nil {
		t.Fatal(err)
	}
	return d
}

func blob(t *testing.T, s store, mt, content string) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromString(content), Size: int64(len(content))}
	if err := s.PushBlob(context.Background(), d, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	return d
}

func attach(t *testing.T, s store, subject ocispec.Descriptor, typ, file, content string, ann map[string]string) ocispec.Descriptor {
	t.Helper()
	a := referrers.Artifact{ArtifactType: typ, Annotations: ann}
	if file != "" {
		b := referrers.BytesBlob(typ, []byte(content))
		b.Descriptor.Annotations = map[string]string{ocispec.AnnotationTitle: file}
		a.Layers = []referrers.Blob{b}
	}
	res, err := referrers.New().Attach(context.Background(), s, subject, a, referrers.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Descriptor
}

// populate writes the same content into a layout or a static tree: see
// testdata/trees/README.md.
func populate(t *testing.T, s store) {
	created := map[string]string{ocispec.AnnotationCreated: "2026-01-02T03:04:05Z"}
	app := pushImage(t, s, "app", "v1", digest.SHA256)
	sbom := attach(t, s, app, "application/spdx+json", "sbom.spdx.json", `{"spdxVersion":"SPDX-2.3","name":"app"}`, created)
	attach(t, s, sbom, "application/vnd.example.signature", "sbom.sig", "signature of the sbom", nil)
	attach(t, s, app, "application/vnd.example.scan+json", "scan.json", `{"critical":0}`, map[string]string{"org.example.result": "pass"})

	amd := pushImage(t, s, "multi-amd64", "", digest.SHA256)
	arm := pushImage(t, s, "multi-arm64", "", digest.SHA256)
	amd.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	ib, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{amd, arm}})
	if err != nil {
		t.Fatal(err)
	}
	idx := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(ib), Size: int64(len(ib))}
	if _, err := s.PushManifest(context.Background(), idx, ib, target.PushOptions{Tag: "multi"}); err != nil {
		t.Fatal(err)
	}
	attach(t, s, idx, "application/spdx+json", "multi.spdx.json", `{"spdxVersion":"SPDX-2.3","name":"multi"}`, created)
	arm.Platform = nil
	attach(t, s, arm, "application/spdx+json", "arm64.spdx.json", `{"spdxVersion":"SPDX-2.3","name":"multi arm64"}`, created)

	s512 := pushImage(t, s, "sha512", "v512", digest.SHA512)
	attach(t, s, s512, "application/spdx+json", "sbom512.spdx.json", `{"spdxVersion":"SPDX-2.3","name":"sha512"}`, created)
}

// cases are the listings compared with golden files: the tree reference (as
// on the command line), the platform, and the golden file name.
var cases = []struct {
	kind, reference, platform, golden string
}{
	{"oci", "v1", "", "app-v1"},
	{"oci", "multi", "", "multi"},
	{"oci", "multi", "linux/arm64", "multi-arm64"},
	{"oci", "v512", "", "sha512"},
	{"static", "v1", "", "app-v1"},
	{"static", "multi", "", "multi"},
	{"static", "multi", "linux/arm64", "multi-arm64"},
	{"static", "v512", "", "sha512"},
}

func open(t *testing.T, kind, dir string) store {
	t.Helper()
	var s store
	var err error
	if kind == "oci" {
		// the golden layout records referrers as oras does (testdata/trees/README.md)
		s, err = layout.Open(filepath.Join(dir, "layout"), layout.WithStyle(layout.StyleIndex))
	} else {
		s, err = static.Open(filepath.Join(dir, "static"), "app")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func regenerate(t *testing.T) {
	for _, sub := range []string{"layout", "static", "expected"} {
		if err := os.RemoveAll(filepath.Join(treesDir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	if err := layout.Init(filepath.Join(treesDir, "layout")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(treesDir, "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"oci", "static"} {
		s := open(t, kind, treesDir)
		populate(t, s)
		s.Close()
	}
	// The demo's layout: one image, no referrers.
	demo := "../../../testdata/demo/layout"
	if err := os.RemoveAll(demo); err != nil {
		t.Fatal(err)
	}
	if err := layout.Init(demo); err != nil {
		t.Fatal(err)
	}
	l, err := layout.Open(demo)
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, l, "demo-app", "1.0", digest.SHA256)
	l.Close()
	_ = os.Remove(filepath.Join(demo, ".referrers.lock"))
	// Locks are not content.
	_ = os.Remove(filepath.Join(treesDir, "layout", ".referrers.lock"))
	_ = os.Remove(filepath.Join(treesDir, "static", "v2", "app", ".referrers.lock"))
}

// copyTree copies a testdata tree to a temporary directory (listing may
// cache; tests never write into testdata).
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestGoldenTrees lists each subject of the bundled trees with depth 2 and
// compares the result with testdata/trees/expected/<golden>.json; the layout
// and the static tree hold the same content, so they share the goldens.
func TestGoldenTrees(t *testing.T) {
	if *update {
		regenerate(t)
	}
	dir := copyTree(t, treesDir)
	for _, tc := range cases {
		t.Run(tc.kind+"/"+tc.golden, func(t *testing.T) {
			s := open(t, tc.kind, dir)
			ctx := context.Background()
			subject, err := referrers.ResolveSubject(ctx, s, tc.reference, tc.platform)
			if err != nil {
				t.Fatal(err)
			}
			res, err := referrers.New().List(ctx, s, subject, referrers.ListOptions{Depth: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Warnings) > 0 {
				t.Errorf("warnings: %v", res.Warnings)
			}
			for _, n := range res.Referrers {
				n.Mode = "" // scan or index: how, not what
			}
			got, err := json.MarshalIndent(struct {
				Subject   ocispec.Descriptor `json:"subject"`
				Referrers []*referrers.Node  `json:"referrers"`
			}{res.Subject, res.Referrers}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join(treesDir, "expected", tc.golden+".json")
			if *update && tc.kind == "oci" {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s: got\n%s\nwant (%s)\n%s", tc.kind, tc.reference, got, golden, want)
			}
			// The static tree's pre-rendered file serves the same index.
			if tc.kind == "static" && tc.platform == "" {
				b, err := os.ReadFile(filepath.Join(dir, "static", "v2", "app", "referrers", subject.Digest.String()))
				if err != nil {
					t.Fatal(err)
				}
				idx, err := target.DecodeIndex(b)
				if err != nil {
					t.Fatal(err)
				}
				if len(idx.Manifests) != len(res.Referrers) {
					t.Errorf("pre-rendered index lists %d, list %d", len(idx.Manifests), len(res.Referrers))
				}
			}
		})
	}
}

// TestDemo runs the README's first command and checks what it prints.
func TestDemo(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the demo is a bash script")
	}
	cmd := exec.Command("bash", "../../../scripts/demo.sh")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{"application/spdx+json", "application/vnd.example.scan+json", "application/vnd.example.signature", "└── "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	status, err := exec.Command("git", "status", "--porcelain", "--", "../../../testdata").Output()
	if err == nil && len(bytes.TrimSpace(status)) > 0 {
		t.Errorf("the demo changed tracked files:\n%s", status)
	}
}
