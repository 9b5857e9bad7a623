package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// testRetry keeps the retry tests fast: three tries, 1 ms first backoff.
var testRetry = WithRetry(3, time.Millisecond, 50*time.Millisecond)

// newClient returns a plain-http client with fast retries; opts come last and
// may override them. Each client has its own transport: httptest.Server.Close
// closes the idle connections of http.DefaultTransport, which would break the
// requests of tests running in parallel.
func newClient(opts ...Option) *Client {
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	return New(append([]Option{WithHTTPClient(hc), WithPlainHTTP(true), testRetry}, opts...)...)
}

// repoAt returns the Repository name at host.
func repoAt(t *testing.T, c *Client, host, name string) *Repository {
	t.Helper()
	r, err := ref.Parse(host + "/" + name)
	if err != nil {
		t.Fatalf("ref.Parse(%q): %v", host+"/"+name, err)
	}
	return c.Repository(r)
}

// emptyJSON is the content of the empty descriptor (image-spec v1.1.1,
// "Guidance for an Empty Descriptor"; image-spec v1.1.1, Guidelines for Artifact Usage).
var emptyJSON = []byte("{}")

var emptyDesc = ocispec.Descriptor{
	MediaType: ocispec.MediaTypeEmptyJSON,
	Digest:    digest.FromBytes(emptyJSON),
	Size:      int64(len(emptyJSON)),
}

// manifestBytes encodes an image manifest with the empty config and one empty
// layer; artifactType, subject and annotations are optional.
func manifestBytes(t *testing.T, artifactType string, subject *ocispec.Descriptor, ann map[string]string) (ocispec.Descriptor, []byte) {
	t.Helper()
	config := emptyDesc
	if artifactType == "" {
		config.MediaType = ocispec.MediaTypeImageConfig
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       []ocispec.Descriptor{emptyDesc},
		Subject:      subject,
		Annotations:  ann,
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}, b
}

// seedImage stores an image manifest (and its blobs) in repo under tag.
func seedImage(t *testing.T, reg *fakeregistry.Registry, repo, tag string) (ocispec.Descriptor, []byte) {
	t.Helper()
	reg.PutBlob(repo, emptyJSON)
	desc, b := manifestBytes(t, "", nil, map[string]string{"test.tag": tag})
	reg.PutManifest(repo, tag, desc.MediaType, b)
	return desc, b
}

// seedReferrer stores an artifact manifest whose subject is subject.
func seedReferrer(t *testing.T, reg *fakeregistry.Registry, repo string, subject ocispec.Descriptor, artifactType, note string) ocispec.Descriptor {
	t.Helper()
	reg.PutBlob(repo, emptyJSON)
	desc, b := manifestBytes(t, artifactType, &subject, map[string]string{"test.note": note})
	reg.PutManifest(repo, desc.Digest.String(), desc.MediaType, b)
	return desc
}

// count returns how many logged requests have method ("" = any) and a path
// containing pathContains.
func count(reqs []fakeregistry.Request, method, pathContains string) int {
	n := 0
	for _, q := range reqs {
		if (method == "" || q.Method == method) && strings.Contains(q.Path, pathContains) {
			n++
		}
	}
	return n
}

// methods lists "METHOD path" of the logged requests, for failure messages and
// order checks.
func methods(reqs []fakeregistry.Request) []string {
	out := make([]string, len(reqs))
	for i, q := range reqs {
		out[i] = q.Method + " " + q.Path
	}
	return out
}

// sentinels are the errors of package target (and ErrAuth) that a plain
// failure must not wrap.
var sentinels = []error{
	target.ErrNotFound, target.ErrUnsupported, target.ErrPreconditionFailed,
	target.ErrConditionalUnsupported, target.ErrDigestMismatch, target.ErrTooLarge,
	target.ErrInvalidManifest, ErrAuth,
}

// wantPlainError fails unless err is an error that wraps none of the
// sentinels (a hard error: never "unsupported", never "not found").
func wantPlainError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want one")
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			t.Fatalf("error %q wraps %q; want a plain error", err, s)
		}
	}
}

// httpStatus returns the status of the *HTTPError in err's chain, or 0.
func httpStatus(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}
