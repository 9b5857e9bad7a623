// Package interop checks referrers against implementations we did not write:
// real registries (olareg v0.2.2 with the Referrers API, distribution v3.1.2
// without it) and peer clients (oras v1.3.6, regctl v0.11.7), built by
// scripts/oracles.sh. Every cell produces with one tool and consumes with
// another; our own tool on both sides is only one cell of nine.
//
// Run alone with: bash scripts/oracles.sh && go test -v ./internal/suite/interop/
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/registry"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testing.Verbose() || os.Getenv("INTEROP_MATRIX") != "" {
		printMatrix(os.Stdout)
	}
	oracle.Cleanup()
	os.Exit(code)
}

// ---- subjects, pushed with our library (setup, not under test) ----

func repository(t testing.TB, host, repo string) *registry.Repository {
	t.Helper()
	r, err := ref.Parse(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	return registry.New(registry.WithPlainHTTP(true)).Repository(r)
}

func pushBlob(t testing.TB, repo *registry.Repository, mt string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := repo.PushBlob(context.Background(), d, bytes.NewReader(data)); err != nil {
		t.Fatalf("push blob: %v", err)
	}
	return d
}

func pushManifest(t testing.TB, repo *registry.Repository, mt string, data []byte, alg digest.Algorithm, tag string) (ocispec.Descriptor, error) {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mt, Digest: alg.FromBytes(data), Size: int64(len(data))}
	_, err := repo.PushManifest(context.Background(), d, data, target.PushOptions{Tag: tag})
	return d, err
}

// pushImage pushes a one-layer image manifest whose content depends on seed,
// tagged tag when set, digested with alg.
func pushImage(t testing.TB, repo *registry.Repository, seed, tag string, alg digest.Algorithm) (ocispec.Descriptor, error) {
	t.Helper()
	cfg := pushBlob(t, repo, ocispec.MediaTypeImageConfig,
		[]byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"seed":%q}}}`, seed)))
	layer := pushBlob(t, repo, ocispec.MediaTypeImageLayer, []byte("layer "+seed))
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfg,
		Layers:    []ocispec.Descriptor{layer},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return pushManifest(t, repo, ocispec.MediaTypeImageManifest, b, alg, tag)
}

func mustImage(t testing.TB, repo *registry.Repository, seed, tag string) ocispec.Descriptor {
	t.Helper()
	d, err := pushImage(t, repo, seed, tag, digest.SHA256)
	if err != nil {
		t.Fatalf("push subject image: %v", err)
	}
	return d
}

// pushMultiArch pushes an index of a linux/amd64 and a linux/arm64 image
// tagged tag, and returns the index and the arm64 child.
func pushMultiArch(t testing.TB, repo *registry.Repository, tag string) (index, arm64 ocispec.Descriptor) {
	t.Helper()
	amd := mustImage(t, repo, tag+"-amd64", "")
	arm := mustImage(t, repo, tag+"-arm64", "")
	amd.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{amd, arm},
	}
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := pushManifest(t, repo, ocispec.MediaTypeImageIndex, b, digest.SHA256, tag)
	if err != nil {
		t.Fatalf("push index: %v", err)
	}
	arm.Platform = nil
	return d, arm
}

// ---- the artifact each cell produces ----

type file struct {
	name, mediaType, content string
}

type artifact struct {
	artifactType string
	files        []file
	annotations  map[string]string
	// annotationFile passes the annotations in an oras-format JSON file
	// ($manifest key) instead of flags.
	annotationFile bool
	// platform, when set, makes the producer pick that child of an index
	// subject.
	platform string
}

// writeFiles writes the artifact's files (and annotation file) into dir.
func (a artifact) writeFiles(t testing.TB, dir string) (annotationFile string) {
	t.Helper()
	for _, f := range a.files {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if a.annotationFile {
		b, err := json.Marshal(map[string]map[string]string{"$manifest": a.annotations})
		if err != nil {
			t.Fatal(err)
		}
		annotationFile = "annotations.json"
		if err := os.WriteFile(filepath.Join(dir, annotationFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return annotationFile
}

// seen is one referrer as a consumer reports it.
type seen struct {
	Digest       string
	ArtifactType string
	Annotations  map[string]string
	Children     []seen
}

func find(ss []seen, d string) (seen, int) {
	var out seen
	n := 0
	for _, s := range ss {
		if s.Digest == d {
			out = s
			n++
		}
	}
	return out, n
}

func digests(ss []seen) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Digest)
	}
	sort.Strings(out)
	return out
}

// ---- the matrix record, printed by TestMain ----

var (
	matrixMu sync.Mutex
	matrix   = map[string]string{} // "registry|case|producer|consumer" -> PASS/FAIL/n/a: why
)

func record(t *testing.T, reg, kase, producer, consumer string) {
	key := strings.Join([]string{reg, kase, producer, consumer}, "|")
	t.Cleanup(func() {
		v := "PASS"
		switch {
		case t.Failed():
			v = "FAIL"
		case t.Skipped():
			v = "SKIP"
		}
		matrixMu.Lock()
		matrix[key] = v
		matrixMu.Unlock()
	})
}

func recordNA(reg, kase, producer, consumer, why string) {
	matrixMu.Lock()
	matrix[strings.Join([]string{reg, kase, producer, consumer}, "|")] = "n/a: " + why
	matrixMu.Unlock()
}

func printMatrix(w *os.File) {
	matrixMu.Lock()
	defer matrixMu.Unlock()
	if len(matrix) == 0 {
		return
	}
	keys := make([]string, 0, len(matrix))
	for k := range matrix {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "\n| registry | case | producer → consumer | result |")
	fmt.Fprintln(w, "|---|---|---|---|")
	pass, fail := 0, 0
	for _, k := range keys {
		p := strings.Split(k, "|")
		v := matrix[k]
		switch v {
		case "PASS":
			pass++
		case "FAIL":
			fail++
		}
		fmt.Fprintf(w, "| %s | %s | %s → %s | %s |\n", p[0], p[1], p[2], p[3], v)
	}
	fmt.Fprintf(w, "\ninterop matrix: %d cells, %d pass, %d fail, %d other\n", len(keys), pass, fail, len(keys)-pass-fail)
}
