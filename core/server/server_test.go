package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fixture is a server on a temp tree, spoken to over loopback HTTP.
type fixture struct {
	t   *testing.T
	dir string
	s   *Server
	url string
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	dir := t.TempDir()
	s, err := New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return &fixture{t: t, dir: dir, s: s, url: ts.URL}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) code() string {
	var b errorBody
	if json.Unmarshal(a.body, &b) != nil || len(b.Errors) == 0 {
		return ""
	}
	return b.Errors[0].Code
}

func (f *fixture) do(method, path string, body []byte, hdr ...string) answer {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, f.url+path, r)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (f *fixture) want(a answer, status int, code string) {
	f.t.Helper()
	if a.status != status || (code != "" && a.code() != code) {
		f.t.Fatalf("got %d %s (%s), want %d %s", a.status, a.code(), a.body, status, code)
	}
}

// pushBlob uploads b monolithically and returns its digest.
func (f *fixture) pushBlob(repo string, b []byte) digest.Digest {
	f.t.Helper()
	d := digest.FromBytes(b)
	f.want(f.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b), http.StatusCreated, "")
	return d
}

// image returns a small image manifest, with subject when not nil.
func image(seed string, subject *ocispec.Descriptor, artifactType string) []byte {
	cfg := []byte("{}")
	layer := []byte(seed)
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     ocispec.MediaTypeImageManifest,
		"config":        ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(cfg), Size: 2},
		"layers":        []ocispec.Descriptor{{MediaType: "application/octet-stream", Digest: digest.FromBytes(layer), Size: int64(len(layer))}},
	}
	if artifactType != "" {
		m["artifactType"] = artifactType
	}
	if subject != nil {
		m["subject"] = subject
	}
	b, _ := json.Marshal(m)
	return b
}

func (f *fixture) pushManifest(repo, ref string, m []byte) answer {
	f.t.Helper()
	a := f.do("PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type", ocispec.MediaTypeImageManifest)
	f.want(a, http.StatusCreated, "")
	return a
}

func subjectOf(m []byte) *ocispec.Descriptor {
	return &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
}

func (f *fixture) referrers(repo string, d digest.Digest, query string) (ocispec.Index, answer) {
	f.t.Helper()
	a := f.do("GET", "/v2/"+repo+"/referrers/"+d.String()+query, nil)
	f.want(a, http.StatusOK, "")
	var idx ocispec.Index
	if err := json.Unmarshal(a.body, &idx); err != nil {
		f.t.Fatalf("referrers answer: %v: %s", err, a.body)
	}
	return idx, a
}

func TestAccess(t *testing.T) {
	t.Parallel()
	m := image("a", nil, "")
	cases := []struct {
		name   string
		opts   []Option
		hdr    []string
		status int
		code   string
		chall  string
	}{
		{"read-only by default", nil, nil, http.StatusMethodNotAllowed, codeUnsupported, ""},
		{"allow push", []Option{WithAllowPush(true)}, nil, http.StatusCreated, "", ""},
		{"token missing", []Option{WithToken("s3cret")}, nil, http.StatusUnauthorized, codeUnauthorized, `Basic realm="referrers"`},
		{"token wrong", []Option{WithToken("s3cret")}, []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized, codeUnauthorized, `Basic realm="referrers"`},
		{"token bearer", []Option{WithToken("s3cret")}, []string{"Authorization", "Bearer s3cret"}, http.StatusCreated, "", ""},
		{"token basic", []Option{WithToken("s3cret")}, []string{"Authorization", "Basic " + basic("anyone", "s3cret")}, http.StatusCreated, "", ""},
		{"delete allowed is not push", []Option{WithAllowDelete(true)}, nil, http.StatusMethodNotAllowed, codeUnsupported, ""},
		{"authorizer denies", []Option{WithAllowPush(true), WithAuthorizer(denyAll{})}, nil, http.StatusForbidden, codeDenied, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c.opts...)
			hdr := append([]string{"Content-Type", ocispec.MediaTypeImageManifest}, c.hdr...)
			a := f.do("PUT", "/v2/app/manifests/v1", m, hdr...)
			f.want(a, c.status, c.code)
			if got := a.header.Get("WWW-Authenticate"); got != c.chall {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.chall)
			}
			// pulls stay anonymous, and a refused push stored nothing
			want := http.StatusNotFound
			switch {
			case c.code == codeDenied:
				want = http.StatusForbidden
			case c.status == http.StatusCreated:
				want = http.StatusOK
			}
			f.want(f.do("GET", "/v2/app/manifests/v1", nil), want, "")
		})
	}
}

func basic(user, pw string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pw)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

type denyAll struct{}

func (denyAll) Authorize(*http.Request, Access) error { return ErrDenied }
func (denyAll) Challenge() string                     { return "" }

func TestChunkedUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true))
	data := bytes.Repeat([]byte("0123456789"), 300)
	d := digest.FromBytes(data)
	a := f.do("POST", "/v2/app/blobs/uploads/", nil)
	f.want(a, http.StatusAccepted, "")
	loc := a.header.Get("Location")
	// an out-of-order chunk is 416 and changes nothing
	a = f.do("PATCH", loc, data[1000:2000], "Content-Range", "1000-1999")
	f.want(a, http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid)
	a = f.do("PATCH", loc, data[:1000], "Content-Range", "0-999")
	f.want(a, http.StatusAccepted, "")
	if got := a.header.Get("Range"); got != "0-999" {
		t.Errorf("Range %q after 1000 bytes", got)
	}
	a = f.do("GET", loc, nil)
	f.want(a, http.StatusNoContent, "")
	if got := a.header.Get("Range"); got != "0-999" {
		t.Errorf("status Range %q", got)
	}
	// a streamed chunk (no Content-Range), then the last chunk with the PUT,
	// first out of order (416, the session goes on)
	f.want(f.do("PATCH", loc, data[1000:2000]), http.StatusAccepted, "")
	a = f.do("PUT", loc+"?digest="+d.String(), data[2100:], "Content-Range", "2100-2999")
	f.want(a, http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid)
	if got := a.header.Get("Range"); got != "0-1999" {
		t.Errorf("Range %q after a 416 PUT", got)
	}
	a = f.do("PUT", loc+"?digest="+d.String(), data[2000:], "Content-Range", "2000-2999")
	f.want(a, http.StatusCreated, "")
	if a.header.Get("Docker-Content-Digest") != d.String() || a.header.Get("Location") != "/v2/app/blobs/"+d.String() {
		t.Errorf("headers %v", a.header)
	}
	a = f.do("GET", "/v2/app/blobs/"+d.String(), nil)
	f.want(a, http.StatusOK, "")
	if !bytes.Equal(a.body, data) {
		t.Error("blob read back differs")
	}
	// the session is over
	f.want(f.do("GET", loc, nil), http.StatusNotFound, codeBlobUploadUnknown)
	// a Range request
	a = f.do("GET", "/v2/app/blobs/"+d.String(), nil, "Range", "bytes=10-19")
	f.want(a, http.StatusPartialContent, "")
	if string(a.body) != "0123456789" {
		t.Errorf("range body %q", a.body)
	}
}

func TestUploadErrors(t *testing.T) {
	t.Parallel()
	data := []byte("some blob content")
	d := digest.FromBytes(data)
	t.Run("wrong digest", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, WithAllowPush(true))
		wrong := digest.FromString("other")
		f.want(f.do("POST", "/v2/app/blobs/uploads/?digest="+wrong.String(), data), http.StatusBadRequest, codeDigestInvalid)
		f.want(f.do("HEAD", "/v2/app/blobs/"+wrong.String(), nil), http.StatusNotFound, "")
		f.noUploads()
	})
	t.Run("malformed digest", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, WithAllowPush(true))
		f.want(f.do("POST", "/v2/app/blobs/uploads/?digest=sha256:xyz", data), http.StatusBadRequest, codeDigestInvalid)
		f.want(f.do("GET", "/v2/app/blobs/md5:abc", nil), http.StatusBadRequest, codeDigestInvalid)
	})
	t.Run("PUT without digest", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, WithAllowPush(true))
		loc := f.do("POST", "/v2/app/blobs/uploads/", nil).header.Get("Location")
		f.want(f.do("PUT", loc, data), http.StatusBadRequest, codeDigestInvalid)
	})
	t.Run("monolithic out of order", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, WithAllowPush(true))
		f.want(f.do("POST", "/v2/app/blobs/uploads/?digest="+d.String(), data, "Content-Range", "5-21"), http.StatusRequestedRangeNotSatisfiable, "")
		f.noUploads()
		if n := len(f.s.uploads); n != 0 {
			t.Errorf("%d sessions left", n)
		}
	})
	t.Run("over the size limit", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, WithAllowPush(true), WithMaxUploadBytes(10))
		loc := f.do("POST", "/v2/app/blobs/uploads/", nil).header.Get("Location")
		f.want(f.do("PATCH", loc, data), http.StatusRequestEntityTooLarge, codeSizeInvalid)
		f.want(f.do("GET", loc, nil), http.StatusNotFound, codeBlobUploadUnknown)
		f.want(f.do("POST", "/v2/app/blobs/uploads/?digest="+d.String(), data), http.StatusRequestEntityTooLarge, codeSizeInvalid)
		f.noUploads()
	})
	t.Run("too many sessions", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, WithAllowPush(true), WithMaxUploads(2))
		locs := []string{}
		for range 2 {
			a := f.do("POST", "/v2/app/blobs/uploads/", nil)
			f.want(a, http.StatusAccepted, "")
			locs = append(locs, a.header.Get("Location"))
		}
		f.want(f.do("POST", "/v2/app/blobs/uploads/", nil), http.StatusTooManyRequests, codeTooManyRequests)
		f.want(f.do("DELETE", locs[0], nil), http.StatusNoContent, "")
		f.want(f.do("POST", "/v2/app/blobs/uploads/", nil), http.StatusAccepted, "")
	})
	t.Run("session of another repository", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, WithAllowPush(true))
		loc := f.do("POST", "/v2/app/blobs/uploads/", nil).header.Get("Location")
		other := strings.Replace(loc, "/v2/app/", "/v2/other/", 1)
		f.want(f.do("PATCH", other, data), http.StatusNotFound, codeBlobUploadUnknown)
	})
	t.Run("idle sessions expire", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		now := time.Unix(1e9, 0)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		f := newFixture(t, WithAllowPush(true), WithUploadTTL(time.Hour), withClock(clock))
		loc := f.do("POST", "/v2/app/blobs/uploads/", nil).header.Get("Location")
		f.want(f.do("PATCH", loc, data[:4]), http.StatusAccepted, "")
		mu.Lock()
		now = now.Add(59 * time.Minute)
		mu.Unlock()
		f.s.expire()
		f.want(f.do("GET", loc, nil), http.StatusNoContent, "")
		mu.Lock()
		now = now.Add(61 * time.Minute)
		mu.Unlock()
		f.s.expire()
		f.want(f.do("GET", loc, nil), http.StatusNotFound, codeBlobUploadUnknown)
		f.noUploads()
	})
}

// noUploads checks that no upload data is left behind.
func (f *fixture) noUploads() {
	f.t.Helper()
	ents, err := os.ReadDir(filepath.Join(f.dir, uploadsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		f.t.Fatal(err)
	}
	if len(ents) != 0 {
		f.t.Errorf("%d upload files left", len(ents))
	}
}

func TestMount(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true))
	d := f.pushBlob("src", []byte("shared layer"))
	cases := []struct{ name, query string }{
		{"from", "?mount=" + d.String() + "&from=src"},
		{"anonymous", "?mount=" + d.String()},
	}
	for i, c := range cases {
		repo := fmt.Sprintf("dst%d", i)
		a := f.do("POST", "/v2/"+repo+"/blobs/uploads/"+c.query, nil)
		f.want(a, http.StatusCreated, "")
		f.want(f.do("GET", a.header.Get("Location"), nil), http.StatusOK, "")
	}
	// an unknown blob: an ordinary session
	missing := digest.FromString("nowhere")
	f.want(f.do("POST", "/v2/dst9/blobs/uploads/?mount="+missing.String()+"&from=src", nil), http.StatusAccepted, "")
	f.want(f.do("POST", "/v2/dst9/blobs/uploads/?mount="+d.String()+"&from=../etc", nil), http.StatusBadRequest, codeNameInvalid)
}

func TestManifests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true), WithAllowDelete(true))
	subject := image("subject", nil, "")
	f.pushManifest("app", "v1", subject)
	sd := digest.FromBytes(subject)

	a := f.do("HEAD", "/v2/app/manifests/v1", nil)
	f.want(a, http.StatusOK, "")
	if a.header.Get("Docker-Content-Digest") != sd.String() || a.header.Get("Content-Type") != ocispec.MediaTypeImageManifest ||
		a.header.Get("Content-Length") != fmt.Sprint(len(subject)) || a.header.Get("ETag") != `"`+sd.String()+`"` {
		t.Errorf("HEAD headers %v", a.header)
	}

	sig := image("sig", subjectOf(subject), "application/vnd.example.sig")
	sigd := digest.FromBytes(sig)
	a = f.do("PUT", "/v2/app/manifests/"+sigd.String()+"?tag=a&tag=b", sig, "Content-Type", ocispec.MediaTypeImageManifest)
	f.want(a, http.StatusCreated, "")
	if got := a.header.Get("OCI-Subject"); got != sd.String() {
		t.Errorf("OCI-Subject %q, want %q", got, sd)
	}
	if got := a.header.Values("OCI-Tag"); strings.Join(got, ",") != "a,b" {
		t.Errorf("OCI-Tag %q", got)
	}
	a = f.do("GET", "/v2/app/tags/list", nil)
	f.want(a, http.StatusOK, "")
	if got := string(a.body); got != `{"name":"app","tags":["a","b","v1"]}` {
		t.Errorf("tags %s", got)
	}

	bad := []struct {
		name, ref, ctype string
		body             []byte
		status           int
		code             string
	}{
		{"digest mismatch", digest.FromString("x").String(), ocispec.MediaTypeImageManifest, subject, 400, codeDigestInvalid},
		{"malformed digest", "sha256:baddigeststring", ocispec.MediaTypeImageManifest, subject, 400, codeDigestInvalid},
		{"bad tag", "-v1", ocispec.MediaTypeImageManifest, subject, 400, codeManifestInvalid},
		{"type mismatch", "v2", ocispec.MediaTypeImageIndex, subject, 400, codeManifestInvalid},
		{"not JSON", "v2", ocispec.MediaTypeImageManifest, []byte("nope"), 400, codeManifestInvalid},
		{"trailing data", "v2", ocispec.MediaTypeImageManifest, append(append([]byte{}, subject...), "{}"...), 400, codeManifestInvalid},
		{"schema 1", "v2", "", []byte(`{"schemaVersion":1,"mediaType":"x"}`), 400, codeManifestInvalid},
		{"no config", "v2", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2}`), 400, codeManifestInvalid},
		{"bad layer digest", "v2", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:abc","size":1}}`), 400, codeManifestInvalid},
		{"over 4 MiB", "v2", ocispec.MediaTypeImageManifest, bytes.Repeat([]byte(" "), 4<<20+1), 413, codeSizeInvalid},
	}
	for _, c := range bad {
		a := f.do("PUT", "/v2/app/manifests/"+c.ref, c.body, "Content-Type", c.ctype)
		if a.status != c.status || a.code() != c.code {
			t.Errorf("%s: got %d %s (%s), want %d %s", c.name, a.status, a.code(), a.body, c.status, c.code)
		}
	}
	f.want(f.do("GET", "/v2/app/manifests/v2", nil), http.StatusNotFound, codeManifestUnknown)

	// conditional pushes of a tag
	other := image("other", nil, "")
	f.want(f.do("PUT", "/v2/app/manifests/v1", other, "Content-Type", ocispec.MediaTypeImageManifest, "If-None-Match", "*"), http.StatusPreconditionFailed, "")
	f.want(f.do("PUT", "/v2/app/manifests/v1", other, "Content-Type", ocispec.MediaTypeImageManifest, "If-Match", `"`+digest.FromString("stale").String()+`"`), http.StatusPreconditionFailed, "")
	f.want(f.do("PUT", "/v2/app/manifests/v1", other, "Content-Type", ocispec.MediaTypeImageManifest, "If-Match", `"`+sd.String()+`"`), http.StatusCreated, "")

	// delete by digest: the manifest, its tags and its referrers entry go
	f.want(f.do("DELETE", "/v2/app/manifests/"+sigd.String(), nil), http.StatusAccepted, "")
	for _, p := range []string{sigd.String(), "a", "b"} {
		f.want(f.do("HEAD", "/v2/app/manifests/"+p, nil), http.StatusNotFound, "")
	}
	if idx, _ := f.referrers("app", sd, ""); len(idx.Manifests) != 0 {
		t.Errorf("referrers after delete: %v", idx.Manifests)
	}
	f.want(f.do("DELETE", "/v2/app/manifests/v1", nil), http.StatusAccepted, "")
	f.want(f.do("DELETE", "/v2/app/manifests/v1", nil), http.StatusNotFound, codeManifestUnknown)
	f.want(f.do("GET", "/v2/app/manifests/"+sd.String(), nil), http.StatusOK, "")
}

func TestReferrersPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true), WithPageSize(3))
	subject := image("subject", nil, "")
	f.pushManifest("app", "v1", subject)
	sd := digest.FromBytes(subject)
	want := map[digest.Digest]string{}
	for i := range 8 {
		at := "application/vnd.example.a"
		if i%2 == 1 {
			at = "application/vnd.example.b"
		}
		m := image(fmt.Sprint("r", i), subjectOf(subject), at)
		want[digest.Digest(f.pushManifest("app", digest.FromBytes(m).String(), m).header.Get("Docker-Content-Digest"))] = at
	}
	for _, filter := range []string{"", "application/vnd.example.b"} {
		got := map[digest.Digest]string{}
		next := ""
		if filter != "" {
			next = "?artifactType=" + filter
		}
		pages := 0
		for {
			idx, a := f.referrers("app", sd, next)
			pages++
			if a.header.Get("Content-Type") != ocispec.MediaTypeImageIndex {
				t.Errorf("Content-Type %q", a.header.Get("Content-Type"))
			}
			if applied := a.header.Get("OCI-Filters-Applied"); (filter != "") != (applied == "artifactType") {
				t.Errorf("filter %q: OCI-Filters-Applied %q", filter, applied)
			}
			if len(idx.Manifests) > 3 {
				t.Errorf("page of %d entries", len(idx.Manifests))
			}
			for _, e := range idx.Manifests {
				if _, dup := got[e.Digest]; dup {
					t.Errorf("%s listed twice", e.Digest)
				}
				got[e.Digest] = e.ArtifactType
			}
			link := a.header.Get("Link")
			if link == "" {
				break
			}
			u := strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
			next = u[strings.Index(u, "?"):]
		}
		for d, at := range want {
			if filter != "" && at != filter {
				continue
			}
			if got[d] != at {
				t.Errorf("filter %q: %s listed as %q, want %q", filter, d, got[d], at)
			}
			delete(got, d)
		}
		if len(got) != 0 {
			t.Errorf("filter %q: extra entries %v", filter, got)
		}
		if wantPages := map[string]int{"": 3, "application/vnd.example.b": 2}[filter]; pages != wantPages {
			t.Errorf("filter %q: %d pages, want %d", filter, pages, wantPages)
		}
	}
	// a subject without referrers, in a repository that does not exist
	if idx, _ := f.referrers("nothing/here", sd, ""); len(idx.Manifests) != 0 || idx.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("empty answer %+v", idx)
	}
	f.want(f.do("GET", "/v2/app/referrers/sha256:zz", nil), http.StatusBadRequest, codeDigestInvalid)
}

func TestTagPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true))
	m := image("x", nil, "")
	for _, tag := range []string{"d", "a", "c", "b", "e"} {
		f.pushManifest("app", tag, m)
	}
	cases := []struct{ query, body, link string }{
		{"", `{"name":"app","tags":["a","b","c","d","e"]}`, ""},
		{"?n=2", `{"name":"app","tags":["a","b"]}`, `</v2/app/tags/list?last=b&n=2>; rel="next"`},
		{"?n=2&last=b", `{"name":"app","tags":["c","d"]}`, `</v2/app/tags/list?last=d&n=2>; rel="next"`},
		{"?n=2&last=d", `{"name":"app","tags":["e"]}`, ""},
		{"?last=bb", `{"name":"app","tags":["c","d","e"]}`, ""},
		{"?n=0", `{"name":"app","tags":[]}`, ""},
	}
	for _, c := range cases {
		a := f.do("GET", "/v2/app/tags/list"+c.query, nil)
		f.want(a, http.StatusOK, "")
		if string(a.body) != c.body || a.header.Get("Link") != c.link {
			t.Errorf("%s: got %s %q, want %s %q", c.query, a.body, a.header.Get("Link"), c.body, c.link)
		}
	}
	f.want(f.do("GET", "/v2/app/tags/list?n=x", nil), http.StatusBadRequest, "")
	f.want(f.do("GET", "/v2/none/tags/list", nil), http.StatusNotFound, codeNameUnknown)
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v2/", 200, ""},
		{"GET", "/v2", 200, ""},
		{"GET", "/", 404, ""},
		{"GET", "/v2/_catalog", 200, ""},
		{"PUT", "/v2/_catalog", 405, codeUnsupported},
		{"GET", "/v2/_catalog/x", 404, ""},
		{"GET", "/v2/UPPER/manifests/v1", 400, codeNameInvalid},
		{"GET", "/v2/a/../b/manifests/v1", 400, codeNameInvalid},
		{"GET", "/v2/a/manifests/manifests/v1", 400, codeNameInvalid},
		{"GET", "/v2/a/blobs/x/tags/list", 400, codeNameInvalid},
		{"GET", "/v2//manifests/v1", 400, codeNameInvalid},
		{"POST", "/v2/a/manifests/v1", 405, codeUnsupported},
		{"PUT", "/v2/a/blobs/" + digest.FromString("x").String(), 405, codeUnsupported},
		{"GET", "/v2/a/blobs/" + digest.FromString("x").String(), 404, codeBlobUnknown},
		{"GET", "/v2/a/manifests/" + digest.FromString("x").String(), 404, codeManifestUnknown},
		{"GET", "/v2/a/manifests/bad:tag", 400, codeDigestInvalid},
		{"DELETE", "/v2/a/manifests/v1", 405, codeUnsupported},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, f.url, nil)
		req.URL.Path = c.path // unclean paths as a hostile client sends them
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a := answer{status: resp.StatusCode, header: resp.Header, body: b}
		if a.status != c.status || (c.code != "" && a.code() != c.code) {
			t.Errorf("%s %s: got %d %s (%s), want %d %s", c.method, c.path, a.status, a.code(), b, c.status, c.code)
		}
	}
}

// A symlink out of the tree is refused, not followed.
func TestHostileTree(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("secret")
	blobs := filepath.Join(f.dir, "v2", "app", "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(blobs, d.String())); err != nil {
		t.Skip("no symlinks here:", err)
	}
	a := f.do("GET", "/v2/app/blobs/"+d.String(), nil)
	if a.status == http.StatusOK || bytes.Contains(a.body, []byte("secret\n")) || string(a.body) == "secret" {
		t.Fatalf("served a file outside the tree: %d %s", a.status, a.body)
	}
	f.want(a, http.StatusInternalServerError, "")
}

// Concurrent pushes of referrers to one subject keep every entry.
func TestConcurrentReferrers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true))
	subject := image("subject", nil, "")
	f.pushManifest("app", "v1", subject)
	const n = 32
	var wg sync.WaitGroup
	digests := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			m := image(fmt.Sprint("ref", i), subjectOf(subject), "application/vnd.example.c")
			req, _ := http.NewRequest("PUT", f.url+"/v2/app/manifests/"+digest.FromBytes(m).String(), bytes.NewReader(m))
			req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("push %d: %d", i, resp.StatusCode)
			}
			digests[i] = resp.Header.Get("Docker-Content-Digest")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	idx, _ := f.referrers("app", digest.FromBytes(subject), "")
	got := map[string]bool{}
	for _, e := range idx.Manifests {
		got[e.Digest.String()] = true
	}
	for _, d := range digests {
		if !got[d] {
			t.Errorf("%s lost", d)
		}
	}
	if len(idx.Manifests) != n {
		t.Errorf("%d entries, want %d", len(idx.Manifests), n)
	}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true))
	f.pushManifest("b/app", "v1", image("1", nil, ""))
	f.pushBlob("a", []byte("x"))
	f.pushManifest("c", "v1", image("2", nil, ""))
	if err := os.MkdirAll(filepath.Join(f.dir, "v2", "Bad", "manifests"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ query, body, link string }{
		{"", `{"repositories":["a","b/app","c"]}`, ""},
		{"?n=2", `{"repositories":["a","b/app"]}`, `</v2/_catalog?last=b%2Fapp&n=2>; rel="next"`},
		{"?n=2&last=b%2Fapp", `{"repositories":["c"]}`, ""},
	}
	for _, c := range cases {
		a := f.do("GET", "/v2/_catalog"+c.query, nil)
		f.want(a, http.StatusOK, "")
		if string(a.body) != c.body || a.header.Get("Link") != c.link {
			t.Errorf("%s: got %s %q, want %s %q", c.query, a.body, a.header.Get("Link"), c.body, c.link)
		}
	}
}

// A subject's referrers index is capped like a manifest: a push that would
// need a bigger one is 413, and nothing of it is stored; a list of the
// subject answers from a scan.
func TestReferrersIndexCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true))
	subject := image("subject", nil, "")
	f.pushManifest("app", "v1", subject)
	f.pushManifest("app", "other", image("other", nil, "")) // makes the tree complete
	var entries []ocispec.Descriptor
	for i := 0; len(entries)*120 < 4<<20+1; i++ {
		entries = append(entries, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(fmt.Sprint(i)), Size: 1, ArtifactType: "application/x"})
	}
	big, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
	if len(big) <= 4<<20 {
		t.Fatalf("index of %d bytes", len(big))
	}
	sd := digest.FromBytes(subject)
	refs := filepath.Join(f.dir, "v2", "app", "referrers")
	if err := os.WriteFile(filepath.Join(refs, sd.String()), big, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	for _, p := range []string{sd.String(), ".complete"} {
		if err := os.Chtimes(filepath.Join(refs, p), later, later); err != nil {
			t.Fatal(err)
		}
	}
	m := image("one too many", subjectOf(subject), "application/x")
	a := f.do("PUT", "/v2/app/manifests/"+digest.FromBytes(m).String(), m, "Content-Type", ocispec.MediaTypeImageManifest)
	f.want(a, http.StatusRequestEntityTooLarge, codeSizeInvalid)
	f.want(f.do("HEAD", "/v2/app/manifests/"+digest.FromBytes(m).String(), nil), http.StatusNotFound, "")
	// a list still answers, from a scan of the stored manifests (none refer to it)
	if idx, _ := f.referrers("app", sd, ""); len(idx.Manifests) != 0 {
		t.Errorf("listed %d", len(idx.Manifests))
	}
}

// The decoded-index cache never hides a change: the server's own writes and
// another tool's (seen through the tree's times) both show on the next list.
func TestIndexCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true), WithAllowDelete(true))
	subject := image("subject", nil, "")
	f.pushManifest("app", "v1", subject)
	sd := digest.FromBytes(subject)
	a := image("a", subjectOf(subject), "application/x")
	f.pushManifest("app", digest.FromBytes(a).String(), a)
	count := func() int {
		idx, _ := f.referrers("app", sd, "")
		return len(idx.Manifests)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d referrers, want 1", n)
	}
	if n := count(); n != 1 { // from the cache
		t.Fatalf("%d referrers, want 1", n)
	}
	// our own delete and a push of the same size in the same tick
	f.want(f.do("DELETE", "/v2/app/manifests/"+digest.FromBytes(a).String(), nil), http.StatusAccepted, "")
	b := image("b", subjectOf(subject), "application/x")
	f.pushManifest("app", digest.FromBytes(b).String(), b)
	idx, _ := f.referrers("app", sd, "")
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != digest.FromBytes(b) {
		t.Fatalf("after delete+push: %v", idx.Manifests)
	}
	// another tool stores a referrer directly, a second later
	c := image("c", subjectOf(subject), "application/x")
	cd := digest.FromBytes(c)
	dir := filepath.Join(f.dir, "v2", "app", "manifests")
	if err := os.WriteFile(filepath.Join(dir, cd.String()), c, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(dir, later, later); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("after a foreign write: %d referrers, want 2", n)
	}
}
