package referrers

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/registry"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestAttachRequestSequence pins the exact requests of attaching one file, so
// that a redundant request shows up as a failing diff. Each sequence is the
// minimal set for its case:
//
//   - resolve the subject: one HEAD (the registry gives digest, type and size);
//   - each blob (the empty config, the file): HEAD, and when missing POST + PUT
//     (a monolithic upload); a blob already there costs only the HEAD; the
//     blobs go up at the same time, so their requests are compared as a
//     multiset (sortBlobRuns);
//   - the manifest: one PUT by digest;
//   - API: one referrers GET to confirm the OCI-Subject header, once per Client
//     and repository (distribution-spec v1.1.1, Unavailable Referrers API and Pushing Manifests with Subject);
//   - tag schema: HEAD the tag (a 404 ends the read without a GET, which counts
//     against pull quotas), else GET it; the first update of a Client probes
//     with an If-Match no index has, as only a 412 proves that conditions are
//     honoured; the PUT; and a HEAD to verify that the tag holds our index.
func TestAttachRequestSequence(t *testing.T) {
	t.Parallel()
	const (
		resolve   = "HEAD /v2/repo/manifests/v1 200"
		blobNew   = "HEAD /v2/repo/blobs/<digest> 404|POST /v2/repo/blobs/uploads/ 202|PUT /v2/repo/blobs/uploads/<upload>?digest 201"
		blobThere = "HEAD /v2/repo/blobs/<digest> 200"
		manifest  = "PUT /v2/repo/manifests/<digest> 201"
		confirm   = "GET /v2/repo/referrers/<subject>?artifactType 200"
		tagNone   = "GET /v2/repo/manifests/<tag> 404"
		tagRead   = "GET /v2/repo/manifests/<tag> 200"
		verify    = "HEAD /v2/repo/manifests/<tag> 200"
	)
	seq := func(parts ...string) []string { return strings.Split(strings.Join(parts, "|"), "|") }
	noAPI := fakeregistry.ReferrersNotFoundText
	for _, tc := range []struct {
		name   string
		mode   fakeregistry.Mode
		first  []string // the first attach of a Client
		second []string // a second attach (another file) with the same Client
	}{
		{
			name:   "API",
			mode:   fakeregistry.Mode{},
			first:  seq(resolve, blobNew, blobNew, manifest, confirm),
			second: seq(resolve, blobThere, blobNew, manifest),
		},
		{
			name: "tag schema, conditions honoured",
			mode: fakeregistry.Mode{Referrers: noAPI, ETag: fakeregistry.ETagHonoured},
			first: seq(resolve, blobNew, blobNew, manifest, tagNone,
				"PUT /v2/repo/manifests/<tag> If-Match=probe 412",
				"PUT /v2/repo/manifests/<tag> If-None-Match=* 201",
				verify),
			second: seq(resolve, blobThere, blobNew, manifest, tagRead,
				"PUT /v2/repo/manifests/<tag> If-Match=etag 201",
				verify),
		},
		{
			name: "tag schema, conditions ignored (distribution)",
			mode: fakeregistry.Mode{Referrers: noAPI, ETag: fakeregistry.ETagIgnored},
			first: seq(resolve, blobNew, blobNew, manifest, tagNone,
				"PUT /v2/repo/manifests/<tag> If-Match=probe 201", // lands as a plain push
				verify),
			second: seq(resolve, blobThere, blobNew, manifest, tagRead,
				"PUT /v2/repo/manifests/<tag> 201",
				verify),
		},
		{
			name: "tag schema, conditions rejected",
			mode: fakeregistry.Mode{Referrers: noAPI, ETag: fakeregistry.ETagRejected},
			first: seq(resolve, blobNew, blobNew, manifest, tagNone,
				"PUT /v2/repo/manifests/<tag> If-Match=probe 400",
				"PUT /v2/repo/manifests/<tag> 201",
				verify),
			second: seq(resolve, blobThere, blobNew, manifest, tagRead,
				"PUT /v2/repo/manifests/<tag> 201",
				verify),
		},
		{
			name: "tag schema, OCI-Subject without the API",
			mode: fakeregistry.Mode{Referrers: noAPI, SubjectHeaderWithoutAPI: true},
			first: seq(resolve, blobNew, blobNew, manifest,
				"GET /v2/repo/referrers/<subject>?artifactType 404", tagNone,
				"PUT /v2/repo/manifests/<tag> If-Match=probe 412",
				"PUT /v2/repo/manifests/<tag> If-None-Match=* 201",
				verify),
			second: seq(resolve, blobThere, blobNew, manifest, tagRead,
				"PUT /v2/repo/manifests/<tag> If-Match=etag 201",
				verify),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.mode)
			repo := w.repo(t)
			c := New()
			// With the default guard (5 ms), a read slowed down by -race and
			// the parallel tests is (rightly) confirmed by a HEAD before a
			// plain push (see fresh), a request this test is not about.
			c.guard = 50 * time.Millisecond
			// The reads that watch a slow push (pushWatched) depend on
			// timing; this test pins the sequence of a fast one.
			c.watchEvery = time.Hour
			for i, want := range [][]string{tc.first, tc.second} {
				w.fake.ResetRequests()
				subject, err := ResolveSubject(ctxT(t), repo, "v1", "")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Attach(ctxT(t), repo, subject, artifact(typeSig, []string{"first", "second"}[i], nil), AttachOptions{}); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, q := range w.fake.Requests() {
					got = append(got, describe(q, w))
				}
				if !slices.Equal(sortBlobRuns(got), sortBlobRuns(want)) {
					t.Errorf("attach %d: requests\n  %s\nwant\n  %s", i+1, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
			}
		})
	}
}

// sortBlobRuns returns lines with each run of blob requests sorted: blobs
// are pushed concurrently, and only the order around them is fixed.
func sortBlobRuns(lines []string) []string {
	out := slices.Clone(lines)
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && strings.Contains(out[j], "/blobs/") {
			j++
		}
		slices.Sort(out[i:j])
		i = max(j, i+1)
	}
	return out
}

// describe is reqLine with the conditional headers of a PUT.
func describe(q fakeregistry.Request, w *world) string {
	line := reqLine(q, w.subject.Digest)
	method, rest, _ := strings.Cut(line, " ")
	path, status, _ := strings.Cut(rest, " ")
	var cond []string
	switch im := q.Header.Get("If-Match"); {
	case im == probeETag:
		cond = append(cond, "If-Match=probe")
	case im != "":
		cond = append(cond, "If-Match=etag")
	}
	if inm := q.Header.Get("If-None-Match"); inm != "" {
		cond = append(cond, "If-None-Match="+inm)
	}
	return strings.Join(append(append([]string{method, path}, cond...), status), " ")
}

// TestAttachBlobsConcurrently: a registry gets the config and the file at the
// same time (each blob's HEAD waits until the other's has arrived), a tree
// one after the other (TestHostileLayout: a blob the tree refuses stops the
// attach before the next is written).
func TestAttachBlobsConcurrently(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{})
	both := make(chan struct{})
	var mu sync.Mutex
	heads := 0
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method == http.MethodHead && strings.Contains(req.URL.Path, "/blobs/") {
			mu.Lock()
			if heads++; heads == 2 {
				close(both)
			}
			mu.Unlock()
			select {
			case <-both:
			case <-time.After(5 * time.Second):
				return nil, errors.New("the other blob's HEAD did not come: blobs pushed one by one")
			}
		}
		return http.DefaultTransport.RoundTrip(req)
	})
	r, err := ref.Parse(w.fake.Host() + "/" + testRepo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	repo := registry.New(registry.WithPlainHTTP(true), registry.WithHTTPClient(&http.Client{Transport: rt})).Repository(r)
	if _, err := New(WithSettle(fastSettle)).Attach(ctxT(t), repo, w.subject, artifact(typeSig, "concurrent", nil), AttachOptions{}); err != nil {
		t.Fatal(err)
	}
	if heads != 2 {
		t.Errorf("%d blob HEADs, want 2", heads)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
