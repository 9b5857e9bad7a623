package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/internal/tools/gentree/treegen"
	"github.com/oci-referrers/referrers/wasm/host"
)

// diffTree is a tree of the differential test and the subjects to ask about.
type diffTree struct {
	name     string
	dir      string
	static   string // the repository, for a static tree
	subjects []diffSubject
}

type diffSubject struct {
	ref, platform string
	types         []string // artifactTypes it has referrers of
}

// TestDifferential asks the same questions natively (request.Handle on the
// directory), in a fresh instance of the command module and in a reused
// instance of the reactor (the directory mounted at /tree): List at depths 1 and 2, with and without a filter, IndexFor and
// Check must answer with the same bytes, for every tree in testdata/, for
// generated trees and for inline documents.
func TestDifferential(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := shared
	var err error

	root := filepath.Join("..", "..", "testdata")
	golden := []diffSubject{
		{ref: "v1", types: []string{"application/spdx+json", "application/vnd.example.scan+json"}},
		{ref: "multi", types: []string{"application/spdx+json"}},
		{ref: "multi", platform: "linux/arm64", types: []string{"application/spdx+json"}},
		{ref: "v512", types: []string{"application/spdx+json"}},
	}
	trees := []diffTree{
		{name: "trees/layout", dir: filepath.Join(root, "trees", "layout"), subjects: golden},
		{name: "trees/static", dir: filepath.Join(root, "trees", "static"), static: "app", subjects: golden},
		{name: "demo/layout", dir: filepath.Join(root, "demo", "layout"), subjects: []diffSubject{{ref: "1.0", types: []string{"application/spdx+json"}}}},
	}
	for _, kind := range []string{"layout", "static"} {
		dir := t.TempDir()
		spec := treegen.Spec{Manifests: 400, Referrers: 40}
		tr := diffTree{name: "generated/" + kind, dir: dir, subjects: []diffSubject{{ref: treegen.SubjectTag, types: []string{treegen.DefaultArtifactType}}}}
		if kind == "layout" {
			_, err = treegen.Layout(dir, spec)
		} else {
			tr.static = "app"
			_, err = treegen.Static(dir, "app", spec)
		}
		if err != nil {
			t.Fatal(err)
		}
		trees = append(trees, tr)
	}

	var wg sync.WaitGroup
	for _, tr := range trees {
		for _, s := range tr.subjects {
			native := request.Source{Layout: tr.dir}
			sandbox := request.Source{Layout: "/tree"}
			if tr.static != "" {
				native = request.Source{Static: tr.dir, Name: tr.static}
				sandbox = request.Source{Static: "/tree", Name: tr.static}
			}
			base := request.Request{APIVersion: request.APIVersion, Subject: s.ref, Platform: s.platform}
			// The subject's digest, for IndexFor.
			list := base
			list.Kind, list.Source = request.KindList, native
			first, err := request.Handle(ctx, list)
			if err != nil {
				t.Fatalf("%s %s: %v", tr.name, s.ref, err)
			}
			reqs := map[string]request.Request{}
			for _, depth := range []int{1, 2} {
				r := list
				r.Depth = depth
				reqs["List depth "+string(rune('0'+depth))] = r
			}
			f := list
			f.ArtifactTypes = s.types[:1]
			reqs["List filtered"] = f
			ix := base
			ix.Kind, ix.Subject, ix.Platform, ix.Source = request.KindIndexFor, first.Subject.Digest.String(), "", native
			reqs["IndexFor"] = ix
			ck := base
			ck.Kind, ck.Source = request.KindCheck, native
			ck.Policy = &policy.Policy{}
			for _, typ := range append(s.types, "application/vnd.example.absent") {
				ck.Policy.Require = append(ck.Policy.Require, policy.Requirement{ArtifactType: typ})
			}
			reqs["Check"] = ck
			for what, r := range reqs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					compare(t, h, tr.name+" "+s.ref+" "+s.platform+" "+what, tr.dir, r, sandbox)
				}()
			}
		}
	}
	wg.Wait()

	// Inline documents: every manifest and index of the golden layout.
	docs := documentsOf(t, filepath.Join(root, "trees", "layout"))
	sub := docs[0].Digest.String()
	for _, d := range docs {
		if d.MediaType == ocispec.MediaTypeImageIndex {
			sub = d.Digest.String() // the multi-arch index has referrers
		}
	}
	src := request.Source{Documents: docs}
	compare(t, h, "documents List", "", request.Request{APIVersion: request.APIVersion, Kind: request.KindList, Source: src, Subject: sub, Depth: 2}, src)
	compare(t, h, "documents IndexFor", "", request.Request{APIVersion: request.APIVersion, Kind: request.KindIndexFor, Source: src, Subject: sub}, src)
}

// compare answers req natively and in the sandbox (with the sandbox's
// source) and fails when the bytes differ.
func compare(t *testing.T, h *host.Host, what, tree string, req request.Request, sandbox request.Source) {
	t.Helper()
	resp, err := request.Handle(context.Background(), req)
	if err != nil {
		t.Errorf("%s: natively: %v", what, err)
		return
	}
	var want bytes.Buffer
	if err := resp.Encode(&want); err != nil {
		t.Fatal(err)
	}
	req.Source = sandbox
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Run(context.Background(), tree, in)
	if err != nil {
		t.Errorf("%s: in the sandbox: %v\n%s", what, err, got)
		return
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("%s: the answers differ\nnative: %s\nwasi:   %s", what, want.Bytes(), got)
	}
	// A reused instance of the reactor: the same bytes.
	got, err = sharedPool.Run(context.Background(), tree, in)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Errorf("%s: reused instance: %v\nnative: %s\nreused: %s", what, err, want.Bytes(), got)
	}
	if len(sandbox.Documents) > 0 {
		// Documents beside the request, without base64.
		resp, err := sharedPool.Do(context.Background(), tree, req)
		if err != nil || resp.String()+"\n" != want.String() {
			t.Errorf("%s: reused instance, Do: %v\nnative: %s\nreused: %s", what, err, want.Bytes(), resp)
		}
	}
}

// TestDifferentialErrors: a request that fails gives the same response,
// exit code and class natively (request.Answer), in a fresh instance and in
// a reused one.
func TestDifferentialErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sub := digest.FromString("x").String()
	tests := []struct{ name, tree, req string }{
		{"empty", "", ""},
		{"not JSON", "", "{"},
		{"trailing data", goldenLayout, `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v1"} {}`},
		{"unknown field", goldenLayout, `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v1","x":1}`},
		{"nested too deep", "", strings.Repeat("[", 20000)},
		{"no subject", goldenLayout, `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"}}`},
		{"unknown tag", goldenLayout, `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v9"}`},
		{"no tree", "", `{"apiVersion":"referrers/v1","kind":"Check","source":{"layout":"/tree"},"subject":"v1","policy":{"require":[{"artifactType":"a/b"}]}}`},
		{"digest mismatch", "", `{"apiVersion":"referrers/v1","kind":"List","source":{"documents":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + sub + `","data":"e30="}]},"subject":"` + sub + `"}`},
		{"subject not among documents", "", `{"apiVersion":"referrers/v1","kind":"IndexFor","source":{"documents":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","data":"e30="}]},"subject":"` + sub + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, nerr := request.Answer(ctx, strings.NewReader(tt.req))
			if nerr == nil {
				t.Fatal("natively: no error")
			}
			var want bytes.Buffer
			if err := request.ErrorResponse(nerr).Encode(&want); err != nil {
				t.Fatal(err)
			}
			if errors.Is(nerr, request.ErrSource) && strings.Contains(tt.req, `"/tree"`) {
				// The message names the guest's view of the tree: compare
				// with the fresh instance's bytes, and natively the class.
				out, _ := shared.Run(ctx, tt.tree, []byte(tt.req))
				want.Reset()
				want.Write(out)
				nerr = request.ErrSource
			}
			for name, run := range map[string]func(context.Context, string, []byte, ...host.CallOption) ([]byte, error){
				"fresh": shared.Run, "reused": sharedPool.Run,
			} {
				got, err := run(ctx, tt.tree, []byte(tt.req))
				var ee *host.ExitError
				if !errors.As(err, &ee) || ee.Code != uint32(request.ExitCode(nerr)) || !bytes.Equal(got, want.Bytes()) {
					t.Errorf("%s: %v\ngot  %s\nwant %s (exit %d)", name, err, got, want.Bytes(), request.ExitCode(nerr))
				}
			}
		})
	}
}

// documentsOf reads every manifest and index blob of a layout as inline
// documents.
func documentsOf(t *testing.T, dir string) []request.Document {
	t.Helper()
	var docs []request.Document
	err := filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var probe struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(b, &probe) != nil || (probe.MediaType != ocispec.MediaTypeImageManifest && probe.MediaType != ocispec.MediaTypeImageIndex) {
			return nil
		}
		alg := filepath.Base(filepath.Dir(p))
		docs = append(docs, request.Document{MediaType: probe.MediaType, Digest: digest.NewDigestFromEncoded(digest.Algorithm(alg), filepath.Base(p)), Data: b})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 5 {
		t.Fatalf("%d documents in %s", len(docs), dir)
	}
	return docs
}
