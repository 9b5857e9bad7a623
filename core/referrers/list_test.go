package referrers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// threeReferrers stores an SBOM, a signature and a scan of w's subject
// directly in the fake and returns their descriptors by type.
func threeReferrers(t *testing.T, w *world) map[string]ocispec.Descriptor {
	t.Helper()
	return map[string]ocispec.Descriptor{
		typeSBOM: putReferrer(t, w.fake, w.subject, typeSBOM, "sbom", map[string]string{"team": "a"}),
		typeSig:  putReferrer(t, w.fake, w.subject, typeSig, "sig", map[string]string{"team": "b"}),
		typeScan: putReferrer(t, w.fake, w.subject, typeScan, "scan", map[string]string{"team": "a", "severity": "low"}),
	}
}

func sortedDigests(ds ...ocispec.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(ds))
	for i, d := range ds {
		out[i] = d.Digest
	}
	slices.Sort(out)
	return out
}

// TestListFilters covers the artifactType filter against the API (server side
// when applied, client side otherwise), against the tag schema, and the
// annotation filter (distribution-spec v1.1.1, Listing Referrers).
func TestListFilters(t *testing.T) {
	t.Parallel()
	type setup struct {
		name string
		mode fakeregistry.Mode
		tag  bool // the referrers are in a tag schema index
	}
	setups := []setup{
		{"API", fakeregistry.Mode{}, false},
		{"API ignoring the filter", fakeregistry.Mode{NoFilterHeader: true}, false},
		{"tag schema", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, true},
	}
	for _, s := range setups {
		for _, tc := range []struct {
			name string
			opts ListOptions
			want []string // types
			// query is the artifactType query the API must receive ("" = none)
			query string
		}{
			{"no filter", ListOptions{}, []string{typeSBOM, typeSig, typeScan}, ""},
			{"one type", ListOptions{ArtifactTypes: []string{typeSig}}, []string{typeSig}, typeSig},
			{"two types: client OR", ListOptions{ArtifactTypes: []string{typeSig, typeSBOM}}, []string{typeSig, typeSBOM}, ""},
			{"unknown type", ListOptions{ArtifactTypes: []string{"application/x.none"}}, nil, "application/x.none"},
			{"annotation", ListOptions{Annotations: map[string]string{"team": "a"}}, []string{typeSBOM, typeScan}, ""},
			{"annotation and type", ListOptions{ArtifactTypes: []string{typeScan}, Annotations: map[string]string{"team": "a"}}, []string{typeScan}, typeScan},
			{"two annotations", ListOptions{Annotations: map[string]string{"team": "a", "severity": "low"}}, []string{typeScan}, ""},
			{"annotation value differs", ListOptions{Annotations: map[string]string{"team": "c"}}, nil, ""},
			// distribution-spec v1.1.1, Listing Referrers: an empty type is never sent as artifactType=
			{"empty type", ListOptions{ArtifactTypes: []string{""}}, nil, ""},
		} {
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, s.mode)
				refs := threeReferrers(t, w)
				if s.tag {
					seedIndex(t, w.fake, w.subject.Digest, refs[typeSBOM], refs[typeSig], refs[typeScan])
				}
				w.fake.ResetRequests()
				res, err := New(WithSettle(fastSettle)).List(ctxT(t), w.repo(t), w.subject, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				var want []ocispec.Descriptor
				for _, typ := range tc.want {
					want = append(want, refs[typ])
				}
				if got, w := digests(res.Referrers), sortedDigests(want...); !slices.Equal(got, w) {
					t.Errorf("listed %v, want %v", got, w)
				}
				for _, n := range res.Referrers {
					if n.Descriptor.ArtifactType == "" || n.Descriptor.Annotations["team"] == "" {
						t.Errorf("descriptor lacks artifactType or annotations: %+v", n.Descriptor)
					}
				}
				gets := requestsMatching(w.fake, http.MethodGet, "/referrers/")
				if len(gets) != 1 {
					t.Fatalf("%d referrers GETs, want 1", len(gets))
				}
				u, _ := url.Parse(gets[0].Path)
				if got := u.Query()["artifactType"]; (tc.query == "" && got != nil) || (tc.query != "" && !slices.Equal(got, []string{tc.query})) {
					t.Errorf("query %q, want artifactType=%q", u.RawQuery, tc.query)
				}
				if strings.Contains(gets[0].Path, "artifactType=&") || strings.HasSuffix(gets[0].Path, "artifactType=") {
					t.Errorf("empty artifactType sent: %s (distribution-spec v1.1.1, Listing Referrers)", gets[0].Path)
				}
				wantMode := ModeAPI
				if s.tag {
					wantMode = ModeTag
				}
				if res.Mode != wantMode {
					t.Errorf("mode %q, want %q", res.Mode, wantMode)
				}
			})
		}
	}
}

// TestListNoReferrers: no API and no tag is "no referrers", not an error
// (distribution-spec v1.1.1, Listing Referrers and Unavailable Referrers API). A 200 that is not an image index is not the spec's "no
// API" answer: the listing still reads the tag schema but says why, in one
// warning naming the Content-Type (issue 18).
func TestListNoReferrers(t *testing.T) {
	t.Parallel()
	for _, b := range append([]fakeregistry.ReferrersBehavior{fakeregistry.ReferrersAPI}, unsupported...) {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{Referrers: b})
			res, err := New(WithSettle(fastSettle)).List(ctxT(t), w.repo(t), w.subject, ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var wantWarnings []string
			switch b {
			case fakeregistry.ReferrersFalse200:
				wantWarnings = []string{"the referrers endpoint answered 200 with Content-Type application/json, not an image index: read the tag schema instead"}
			case fakeregistry.ReferrersFalse200HTML:
				wantWarnings = []string{"the referrers endpoint answered 200 with Content-Type text/html; charset=utf-8, not an image index: read the tag schema instead"}
			}
			if len(res.Referrers) != 0 || !slices.Equal(res.Warnings, wantWarnings) {
				t.Errorf("referrers %v warnings %q, want none and %q", digests(res.Referrers), res.Warnings, wantWarnings)
			}
			idx := res.Index()
			if idx.Manifests == nil || idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
				t.Errorf("Index() = %s, want an empty OCI index with manifests []", mustJSON(t, idx))
			}
			wantMode := ModeTag
			if b == fakeregistry.ReferrersAPI {
				wantMode = ModeAPI
			}
			if res.Mode != wantMode {
				t.Errorf("mode %q, want %q", res.Mode, wantMode)
			}
		})
	}
}

// TestListErrors: errors of the API are errors, never an empty list nor the
// tag schema's answer instead (distribution-spec v1.1.1, Unavailable Referrers API).
func TestListErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		behaviour fakeregistry.ReferrersBehavior
		mode      Mode
	}{
		{fakeregistry.ReferrersForbidden, ModeAuto},
		{fakeregistry.ReferrersTooManyRequests, ModeAuto},
		{fakeregistry.ReferrersServerError, ModeAuto},
		{fakeregistry.ReferrersNameUnknown, ModeAuto},
		{fakeregistry.ReferrersServerError, ModeAPI},
		// ModeAPI on a registry without the API
		{fakeregistry.ReferrersNotFoundText, ModeAPI},
	} {
		t.Run(tc.behaviour.String()+"/"+string(tc.mode), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{Referrers: tc.behaviour})
			// a tag schema index that must not be read as a substitute
			seedIndex(t, w.fake, w.subject.Digest, putReferrer(t, w.fake, w.subject, typeSig, "sig", nil))
			w.fake.ResetRequests()
			res, err := New(WithSettle(fastSettle)).List(ctxT(t), w.repo(t), w.subject, ListOptions{Mode: tc.mode})
			if err == nil {
				t.Fatalf("no error; listed %v", digests(res.Referrers))
			}
			if tc.behaviour == fakeregistry.ReferrersNotFoundText && !errors.Is(err, ErrAPIUnsupported) {
				t.Errorf("err = %v, want ErrAPIUnsupported", err)
			}
			// In auto mode the tag is read alongside the API (speculatively);
			// what matters is that the API's error is the answer. In api mode
			// the tag is never touched.
			if n := len(requestsMatching(w.fake, "", "/manifests/"+FallbackTag(w.subject.Digest))); n != 0 && tc.mode == ModeAPI {
				t.Errorf("the tag schema was read in api mode (%d requests)", n)
			}
		})
	}
}

// TestListInvalidFallback: a tag that holds no valid index means no referrers,
// with a warning that says why (distribution-spec v1.1.1, Unavailable Referrers API and Referrers Tag Schema).
func TestListInvalidFallback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode fakeregistry.Mode
		seed func(t *testing.T, w *world)
	}{
		{"image manifest under the tag", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, func(t *testing.T, w *world) {
			putImage(t, w.fake, FallbackTag(w.subject.Digest), "squat")
		}},
		{"index with schemaVersion 1", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, func(t *testing.T, w *world) {
			w.fake.PutManifest(testRepo, FallbackTag(w.subject.Digest), ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":1,"manifests":[]}`))
		}},
		{"tag resolves to the subject", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, TagResolvesToSubject: true}, func(*testing.T, *world) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.mode)
			tc.seed(t, w)
			res, err := New(WithSettle(fastSettle)).List(ctxT(t), w.repo(t), w.subject, ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Referrers) != 0 {
				t.Errorf("listed %v", digests(res.Referrers))
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], FallbackTag(w.subject.Digest)) {
				t.Errorf("warnings %q, want one naming the tag", res.Warnings)
			}
		})
	}
}

// TestListFallbackIsTheSubjectIndex: a registry that maps the tag to the
// digest serves a multi-arch subject, a valid index, as "the referrers index";
// its platform manifests must not be listed as referrers (distribution-spec v1.1.1, Referrers Tag Schema).
func TestListFallbackIsTheSubjectIndex(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, TagResolvesToSubject: true})
	subject := putIndex(t, w.fake, "multi")
	res, err := New().List(ctxT(t), w.repo(t), subject, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Referrers) != 0 || len(res.Warnings) != 1 {
		t.Errorf("listed %v with warnings %q, want nothing and one warning", digests(res.Referrers), res.Warnings)
	}
}

// TestListCompletesArtifactType: an entry without artifactType (old registry
// data, ACR) is completed from its manifest before filtering (image-spec v1.1.1, Guidelines for Artifact Usage).
func TestListCompletesArtifactType(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	sig := putReferrer(t, w.fake, w.subject, typeSig, "sig", map[string]string{"k": "v"})
	sbom := putReferrer(t, w.fake, w.subject, typeSBOM, "sbom", nil)
	bare := sig
	bare.ArtifactType, bare.Annotations = "", nil
	seedIndex(t, w.fake, w.subject.Digest, bare, sbom)
	w.fake.ResetRequests()

	res, err := New(WithSettle(fastSettle)).List(ctxT(t), w.repo(t), w.subject, ListOptions{ArtifactTypes: []string{typeSig}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Referrers) != 1 {
		t.Fatalf("listed %v, want the signature", digests(res.Referrers))
	}
	got := res.Referrers[0].Descriptor
	if got.Digest != sig.Digest || got.ArtifactType != typeSig || got.Annotations["k"] != "v" {
		t.Errorf("got %+v, want artifactType and annotations from the manifest", got)
	}
	if n := len(requestsMatching(w.fake, http.MethodGet, "/manifests/"+sig.Digest.String())); n != 1 {
		t.Errorf("%d GETs of the bare entry's manifest, want 1", n)
	}
	if n := len(requestsMatching(w.fake, http.MethodGet, "/manifests/"+sbom.Digest.String())); n != 0 {
		t.Errorf("%d GETs of a complete entry's manifest, want 0", n)
	}
}

// TestListNested: depth 2 shows the signature of an SBOM even when the top
// level is filtered to SBOMs (oras passes the filter down and hides it).
func TestListNested(t *testing.T) {
	t.Parallel()
	for _, m := range []fakeregistry.Mode{{}, {Referrers: fakeregistry.ReferrersNotFoundText}} {
		t.Run(map[bool]string{true: "API", false: "tag schema"}[m.Referrers == fakeregistry.ReferrersAPI], func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, m)
			ctx := ctxT(t)
			c := New(WithSettle(fastSettle))
			repo := w.repo(t)
			sbom, err := c.Attach(ctx, repo, w.subject, artifact(typeSBOM, "sbom", nil), AttachOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Attach(ctx, repo, w.subject, artifact(typeSig, "image-sig", nil), AttachOptions{}); err != nil {
				t.Fatal(err)
			}
			sbomSig, err := c.Attach(ctx, repo, sbom.Descriptor, artifact(typeSig, "sbom-sig", nil), AttachOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := New(WithSettle(fastSettle)).List(ctx, repo, w.subject, ListOptions{ArtifactTypes: []string{typeSBOM}, Depth: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Referrers) != 1 || res.Referrers[0].Descriptor.Digest != sbom.Descriptor.Digest {
				t.Fatalf("top level %v, want only the SBOM %s", digests(res.Referrers), sbom.Descriptor.Digest)
			}
			kids := res.Referrers[0].Referrers
			if len(kids) != 1 || kids[0].Descriptor.Digest != sbomSig.Descriptor.Digest || kids[0].Descriptor.ArtifactType != typeSig {
				t.Errorf("the SBOM's referrers %v, want its signature %s", digests(kids), sbomSig.Descriptor.Digest)
			}
			// depth 1 stops at the top level
			flat, err := New(WithSettle(fastSettle)).List(ctx, repo, w.subject, ListOptions{ArtifactTypes: []string{typeSBOM}})
			if err != nil {
				t.Fatal(err)
			}
			if len(flat.Referrers) != 1 || len(flat.Referrers[0].Referrers) != 0 {
				t.Errorf("depth 1 listed nested referrers")
			}
		})
	}
}

// TestListCycle: hand-made tag schema indexes claim A refers to B and B to A
// (a hostile registry can serve that); a deep listing ends and lists each once.
func TestListCycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	a := putReferrer(t, w.fake, w.subject, typeSig, "a", nil)
	b := putReferrer(t, w.fake, w.subject, typeSig, "b", nil)
	seedIndex(t, w.fake, w.subject.Digest, a)
	seedIndex(t, w.fake, a.Digest, b)
	seedIndex(t, w.fake, b.Digest, a)
	res, err := New(WithSettle(fastSettle)).List(ctxT(t), w.repo(t), w.subject, ListOptions{Depth: 50, Mode: ModeTag})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Referrers) != 1 || res.Referrers[0].Descriptor.Digest != a.Digest {
		t.Fatalf("top %v", digests(res.Referrers))
	}
	kids := res.Referrers[0].Referrers
	if len(kids) != 1 || kids[0].Descriptor.Digest != b.Digest || len(kids[0].Referrers) != 0 {
		t.Errorf("A's referrers %v, want B with nothing below", kids)
	}
}

// TestListNodeCap: a graph larger than the node cap is an error, not a
// silently truncated tree.
func TestListNodeCap(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	a := putReferrer(t, w.fake, w.subject, typeSig, "a", nil)
	b := putReferrer(t, w.fake, w.subject, typeSig, "b", nil)
	c := putReferrer(t, w.fake, w.subject, typeSig, "c", nil)
	seedIndex(t, w.fake, w.subject.Digest, a)
	seedIndex(t, w.fake, a.Digest, b, c)
	_, err := New(WithMaxNodes(2)).List(ctxT(t), w.repo(t), w.subject, ListOptions{Depth: 3})
	if !errors.Is(err, target.ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}

// TestListMigration: referrers recorded in the tag schema stay listed after
// the registry enables the API, and new ones are listed by the API
// (distribution-spec v1.1.1, Upgrade Procedures).
func TestListMigration(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	ctx := ctxT(t)
	old, err := New(WithSettle(fastSettle)).Attach(ctx, w.repo(t), w.subject, artifact(typeSig, "old", nil), AttachOptions{})
	if err != nil || old.Mode != ModeTag {
		t.Fatalf("attach before migration: %v, mode %q", err, old.Mode)
	}

	w.fake.SetMode(fakeregistry.Mode{}) // the registry gains the API
	c := New(WithSettle(fastSettle))    // a new process: nothing cached
	res, err := c.List(ctx, w.repo(t), w.subject, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != ModeAPI || !slices.Equal(digests(res.Referrers), []digest.Digest{old.Descriptor.Digest}) {
		t.Errorf("after migration: mode %q referrers %v, want api and %s (distribution-spec v1.1.1, Upgrade Procedures)", res.Mode, digests(res.Referrers), old.Descriptor.Digest)
	}

	neu, err := c.Attach(ctx, w.repo(t), w.subject, artifact(typeSig, "new", nil), AttachOptions{})
	if err != nil || neu.Mode != ModeAPI {
		t.Fatalf("attach after migration: %v, mode %q", err, neu.Mode)
	}
	res, err = c.List(ctx, w.repo(t), w.subject, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := sortedDigests(old.Descriptor, neu.Descriptor); !slices.Equal(digests(res.Referrers), want) {
		t.Errorf("listed %v, want %v (distribution-spec v1.1.1, Upgrade Procedures)", digests(res.Referrers), want)
	}
	if h := w.fake.TagHistory(testRepo, FallbackTag(w.subject.Digest)); len(h) != 1 {
		t.Errorf("the tag schema index was written %d times; after migration it must not be", len(h))
	}
}

// TestListSortedAndDeduplicated: entries are sorted by digest and listed once,
// whatever the order and repetitions in the source.
func TestListSortedAndDeduplicated(t *testing.T) {
	t.Parallel()
	t.Run("tag schema with repeats", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, LenientManifests: true})
		refs := threeReferrers(t, w)
		all := sortedDigests(refs[typeSBOM], refs[typeSig], refs[typeScan])
		var entries []ocispec.Descriptor
		for i := len(all) - 1; i >= 0; i-- {
			for _, r := range refs {
				if r.Digest == all[i] {
					entries = append(entries, r, r)
				}
			}
		}
		seedIndex(t, w.fake, w.subject.Digest, entries...)
		res, err := New().List(ctxT(t), w.repo(t), w.subject, ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := digests(res.Referrers); !slices.Equal(got, all) {
			t.Errorf("listed %v, want %v", got, all)
		}
		if got := res.Index(); len(got.Manifests) != 3 || got.Manifests[0].Digest != all[0] {
			t.Errorf("Index() %v", digestsOf(got))
		}
	})
	t.Run("mixed: in the API and in a tag", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{})
		refs := threeReferrers(t, w)
		seedIndex(t, w.fake, w.subject.Digest, refs[typeSig], refs[typeSBOM])
		res, err := New().List(ctxT(t), w.repo(t), w.subject, ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := digests(res.Referrers), sortedDigests(refs[typeSBOM], refs[typeSig], refs[typeScan]); !slices.Equal(got, want) {
			t.Errorf("listed %v, want %v", got, want)
		}
	})
}

// TestSortUnique: sorted by digest, the first entry of each digest kept (the
// API's before the tag schema's), the skipped digest left out, the input
// untouched unless owned, for input in order and out of it.
func TestSortUnique(t *testing.T) {
	t.Parallel()
	d := func(c byte, from string) ocispec.Descriptor {
		return ocispec.Descriptor{Digest: digest.Digest("sha256:" + strings.Repeat(string(c), 64)), Annotations: map[string]string{"from": from}}
	}
	type entry struct{ c, from string }
	cases := []struct {
		name string
		in   []ocispec.Descriptor
		skip byte
		want []entry
	}{
		{"empty", nil, 0, nil},
		{"sorted", []ocispec.Descriptor{d('a', "api"), d('b', "api"), d('c', "api")}, 0, []entry{{"a", "api"}, {"b", "api"}, {"c", "api"}}},
		{"sorted with repeats", []ocispec.Descriptor{d('a', "api"), d('a', "tag"), d('b', "tag"), d('b', "tag2")}, 0, []entry{{"a", "api"}, {"b", "tag"}}},
		{"unsorted with repeats", []ocispec.Descriptor{d('c', "api"), d('a', "api"), d('b', "api"), d('a', "tag"), d('c', "tag")}, 0, []entry{{"a", "api"}, {"b", "api"}, {"c", "api"}}},
		{"skip, sorted", []ocispec.Descriptor{d('a', "tag"), d('b', "tag")}, 'a', []entry{{"b", "tag"}}},
		{"skip, unsorted", []ocispec.Descriptor{d('b', "tag"), d('c', "tag"), d('a', "tag")}, 'c', []entry{{"a", "tag"}, {"b", "tag"}}},
		{"no digest, nothing skipped", []ocispec.Descriptor{d('a', "api"), {Annotations: map[string]string{"from": "api"}}, {Annotations: map[string]string{"from": "tag"}}}, 0, []entry{{"", "api"}, {"a", "api"}}},
	}
	for _, tc := range cases {
		for _, owned := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/owned=%v", tc.name, owned), func(t *testing.T) {
				in := slices.Clone(tc.in)
				var skip digest.Digest
				if tc.skip != 0 {
					skip = d(tc.skip, "").Digest
				}
				out := sortUnique(in, skip, owned)
				var got []entry
				for _, o := range out {
					c := strings.TrimPrefix(string(o.Digest), "sha256:")
					got = append(got, entry{c[:min(1, len(c))], o.Annotations["from"]})
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("sortUnique = %v, want %v", got, tc.want)
				}
				if owned {
					return
				}
				for i := range in {
					if in[i].Digest != tc.in[i].Digest {
						t.Fatalf("input changed at %d", i)
					}
				}
				if len(out) > 0 && len(in) > 0 && &out[0] == &in[0] {
					t.Error("output shares the input's array")
				}
			})
		}
	}
}

// TestListPaged: the API's Link pages are all listed (distribution-spec v1.1.1, Listing Referrers).
func TestListPaged(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{PageSize: 2})
	var all []ocispec.Descriptor
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		all = append(all, putReferrer(t, w.fake, w.subject, typeSig, n, nil))
	}
	res, err := New().List(ctxT(t), w.repo(t), w.subject, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := digests(res.Referrers), sortedDigests(all...); !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
	if n := len(requestsMatching(w.fake, http.MethodGet, "/referrers/")); n != 3 {
		t.Errorf("%d pages fetched, want 3", n)
	}
}

// TestListCapabilityCache: a Client that learned "no API" reads the tag schema
// directly next time (distribution-spec v1.1.1, Unavailable Referrers API).
func TestListCapabilityCache(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	c := New()
	for range 3 {
		if _, err := c.List(ctxT(t), w.repo(t), w.subject, ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(requestsMatching(w.fake, http.MethodGet, "/referrers/")); n != 1 {
		t.Errorf("%d referrers GETs for three listings, want 1", n)
	}
}

// Unknown media types, artifact types, annotation keys and fields are listed, not
// rejected (image-spec v1.1.1, Guidelines for Artifact Usage; image-spec v1.1.1 manifest.md, annotations.md).
func TestListUnknownValues(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	unknown := ocispec.Descriptor{
		MediaType:    "application/vnd.example.future.manifest.v9+json",
		ArtifactType: "application/vnd.example.never-heard-of",
		Digest:       digest.FromString("future"),
		Size:         6,
		Annotations:  map[string]string{"com.example.unknown": "x"},
	}
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","futureField":{"a":1},` +
		`"manifests":[` + string(mustJSON(t, unknown)) + `]}`)
	w.fake.PutManifest(testRepo, FallbackTag(w.subject.Digest), ocispec.MediaTypeImageIndex, idx)
	res, err := New(WithSettle(fastSettle)).List(ctxT(t), w.repo(t), w.subject, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Referrers) != 1 {
		t.Fatalf("listed %d referrers, want 1", len(res.Referrers))
	}
	got := res.Referrers[0].Descriptor
	if got.MediaType != unknown.MediaType || got.ArtifactType != unknown.ArtifactType || got.Annotations["com.example.unknown"] != "x" {
		t.Errorf("got %+v, want %+v", got, unknown)
	}
}

// TestListMixedState: on a registry with the API, auto mode also reads the
// referrers tag and lists the entries the API misses, each once; entries
// whose manifest is gone are left out with a warning. api mode reads the API
// only. (olareg v0.2.2 drops tag-schema referrers from its API answer; see
// internal/suite/interop TestMixedState.)
func TestListMixedState(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{})
	other := putImage(t, w.fake, "v2", "linux")
	inAPI := putReferrer(t, w.fake, w.subject, typeSig, "in-api", nil)
	// The API of our subject does not list this one (its manifest names
	// another subject), as olareg's does not list what the tag holds.
	onlyTag := putReferrer(t, w.fake, other, typeSBOM, "only-tag", nil)
	stale := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("deleted"), Size: 10, ArtifactType: typeSig}
	seedIndex(t, w.fake, w.subject.Digest, inAPI, onlyTag, stale, inAPI)

	res, err := New().List(ctxT(t), w.repo(t), w.subject, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := sortedDigests(inAPI, onlyTag); !slices.Equal(digests(res.Referrers), want) {
		t.Errorf("auto listed %v, want %v", digests(res.Referrers), want)
	}
	if res.Mode != ModeAPI {
		t.Errorf("mode %q, want api", res.Mode)
	}
	joined := strings.Join(res.Warnings, "\n")
	if !strings.Contains(joined, "mixed state") || !strings.Contains(joined, stale.Digest.String()+", which no longer exists") {
		t.Errorf("warnings %q do not explain the merge and the stale entry", res.Warnings)
	}

	res, err = New().List(ctxT(t), w.repo(t), w.subject, ListOptions{Mode: ModeAPI})
	if err != nil {
		t.Fatal(err)
	}
	if want := sortedDigests(inAPI); !slices.Equal(digests(res.Referrers), want) {
		t.Errorf("api mode listed %v, want %v", digests(res.Referrers), want)
	}
}

// TestListResolvesBrokenEntries: tag schema entries some clients write with
// no artifactType or with the empty descriptor's media type, although the
// manifest declares its real type, are resolved from the manifest (and only
// they are fetched), so that a filter or a policy check does not miss them;
// --debug names each; an entry whose manifest is gone is left out with a
// warning.
func TestListResolvesBrokenEntries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		types    []string // the filter
		wantSig  bool     // the broken signature entries are listed
		wantSBOM bool
	}{
		{"filtered to the real type", []string{typeSig}, true, false},
		{"filtered to another type", []string{typeSBOM}, false, true},
		{"unfiltered (check)", nil, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
			empty := putReferrer(t, w.fake, w.subject, typeSig, "empty-type", nil)
			missing := putReferrer(t, w.fake, w.subject, typeSig, "missing-type", nil)
			sbom := putReferrer(t, w.fake, w.subject, typeSBOM, "sbom", nil)
			stale := putReferrer(t, w.fake, w.subject, typeSig, "stale", nil)
			if err := w.repo(t).DeleteManifest(ctxT(t), stale.Digest); err != nil {
				t.Fatal(err)
			}
			empty.ArtifactType = ocispec.MediaTypeEmptyJSON
			missing.ArtifactType = ""
			stale.ArtifactType = ocispec.MediaTypeEmptyJSON
			seedIndex(t, w.fake, w.subject.Digest, empty, missing, sbom, stale)
			w.fake.ResetRequests()

			var debug strings.Builder
			res, err := New(WithDebug(&debug)).List(ctxT(t), w.repo(t), w.subject, ListOptions{ArtifactTypes: tc.types})
			if err != nil {
				t.Fatal(err)
			}
			got := map[digest.Digest]string{}
			for _, n := range res.Referrers {
				got[n.Descriptor.Digest] = n.Descriptor.ArtifactType
			}
			want := map[digest.Digest]string{}
			if tc.wantSig {
				want[empty.Digest], want[missing.Digest] = typeSig, typeSig
			}
			if tc.wantSBOM {
				want[sbom.Digest] = typeSBOM
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("listed %v, want %v", got, want)
			}
			for _, d := range []digest.Digest{empty.Digest, missing.Digest} {
				if n := len(requestsMatching(w.fake, http.MethodGet, "/manifests/"+d.String())); n != 1 {
					t.Errorf("%d GETs of broken entry %s, want 1", n, d)
				}
				if !strings.Contains(debug.String(), d.String()) {
					t.Errorf("--debug does not name the resolved entry %s:\n%s", d, debug.String())
				}
			}
			if n := len(requestsMatching(w.fake, http.MethodGet, "/manifests/"+sbom.Digest.String())); n != 0 {
				t.Errorf("%d GETs of a sound entry's manifest, want 0", n)
			}
			if !strings.Contains(strings.Join(res.Warnings, "\n"), stale.Digest.String()) {
				t.Errorf("warnings %q do not name the stale entry %s", res.Warnings, stale.Digest)
			}
		})
	}
}
