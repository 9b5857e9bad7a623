package host_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/internal/tools/gentree/treegen"
	"github.com/oci-referrers/referrers/wasm/host"
)

// The benchmarks behind docs/bench-wasm.md (scripts/bench-wasm.sh runs them).
// They run only with -bench; the compile and the 10k tree take seconds.
//
// Each workload runs natively (package request in this process), in a fresh
// instance of the command module (Host.Run), in a reused instance of the
// reactor (Pool) and in a reused instance without interruption
// (WithInterruptible(false)).

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

// BenchmarkNewWarmCache: New and NewPool (and Close) with a populated
// compilation cache: the compiled module from disk, as a new process would
// load it.
func BenchmarkNewWarmCache(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	h, err := host.New(ctx, host.WithCompilationCache(dir)) // fills the cache
	if err != nil {
		b.Fatal(err)
	}
	h.Close(ctx)
	p, err := host.NewPool(ctx, host.WithCompilationCache(dir))
	if err != nil {
		b.Fatal(err)
	}
	p.Close(ctx)
	b.Run("host", func(b *testing.B) {
		for b.Loop() {
			h, err := host.New(ctx, host.WithCompilationCache(dir))
			if err != nil {
				b.Fatal(err)
			}
			h.Close(ctx)
		}
	})
	b.Run("pool", func(b *testing.B) {
		for b.Loop() {
			p, err := host.NewPool(ctx, host.WithCompilationCache(dir))
			if err != nil {
				b.Fatal(err)
			}
			p.Close(ctx)
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

// workload is one question, asked natively and in each kind of instance.
// tree is the directory mounted at /tree; native is the request with the
// directory's path instead.
func runWorkload(b *testing.B, tree string, sandbox []byte, native request.Request, typed *request.Request) {
	ctx := context.Background()
	b.Run("native", func(b *testing.B) {
		for b.Loop() {
			var err error
			if typed != nil {
				// As the module does it: decode the JSON, then answer.
				_, err = request.Answer(ctx, bytes.NewReader(sandbox))
			} else {
				_, err = request.Handle(ctx, native)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fresh", func(b *testing.B) {
		h := newHost(b, host.WithTimeout(10*time.Minute))
		for b.Loop() {
			if _, err := h.Run(ctx, tree, sandbox); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, mode := range []struct {
		name string
		opts []host.Option
	}{
		{"reused", nil},
		{"reused-uninterruptible", []host.Option{host.WithInterruptible(false)}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			p := newPool(b, append(mode.opts, host.WithPoolSize(1), host.WithTimeout(10*time.Minute))...)
			for b.Loop() {
				var err error
				if typed != nil {
					_, err = p.Do(ctx, tree, *typed) // the documents without base64
				} else {
					_, err = p.Run(ctx, tree, sandbox)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTiny: a List of two inline documents.
func BenchmarkTiny(b *testing.B) {
	req := tinyRequest()
	runWorkload(b, "", marshal(b, req), req, &req)
}

// BenchmarkCheckGolden: a Check of tag v1 of testdata/trees/layout.
func BenchmarkCheckGolden(b *testing.B) {
	native := checkV1()
	native.Source.Layout = goldenLayout
	runWorkload(b, goldenLayout, marshal(b, checkV1()), native, nil)
}

// BenchmarkInline: a List over inline documents of 1 MiB (one manifest with
// a 1 MiB annotation) and 10 MiB (ten of them): natively the JSON is decoded
// as the module decodes it; the fresh instance gets the JSON (base64); the
// reused ones the documents beside the request (Pool.Do).
func BenchmarkInline(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(strconv.Itoa(n)+"MiB", func(b *testing.B) {
			in := bigRequest(b, n, 1<<20)
			req, err := request.Decode(bytes.NewReader(in))
			if err != nil {
				b.Fatal(err)
			}
			runWorkload(b, "", in, req, &req)
		})
	}
}

// BenchmarkList: List (depth 1) of the 100 referrers of the subject in a
// layout of 1,000 and of 10,000 manifests (treegen). Each call opens the
// layout afresh, so every run scans every manifest.
func BenchmarkList(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(strconv.Itoa(n/1000)+"k", func(b *testing.B) {
			dir := b.TempDir()
			if _, err := treegen.Layout(dir, treegen.Spec{Manifests: n, Referrers: 100}); err != nil {
				b.Fatal(err)
			}
			req := request.Request{APIVersion: request.APIVersion, Kind: request.KindList, Subject: treegen.SubjectTag}
			native := req
			native.Source.Layout = dir
			req.Source.Layout = host.Mount
			runWorkload(b, dir, marshal(b, req), native, nil)
		})
	}
}
