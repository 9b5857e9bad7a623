package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

const (
	repoName = "team/app"
	sbomType = "application/vnd.example.sbom.v1+json"
	sigType  = "application/vnd.example.signature.v1"
)

// TestReferrersBehaviours runs Referrers against every ReferrersBehavior of
// the fake: only the "no API" answers are ErrUnsupported (and so lead to the
// tag schema); 403, 429, 500 and NAME_UNKNOWN are hard errors, never "no
// referrers" (distribution-spec v1.1.1, Listing Referrers and Unavailable Referrers API).
func TestReferrersBehaviours(t *testing.T) {
	t.Parallel()
	tests := []struct {
		behaviour    fakeregistry.ReferrersBehavior
		want         error // nil: ok; errPlain: a plain error
		wantRequests int   // GETs of the referrers endpoint
		wantInErr    string
	}{
		{fakeregistry.ReferrersAPI, nil, 1, ""},                                              // distribution-spec v1.1.1, Listing Referrers
		{fakeregistry.ReferrersNotFoundText, target.ErrUnsupported, 1, "404"},                // distribution-spec v1.1.1, Unavailable Referrers API
		{fakeregistry.ReferrersNotFoundJSON, target.ErrUnsupported, 1, "404"},                // distribution-spec v1.1.1, Unavailable Referrers API
		{fakeregistry.ReferrersNotFoundHTML, target.ErrUnsupported, 1, "404"},                // distribution-spec v1.1.1, Unavailable Referrers API
		{fakeregistry.ReferrersMethodNotAllowed, target.ErrUnsupported, 1, "405"},            // distribution-spec v1.1.1, Unavailable Referrers API
		{fakeregistry.ReferrersNotAcceptable, target.ErrUnsupported, 1, "406"},               // distribution-spec v1.1.1, Unavailable Referrers API
		{fakeregistry.ReferrersUnauthorizedNoChallenge, target.ErrUnsupported, 1, "401"},     // distribution-spec v1.1.1, Unavailable Referrers API
		{fakeregistry.ReferrersBadRequestText, target.ErrUnsupported, 1, "400"},              // distribution-spec v1.1.1, Unavailable Referrers API
		{fakeregistry.ReferrersFalse200, target.ErrUnsupported, 1, "not an image index"},     // distribution-spec v1.1.1, Listing Referrers
		{fakeregistry.ReferrersFalse200HTML, target.ErrUnsupported, 1, "not an image index"}, // distribution-spec v1.1.1, Listing Referrers
		{fakeregistry.ReferrersForbidden, errPlain, 1, "403 Forbidden: DENIED"},              // distribution-spec v1.1.1, Unavailable Referrers API
		{fakeregistry.ReferrersTooManyRequests, errPlain, 3, "429 Too Many Requests"},        // distribution-spec v1.1.1, Unavailable Referrers API: retried, then a clear error
		{fakeregistry.ReferrersServerError, errPlain, 1, "500 Internal Server Error"},        // distribution-spec v1.1.1, Unavailable Referrers API
		{fakeregistry.ReferrersNameUnknown, target.ErrNotFound, 1, "NAME_UNKNOWN"},           // distribution-spec v1.1.1, Unavailable Referrers API
	}
	for _, tt := range tests {
		t.Run(tt.behaviour.String(), func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, fakeregistry.Mode{Referrers: tt.behaviour})
			subject, _ := seedImage(t, reg, repoName, "v1")
			want := seedReferrer(t, reg, repoName, subject, sbomType, "a")
			reg.ResetRequests()
			repo := repoAt(t, newClient(), reg.Host(), repoName)

			res, err := repo.Referrers(t.Context(), subject.Digest, "")
			if got, want := count(reg.Requests(), http.MethodGet, "/referrers/"), tt.wantRequests; got != want {
				t.Errorf("referrers GETs = %d, want %d: %v", got, want, methods(reg.Requests()))
			}
			switch tt.want {
			case nil:
				if err != nil {
					t.Fatalf("Referrers: %v", err)
				}
				if got, want := len(res.Manifests), 1; got != want {
					t.Fatalf("len(Manifests) = %d, want %d", got, want)
				}
				if got := res.Manifests[0]; got.Digest != want.Digest || got.ArtifactType != sbomType || got.Annotations["test.note"] != "a" {
					t.Errorf("Manifests[0] = %+v, want digest %s, artifactType %s, annotation", got, want.Digest, sbomType) // distribution-spec v1.1.1, Listing Referrers
				}
				if got, want := res.Source, target.SourceAPI; got != want {
					t.Errorf("Source = %q, want %q", got, want)
				}
				return
			case errPlain:
				wantPlainError(t, err)
			default:
				if !errors.Is(err, tt.want) {
					t.Fatalf("Referrers = %v, want errors.Is %q", err, tt.want)
				}
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantInErr)
			}
			if !errors.Is(tt.want, target.ErrUnsupported) && errors.Is(err, target.ErrUnsupported) {
				t.Errorf("error %q reads as unsupported", err)
			}
		})
	}
}

// TestReferrersEmpty: a subject without referrers, or one that does not exist,
// is an empty list, not an error (distribution-spec v1.1.1, Listing Referrers).
func TestReferrersEmpty(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{})
	subject, _ := seedImage(t, reg, repoName, "v1")
	repo := repoAt(t, newClient(), reg.Host(), repoName)
	for _, d := range []digest.Digest{subject.Digest, digest.FromString("no such manifest")} {
		res, err := repo.Referrers(t.Context(), d, "")
		if err != nil {
			t.Fatalf("Referrers(%s): %v", d, err)
		}
		if got := len(res.Manifests); got != 0 {
			t.Errorf("Referrers(%s) has %d manifests, want none", d, got)
		}
	}
}

// TestReferrersFilter: the artifactType filter is sent, and FilterApplied
// reflects OCI-Filters-Applied; a registry that ignores the filter returns
// everything and FilterApplied is false, so the caller filters (distribution-spec v1.1.1, Listing Referrers,
// 20).
func TestReferrersFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		mode          fakeregistry.Mode
		artifactType  string
		wantApplied   bool
		wantTypes     []string
		wantInQuery   bool
		wantManifests int
	}{
		{"applied", fakeregistry.Mode{}, sbomType, true, []string{sbomType}, true, 2},                               // distribution-spec v1.1.1, Listing Referrers
		{"ignored", fakeregistry.Mode{NoFilterHeader: true}, sbomType, false, []string{sbomType, sigType}, true, 3}, // distribution-spec v1.1.1, Listing Referrers
		{"no filter asked", fakeregistry.Mode{}, "", false, []string{sbomType, sigType}, false, 3},                  // distribution-spec v1.1.1, Listing Referrers
		{"applied and paged", fakeregistry.Mode{PageSize: 1}, sbomType, true, []string{sbomType}, true, 2},          // distribution-spec v1.1.1, Listing Referrers
		{"ignored and paged", fakeregistry.Mode{PageSize: 1, NoFilterHeader: true}, sbomType, false, nil, true, 3},  // distribution-spec v1.1.1, Listing Referrers
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, tt.mode)
			subject, _ := seedImage(t, reg, repoName, "v1")
			seedReferrer(t, reg, repoName, subject, sbomType, "1")
			seedReferrer(t, reg, repoName, subject, sbomType, "2")
			seedReferrer(t, reg, repoName, subject, sigType, "3")
			reg.ResetRequests()
			repo := repoAt(t, newClient(), reg.Host(), repoName)

			res, err := repo.Referrers(t.Context(), subject.Digest, tt.artifactType)
			if err != nil {
				t.Fatalf("Referrers: %v", err)
			}
			if got, want := res.FilterApplied, tt.wantApplied; got != want {
				t.Errorf("FilterApplied = %v, want %v", got, want)
			}
			if got, want := len(res.Manifests), tt.wantManifests; got != want {
				t.Errorf("len(Manifests) = %d, want %d", got, want)
			}
			if tt.wantTypes != nil {
				var got []string
				for _, m := range res.Manifests {
					if !slices.Contains(got, m.ArtifactType) {
						got = append(got, m.ArtifactType)
					}
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tt.wantTypes))
				if !slices.Equal(got, want) {
					t.Errorf("artifact types = %v, want %v", got, want)
				}
			}
			// The first request carries the filter; later pages follow the
			// registry's Link as given.
			reqs := reg.Requests()
			if len(reqs) == 0 {
				t.Fatal("no requests logged")
			}
			if got, want := strings.Contains(reqs[0].Path, "artifactType="), tt.wantInQuery; got != want {
				t.Errorf("%s: artifactType in query = %v, want %v", reqs[0].Path, got, want)
			}
			if strings.Contains(reqs[0].Path, "artifactType=&") || strings.HasSuffix(reqs[0].Path, "artifactType=") {
				t.Errorf("%s: empty artifactType sent", reqs[0].Path) // distribution-spec v1.1.1, Listing Referrers
			}
		})
	}
}

// TestReferrersPagination follows Link rel="next" and merges pages, and
// refuses loops and other hosts (distribution-spec v1.1.1, Listing Referrers; bounded Link paging, a safeguard the spec leaves to clients).
func TestReferrersPagination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		style     fakeregistry.LinkStyle
		opts      []Option
		want      error  // nil: ok; errPlain: plain error
		wantInErr string // substring of the error
		wantPages int    // referrers GETs
	}{
		{name: "relative links", style: fakeregistry.LinkRelative, wantPages: 3},                                                                                                       // distribution-spec v1.1.1, Listing Referrers
		{name: "absolute same host", style: fakeregistry.LinkAbsoluteSameHost, wantPages: 3},                                                                                           // distribution-spec v1.1.1, Listing Referrers
		{name: "loop", style: fakeregistry.LinkLoop, want: errPlain, wantInErr: "loop", wantPages: 1},                                                                                  // bounded Link paging, a safeguard the spec leaves to clients
		{name: "cross host", style: fakeregistry.LinkCrossHost, want: errPlain, wantInErr: "127.0.0.2", wantPages: 1},                                                                  // bounded Link paging, a safeguard the spec leaves to clients
		{name: "page cap", style: fakeregistry.LinkRelative, opts: []Option{WithReferrersLimits(2, 100)}, want: target.ErrTooLarge, wantInErr: "more than 2 pages", wantPages: 2},      // bounded Link paging, a safeguard the spec leaves to clients
		{name: "entry cap", style: fakeregistry.LinkRelative, opts: []Option{WithReferrersLimits(100, 3)}, want: target.ErrTooLarge, wantInErr: "more than 3 referrers", wantPages: 2}, // bounded Link paging, a safeguard the spec leaves to clients
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, fakeregistry.Mode{PageSize: 2, LinkStyle: tt.style})
			subject, _ := seedImage(t, reg, repoName, "v1")
			var want []digest.Digest
			for _, n := range []string{"1", "2", "3", "4", "5"} {
				want = append(want, seedReferrer(t, reg, repoName, subject, sbomType, n).Digest)
			}
			reg.ResetRequests()
			repo := repoAt(t, newClient(tt.opts...), reg.Host(), repoName)

			res, err := repo.Referrers(t.Context(), subject.Digest, "")
			if got, want := count(reg.Requests(), http.MethodGet, "/referrers/"), tt.wantPages; got != want {
				t.Errorf("referrers GETs = %d, want %d: %v", got, want, methods(reg.Requests()))
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Referrers: %v", err)
				}
				var got []digest.Digest
				for _, m := range res.Manifests {
					got = append(got, m.Digest)
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("merged digests = %v, want %v", got, want)
				}
				return
			}
			if tt.want == errPlain {
				wantPlainError(t, err)
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("Referrers = %v, want errors.Is %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantInErr)
			}
			if res.Manifests != nil {
				t.Errorf("Manifests = %v on error, want none (no partial lists)", res.Manifests)
			}
		})
	}
}

// TestReferrersLaterPageFails: a page after the first that is not an index is
// an error, not "unsupported" and not a partial list (distribution-spec v1.1.1, Listing Referrers).
func TestReferrersLaterPageFails(t *testing.T) {
	t.Parallel()
	subject := digest.FromString("subject")
	entry := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("r1"), Size: 10, ArtifactType: sbomType}
	page1, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{entry}})
	tests := []struct {
		name    string
		page2   func(w http.ResponseWriter)
		want    error // errPlain: no sentinel
		wantErr string
	}{
		{"404", func(w http.ResponseWriter) { http.Error(w, "404 page not found", http.StatusNotFound) }, errPlain, "404"},
		{"html 200", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html></html>")
		}, errPlain, "not an image index"},
		{"bad index", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
			io.WriteString(w, `{"schemaVersion":1}`)
		}, target.ErrInvalidManifest, "schemaVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("page") == "2" {
					tt.page2(w)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.Header().Set("Link", `<?page=2>; rel="next"`)
				w.Write(page1)
			}))
			t.Cleanup(srv.Close)
			repo := repoAt(t, newClient(), strings.TrimPrefix(srv.URL, "http://"), repoName)
			_, err := repo.Referrers(t.Context(), subject, "")
			if tt.want == errPlain {
				wantPlainError(t, err)
			} else if !errors.Is(err, tt.want) || errors.Is(err, target.ErrUnsupported) {
				t.Fatalf("Referrers = %v, want errors.Is %q and not ErrUnsupported", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "page 2") {
				t.Errorf("error %q does not mention %q and page 2", err, tt.wantErr)
			}
		})
	}
}

// TestReferrersLegacyFilterAnnotation: the v1.1.0-rc1 annotation
// org.opencontainers.referrers.filtersApplied counts as "applied" (the filtersApplied annotation of distribution-spec v1.1.0-rc1).
func TestReferrersLegacyFilterAnnotation(t *testing.T) {
	t.Parallel()
	idx, _ := json.Marshal(ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Manifests:   []ocispec.Descriptor{},
		Annotations: map[string]string{"org.opencontainers.referrers.filtersApplied": "artifactType"},
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		w.Write(idx)
	}))
	t.Cleanup(srv.Close)
	repo := repoAt(t, newClient(), strings.TrimPrefix(srv.URL, "http://"), repoName)
	res, err := repo.Referrers(t.Context(), digest.FromString("s"), sbomType)
	if err != nil {
		t.Fatal(err)
	}
	if !res.FilterApplied {
		t.Error("FilterApplied = false, want true from the legacy annotation")
	}
}

// TestHugeBody: bodies are capped at 4 MiB (distribution-spec v1.1.1, Pushing Manifests).
func TestHugeBody(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{})
	subject, _ := seedImage(t, reg, repoName, "v1")
	reg.SetMode(fakeregistry.Mode{HugeBody: true})
	repo := repoAt(t, newClient(), reg.Host(), repoName)

	if _, err := repo.Referrers(t.Context(), subject.Digest, ""); !errors.Is(err, target.ErrTooLarge) {
		t.Errorf("Referrers = %v, want ErrTooLarge", err)
	}
	if _, err := repo.FetchTagged(t.Context(), "v1"); !errors.Is(err, target.ErrTooLarge) {
		t.Errorf("FetchTagged = %v, want ErrTooLarge", err)
	}
	// By descriptor, the size is known: more bytes than it says is a mismatch.
	if _, err := repo.FetchManifest(t.Context(), subject); !errors.Is(err, target.ErrDigestMismatch) {
		t.Errorf("FetchManifest = %v, want ErrDigestMismatch", err)
	}
	// A descriptor without a plausible size still stops at the cap.
	big := subject
	big.Size = 1 << 30
	if _, err := repo.FetchManifest(t.Context(), big); !errors.Is(err, target.ErrTooLarge) {
		t.Errorf("FetchManifest(size 1 GiB) = %v, want ErrTooLarge", err)
	}
}

func TestCorruptContent(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{CorruptManifests: true, CorruptBlobs: true})
	subject, _ := seedImage(t, reg, repoName, "v1")
	repo := repoAt(t, newClient(), reg.Host(), repoName)

	if _, err := repo.FetchManifest(t.Context(), subject); !errors.Is(err, target.ErrDigestMismatch) {
		t.Errorf("FetchManifest = %v, want ErrDigestMismatch", err)
	}
	// By tag, the registry's Docker-Content-Digest is the reference.
	if _, err := repo.FetchTagged(t.Context(), "v1"); !errors.Is(err, target.ErrDigestMismatch) {
		t.Errorf("FetchTagged = %v, want ErrDigestMismatch", err)
	}
	rc, err := repo.OpenBlob(t.Context(), emptyDesc)
	if err != nil {
		t.Fatalf("OpenBlob: %v", err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, target.ErrDigestMismatch) {
		t.Errorf("reading the blob = %v, want ErrDigestMismatch", err)
	}
}

func TestOpenBlob(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{})
	content := []byte("hello, blob")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: reg.PutBlob(repoName, content), Size: int64(len(content))}
	repo := repoAt(t, newClient(), reg.Host(), repoName)

	rc, err := repo.OpenBlob(t.Context(), desc)
	if err != nil {
		t.Fatalf("OpenBlob: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("OpenBlob read %q, %v; want %q", got, err, content)
	}

	// A descriptor whose size is wrong fails too.
	short := desc
	short.Size--
	rc, err = repo.OpenBlob(t.Context(), short)
	if err != nil {
		t.Fatalf("OpenBlob: %v", err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, target.ErrDigestMismatch) {
		t.Errorf("reading with a short size = %v, want ErrDigestMismatch", err)
	}
	rc.Close()

	missing := ocispec.Descriptor{Digest: digest.FromString("missing"), Size: 7}
	if _, err := repo.OpenBlob(t.Context(), missing); !errors.Is(err, target.ErrNotFound) {
		t.Errorf("OpenBlob(missing) = %v, want ErrNotFound", err)
	}
}

// TestPushManifest checks the push request and its result: Content-Type is
// the mediaType (distribution-spec v1.1.1, Pushing Manifests with Subject), the Docker-Content-Digest is checked (31) and
// OCI-Subject sets SubjectRecorded (29).
func TestPushManifest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		mode        fakeregistry.Mode
		withSubject bool
		index       bool
		want        error
		wantSubject bool
	}{
		{name: "image manifest", mode: fakeregistry.Mode{}},                                                                      // distribution-spec v1.1.1, Pushing Manifests with Subject
		{name: "index", mode: fakeregistry.Mode{}, index: true},                                                                  // distribution-spec v1.1.1, Pushing Manifests with Subject
		{name: "subject recorded", mode: fakeregistry.Mode{}, withSubject: true, wantSubject: true},                              // distribution-spec v1.1.1, Pushing Manifests with Subject
		{name: "subject without API", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, withSubject: true}, // distribution-spec v1.1.1, Pushing Manifests with Subject
		{
			// ECR rollout: the header without the API; the verbs confirm it separately (distribution-spec v1.1.1, Pushing Manifests with Subject).
			name:        "subject header without API",
			mode:        fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, SubjectHeaderWithoutAPI: true},
			withSubject: true, wantSubject: true,
		},
		{name: "wrong digest on push", mode: fakeregistry.Mode{WrongDigestOnPush: true}, want: target.ErrDigestMismatch}, // distribution-spec v1.1.1, Pushing Manifests with Subject
		{name: "too large", mode: fakeregistry.Mode{ManifestLimit: 64}, want: target.ErrTooLarge},                        // distribution-spec v1.1.1, Pushing Manifests
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, tt.mode)
			subject, _ := seedImage(t, reg, repoName, "v1")
			reg.ResetRequests()
			repo := repoAt(t, newClient(), reg.Host(), repoName)

			var desc ocispec.Descriptor
			var data []byte
			switch {
			case tt.index:
				data, _ = json.Marshal(ocispec.Index{
					Versioned: specs.Versioned{SchemaVersion: 2},
					MediaType: ocispec.MediaTypeImageIndex,
					Manifests: []ocispec.Descriptor{subject},
				})
				desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(data), Size: int64(len(data))}
			case tt.withSubject:
				desc, data = manifestBytes(t, sbomType, &subject, nil)
			default:
				desc, data = manifestBytes(t, sbomType, nil, nil)
			}
			res, err := repo.PushManifest(t.Context(), desc, data, target.PushOptions{})
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("PushManifest = %v, want errors.Is %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("PushManifest: %v", err)
			}
			if got, want := res.SubjectRecorded, tt.wantSubject; got != want {
				t.Errorf("SubjectRecorded = %v, want %v", got, want)
			}
			var puts []fakeregistry.Request
			for _, q := range reg.Requests() {
				if q.Method == http.MethodPut {
					puts = append(puts, q)
				}
			}
			if len(puts) != 1 {
				t.Fatalf("PUTs = %v, want one", methods(puts))
			}
			if got, want := puts[0].Path, "/v2/"+repoName+"/manifests/"+desc.Digest.String(); got != want {
				t.Errorf("PUT path = %q, want %q", got, want)
			}
			if got, want := puts[0].Header.Get("Content-Type"), desc.MediaType; got != want {
				t.Errorf("PUT Content-Type = %q, want %q", got, want) // distribution-spec v1.1.1, Pushing Manifests with Subject
			}
			if _, got, ok := reg.Manifest(repoName, desc.Digest.String()); !ok || !bytes.Equal(got, data) {
				t.Errorf("stored bytes differ from pushed bytes")
			}
		})
	}
}

// TestPushManifestTooLargeLocally: a manifest over the cap is refused before
// any request (distribution-spec v1.1.1, Pushing Manifests).
func TestPushManifestTooLargeLocally(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{})
	repo := repoAt(t, newClient(), reg.Host(), repoName)
	data := bytes.Repeat([]byte(" "), target.MaxManifestBytes+1)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if _, err := repo.PushManifest(t.Context(), desc, data, target.PushOptions{}); !errors.Is(err, target.ErrTooLarge) {
		t.Errorf("PushManifest = %v, want ErrTooLarge", err)
	}
	if got := len(reg.Requests()); got != 0 {
		t.Errorf("%d requests sent, want none", got)
	}
}

// TestConditionalPush drives the tag schema's conditional update
// (distribution-spec v1.1.1, Referrers Tag Schema): If-Match with the ETag of FetchTagged, If-None-Match: *.
func TestConditionalPush(t *testing.T) {
	t.Parallel()
	const tag = "sha256-0000"
	tests := []struct {
		name  string
		etag  fakeregistry.ETagBehavior
		opts  func(current string) target.PushOptions
		want  error
		check func(t *testing.T, reg *fakeregistry.Registry)
	}{
		{"honoured current If-Match", fakeregistry.ETagHonoured, func(cur string) target.PushOptions { return target.PushOptions{Tag: tag, IfMatch: cur} }, nil, nil},
		{"honoured stale If-Match", fakeregistry.ETagHonoured, func(string) target.PushOptions {
			return target.PushOptions{Tag: tag, IfMatch: `"sha256:` + strings.Repeat("0", 64) + `"`}
		}, target.ErrPreconditionFailed, nil},
		{"honoured If-None-Match on existing tag", fakeregistry.ETagHonoured, func(string) target.PushOptions { return target.PushOptions{Tag: tag, IfNoneMatch: true} }, target.ErrPreconditionFailed, nil},
		{"honoured If-None-Match on new tag", fakeregistry.ETagHonoured, func(string) target.PushOptions { return target.PushOptions{Tag: "fresh", IfNoneMatch: true} }, nil, nil},
		{"rejected", fakeregistry.ETagRejected, func(cur string) target.PushOptions { return target.PushOptions{Tag: tag, IfMatch: cur} }, target.ErrConditionalUnsupported, nil},
		{"ignored", fakeregistry.ETagIgnored, func(string) target.PushOptions { return target.PushOptions{Tag: tag, IfMatch: `"stale"`} }, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, fakeregistry.Mode{ETag: tt.etag, LenientManifests: true})
			old, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}})
			reg.PutManifest(repoName, tag, ocispec.MediaTypeImageIndex, old)
			repo := repoAt(t, newClient(), reg.Host(), repoName)

			cur, err := repo.FetchTagged(t.Context(), tag)
			if err != nil {
				t.Fatalf("FetchTagged: %v", err)
			}
			if cur.ETag == "" {
				t.Fatal("FetchTagged returned no ETag")
			}
			next, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
				Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 1}}})
			desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(next), Size: int64(len(next))}
			opts := tt.opts(cur.ETag)
			_, err = repo.PushManifest(t.Context(), desc, next, opts)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("PushManifest = %v, want errors.Is %q", err, tt.want)
				}
				if _, got, _ := reg.Manifest(repoName, tag); !bytes.Equal(got, old) {
					t.Error("the tag moved although the push failed")
				}
				return
			}
			if err != nil {
				t.Fatalf("PushManifest: %v", err)
			}
			if _, got, _ := reg.Manifest(repoName, opts.Tag); !bytes.Equal(got, next) {
				t.Error("the tag does not hold the pushed index")
			}
		})
	}
}

// TestFetchTagged: HEAD first (no pull quota, and a 404 ends it), then GET; the
// ETag is returned for a conditional update (distribution-spec v1.1.1, Referrers Tag Schema).
func TestFetchTagged(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{})
	desc, data := seedImage(t, reg, repoName, "v1")
	reg.ResetRequests()
	repo := repoAt(t, newClient(), reg.Host(), repoName)

	got, err := repo.FetchTagged(t.Context(), "v1")
	if err != nil {
		t.Fatalf("FetchTagged: %v", err)
	}
	if got.Descriptor.Digest != desc.Digest || got.Descriptor.MediaType != desc.MediaType || got.Descriptor.Size != desc.Size {
		t.Errorf("Descriptor = %+v, want %+v", got.Descriptor, desc)
	}
	if !bytes.Equal(got.Data, data) {
		t.Errorf("Data = %q, want %q", got.Data, data)
	}
	if got, want := got.ETag, `"`+desc.Digest.String()+`"`; got != want {
		t.Errorf("ETag = %q, want %q", got, want)
	}
	want := []string{"GET /v2/" + repoName + "/manifests/v1"} // one round trip
	if got := methods(reg.Requests()); !slices.Equal(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
	for _, q := range reg.Requests() {
		if !strings.Contains(q.Header.Get("Accept"), ocispec.MediaTypeImageIndex) {
			t.Errorf("%s %s: Accept %q lacks the index type", q.Method, q.Path, q.Header.Get("Accept"))
		}
	}

	reg.ResetRequests()
	if _, err := repo.FetchTagged(t.Context(), "sha256-missing"); !errors.Is(err, target.ErrNotFound) {
		t.Errorf("FetchTagged(missing) = %v, want ErrNotFound", err) // distribution-spec v1.1.1, Referrers Tag Schema
	}
	if got, want := methods(reg.Requests()), []string{"GET /v2/" + repoName + "/manifests/sha256-missing"}; !slices.Equal(got, want) {
		t.Errorf("requests for a missing tag = %v, want %v", got, want)
	}
}

// TestFetchTaggedResolvesToSubject: GitLab answers the schema tag with the
// subject itself; FetchTagged reports what it got (the verbs reject it,
// distribution-spec v1.1.1, Referrers Tag Schema).
func TestFetchTaggedResolvesToSubject(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{TagResolvesToSubject: true})
	subject, _ := seedImage(t, reg, repoName, "v1")
	repo := repoAt(t, newClient(), reg.Host(), repoName)
	got, err := repo.FetchTagged(t.Context(), "sha256-"+subject.Digest.Encoded())
	if err != nil {
		t.Fatalf("FetchTagged: %v", err)
	}
	if got.Descriptor.Digest != subject.Digest || got.Descriptor.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("Descriptor = %+v, want the subject %+v", got.Descriptor, subject)
	}
}

func TestDeleteManifest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mode    fakeregistry.Mode
		missing bool
		want    error
	}{
		{name: "deleted", mode: fakeregistry.Mode{}},                                                          // distribution-spec v1.1.1, Deleting Manifests
		{name: "delete disabled", mode: fakeregistry.Mode{DeleteDisabled: true}, want: target.ErrUnsupported}, // distribution-spec v1.1.1, Referrers Tag Schema and Deleting Manifests
		{name: "missing", mode: fakeregistry.Mode{}, missing: true, want: target.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, tt.mode)
			desc, _ := seedImage(t, reg, repoName, "v1")
			d := desc.Digest
			if tt.missing {
				d = digest.FromString("missing")
			}
			repo := repoAt(t, newClient(), reg.Host(), repoName)
			err := repo.DeleteManifest(t.Context(), d)
			_, _, stored := reg.Manifest(repoName, desc.Digest.String())
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("DeleteManifest = %v, want errors.Is %q", err, tt.want)
				}
				if !stored {
					t.Error("the manifest is gone although the delete failed")
				}
				return
			}
			if err != nil {
				t.Fatalf("DeleteManifest: %v", err)
			}
			if stored {
				t.Error("the manifest is still stored")
			}
		})
	}
}

// TestPushBlob: an existing blob is only HEADed; a missing one is uploaded with
// POST then PUT; content that does not match the descriptor aborts the upload.
func TestPushBlob(t *testing.T) {
	t.Parallel()
	content := []byte("layer content")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(content), Size: int64(len(content))}
	tests := []struct {
		name      string
		exists    bool
		body      []byte
		want      error
		mayStore  bool     // on error, the registry may hold the blob
		wantCalls []string // methods sent, in order
	}{
		{name: "exists", exists: true, body: content, wantCalls: []string{"HEAD"}},
		{name: "missing", body: content, wantCalls: []string{"HEAD", "POST", "PUT"}},
		{name: "same length, other content", body: []byte("LAYER content"), want: target.ErrDigestMismatch},
		{name: "shorter", body: content[:5], want: target.ErrDigestMismatch},
		// The transport sends Content-Length bytes (here the right blob) before
		// it finds the extra ones; the registry, which checks the digest, may
		// keep them, but the caller still learns its reader was wrong.
		{name: "longer", body: append(append([]byte{}, content...), "!!"...), want: target.ErrDigestMismatch, mayStore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, fakeregistry.Mode{})
			if tt.exists {
				reg.PutBlob(repoName, content)
			}
			reg.ResetRequests()
			repo := repoAt(t, newClient(), reg.Host(), repoName)
			// A plain io.Reader (not a Seeker): the content streams once.
			err := repo.PushBlob(t.Context(), desc, struct{ io.Reader }{bytes.NewReader(tt.body)})
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("PushBlob = %v, want errors.Is %q", err, tt.want)
				}
				if !tt.mayStore && reg.HasBlob(repoName, desc.Digest) {
					t.Error("the registry stored the blob")
				}
				return
			}
			if err != nil {
				t.Fatalf("PushBlob: %v", err)
			}
			var got []string
			for _, q := range reg.Requests() {
				got = append(got, q.Method)
			}
			if !slices.Equal(got, tt.wantCalls) {
				t.Errorf("requests = %v, want methods %v", methods(reg.Requests()), tt.wantCalls)
			}
			if !reg.HasBlob(repoName, desc.Digest) {
				t.Error("the registry does not hold the blob")
			}
		})
	}
}

// TestResolve returns the exact descriptor of a tag or digest (image-spec v1.1.1, Guidelines for Artifact Usage).
func TestResolve(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{})
	desc, _ := seedImage(t, reg, repoName, "v1")
	repo := repoAt(t, newClient(), reg.Host(), repoName)
	tests := []struct {
		name      string
		reference string
		want      error
	}{
		{"tag", "v1", nil},
		{"digest", desc.Digest.String(), nil},
		{"missing tag", "v2", target.ErrNotFound},
		{"missing digest", digest.FromString("x").String(), target.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := repo.Resolve(t.Context(), tt.reference)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Resolve = %v, want errors.Is %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.MediaType != desc.MediaType || got.Digest != desc.Digest || got.Size != desc.Size {
				t.Errorf("Resolve(%q) = %+v, want %+v", tt.reference, got, desc)
			}
		})
	}
}

// TestResolveWithoutHeaders: a registry whose HEAD lacks the digest falls
// back to a GET and computes it.
func TestResolveWithoutHeaders(t *testing.T) {
	t.Parallel()
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json") // wrong: the body's mediaType wins
		if r.Method == http.MethodHead {
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	repo := repoAt(t, newClient(), strings.TrimPrefix(srv.URL, "http://"), repoName)
	got, err := repo.Resolve(t.Context(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	want := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(body), Size: int64(len(body))}
	if got.MediaType != want.MediaType || got.Digest != want.Digest || got.Size != want.Size {
		t.Errorf("Resolve = %+v, want %+v", got, want)
	}
}

// TestResolveDigestMismatch: a registry answering a digest reference with
// another digest is refused.
func TestResolveDigestMismatch(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Content-Digest", digest.FromString("other").String())
		w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
		w.Header().Set("Content-Length", "10")
	}))
	t.Cleanup(srv.Close)
	repo := repoAt(t, newClient(), strings.TrimPrefix(srv.URL, "http://"), repoName)
	if _, err := repo.Resolve(t.Context(), digest.FromString("asked").String()); !errors.Is(err, target.ErrDigestMismatch) {
		t.Errorf("Resolve = %v, want ErrDigestMismatch", err)
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	repo := repoAt(t, New(), "registry.example:5000", "a/b")
	if got, want := repo.Name(), "registry.example:5000/a/b"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
}
