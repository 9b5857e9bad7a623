package registry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/registry"
)

// manifest is the fixed image manifest the example registry serves as
// example/app:v1; its digest is therefore fixed too.
const manifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
	`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
	`"layers":[]}`

// exampleRegistry is a minimal fake registry: it answers HEAD and GET of one
// tag the way distribution-spec v1.1.1 "Pulling Manifests" describes.
func exampleRegistry() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/example/app/manifests/v1" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
		w.Header().Set("Docker-Content-Digest", digest.FromString(manifest).String())
		w.Header().Set("Content-Length", strconv.Itoa(len(manifest)))
		if r.Method == http.MethodGet {
			fmt.Fprint(w, manifest)
		}
	}))
}

// Resolve a tag to the exact descriptor of its manifest, as an attach does
// before it names the manifest as its subject (image-spec v1.1.1, Guidelines for Artifact Usage).
func Example() {
	srv := exampleRegistry()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	r, err := ref.Parse(host + "/example/app:v1")
	if err != nil {
		fmt.Println(err)
		return
	}
	client := registry.New(registry.WithPlainHTTP(true)) // the test server has no TLS
	desc, err := client.Repository(r).Resolve(context.Background(), r.Tag)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(desc.MediaType)
	fmt.Println(desc.Digest)
	fmt.Println(desc.Size)
	// Output:
	// application/vnd.oci.image.manifest.v1+json
	// sha256:1ccb399e44f3e0ec86bb1a95031c6b9f81ac77860556a81a90acb79bab8005d9
	// 239
}
