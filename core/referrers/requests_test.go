package referrers

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestAttachRequestSequence pins the exact requests of attaching one file, so
// that a redundant request shows up as a failing diff. Each sequence is the
// minimal set for its case:
//
//   - resolve the subject: one HEAD (the registry gives digest, type and size);
//   - each blob (the empty config, the file): HEAD, and when missing POST + PUT
//     (a monolithic upload); a blob already there costs only the HEAD;
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
				if !slices.Equal(got, want) {
					t.Errorf("attach %d: requests\n  %s\nwant\n  %s", i+1, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
			}
		})
	}
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
