package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/internal/cmd/gentree/treegen"
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
// directory) and inside the sandbox (the module, the directory mounted at
// /tree): List at depths 1 and 2, with and without a filter, IndexFor and
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
