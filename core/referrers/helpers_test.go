package referrers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/registry"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// Media types of the artifacts the tests attach.
const (
	typeSBOM = "application/vnd.example.sbom.v1+json"
	typeSig  = "application/vnd.example.signature.v1"
	typeScan = "application/vnd.example.scan.v1+json"
)

// testRepo is the repository every test uses in its own fake registry.
const testRepo = "repo"

// fastSettle is the staleness guard of tests that have no concurrent writers.
const fastSettle = 5 * time.Millisecond

// world is one fake registry with a subject image tagged v1.
type world struct {
	fake    *fakeregistry.Registry
	subject ocispec.Descriptor
}

// newWorld starts a fake registry in mode m and stores a small image manifest
// (the subject) under testRepo:v1. The request log starts empty.
func newWorld(t testing.TB, m fakeregistry.Mode) *world {
	t.Helper()
	fake := fakeregistry.New(t, m)
	w := &world{fake: fake, subject: putImage(t, fake, "v1", "linux")}
	fake.ResetRequests()
	return w
}

// putImage stores an image manifest (config + one layer) under tag and returns
// its exact descriptor.
func putImage(t testing.TB, fake *fakeregistry.Registry, tag, os string) ocispec.Descriptor {
	t.Helper()
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":%q,"rootfs":{"type":"layers","diff_ids":[]}}`, os))
	layer := []byte("layer of " + tag)
	fake.PutBlob(testRepo, cfg)
	fake.PutBlob(testRepo, layer)
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}},
	}
	b := mustJSON(t, m)
	d := fake.PutManifest(testRepo, tag, ocispec.MediaTypeImageManifest, b)
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(b))}
}

// repoOf returns a fresh registry client's target for testRepo in fake (no
// shared token or scheme state with any other test).
func repoOf(t testing.TB, fake *fakeregistry.Registry) *registry.Repository {
	t.Helper()
	r, err := ref.Parse(fake.Host() + "/" + testRepo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	rc := registry.New(registry.WithPlainHTTP(true), registry.WithRetry(2, time.Millisecond, 10*time.Millisecond))
	return rc.Repository(r)
}

func (w *world) repo(t testing.TB) *registry.Repository { return repoOf(t, w.fake) }

// artifact is a one-file artifact of type typ whose content (and so digest)
// depends on name.
func artifact(typ, name string, ann map[string]string) Artifact {
	b := BytesBlob("application/vnd.example.payload", []byte("payload of "+name))
	b.Descriptor.Annotations = map[string]string{ocispec.AnnotationTitle: name + ".json"}
	return Artifact{ArtifactType: typ, Layers: []Blob{b}, Annotations: ann}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fallbackIndex returns the index stored under the subject's tag schema tag.
func fallbackIndex(t testing.TB, fake *fakeregistry.Registry, subject digest.Digest) (ocispec.Index, bool) {
	t.Helper()
	mt, b, ok := fake.Manifest(testRepo, FallbackTag(subject))
	if !ok {
		return ocispec.Index{}, false
	}
	if mt != ocispec.MediaTypeImageIndex {
		t.Fatalf("tag %s holds %s, not an index", FallbackTag(subject), mt)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	return idx, true
}

// seedIndex stores an index with entries under the tag schema tag of subject.
func seedIndex(t testing.TB, fake *fakeregistry.Registry, subject digest.Digest, entries ...ocispec.Descriptor) digest.Digest {
	t.Helper()
	idx := emptyIndex()
	idx.Manifests = append(idx.Manifests, entries...)
	return fake.PutManifest(testRepo, FallbackTag(subject), ocispec.MediaTypeImageIndex, mustJSON(t, idx))
}

// putReferrer stores a referrer manifest of subject directly in the fake and
// returns the descriptor the Referrers API would list for it.
func putReferrer(t testing.TB, fake *fakeregistry.Registry, subject ocispec.Descriptor, typ, name string, ann map[string]string) ocispec.Descriptor {
	t.Helper()
	data, desc, blobs, err := Pack(subject, artifact(typ, name, ann))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		rc, err := b.Open()
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		fake.PutBlob(testRepo, content)
	}
	fake.PutManifest(testRepo, desc.Digest.String(), ocispec.MediaTypeImageManifest, data)
	e, err := EntryFor(desc, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// reqLine is "METHOD path" of a logged request, with digests, upload ids and
// query strings reduced to placeholders so sequences can be compared.
func reqLine(q fakeregistry.Request, subject digest.Digest) string {
	p := q.Path
	path, query, _ := strings.Cut(p, "?")
	path = strings.Replace(path, FallbackTag(subject), "<tag>", 1)
	path = strings.Replace(path, subject.String(), "<subject>", 1)
	parts := strings.Split(path, "/")
	for i, s := range parts {
		switch {
		case strings.HasPrefix(s, "sha256:"):
			parts[i] = "<digest>"
		case strings.HasPrefix(s, "upload-"):
			parts[i] = "<upload>"
		}
	}
	line := q.Method + " " + strings.Join(parts, "/")
	if query != "" {
		v, _ := url.ParseQuery(query)
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		line += "?" + strings.Join(keys, "&")
	}
	return fmt.Sprintf("%s %d", line, q.Status)
}

// requestsMatching returns the logged requests of method whose path contains part.
func requestsMatching(fake *fakeregistry.Registry, method, part string) []fakeregistry.Request {
	var out []fakeregistry.Request
	for _, q := range fake.Requests() {
		if (method == "" || q.Method == method) && strings.Contains(q.Path, part) {
			out = append(out, q)
		}
	}
	return out
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func digests(ns []*Node) []digest.Digest {
	out := make([]digest.Digest, len(ns))
	for i, n := range ns {
		out[i] = n.Descriptor.Digest
	}
	return out
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// putIndex stores a two-platform image index under tag and returns its exact
// descriptor.
func putIndex(t testing.TB, fake *fakeregistry.Registry, tag string) ocispec.Descriptor {
	t.Helper()
	amd := putImage(t, fake, tag+"-amd", "linux")
	arm := putImage(t, fake, tag+"-arm", "linux-arm")
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: amd.MediaType, Digest: amd.Digest, Size: amd.Size, Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{MediaType: arm.MediaType, Digest: arm.Digest, Size: arm.Size, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
	}}
	b := mustJSON(t, idx)
	d := fake.PutManifest(testRepo, tag, ocispec.MediaTypeImageIndex, b)
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: int64(len(b))}
}
