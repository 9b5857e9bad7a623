package request

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
)

// trees is the repository's golden trees (testdata/trees/README.md).
var trees = filepath.Join("..", "..", "testdata", "trees")

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	ok := `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v1"}`
	sub := "sha256:" + strings.Repeat("a", 64)
	tests := []struct{ name, in, want string }{
		{"empty", ``, "EOF"},
		{"not JSON", `hello`, "invalid character"},
		{"unknown field", strings.Replace(ok, `"subject"`, `"subjekt":"x","subject"`, 1), "unknown field"},
		{"trailing data", ok + `{}`, "data after"},
		{"wrong apiVersion", strings.Replace(ok, "referrers/v1", "v2", 1), "apiVersion"},
		{"unknown kind", strings.Replace(ok, `"List"`, `"Delete"`, 1), "kind"},
		{"no source", `{"apiVersion":"referrers/v1","kind":"List","source":{},"subject":"v1"}`, "exactly one of"},
		{"two sources", `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/a","static":"/b","name":"x"},"subject":"v1"}`, "exactly one of"},
		{"static without name", `{"apiVersion":"referrers/v1","kind":"List","source":{"static":"/t"},"subject":"v1"}`, "go together"},
		{"no subject", `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/t"}}`, "subject is required"},
		{"IndexFor by tag", `{"apiVersion":"referrers/v1","kind":"IndexFor","source":{"layout":"/t"},"subject":"v1"}`, "want a digest"},
		{"documents by tag", `{"apiVersion":"referrers/v1","kind":"List","source":{"documents":[{"mediaType":"a/b","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","data":"e30="}]},"subject":"v1"}`, "want a digest"},
		{"empty documents", `{"apiVersion":"referrers/v1","kind":"List","source":{"documents":[]},"subject":"` + sub + `"}`, "exactly one of"},
		{"bad tag", `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/t"},"subject":"v1\u00ff"}`, "neither a digest nor a tag"},
		{"document digest mismatch", `{"apiVersion":"referrers/v1","kind":"List","source":{"documents":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + sub + `","data":"e30="}]},"subject":"` + sub + `"}`, "does not match"},
		{"document bad base64", `{"apiVersion":"referrers/v1","kind":"List","source":{"documents":[{"mediaType":"a/b","digest":"` + sub + `","data":"!!"}]},"subject":"` + sub + `"}`, "illegal base64"},
		{"depth too deep", strings.Replace(ok, `"subject"`, `"depth":65,"subject"`, 1), "depth 65"},
		{"negative depth", strings.Replace(ok, `"subject"`, `"depth":-1,"subject"`, 1), "depth -1"},
		{"bad platform", strings.Replace(ok, `"subject"`, `"platform":"linux","subject"`, 1), "platform"},
		{"filter on Check", `{"apiVersion":"referrers/v1","kind":"Check","source":{"layout":"/t"},"subject":"v1","artifactTypes":["a/b"],"policy":{"require":[{"artifactType":"a/b"}]}}`, "for kind List"},
		{"Check without policy", `{"apiVersion":"referrers/v1","kind":"Check","source":{"layout":"/t"},"subject":"v1"}`, "needs a policy"},
		{"Check with empty policy", `{"apiVersion":"referrers/v1","kind":"Check","source":{"layout":"/t"},"subject":"v1","policy":{"require":[]}}`, "policy"},
		{"policy on List", strings.Replace(ok, `"subject"`, `"policy":{"require":[{"artifactType":"a/b"}]},"subject"`, 1), "for kind Check"},
		{"bad artifactType", strings.Replace(ok, `"subject"`, `"artifactTypes":["not a type"],"subject"`, 1), "artifactTypes"},
		{"includeChildren with platform", strings.Replace(ok, `"subject"`, `"includeChildren":true,"platform":"linux/amd64","subject"`, 1), "give one of them"},
		{"latest on Check", `{"apiVersion":"referrers/v1","kind":"Check","source":{"layout":"/t"},"subject":"v1","latest":true,"policy":{"require":[{"artifactType":"a/b"}]}}`, "for kind List"},
		{"sortAnnotation on IndexFor", `{"apiVersion":"referrers/v1","kind":"IndexFor","source":{"layout":"/t"},"subject":"` + sub + `","sortAnnotation":"k"}`, "for kind List"},
		{"includeChildren on Check", `{"apiVersion":"referrers/v1","kind":"Check","source":{"layout":"/t"},"subject":"v1","includeChildren":true,"policy":{"require":[{"artifactType":"a/b"}]}}`, "for kind List"},
		{"latest not a boolean", strings.Replace(ok, `"subject"`, `"latest":"yes","subject"`, 1), "cannot unmarshal"},
		{"too large", `{"apiVersion":"` + strings.Repeat(" ", MaxRequestBytes) + `"}`, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(strings.NewReader(tt.in))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode: %v, want ErrMalformed mentioning %q", err, tt.want)
			}
			if ExitCode(err) != 2 || ErrorResponse(err).Error.Code != "MalformedRequest" {
				t.Errorf("exit code %d, response %+v; want 2, MalformedRequest", ExitCode(err), ErrorResponse(err).Error)
			}
		})
	}
	if _, err := Decode(strings.NewReader(ok)); err != nil {
		t.Errorf("a valid request: %v", err)
	}
}

// TestHandleTrees answers the same questions on both golden trees; they hold
// the same content, so the answers agree, and they match the expected
// listings (testdata/trees/expected, checked against oras by the interop
// tests).
func TestHandleTrees(t *testing.T) {
	t.Parallel()
	sources := map[string]Source{
		"layout": {Layout: filepath.Join(trees, "layout")},
		"static": {Static: filepath.Join(trees, "static"), Name: "app"},
	}
	answers := map[string]string{}
	for name, src := range sources {
		list := Request{APIVersion: APIVersion, Kind: KindList, Source: src, Subject: "v1", Depth: 2}
		resp, err := Handle(context.Background(), list)
		if err != nil {
			t.Fatalf("%s: List: %v", name, err)
		}
		if resp.Kind != KindListResult || len(resp.Referrers) != 2 || resp.Subject == nil {
			t.Fatalf("%s: List: %s", name, resp)
		}
		var sbom = resp.Referrers[0]
		if sbom.Descriptor.ArtifactType != "application/spdx+json" || len(sbom.Referrers) != 1 ||
			sbom.Referrers[0].Descriptor.ArtifactType != "application/vnd.example.signature" {
			t.Errorf("%s: the SBOM and its signature: %s", name, resp)
		}
		check := Request{APIVersion: APIVersion, Kind: KindCheck, Source: src, Subject: "v1", Policy: &policy.Policy{
			Require: []policy.Requirement{{ArtifactType: "application/spdx+json"}, {ArtifactType: "application/vnd.example.scan+json", Annotations: map[string]string{"org.example.result": "pass"}}}}}
		cr, err := Handle(context.Background(), check)
		if err != nil || !cr.Result.Pass {
			t.Errorf("%s: Check: %v %s", name, err, cr)
		}
		check.Policy.Require[1].Annotations["org.example.result"] = "fail"
		cr, err = Handle(context.Background(), check)
		if err != nil || cr.Result.Pass || cr.Result.Requirements[1].Found != 0 {
			t.Errorf("%s: Check of a failed scan: %v %s", name, err, cr)
		}
		ix := Request{APIVersion: APIVersion, Kind: KindIndexFor, Source: src, Subject: resp.Subject.Digest.String()}
		ir, err := Handle(context.Background(), ix)
		if err != nil || len(ir.Index.Manifests) != 2 {
			t.Errorf("%s: IndexFor: %v %s", name, err, ir)
		}
		// Only the mode may differ between the trees (scan or index).
		resp.Mode, cr.Mode = "", ""
		for _, n := range resp.Referrers {
			clearModes(n)
		}
		answers[name] = resp.String() + "\n" + cr.String() + "\n" + ir.String()
	}
	if answers["layout"] != answers["static"] {
		t.Errorf("the trees answer differently:\nlayout: %s\nstatic: %s", answers["layout"], answers["static"])
	}
}

// TestHandleListOptions lists the index "multi" of both golden trees with
// the options the CLI's list has (includeChildren, sortAnnotation, latest):
// the trees answer alike, and as the golden listing says.
func TestHandleListOptions(t *testing.T) {
	t.Parallel()
	const sbom = "application/spdx+json"
	tests := []struct {
		name         string
		req          Request
		wantIndex    int   // referrers of the index
		wantChildren []int // referrers per child; nil: no children
		wantErr      string
	}{
		{"children", Request{Subject: "multi", IncludeChildren: true}, 1, []int{0, 1}, ""},
		{"children, latest SBOM", Request{Subject: "multi", IncludeChildren: true, ArtifactTypes: []string{sbom}, Latest: true}, 1, []int{0, 1}, ""},
		{"children, sorted by creation", Request{Subject: "multi", IncludeChildren: true, SortAnnotation: ocispec.AnnotationCreated}, 1, []int{0, 1}, ""},
		{"not an index: no children", Request{Subject: "v1", IncludeChildren: true}, 2, nil, ""},
		{"latest of v1 by creation", Request{Subject: "v1", Latest: true}, 1, nil, ""},
		{"latest by an annotation no referrer has", Request{Subject: "v1", Latest: true, SortAnnotation: "org.example.none"}, 0, nil, "--latest: no referrer of the 2 listed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			answers := map[string]string{}
			for name, src := range map[string]Source{
				"layout": {Layout: filepath.Join(trees, "layout")},
				"static": {Static: filepath.Join(trees, "static"), Name: "app"},
			} {
				req := tt.req
				req.APIVersion, req.Kind, req.Source = APIVersion, KindList, src
				resp, err := Handle(context.Background(), req)
				if tt.wantErr != "" {
					if !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), tt.wantErr) {
						t.Errorf("%s: %v, want ErrSource mentioning %q", name, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if len(resp.Referrers) != tt.wantIndex || len(resp.Children) != len(tt.wantChildren) {
					t.Fatalf("%s: %s", name, resp)
				}
				for i, ch := range resp.Children {
					if len(ch.Referrers) != tt.wantChildren[i] || ch.Referrers == nil || ch.Platform == "" || ch.Descriptor.Platform == nil {
						t.Errorf("%s: child %d: %+v", name, i, ch)
					}
					resp.Children[i].Mode = ""
				}
				resp.Mode = ""
				answers[name] = resp.String()
			}
			if answers["layout"] != answers["static"] {
				t.Errorf("the trees answer differently:\nlayout: %s\nstatic: %s", answers["layout"], answers["static"])
			}
		})
	}
}

func clearModes(n *referrers.Node) {
	n.Mode = ""
	for _, c := range n.Referrers {
		clearModes(c)
	}
}

func TestHandleSourceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"no such layout", Request{Kind: KindList, Source: Source{Layout: filepath.Join(t.TempDir(), "nope")}, Subject: "v1"}, "no such file"},
		{"no such tag", Request{Kind: KindList, Source: Source{Layout: filepath.Join(trees, "layout")}, Subject: "v9"}, "v9"},
		{"no such repository", Request{Kind: KindList, Source: Source{Static: filepath.Join(trees, "static"), Name: "other"}, Subject: "v1"}, "other"},
		{"subject not among the documents", Request{Kind: KindList, Source: Source{Documents: []Document{{MediaType: "a/b", Digest: digest.FromString("{}"), Data: []byte("{}")}}}, Subject: "sha256:" + strings.Repeat("a", 64)}, "not among the documents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.req.APIVersion = APIVersion
			_, err := Handle(context.Background(), tt.req)
			if !errors.Is(err, ErrSource) || ExitCode(err) != 3 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Handle: %v (exit %d), want ErrSource mentioning %q", err, ExitCode(err), tt.want)
			}
		})
	}
	if _, err := Handle(context.Background(), Request{}); ExitCode(err) != 2 {
		t.Errorf("Handle of an invalid request: %v, want exit 2", err)
	}
}

// TestDocuments answers from inline documents: an image, an SBOM of it, a
// signature of the SBOM, and an unrelated index.
func TestDocuments(t *testing.T) {
	t.Parallel()
	doc := func(v any, mt string) Document {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return Document{MediaType: mt, Digest: digest.FromBytes(b), Data: b}
	}
	empty := ocispec.DescriptorEmptyJSON
	image := doc(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("c"), Size: 1}}, ocispec.MediaTypeImageManifest)
	subj := func(d Document) *ocispec.Descriptor {
		return &ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: int64(len(d.Data))}
	}
	sbom := doc(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/spdx+json", Config: empty, Layers: []ocispec.Descriptor{empty}, Subject: subj(image)}, ocispec.MediaTypeImageManifest)
	sig := doc(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.signature", Config: empty, Layers: []ocispec.Descriptor{empty}, Subject: subj(sbom)}, ocispec.MediaTypeImageManifest)
	index := doc(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}, ocispec.MediaTypeImageIndex)
	src := Source{Documents: []Document{index, sig, sbom, image, sbom}}

	resp, err := Handle(context.Background(), Request{APIVersion: APIVersion, Kind: KindList, Source: src, Subject: image.Digest.String(), Depth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Referrers) != 1 || resp.Referrers[0].Descriptor.Digest != sbom.Digest ||
		len(resp.Referrers[0].Referrers) != 1 || resp.Referrers[0].Referrers[0].Descriptor.Digest != sig.Digest {
		t.Errorf("List depth 2: %s", resp)
	}
	ir, err := Handle(context.Background(), Request{APIVersion: APIVersion, Kind: KindIndexFor, Source: src, Subject: sbom.Digest.String()})
	if err != nil || len(ir.Index.Manifests) != 1 || ir.Index.Manifests[0].ArtifactType != "application/vnd.example.signature" {
		t.Errorf("IndexFor the SBOM: %v %s", err, ir)
	}
	cr, err := Handle(context.Background(), Request{APIVersion: APIVersion, Kind: KindCheck, Source: src, Subject: image.Digest.String(),
		Policy: &policy.Policy{Require: []policy.Requirement{{ArtifactType: "application/spdx+json"}, {ArtifactType: "application/vnd.example.signature"}}}})
	if err != nil || cr.Result.Pass || !cr.Result.Requirements[0].Pass || cr.Result.Requirements[1].Pass {
		t.Errorf("Check (the signature is of the SBOM, not of the image): %v %s", err, cr)
	}
}

// TestDocumentsOpenBlob: inline documents are a target.BlobReader like every
// store: a document is read by its digest, verified; anything else is
// target.ErrNotFound.
func TestDocumentsOpenBlob(t *testing.T) {
	t.Parallel()
	data := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(data), Size: int64(len(data))}
	docs, err := newDocuments([]Document{{MediaType: desc.MediaType, Digest: desc.Digest, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	var br target.BlobReader = docs
	rc, err := br.OpenBlob(t.Context(), desc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("OpenBlob read %q, %v; want the document", got, err)
	}
	short := desc
	short.Size--
	if rc, err := br.OpenBlob(t.Context(), short); err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
		if !errors.Is(err, target.ErrDigestMismatch) {
			t.Errorf("read with a wrong size: %v, want ErrDigestMismatch", err)
		}
	} else {
		t.Errorf("OpenBlob with a wrong size: %v", err)
	}
	missing := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString("x"), Size: 1}
	if _, err := br.OpenBlob(t.Context(), missing); !errors.Is(err, target.ErrNotFound) || !strings.Contains(err.Error(), missing.Digest.String()) {
		t.Errorf("OpenBlob of a blob not among the documents: %v, want ErrNotFound naming it", err)
	}
}
