package host_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/internal/cmd/gentree/treegen"
	"github.com/oci-referrers/referrers/wasm/host"
)

// The benchmarks behind docs/bench-wasm.md (scripts/bench-wasm.sh runs them).
// They run only with -bench; the compile and the 10k tree take seconds.

// BenchmarkCompileCold: New without a compilation cache, so a full compile
// of the embedded module (and Close).
func BenchmarkCompileCold(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		h, err := host.New(ctx)
		if err != nil {
			b.Fatal(err)
		}
		h.Close(ctx)
	}
}

// BenchmarkInstantiateWarmCache: with a populated compilation cache, "new"
// is New (loading the compiled module from disk, as a new process would)
// and Close; "run" is one call on that Host with a tiny request (a List of
// two inline documents, no tree): the instantiation of the module and its
// run, the target of at most 20 ms.
func BenchmarkInstantiateWarmCache(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	h, err := host.New(ctx, host.WithCompilationCache(dir)) // fills the cache
	if err != nil {
		b.Fatal(err)
	}
	h.Close(ctx)
	b.Run("new", func(b *testing.B) {
		for b.Loop() {
			h, err := host.New(ctx, host.WithCompilationCache(dir))
			if err != nil {
				b.Fatal(err)
			}
			h.Close(ctx)
		}
	})
	b.Run("run", func(b *testing.B) {
		h, err := host.New(ctx, host.WithCompilationCache(dir))
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close(ctx)
		in := marshal(b, tinyRequest())
		for b.Loop() {
			if _, err := h.Run(ctx, "", in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// tinyRequest lists the referrers of an image among two inline documents:
// the image and one referrer.
func tinyRequest() request.Request {
	image := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	imageDigest := digest.FromBytes(image)
	ref := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` +
		imageDigest.String() + `","size":` + strconv.Itoa(len(image)) + `}}`)
	return request.Request{
		APIVersion: request.APIVersion,
		Kind:       request.KindList,
		Source: request.Source{Documents: []request.Document{
			{MediaType: ocispec.MediaTypeImageManifest, Digest: imageDigest, Data: image},
			{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(ref), Data: ref},
		}},
		Subject: imageDigest.String(),
	}
}

// BenchmarkRunSmall: one call (instantiate and run) with the golden layout
// mounted: a Check of tag v1.
func BenchmarkRunSmall(b *testing.B) {
	ctx := context.Background()
	h := newHost(b)
	in := marshal(b, checkV1())
	for b.Loop() {
		if _, err := h.Run(ctx, goldenLayout, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList10k: List (depth 1) of the 100 referrers of the subject in a
// layout of 10,000 manifests (treegen), natively (request.Handle on the
// directory) and in the sandbox (Run with the directory mounted). Each call
// opens the layout afresh, so both scan every manifest; the target
// is WASI at most 3 × native.
func BenchmarkList10k(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	if _, err := treegen.Layout(dir, treegen.Spec{Manifests: 10_000, Referrers: 100}); err != nil {
		b.Fatal(err)
	}
	req := request.Request{APIVersion: request.APIVersion, Kind: request.KindList, Subject: treegen.SubjectTag}
	b.Run("native", func(b *testing.B) {
		r := req
		r.Source.Layout = dir
		for b.Loop() {
			resp, err := request.Handle(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			if len(resp.Referrers) != 100 {
				b.Fatalf("%d referrers", len(resp.Referrers))
			}
		}
	})
	b.Run("wasi", func(b *testing.B) {
		h := newHost(b, host.WithTimeout(10*time.Minute))
		r := req
		r.Source.Layout = host.Mount
		in := marshal(b, r)
		for b.Loop() {
			if _, err := h.Run(ctx, dir, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
