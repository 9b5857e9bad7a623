package referrers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestAttachAPI: a registry with the Referrers API records the subject; the
// first attach of a Client confirms the API with one referrers GET, later ones
// trust the cache, and no tag schema tag is written (distribution-spec v1.1.1, Unavailable Referrers API and Pushing Manifests with Subject).
func TestAttachAPI(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{})
	ctx := ctxT(t)
	c := New(WithSettle(fastSettle))
	repo := w.repo(t)

	res, err := c.Attach(ctx, repo, w.subject, artifact(typeSBOM, "one", nil), AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != ModeAPI || res.FallbackTag != "" || len(res.Warnings) != 0 {
		t.Errorf("result mode %q tag %q warnings %v, want api, none, none", res.Mode, res.FallbackTag, res.Warnings)
	}
	if got := len(requestsMatching(w.fake, http.MethodGet, "/referrers/")); got != 1 {
		t.Errorf("%d referrers GETs after the first attach, want exactly 1 (distribution-spec v1.1.1, Pushing Manifests with Subject)", got)
	}
	if _, _, ok := w.fake.Manifest(testRepo, res.Descriptor.Digest.String()); !ok {
		t.Error("the artifact manifest was not pushed")
	}

	if _, err := c.Attach(ctx, repo, w.subject, artifact(typeSig, "two", nil), AttachOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := len(requestsMatching(w.fake, http.MethodGet, "/referrers/")); got != 1 {
		t.Errorf("%d referrers GETs after the second attach with the same Client, want still 1 (distribution-spec v1.1.1, Unavailable Referrers API)", got)
	}
	if got, want := w.fake.Tags(testRepo), []string{"v1"}; !slices.Equal(got, want) {
		t.Errorf("tags %v, want %v: API mode writes no tag schema tag", got, want)
	}

	// another Client (another process) confirms once for itself
	if _, err := New(WithSettle(fastSettle)).Attach(ctx, repo, w.subject, artifact(typeSig, "three", nil), AttachOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := len(requestsMatching(w.fake, http.MethodGet, "/referrers/")); got != 2 {
		t.Errorf("%d referrers GETs after a second Client's attach, want 2", got)
	}
}

// unsupported are the Referrers API answers that mean "no API, use the tag
// schema" (distribution-spec v1.1.1, Unavailable Referrers API).
var unsupported = []fakeregistry.ReferrersBehavior{
	fakeregistry.ReferrersNotFoundText,
	fakeregistry.ReferrersNotFoundJSON,
	fakeregistry.ReferrersNotFoundHTML,
	fakeregistry.ReferrersMethodNotAllowed,
	fakeregistry.ReferrersNotAcceptable,
	fakeregistry.ReferrersUnauthorizedNoChallenge,
	fakeregistry.ReferrersBadRequestText,
	fakeregistry.ReferrersFalse200,
	fakeregistry.ReferrersFalse200HTML,
}

// TestAttachWithoutAPI: without the API the tag schema index is created from
// an empty index (distribution-spec v1.1.1, Referrers Tag Schema) with an entry that carries the artifactType and
// every annotation (distribution-spec v1.1.1, Referrers Tag Schema). With an OCI-Subject header that lies
// (ECR rollout), the one confirming GET finds the API missing (distribution-spec v1.1.1, Pushing Manifests with Subject).
func TestAttachWithoutAPI(t *testing.T) {
	t.Parallel()
	ann := map[string]string{"org.example.a": "1", "org.example.empty": "", "org.opencontainers.image.description": "d"}
	for _, b := range unsupported {
		for _, lying := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/OCI-Subject=%v", b, lying), func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, fakeregistry.Mode{Referrers: b, SubjectHeaderWithoutAPI: lying})
				a := artifact(typeSBOM, "sbom", ann)
				a.Created = "2024-05-01T10:00:00Z"
				res, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), w.subject, a, AttachOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if res.Mode != ModeTag || res.FallbackTag != FallbackTag(w.subject.Digest) {
					t.Errorf("mode %q tag %q, want tag mode and %s", res.Mode, res.FallbackTag, FallbackTag(w.subject.Digest))
				}
				wantGets := 0
				if lying {
					wantGets = 1
				}
				if got := len(requestsMatching(w.fake, http.MethodGet, "/referrers/")); got != wantGets {
					t.Errorf("%d referrers GETs, want %d", got, wantGets)
				}
				idx, ok := fallbackIndex(t, w.fake, w.subject.Digest)
				if !ok {
					t.Fatal("no tag schema index")
				}
				if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex || len(idx.Manifests) != 1 {
					t.Fatalf("index %s, want one entry in an OCI index", mustJSON(t, idx))
				}
				e := idx.Manifests[0]
				wantAnn := map[string]string{ocispec.AnnotationCreated: "2024-05-01T10:00:00Z"}
				for k, v := range ann {
					wantAnn[k] = v
				}
				want := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: res.Descriptor.Digest, Size: res.Descriptor.Size, ArtifactType: typeSBOM, Annotations: wantAnn}
				if g, w := string(mustJSON(t, e)), string(mustJSON(t, want)); g != w {
					t.Errorf("entry\n%s\nwant\n%s", g, w)
				}
				// distribution-spec v1.1.1, Referrers Tag Schema: the index has no subject, and nothing was tagged for it
				if idx.Subject != nil {
					t.Errorf("the tag schema index has a subject: %+v", idx.Subject)
				}
			})
		}
	}
}

// TestAttachFallbackIndexNotAReferrer: pushing the tag schema index does not
// trigger referrer handling for the index itself (distribution-spec v1.1.1, Referrers Tag Schema).
func TestAttachFallbackIndexNotAReferrer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	res, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "sig", nil), AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, idxBytes, ok := w.fake.Manifest(testRepo, res.FallbackTag)
	if !ok {
		t.Fatal("no tag schema index")
	}
	idxDigest := digest.FromBytes(idxBytes)
	want := []string{FallbackTag(w.subject.Digest), "v1"}
	slices.Sort(want)
	if got := w.fake.Tags(testRepo); !slices.Equal(got, want) {
		t.Errorf("tags %v, want %v (no %s for the index)", got, want, FallbackTag(idxDigest))
	}
	if n := len(requestsMatching(w.fake, "", FallbackTag(idxDigest))); n != 0 {
		t.Errorf("%d requests touched the index's own tag schema tag", n)
	}
}

// TestAttachFallbackInvalid: what the tag holds is validated before any write
// (distribution-spec v1.1.1, Referrers Tag Schema).
func TestAttachFallbackInvalid(t *testing.T) {
	t.Parallel()
	t.Run("non-index under the tag (distribution-spec v1.1.1, Referrers Tag Schema)", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
		// an image manifest squats on the tag
		squat := putImage(t, w.fake, FallbackTag(w.subject.Digest), "squat")
		w.fake.ResetRequests()
		_, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "sig", nil), AttachOptions{GCFallbackIndex: true})
		if !errors.Is(err, ErrFallbackInvalid) {
			t.Fatalf("err = %v, want ErrFallbackInvalid", err)
		}
		if h := w.fake.TagHistory(testRepo, FallbackTag(w.subject.Digest)); len(h) != 1 || h[0] != squat.Digest {
			t.Errorf("tag history %v: the tag was overwritten", h)
		}
		if n := len(requestsMatching(w.fake, http.MethodDelete, "")); n != 0 {
			t.Errorf("%d DELETEs", n)
		}
	})
	t.Run("tag resolves to a multi-arch subject, itself an index (distribution-spec v1.1.1, Referrers Tag Schema)", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, TagResolvesToSubject: true})
		subject := putIndex(t, w.fake, "multi")
		_, before, _ := w.fake.Manifest(testRepo, "multi")
		w.fake.ResetRequests()
		_, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), subject, artifact(typeSig, "sig", nil), AttachOptions{GCFallbackIndex: true})
		if !errors.Is(err, ErrFallbackInvalid) {
			t.Fatalf("err = %v, want ErrFallbackInvalid: the subject index was taken for the referrers index", err)
		}
		if _, after, ok := w.fake.Manifest(testRepo, subject.Digest.String()); !ok || string(after) != string(before) {
			t.Error("the subject was changed or deleted")
		}
		if h := w.fake.TagHistory(testRepo, FallbackTag(subject.Digest)); len(h) != 0 {
			t.Errorf("the tag was written: %v", h)
		}
		if n := len(requestsMatching(w.fake, http.MethodDelete, "")); n != 0 {
			t.Errorf("%d DELETEs", n)
		}
	})
	t.Run("tag resolves to the subject (distribution-spec v1.1.1, Referrers Tag Schema)", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, TagResolvesToSubject: true})
		_, before, _ := w.fake.Manifest(testRepo, "v1")
		_, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "sig", nil), AttachOptions{GCFallbackIndex: true})
		if !errors.Is(err, ErrFallbackInvalid) {
			t.Fatalf("err = %v, want ErrFallbackInvalid", err)
		}
		_, after, ok := w.fake.Manifest(testRepo, w.subject.Digest.String())
		if !ok || string(after) != string(before) {
			t.Error("the subject was changed or deleted")
		}
		if h := w.fake.TagHistory(testRepo, FallbackTag(w.subject.Digest)); len(h) != 0 {
			t.Errorf("the tag was written: %v", h)
		}
		if n := len(requestsMatching(w.fake, http.MethodDelete, "")); n != 0 {
			t.Errorf("%d DELETEs", n)
		}
		for _, q := range requestsMatching(w.fake, http.MethodPut, "/manifests/") {
			if strings.Contains(q.Path, FallbackTag(w.subject.Digest)) {
				t.Errorf("PUT to the tag: %s", q.Path)
			}
		}
	})
}

// TestAttachDuplicate: the same inputs twice give one entry, and the second
// attach writes nothing (distribution-spec v1.1.1, Referrers Tag Schema; image-spec v1.1.1, Pre-Defined Annotation Keys).
func TestAttachDuplicate(t *testing.T) {
	t.Parallel()
	for _, sameClient := range []bool{true, false} {
		t.Run(fmt.Sprintf("sameClient=%v", sameClient), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
			c := New(WithSettle(fastSettle))
			var first digest.Digest
			for i := range 2 {
				if !sameClient {
					c = New(WithSettle(fastSettle))
				}
				res, err := c.Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "same", map[string]string{"k": "v"}), AttachOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = res.Descriptor.Digest
				} else if res.Descriptor.Digest != first {
					t.Fatalf("second attach made %s, first %s", res.Descriptor.Digest, first)
				}
			}
			idx, _ := fallbackIndex(t, w.fake, w.subject.Digest)
			if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != first {
				t.Errorf("index %v, want only %s", digestsOf(idx), first)
			}
			if h := w.fake.TagHistory(testRepo, FallbackTag(w.subject.Digest)); len(h) != 1 {
				t.Errorf("tag written %d times, want once", len(h))
			}
		})
	}
}

// TestAttachForcedMode: --referrers-mode overrides detection (distribution-spec v1.1.1, Unavailable Referrers API).
func TestAttachForcedMode(t *testing.T) {
	t.Parallel()
	t.Run("api on a registry without the API pushes and warns", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
		res, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "sig", nil), AttachOptions{Mode: ModeAPI})
		if err != nil {
			t.Fatal(err)
		}
		if res.Mode != ModeAPI || len(res.Warnings) == 0 {
			t.Errorf("mode %q warnings %v, want api and a warning", res.Mode, res.Warnings)
		}
		if _, _, ok := w.fake.Manifest(testRepo, res.Descriptor.Digest.String()); !ok {
			t.Error("the artifact was not pushed")
		}
		if got := w.fake.Tags(testRepo); !slices.Equal(got, []string{"v1"}) {
			t.Errorf("tags %v: ModeAPI wrote a tag", got)
		}
	})
	t.Run("tag on an API registry writes the tag", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{})
		res, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "sig", nil), AttachOptions{Mode: ModeTag})
		if err != nil {
			t.Fatal(err)
		}
		if res.Mode != ModeTag {
			t.Errorf("mode %q, want tag", res.Mode)
		}
		idx, ok := fallbackIndex(t, w.fake, w.subject.Digest)
		if !ok || !contains(idx, res.Descriptor.Digest) {
			t.Error("the tag schema index lacks the entry")
		}
		if n := len(requestsMatching(w.fake, http.MethodGet, "/referrers/")); n != 0 {
			t.Errorf("%d referrers GETs in tag mode", n)
		}
	})
	t.Run("bad mode", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{})
		if _, err := New().Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "sig", nil), AttachOptions{Mode: "both"}); err == nil {
			t.Error("no error")
		}
		if n := len(w.fake.Requests()); n != 0 {
			t.Errorf("%d requests before the mode was checked", n)
		}
	})
	t.Run("bad subject digest", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{})
		bad := w.subject
		bad.Digest = "sha256:nothex"
		if _, err := New().Attach(ctxT(t), w.repo(t), bad, artifact(typeSig, "sig", nil), AttachOptions{}); err == nil {
			t.Error("no error")
		}
	})
}

// TestAttachConfirmErrors: when the confirming GET fails for a reason other
// than "unsupported", Attach fails: it neither claims the API nor writes a
// tag on a guess (distribution-spec v1.1.1, Unavailable Referrers API).
func TestAttachConfirmErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		mode  fakeregistry.Mode
		fault int
	}{
		{"403 injected", fakeregistry.Mode{}, http.StatusForbidden},
		{"500 injected", fakeregistry.Mode{}, http.StatusInternalServerError},
		{"403 DENIED", fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden, SubjectHeaderWithoutAPI: true}, 0},
		{"500 UNKNOWN", fakeregistry.Mode{Referrers: fakeregistry.ReferrersServerError, SubjectHeaderWithoutAPI: true}, 0},
		{"429 until the retries end", fakeregistry.Mode{Referrers: fakeregistry.ReferrersTooManyRequests, SubjectHeaderWithoutAPI: true}, 0},
		{"404 NAME_UNKNOWN", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNameUnknown, SubjectHeaderWithoutAPI: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.mode)
			if tc.fault != 0 {
				w.fake.FailNext(http.MethodGet, "/referrers/", tc.fault, 1)
			}
			res, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "sig", nil), AttachOptions{})
			if err == nil {
				t.Fatalf("no error; mode %q", res.Mode)
			}
			if errors.Is(err, target.ErrUnsupported) {
				t.Errorf("err %v is judged unsupported", err)
			}
			if res.Mode != "" {
				t.Errorf("mode %q reported on failure", res.Mode)
			}
			if got := w.fake.Tags(testRepo); !slices.Equal(got, []string{"v1"}) {
				t.Errorf("tags %v: a tag was written after an error", got)
			}
		})
	}
}

// TestAttachGC: with GCFallbackIndex the superseded index is deleted by digest;
// where deletes are refused that is a warning, not an error (distribution-spec v1.1.1, Referrers Tag Schema).
func TestAttachGC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		deleteOff  bool
		gc         bool
		wantGone   bool
		wantWarned bool
	}{
		{"gc", false, true, true, false},
		{"gc with deletes disabled", true, true, false, true},
		{"no gc (default)", false, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, DeleteDisabled: tc.deleteOff})
			c := New(WithSettle(fastSettle))
			opts := AttachOptions{GCFallbackIndex: tc.gc}
			if _, err := c.Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "one", nil), opts); err != nil {
				t.Fatal(err)
			}
			old := w.fake.TagHistory(testRepo, FallbackTag(w.subject.Digest))
			res, err := c.Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "two", nil), opts)
			if err != nil {
				t.Fatal(err)
			}
			hist := w.fake.TagHistory(testRepo, FallbackTag(w.subject.Digest))
			if len(old) != 1 || len(hist) != 2 {
				t.Fatalf("tag history %v then %v", old, hist)
			}
			_, _, present := w.fake.Manifest(testRepo, old[0].String())
			if present == tc.wantGone {
				t.Errorf("superseded index %s present=%v, want gone=%v", old[0], present, tc.wantGone)
			}
			if _, _, ok := w.fake.Manifest(testRepo, res.FallbackTag); !ok {
				t.Error("the current index is gone")
			}
			if (len(res.Warnings) > 0) != tc.wantWarned {
				t.Errorf("warnings %v, want warned=%v", res.Warnings, tc.wantWarned)
			}
			if !tc.gc && len(requestsMatching(w.fake, http.MethodDelete, "")) != 0 {
				t.Error("DELETE without GCFallbackIndex")
			}
		})
	}
}

// TestAttachConditional: where the registry honours conditions the update is
// a conditional PUT; where it rejects them it falls back to a plain PUT and
// still succeeds (distribution-spec v1.1.1, Referrers Tag Schema).
func TestAttachConditional(t *testing.T) {
	t.Parallel()
	t.Run("ETagHonoured uses If-Match", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, ETag: fakeregistry.ETagHonoured})
		c := New(WithSettle(fastSettle))
		if _, err := c.Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "one", nil), AttachOptions{}); err != nil {
			t.Fatal(err)
		}
		first := w.fake.TagHistory(testRepo, FallbackTag(w.subject.Digest))
		if _, err := c.Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "two", nil), AttachOptions{}); err != nil {
			t.Fatal(err)
		}
		var stored []string
		for _, q := range requestsMatching(w.fake, http.MethodPut, "/manifests/"+FallbackTag(w.subject.Digest)) {
			if q.Status == http.StatusCreated {
				stored = append(stored, "If-Match="+q.Header.Get("If-Match")+" If-None-Match="+q.Header.Get("If-None-Match"))
			}
		}
		want := []string{
			"If-Match= If-None-Match=*",                             // created
			"If-Match=\"" + first[0].String() + "\" If-None-Match=", // updated
		}
		if !slices.Equal(stored, want) {
			t.Errorf("stored PUTs\n%q\nwant\n%q", stored, want)
		}
	})
	t.Run("ETagRejected falls back to a plain PUT", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, ETag: fakeregistry.ETagRejected})
		res, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSig, "one", nil), AttachOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var puts []string
		for _, q := range requestsMatching(w.fake, http.MethodPut, "/manifests/"+FallbackTag(w.subject.Digest)) {
			cond := q.Header.Get("If-Match") != "" || q.Header.Get("If-None-Match") != ""
			puts = append(puts, fmt.Sprintf("conditional=%v %d", cond, q.Status))
		}
		if want := []string{"conditional=true 400", "conditional=false 201"}; !slices.Equal(puts, want) {
			t.Errorf("PUTs %q, want %q", puts, want)
		}
		idx, _ := fallbackIndex(t, w.fake, w.subject.Digest)
		if !contains(idx, res.Descriptor.Digest) {
			t.Error("entry missing")
		}
	})
}

// TestResolveSubject: the subject is the exact descriptor of what the
// reference names; --platform picks a child of an index (image-spec v1.1.1, Guidelines for Artifact Usage).
func TestResolveSubject(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{})
	amd := putImage(t, w.fake, "amd", "linux")
	arm := putImage(t, w.fake, "arm", "linux-arm")
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: amd.MediaType, Digest: amd.Digest, Size: amd.Size, Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{MediaType: arm.MediaType, Digest: arm.Digest, Size: arm.Size, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
	}}
	idx.SchemaVersion = 2
	ib := mustJSON(t, idx)
	idxDigest := w.fake.PutManifest(testRepo, "multi", ocispec.MediaTypeImageIndex, ib)
	ctx := ctxT(t)
	repo := w.repo(t)
	for _, tc := range []struct {
		name, ref, platform string
		want                ocispec.Descriptor
		wantErr             error
	}{
		{"tag", "v1", "", w.subject, nil},
		{"digest", w.subject.Digest.String(), "", w.subject, nil},
		{"index itself", "multi", "", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: idxDigest, Size: int64(len(ib))}, nil},
		{"platform", "multi", "linux/amd64", amd, nil},
		{"platform with variant", "multi", "linux/arm64/v8", arm, nil},
		{"platform without variant matches any", "multi", "linux/arm64", arm, nil},
		{"missing platform", "multi", "linux/s390x", ocispec.Descriptor{}, target.ErrNotFound},
		{"platform of a single manifest", "v1", "linux/amd64", ocispec.Descriptor{}, errors.New("any")},
		{"bad platform", "multi", "linux", ocispec.Descriptor{}, errors.New("any")},
		{"missing tag", "nope", "", ocispec.Descriptor{}, target.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ResolveSubject(ctx, repo, tc.ref, tc.platform)
			if tc.wantErr != nil {
				if err == nil || (errors.Is(tc.wantErr, target.ErrNotFound) && !errors.Is(err, target.ErrNotFound)) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := string(mustJSON(t, got)), string(mustJSON(t, tc.want)); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want ocispec.Platform
		ok   bool
	}{
		{"linux/amd64", ocispec.Platform{OS: "linux", Architecture: "amd64"}, true},
		{"linux/arm64/v8", ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, true},
		{"linux", ocispec.Platform{}, false},
		{"linux/", ocispec.Platform{}, false},
		{"/amd64", ocispec.Platform{}, false},
		{"linux/arm/", ocispec.Platform{}, false},
		{"a/b/c/d", ocispec.Platform{}, false},
	} {
		got, err := ParsePlatform(tc.in)
		if (err == nil) != tc.ok || got.OS != tc.want.OS || got.Architecture != tc.want.Architecture || got.Variant != tc.want.Variant {
			t.Errorf("ParsePlatform(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

// TestAttachSkipIfExists: with SkipIfExists, an artifact with the same type,
// config and layers as an existing referrer is not pushed again, even when its
// annotations (a created timestamp) differ; other content is attached.
func TestAttachSkipIfExists(t *testing.T) {
	t.Parallel()
	for _, m := range []fakeregistry.Mode{{}, {Referrers: fakeregistry.ReferrersNotFoundText}} {
		t.Run(m.Referrers.String(), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, m)
			c := New(WithSettle(fastSettle))
			first := artifact(typeSBOM, "sbom", nil)
			first.Created = "2026-01-01T00:00:00Z"
			r1, err := c.Attach(ctxT(t), w.repo(t), w.subject, first, AttachOptions{SkipIfExists: true})
			if err != nil || r1.Skipped {
				t.Fatalf("first attach: skipped=%v err=%v", r1.Skipped, err)
			}
			again := artifact(typeSBOM, "sbom", nil)
			again.Created = "2026-02-02T00:00:00Z" // another digest, same content
			r2, err := c.Attach(ctxT(t), w.repo(t), w.subject, again, AttachOptions{SkipIfExists: true})
			if err != nil {
				t.Fatal(err)
			}
			if !r2.Skipped || r2.Descriptor.Digest != r1.Descriptor.Digest {
				t.Errorf("second attach: skipped=%v digest %s, want skipped with %s", r2.Skipped, r2.Descriptor.Digest, r1.Descriptor.Digest)
			}
			other, err := c.Attach(ctxT(t), w.repo(t), w.subject, artifact(typeSBOM, "other", nil), AttachOptions{SkipIfExists: true})
			if err != nil || other.Skipped {
				t.Fatalf("different content: skipped=%v err=%v", other.Skipped, err)
			}
			res, err := c.List(ctxT(t), w.repo(t), w.subject, ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(res.Referrers), 2; got != want {
				t.Errorf("listed %d referrers, want %d", got, want)
			}
		})
	}
}
