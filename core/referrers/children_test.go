package referrers

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// childrenWorld is an index "multi" (linux/amd64, linux/arm64/v8) with an
// SBOM on the index, a scan report without a created time on the amd64
// child, and two SBOMs created at different times on the arm64 child.
type childrenWorld struct {
	*world
	index            ocispec.Descriptor
	amd, arm         ocispec.Descriptor // the index's entries
	indexSBOM, scan  ocispec.Descriptor
	oldSBOM, newSBOM ocispec.Descriptor
}

func newChildrenWorld(t *testing.T) *childrenWorld {
	t.Helper()
	w := &childrenWorld{world: newWorld(t, fakeregistry.Mode{})}
	w.index = putIndex(t, w.fake, "multi")
	_, b, _ := w.fake.Manifest(testRepo, "multi")
	var idx ocispec.Index
	if err := jsonUnmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	w.amd, w.arm = idx.Manifests[0], idx.Manifests[1]
	subject := func(d ocispec.Descriptor) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	}
	created := func(s string) map[string]string { return map[string]string{ocispec.AnnotationCreated: s} }
	w.indexSBOM = putReferrer(t, w.fake, w.index, typeSBOM, "index-sbom", created("2024-01-02T03:04:05Z"))
	w.scan = putReferrer(t, w.fake, subject(w.amd), typeScan, "scan", nil)
	w.oldSBOM = putReferrer(t, w.fake, subject(w.arm), typeSBOM, "old", created("2023-12-31T23:59:59Z"))
	w.newSBOM = putReferrer(t, w.fake, subject(w.arm), typeSBOM, "new", created("2024-03-01T00:00:00Z"))
	w.fake.ResetRequests()
	return w
}

// TestListIncludeChildren lists the index's children's referrers with each
// option: the children in the index's order, each with the subject's
// filters, sort and latest.
func TestListIncludeChildren(t *testing.T) {
	t.Parallel()
	w := newChildrenWorld(t)
	type want struct {
		index    []digest.Digest
		children [][]digest.Digest // nil: no children
		err      string            // substring of the error; "" for none
	}
	tests := []struct {
		name    string
		subject ocispec.Descriptor
		opts    ListOptions
		want    want
	}{
		{"without IncludeChildren", w.index, ListOptions{}, want{index: []digest.Digest{w.indexSBOM.Digest}}},
		{"all", w.index, ListOptions{IncludeChildren: true}, want{
			index:    []digest.Digest{w.indexSBOM.Digest},
			children: [][]digest.Digest{{w.scan.Digest}, sortedDigests(w.oldSBOM, w.newSBOM)},
		}},
		{"filter", w.index, ListOptions{IncludeChildren: true, ArtifactTypes: []string{typeScan}}, want{
			index:    nil,
			children: [][]digest.Digest{{w.scan.Digest}, nil},
		}},
		{"sort", w.index, ListOptions{IncludeChildren: true, SortAnnotation: ocispec.AnnotationCreated}, want{
			index:    []digest.Digest{w.indexSBOM.Digest},
			children: [][]digest.Digest{{w.scan.Digest}, {w.oldSBOM.Digest, w.newSBOM.Digest}},
		}},
		{"latest SBOM", w.index, ListOptions{IncludeChildren: true, ArtifactTypes: []string{typeSBOM}, Latest: true}, want{
			index:    []digest.Digest{w.indexSBOM.Digest},
			children: [][]digest.Digest{nil, {w.newSBOM.Digest}},
		}},
		// the amd64 child's only referrer has no created time
		{"latest fails on a child without the key", w.index, ListOptions{IncludeChildren: true, Latest: true,
			ArtifactTypes: []string{typeSBOM, typeScan}}, want{err: "child linux/amd64 " + w.amd.Digest.String() + ": --latest: no referrer of the 1 listed"}},
		{"not an index", w.subject, ListOptions{IncludeChildren: true}, want{}},
		{"missing subject: not known to be an index", ocispec.Descriptor{Digest: w.index.Digest}, ListOptions{IncludeChildren: true},
			want{index: []digest.Digest{w.indexSBOM.Digest}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := New().List(ctxT(t), w.repo(t), tt.subject, tt.opts)
			if tt.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := digests(res.Referrers); !slices.Equal(got, tt.want.index) && (len(got) > 0 || len(tt.want.index) > 0) {
				t.Errorf("index referrers %v, want %v", got, tt.want.index)
			}
			if len(res.Children) != len(tt.want.children) {
				t.Fatalf("%d children, want %d", len(res.Children), len(tt.want.children))
			}
			for i, ch := range res.Children {
				entry := []ocispec.Descriptor{w.amd, w.arm}[i]
				if ch.Descriptor.Digest != entry.Digest || ch.Descriptor.Platform == nil || ch.Mode != ModeAPI {
					t.Errorf("child %d: %+v, want the index's entry %s listed by the API", i, ch, entry.Digest)
				}
				if got := digests(ch.Referrers); !slices.Equal(got, tt.want.children[i]) && (len(got) > 0 || len(tt.want.children[i]) > 0) {
					t.Errorf("child %s: referrers %v, want %v", ch.Platform, got, tt.want.children[i])
				}
				if r := ch.Result(); r.Subject.Platform != nil || r.Subject.Digest != entry.Digest {
					t.Errorf("child %s: Result().Subject %+v", ch.Platform, r.Subject)
				}
			}
			if tt.want.children != nil {
				if got := []string{res.Children[0].Platform, res.Children[1].Platform}; !slices.Equal(got, []string{"linux/amd64", "linux/arm64/v8"}) {
					t.Errorf("platforms %q", got)
				}
			}
		})
	}
}

// TestListIncludeChildrenRequests pins what IncludeChildren costs on a
// registry with the API: the subject's referrers, the index once, and one
// referrers request per child; nothing for a subject that is not an index.
func TestListIncludeChildrenRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		index     bool
		opts      ListOptions
		want      []string
		wantOrder bool // the requests come in this order
	}{
		{"index", true, ListOptions{Mode: ModeAPI, IncludeChildren: true}, []string{
			"GET /v2/repo/referrers/<subject> 200",
			"GET /v2/repo/manifests/<subject> 200",
			"GET /v2/repo/referrers/<digest> 200",
			"GET /v2/repo/referrers/<digest> 200",
		}, false},
		{"not an index", false, ListOptions{Mode: ModeAPI, IncludeChildren: true}, []string{
			"GET /v2/repo/referrers/<subject> 200",
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newChildrenWorld(t)
			subject := w.subject
			if tt.index {
				subject = w.index
			}
			if _, err := New().List(ctxT(t), w.repo(t), subject, tt.opts); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, q := range w.fake.Requests() {
				got = append(got, reqLine(q, subject.Digest))
			}
			if !tt.wantOrder {
				slices.Sort(got)
				slices.Sort(tt.want)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("requests\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestListIncludeChildrenError: a child whose referrers cannot be listed
// fails the listing, naming the child: never "no referrers" for it.
func TestListIncludeChildrenError(t *testing.T) {
	t.Parallel()
	w := newChildrenWorld(t)
	w.fake.FailNext(http.MethodGet, "/referrers/"+w.arm.Digest.String(), http.StatusForbidden, 1)
	res, err := New().List(ctxT(t), w.repo(t), w.index, ListOptions{Mode: ModeAPI, IncludeChildren: true})
	if err == nil || !strings.Contains(err.Error(), "child linux/arm64/v8 "+w.arm.Digest.String()+": ") || !strings.Contains(err.Error(), "403") {
		t.Fatalf("err = %v, want the arm64 child's 403", err)
	}
	if res.Children != nil || res.Referrers != nil {
		t.Errorf("a failed listing returned %+v", res)
	}
}
