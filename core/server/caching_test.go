package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	ccImmutable = "public, max-age=31536000, immutable"
	ccShort     = "public, max-age=10"
)

// pulled is a fixture with one image (tagged v1 and v2, config and layer
// blobs) and two referrers of different artifact types.
type pulled struct {
	*fixture
	subject, layer, referrer digest.Digest
}

func newPulled(t *testing.T, opts ...Option) *pulled {
	t.Helper()
	f := newFixture(t, append([]Option{WithAllowPush(true)}, opts...)...)
	f.pushBlob("app", []byte("{}"))
	layer := f.pushBlob("app", []byte("subject"))
	subject := image("subject", nil, "")
	f.pushManifest("app", "v1", subject)
	f.pushManifest("app", "v2", subject)
	var ref digest.Digest
	for i, at := range []string{"application/vnd.example.a", "application/vnd.example.b"} {
		m := image(fmt.Sprint("r", i), subjectOf(subject), at)
		ref = digest.FromBytes(m)
		f.pushManifest("app", ref.String(), m)
	}
	return &pulled{fixture: f, subject: digest.FromBytes(subject), layer: layer, referrer: ref}
}

// Every GET and HEAD a pull makes carries the Cache-Control of its kind and
// an ETag, and is 304 for a matching If-None-Match.
func TestCacheHeaders(t *testing.T) {
	t.Parallel()
	p := newPulled(t)
	quoted := func(d digest.Digest) string { return `"` + d.String() + `"` }
	cases := []struct {
		name, path string
		cc         string
		etag       string // "" for a hash of the answer
		link       bool
	}{
		{"blob", "/v2/app/blobs/" + p.layer.String(), ccImmutable, quoted(p.layer), false},
		{"manifest by digest", "/v2/app/manifests/" + p.subject.String(), ccImmutable, quoted(p.subject), false},
		{"referrer manifest", "/v2/app/manifests/" + p.referrer.String(), ccImmutable, quoted(p.referrer), false},
		{"manifest by tag", "/v2/app/manifests/v1", ccShort, quoted(p.subject), false},
		{"tags list", "/v2/app/tags/list", ccShort, "", false},
		{"tags page", "/v2/app/tags/list?n=1", ccShort, "", true},
		{"tags last page", "/v2/app/tags/list?n=1&last=v1", ccShort, "", false},
		{"referrers", "/v2/app/referrers/" + p.subject.String(), ccShort, "", false},
		{"referrers page", "/v2/app/referrers/" + p.subject.String() + "?n=1", ccShort, "", true},
		{"referrers filtered", "/v2/app/referrers/" + p.subject.String() + "?artifactType=application/vnd.example.b", ccShort, "", false},
		{"referrers of nothing", "/v2/app/referrers/" + p.layer.String(), ccShort, "", false},
		{"catalog", "/v2/_catalog", ccShort, "", false},
		{"version check", "/v2/", ccShort, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			get := p.do("GET", c.path, nil)
			p.want(get, http.StatusOK, "")
			etag := get.header.Get("ETag")
			if c.etag != "" && etag != c.etag {
				t.Errorf("ETag %q, want %q", etag, c.etag)
			}
			if c.etag == "" && etag != listETag(get.header.Get("Link"), get.body) {
				t.Errorf("ETag %q is not the hash of the answer", etag)
			}
			if got := get.header.Get("Link") != ""; got != c.link {
				t.Errorf("Link %q", get.header.Get("Link"))
			}
			for _, method := range []string{"GET", "HEAD"} {
				a := p.do(method, c.path, nil)
				p.want(a, http.StatusOK, "")
				if got, want := a.header.Get("Cache-Control"), c.cc; got != want {
					t.Errorf("%s: Cache-Control %q, want %q", method, got, want)
				}
				if got := a.header.Get("ETag"); got != etag {
					t.Errorf("%s: ETag %q, want %q", method, got, etag)
				}
				if got := a.header.Values("Vary"); len(got) != 0 {
					t.Errorf("%s: Vary %q", method, got)
				}
				if got := a.header.Get("Last-Modified"); got != "" {
					t.Errorf("%s: Last-Modified %q", method, got)
				}
				for _, inm := range []struct {
					value string
					want  int
				}{
					{etag, http.StatusNotModified},
					{"W/" + etag, http.StatusNotModified},
					{"*", http.StatusNotModified},
					{`"other", ` + etag, http.StatusNotModified},
					{`W/"other",` + "W/" + etag + `, "x"`, http.StatusNotModified},
					{`nonsense, ` + etag, http.StatusNotModified},
					{`"other"`, http.StatusOK},
					{`W/"other", "x"`, http.StatusOK},
					{strings.Trim(etag, `"`), http.StatusOK}, // not quoted: no entity tag
					{"", http.StatusOK},
				} {
					a := p.do(method, c.path, nil, "If-None-Match", inm.value)
					if a.status != inm.want {
						t.Errorf("%s If-None-Match %s: %d, want %d", method, inm.value, a.status, inm.want)
						continue
					}
					if a.status != http.StatusNotModified {
						continue
					}
					if len(a.body) != 0 || a.header.Get("ETag") != etag || a.header.Get("Cache-Control") != c.cc {
						t.Errorf("%s If-None-Match %s: 304 with ETag %q, Cache-Control %q, %d bytes", method, inm.value, a.header.Get("ETag"), a.header.Get("Cache-Control"), len(a.body))
					}
				}
			}
		})
	}
	// two If-None-Match fields are one list (RFC 9110, 5.3 Field Order)
	a := p.do("GET", cases[0].path, nil, "If-None-Match", `"x"`, "If-None-Match", cases[0].etag)
	p.want(a, http.StatusNotModified, "")
	// a Range request of a blob: partial content is immutable too
	a = p.do("GET", cases[0].path, nil, "Range", "bytes=0-2")
	p.want(a, http.StatusPartialContent, "")
	if a.header.Get("Cache-Control") != ccImmutable || string(a.body) != "sub" {
		t.Errorf("range: %q %q", a.header.Get("Cache-Control"), a.body)
	}
}

// Errors, uploads, pushes and deletes are never stored; a conditional GET of
// what does not exist is its error, not 304.
func TestCacheNoStore(t *testing.T) {
	t.Parallel()
	p := newPulled(t, WithMaxUploads(1))
	missing := digest.FromString("missing").String()
	cases := []struct {
		name, method, path string
		hdr                []string
		status             int
	}{
		{"unknown blob", "GET", "/v2/app/blobs/" + missing, nil, http.StatusNotFound},
		{"unknown blob HEAD", "HEAD", "/v2/app/blobs/" + missing, nil, http.StatusNotFound},
		{"unknown blob, conditional", "GET", "/v2/app/blobs/" + missing, []string{"If-None-Match", "*"}, http.StatusNotFound},
		{"unknown manifest", "GET", "/v2/app/manifests/" + missing, []string{"If-None-Match", `"` + missing + `"`}, http.StatusNotFound},
		{"unknown tag", "HEAD", "/v2/app/manifests/nope", nil, http.StatusNotFound},
		{"unknown repository", "GET", "/v2/nope/tags/list", nil, http.StatusNotFound},
		{"bad digest", "GET", "/v2/app/referrers/sha256:zz", nil, http.StatusBadRequest},
		{"bad method", "POST", "/v2/app/tags/list", nil, http.StatusMethodNotAllowed},
		{"no endpoint", "GET", "/v2/app/nothing", nil, http.StatusNotFound},
		{"range not satisfiable", "GET", "/v2/app/blobs/" + p.layer.String(), []string{"Range", "bytes=100-200"}, http.StatusRequestedRangeNotSatisfiable},
		{"delete refused", "DELETE", "/v2/app/manifests/v1", nil, http.StatusMethodNotAllowed},
		{"upload started", "POST", "/v2/app/blobs/uploads/", nil, http.StatusAccepted},
		{"too many uploads", "POST", "/v2/app/blobs/uploads/", nil, http.StatusTooManyRequests},
	}
	for _, c := range cases { // in order: the uploads count
		a := p.do(c.method, c.path, nil, c.hdr...)
		if a.status != c.status {
			t.Errorf("%s: %d, want %d", c.name, a.status, c.status)
		}
		if got := a.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", c.name, got)
		}
		if got := a.header.Get("ETag"); got != "" {
			t.Errorf("%s: ETag %q", c.name, got)
		}
	}
	push := p.pushManifest("app", "v3", image("other", nil, ""))
	blob := p.do("POST", "/v2/other/blobs/uploads/?mount="+p.layer.String()+"&from=app", nil)
	p.want(blob, http.StatusCreated, "")
	for name, a := range map[string]answer{"push": push, "mount": blob} {
		if got := a.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q", name, got)
		}
	}
	tok := newFixture(t, WithToken("s3cret"))
	a := tok.do("POST", "/v2/app/blobs/uploads/", nil)
	tok.want(a, http.StatusUnauthorized, codeUnauthorized)
	if got := a.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("401: Cache-Control %q", got)
	}
}

type allowAll struct{}

func (allowAll) Authorize(*http.Request, Access) error { return nil }
func (allowAll) Challenge() string                     { return "" }

// Which answers are public, and for how long tags and lists are fresh.
func TestCachePolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name             string
		opts             []Option
		byDigest, byTag  string
		vary, noStoreErr string
	}{
		{"defaults", nil, ccImmutable, ccShort, "", "no-store"},
		{"max-age", []Option{WithCacheMaxAge(90 * time.Second)}, ccImmutable, "public, max-age=90", "", "no-store"},
		{"max-age rounded down", []Option{WithCacheMaxAge(1500 * time.Millisecond)}, ccImmutable, "public, max-age=1", "", "no-store"},
		{"max-age 0", []Option{WithCacheMaxAge(0)}, ccImmutable, "public, no-cache", "", "no-store"},
		{"max-age under a second", []Option{WithCacheMaxAge(time.Millisecond)}, ccImmutable, "public, no-cache", "", "no-store"},
		{"negative max-age keeps the default", []Option{WithCacheMaxAge(-time.Second)}, ccImmutable, ccShort, "", "no-store"},
		{"token: pulls stay anonymous", []Option{WithToken("s3cret")}, ccImmutable, ccShort, "", "no-store"},
		{"authorizer", []Option{WithAuthorizer(allowAll{})}, "private, max-age=31536000, immutable", "private, max-age=10", "Authorization", "no-store"},
		{"authorizer, public reads", []Option{WithAuthorizer(allowAll{}), WithPublicReads(true)}, ccImmutable, ccShort, "", "no-store"},
		{"built-in, private reads", []Option{WithPublicReads(false), WithCacheMaxAge(0)}, "private, max-age=31536000, immutable", "private, no-cache", "Authorization", "no-store"},
		{"off", []Option{WithCacheHeaders(false)}, "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newPulled(t, c.opts...)
			for _, r := range []struct{ path, cc, etag string }{
				{"/v2/app/manifests/" + p.subject.String(), c.byDigest, `"` + p.subject.String() + `"`},
				{"/v2/app/blobs/" + p.layer.String(), c.byDigest, `"` + p.layer.String() + `"`},
				{"/v2/app/manifests/v1", c.byTag, `"` + p.subject.String() + `"`},
				{"/v2/app/referrers/" + p.subject.String(), c.byTag, ""},
				{"/v2/app/tags/list", c.byTag, ""},
			} {
				a := p.do("GET", r.path, nil)
				p.want(a, http.StatusOK, "")
				etag := a.header.Get("ETag")
				if got, want := a.header.Get("Cache-Control"), r.cc; got != want {
					t.Errorf("%s: Cache-Control %q, want %q", r.path, got, want)
				}
				if got := a.header.Get("Vary"); got != c.vary {
					t.Errorf("%s: Vary %q, want %q", r.path, got, c.vary)
				}
				if r.etag != "" && etag != r.etag {
					t.Errorf("%s: ETag %q, want %q", r.path, etag, r.etag)
				}
				// conditional requests work with the headers off too
				p.want(p.do("GET", r.path, nil, "If-None-Match", etag), http.StatusNotModified, "")
			}
			a := p.do("GET", "/v2/app/manifests/nope", nil)
			if got := a.header.Get("Cache-Control"); got != c.noStoreErr {
				t.Errorf("404: Cache-Control %q, want %q", got, c.noStoreErr)
			}
		})
	}
}

// A list's ETag says what the list says: it changes when a referrer is
// pushed, and two servers over one tree give the same one.
func TestListETag(t *testing.T) {
	t.Parallel()
	p := newPulled(t)
	other, err := New(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(other)
	t.Cleanup(func() { ts.Close(); other.Close() })
	q := &fixture{t: t, dir: p.dir, s: other, url: ts.URL}
	path := "/v2/app/referrers/" + p.subject.String()
	for _, query := range []string{"", "?n=1", "?artifactType=application/vnd.example.a"} {
		a, b := p.do("GET", path+query, nil), q.do("GET", path+query, nil)
		if a.header.Get("ETag") != b.header.Get("ETag") || string(a.body) != string(b.body) {
			t.Errorf("%q: two servers answer %q %s and %q %s", query, a.header.Get("ETag"), a.body, b.header.Get("ETag"), b.body)
		}
	}
	before := p.do("GET", path, nil).header.Get("ETag")
	m := image("r-new", subjectOf(image("subject", nil, "")), "application/vnd.example.a")
	p.pushManifest("app", digest.FromBytes(m).String(), m)
	var etags []string
	for _, f := range []*fixture{p.fixture, q} {
		a := f.do("GET", path, nil, "If-None-Match", before)
		f.want(a, http.StatusOK, "")
		if a.header.Get("ETag") == before {
			t.Errorf("ETag %s unchanged after a push", before)
		}
		if idx, _ := f.referrers("app", p.subject, ""); len(idx.Manifests) != 3 {
			t.Errorf("%d referrers after the push, want 3", len(idx.Manifests))
		}
		etags = append(etags, a.header.Get("ETag"))
	}
	if etags[0] != etags[1] {
		t.Errorf("after the push the servers answer ETags %q", etags)
	}
}
