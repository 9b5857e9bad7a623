package fakeregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// noRedirect is an HTTP client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type resp struct {
	*http.Response
	body []byte
}

func do(t *testing.T, method, u string, body []byte, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return resp{res, b}
}

func wantStatus(t *testing.T, r resp, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %q", r.Request.Method, r.Request.URL, r.StatusCode, want, r.body)
	}
}

func wantErrorCode(t *testing.T, r resp, code string) {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || len(eb.Errors) == 0 {
		t.Fatalf("body %q is not a distribution error: %v", r.body, err)
	}
	if eb.Errors[0].Code != code {
		t.Fatalf("error code %q, want %q", eb.Errors[0].Code, code)
	}
}

var emptyConfig = []byte("{}")

// imageManifest builds an image manifest with the empty config; subject and
// artifactType are optional.
func imageManifest(t *testing.T, configType, artifactType string, subject *ocispec.Descriptor, ann map[string]string) []byte {
	t.Helper()
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.Descriptor{MediaType: configType, Digest: digest.FromBytes(emptyConfig), Size: 2},
		Layers:       []ocispec.Descriptor{},
		Subject:      subject,
		Annotations:  ann,
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func descOf(mediaType string, b []byte) *ocispec.Descriptor {
	return &ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

func TestBase(t *testing.T) {
	t.Parallel()
	reg := New(t, Mode{})
	r := do(t, "GET", reg.URL()+"/v2/", nil)
	wantStatus(t, r, 200)
	if string(r.body) != "{}" || r.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("body %q, api header %q", r.body, r.Header.Get("Docker-Distribution-API-Version"))
	}
	if reg.Host() != strings.TrimPrefix(reg.URL(), "http://") || !strings.HasPrefix(reg.Host(), "127.0.0.1:") {
		t.Fatalf("Host %q URL %q", reg.Host(), reg.URL())
	}
	wantStatus(t, do(t, "GET", reg.URL()+"/nope", nil), 404)
}

func TestBlobUpload(t *testing.T) {
	t.Parallel()
	data := []byte("hello, blob world")
	d := digest.FromBytes(data)
	tests := []struct {
		name   string
		mode   Mode
		chunks [][]byte // PATCH bodies; the remainder goes in the final PUT
		final  []byte
	}{
		{name: "monolithic PUT", final: data},
		{name: "chunked", chunks: [][]byte{data[:5], data[5:12]}, final: data[12:]},
		{name: "chunked no final body", chunks: [][]byte{data[:5], data[5:]}},
		{name: "chunked with _state", mode: Mode{UploadStateParam: true}, chunks: [][]byte{data[:3], data[3:]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := New(t, tc.mode)
			r := do(t, "POST", reg.URL()+"/v2/a/b/c/blobs/uploads/", nil)
			wantStatus(t, r, 202)
			loc := r.Header.Get("Location")
			if !strings.HasPrefix(loc, "/v2/a/b/c/blobs/uploads/") || r.Header.Get("Range") != "0-0" {
				t.Fatalf("Location %q Range %q", loc, r.Header.Get("Range"))
			}
			if tc.mode.UploadStateParam != strings.Contains(loc, "_state=") {
				t.Fatalf("Location %q, UploadStateParam %v", loc, tc.mode.UploadStateParam)
			}
			n := 0
			for i, c := range tc.chunks {
				cr := fmt.Sprintf("%d-%d", n, n+len(c)-1)
				r = do(t, "PATCH", reg.URL()+loc, c, "Content-Type", "application/octet-stream", "Content-Range", cr)
				wantStatus(t, r, 202)
				n += len(c)
				if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", n-1); got != want {
					t.Fatalf("chunk %d: Range %q, want %q", i, got, want)
				}
				loc = r.Header.Get("Location")
			}
			if len(tc.chunks) > 0 {
				// An out-of-order chunk is refused without damaging the session.
				wantStatus(t, do(t, "PATCH", reg.URL()+loc, []byte("x"), "Content-Range", "0-0"), 416)
			}
			u, _ := url.Parse(loc)
			q := u.Query()
			q.Set("digest", d.String())
			u.RawQuery = q.Encode()
			r = do(t, "PUT", reg.URL()+u.String(), tc.final)
			wantStatus(t, r, 201)
			if r.Header.Get("Docker-Content-Digest") != d.String() || r.Header.Get("Location") != "/v2/a/b/c/blobs/"+d.String() {
				t.Fatalf("headers %v", r.Header)
			}
			if !reg.HasBlob("a/b/c", d) || reg.HasBlob("a/b", d) {
				t.Fatal("blob stored in the wrong repository")
			}
			r = do(t, "GET", reg.URL()+"/v2/a/b/c/blobs/"+d.String(), nil)
			wantStatus(t, r, 200)
			if !bytes.Equal(r.body, data) || r.Header.Get("Docker-Content-Digest") != d.String() {
				t.Fatalf("GET blob = %q", r.body)
			}
			r = do(t, "HEAD", reg.URL()+"/v2/a/b/c/blobs/"+d.String(), nil)
			wantStatus(t, r, 200)
			if r.ContentLength != int64(len(data)) {
				t.Fatalf("HEAD Content-Length %d", r.ContentLength)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		reg := New(t, Mode{UploadStateParam: true})
		loc := do(t, "POST", reg.URL()+"/v2/r/blobs/uploads/", nil).Header.Get("Location")
		u, _ := url.Parse(loc)
		// Dropping the _state parameter is refused.
		wantErrorCode(t, do(t, "PATCH", reg.URL()+u.Path, data), "BLOB_UPLOAD_INVALID")
		r := do(t, "PUT", reg.URL()+loc+"&digest="+digest.FromString("other").String(), data)
		wantStatus(t, r, 400)
		wantErrorCode(t, r, "DIGEST_INVALID")
		// A failed PUT ends the session.
		wantStatus(t, do(t, "PUT", reg.URL()+loc+"&digest="+d.String(), data), 404)
		// Single-POST monolithic upload.
		r = do(t, "POST", reg.URL()+"/v2/r/blobs/uploads/?digest="+d.String(), data)
		wantStatus(t, r, 201)
		// Cross-repository mount.
		r = do(t, "POST", reg.URL()+"/v2/other/blobs/uploads/?mount="+d.String()+"&from=r", nil)
		wantStatus(t, r, 201)
		if !reg.HasBlob("other", d) {
			t.Fatal("mount did not link the blob")
		}
		r = do(t, "GET", reg.URL()+"/v2/r/blobs/"+digest.FromString("nope").String(), nil)
		wantStatus(t, r, 404)
		wantErrorCode(t, r, "BLOB_UNKNOWN")
		wantStatus(t, do(t, "DELETE", reg.URL()+"/v2/r/blobs/"+d.String(), nil), 202)
		if reg.HasBlob("r", d) {
			t.Fatal("blob not deleted")
		}
	})
}

func TestManifests(t *testing.T) {
	t.Parallel()
	reg := New(t, Mode{ManifestLimit: 64 << 10})
	const repo = "library/alpine"
	reg.PutBlob(repo, emptyConfig)
	body := imageManifest(t, "application/vnd.oci.image.config.v1+json", "", nil, nil)
	d := digest.FromBytes(body)
	base := reg.URL() + "/v2/" + repo + "/manifests/"

	r := do(t, "PUT", base+"latest", body, "Content-Type", ocispec.MediaTypeImageManifest)
	wantStatus(t, r, 201)
	if r.Header.Get("Docker-Content-Digest") != d.String() || r.Header.Get("Location") != "/v2/"+repo+"/manifests/"+d.String() {
		t.Fatalf("PUT headers %v", r.Header)
	}
	if r.Header.Get("OCI-Subject") != "" {
		t.Fatal("OCI-Subject without subject")
	}
	for _, ref := range []string{"latest", d.String()} {
		for _, method := range []string{"GET", "HEAD"} {
			r = do(t, method, base+ref, nil)
			wantStatus(t, r, 200)
			if r.Header.Get("Content-Type") != ocispec.MediaTypeImageManifest ||
				r.Header.Get("Docker-Content-Digest") != d.String() ||
				r.Header.Get("ETag") != `"`+d.String()+`"` ||
				r.ContentLength != int64(len(body)) {
				t.Fatalf("%s %s headers %v", method, ref, r.Header)
			}
			if method == "GET" && !bytes.Equal(r.body, body) {
				t.Fatalf("GET %s body differs", ref)
			}
		}
	}
	if mt, b, ok := reg.Manifest(repo, "latest"); !ok || mt != ocispec.MediaTypeImageManifest || !bytes.Equal(b, body) {
		t.Fatalf("Manifest() = %q %q %v", mt, b, ok)
	}

	withLayer, _ := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: *descOf(ocispec.MediaTypeEmptyJSON, emptyConfig),
		Layers: []ocispec.Descriptor{*descOf("application/octet-stream", []byte("absent"))},
	})
	tests := []struct {
		name, method, ref string
		body              []byte
		ct                string
		status            int
		code              string
	}{
		{"unknown tag", "GET", "nope", nil, "", 404, "MANIFEST_UNKNOWN"},
		{"digest mismatch", "PUT", digest.FromString("x").String(), body, ocispec.MediaTypeImageManifest, 400, "DIGEST_INVALID"},
		{"not json", "PUT", "bad", []byte("nope"), ocispec.MediaTypeImageManifest, 400, "MANIFEST_INVALID"},
		{"media type mismatch", "PUT", "bad", body, ocispec.MediaTypeImageIndex, 400, "MANIFEST_INVALID"},
		{"invalid tag", "PUT", "-bad", body, ocispec.MediaTypeImageManifest, 400, "MANIFEST_INVALID"},
		{"unknown layer", "PUT", "bad", withLayer, ocispec.MediaTypeImageManifest, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"too large", "PUT", "big", bytes.Repeat([]byte(" "), 65<<10), ocispec.MediaTypeImageManifest, 413, "SIZE_INVALID"},
		{"other config type", "PUT", "bad", imageManifest(t, "application/x-other", "", nil, nil), ocispec.MediaTypeImageManifest, 201, ""},
	}
	for _, tc := range tests {
		r := do(t, tc.method, base+tc.ref, tc.body, "Content-Type", tc.ct)
		if r.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, r.StatusCode, tc.status, r.body)
			continue
		}
		if tc.code != "" {
			wantErrorCode(t, r, tc.code)
		}
	}
	r = do(t, "GET", reg.URL()+"/v2/unknown/repo/manifests/latest", nil)
	wantStatus(t, r, 404)
	wantErrorCode(t, r, "NAME_UNKNOWN")

	r = do(t, "GET", reg.URL()+"/v2/"+repo+"/tags/list", nil)
	wantStatus(t, r, 200)
	if string(r.body) != `{"name":"library/alpine","tags":["bad","latest"]}` {
		t.Fatalf("tags/list = %s", r.body)
	}
	r = do(t, "GET", reg.URL()+"/v2/"+repo+"/tags/list?n=1", nil)
	if string(r.body) != `{"name":"library/alpine","tags":["bad"]}` ||
		r.Header.Get("Link") != `</v2/library/alpine/tags/list?last=bad&n=1>; rel="next"` {
		t.Fatalf("paged tags/list = %s, Link %q", r.body, r.Header.Get("Link"))
	}

	wantStatus(t, do(t, "DELETE", base+"bad", nil), 202)
	if got := reg.Tags(repo); len(got) != 1 || got[0] != "latest" {
		t.Fatalf("Tags after tag delete = %v", got)
	}
	wantStatus(t, do(t, "DELETE", base+d.String(), nil), 202)
	if _, _, ok := reg.Manifest(repo, d.String()); ok || len(reg.Tags(repo)) != 0 {
		t.Fatal("delete by digest kept the manifest or its tag")
	}
	if h := reg.TagHistory(repo, "latest"); len(h) != 1 || h[0] != d {
		t.Fatalf("TagHistory = %v", h)
	}
}

// seedReferrers stores a subject and four referrers in repo "r" and returns
// the subject digest and the referrer digests in the order of their digests.
func seedReferrers(t *testing.T, reg *Registry) (digest.Digest, map[string]digest.Digest) {
	t.Helper()
	reg.PutBlob("r", emptyConfig)
	subjBody := imageManifest(t, "application/vnd.oci.image.config.v1+json", "", nil, nil)
	subj := descOf(ocispec.MediaTypeImageManifest, subjBody)
	reg.PutManifest("r", "v1", "", subjBody)
	ds := map[string]digest.Digest{
		"sig":   reg.PutManifest("r", "", ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.MediaTypeEmptyJSON, "application/vnd.example.sig", subj, map[string]string{"a": "1", "b": "2"})),
		"sbom":  reg.PutManifest("r", "", ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.MediaTypeEmptyJSON, "application/vnd.example.sbom", subj, nil)),
		"cfg":   reg.PutManifest("r", "", ocispec.MediaTypeImageManifest, imageManifest(t, "application/vnd.example.config", "", subj, nil)),
		"other": reg.PutManifest("r", "", ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.MediaTypeEmptyJSON, "application/vnd.example.sig", descOf(ocispec.MediaTypeImageManifest, []byte("x")), nil)),
	}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}, Subject: subj})
	ds["index"] = reg.PutManifest("r", "", "", idx)
	return subj.Digest, ds
}

func decodeIndex(t *testing.T, r resp) ocispec.Index {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != ocispec.MediaTypeImageIndex {
		t.Fatalf("Content-Type %q", ct)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(r.body, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex || idx.Manifests == nil {
		t.Fatalf("bad index %s", r.body)
	}
	return idx
}

func TestReferrers(t *testing.T) {
	t.Parallel()
	reg := New(t, Mode{})
	subj, ds := seedReferrers(t, reg)
	u := reg.URL() + "/v2/r/referrers/" + subj.String()

	r := do(t, "GET", u, nil)
	wantStatus(t, r, 200)
	idx := decodeIndex(t, r)
	if len(idx.Manifests) != 4 || r.Header.Get("OCI-Filters-Applied") != "" {
		t.Fatalf("got %d referrers, filters %q", len(idx.Manifests), r.Header.Get("OCI-Filters-Applied"))
	}
	byDigest := map[digest.Digest]ocispec.Descriptor{}
	for i, m := range idx.Manifests {
		byDigest[m.Digest] = m
		if i > 0 && idx.Manifests[i-1].Digest >= m.Digest {
			t.Fatal("referrers not sorted by digest")
		}
	}
	want := map[string]string{"sig": "application/vnd.example.sig", "sbom": "application/vnd.example.sbom", "cfg": "application/vnd.example.config", "index": ""}
	for k, at := range want {
		m, ok := byDigest[ds[k]]
		if !ok || m.ArtifactType != at {
			t.Errorf("%s: present %v artifactType %q, want %q", k, ok, m.ArtifactType, at)
		}
	}
	if a := byDigest[ds["sig"]].Annotations; a["a"] != "1" || a["b"] != "2" {
		t.Errorf("annotations %v", a)
	}
	if m := byDigest[ds["index"]]; m.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("index descriptor %+v", m)
	}
	var raw struct{ Manifests []map[string]any }
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, m := range raw.Manifests {
		if _, has := m["artifactType"]; has && m["digest"] == ds["index"].String() {
			t.Errorf("index without artifactType got one: %v", m)
		}
	}

	r = do(t, "GET", u+"?artifactType=application/vnd.example.sig", nil)
	idx = decodeIndex(t, r)
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != ds["sig"] || r.Header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("filtered: %s, header %q", r.body, r.Header.Get("OCI-Filters-Applied"))
	}

	r = do(t, "GET", reg.URL()+"/v2/r/referrers/"+digest.FromString("none").String(), nil)
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"manifests":[]`) {
		t.Fatalf("empty referrers body %s", r.body)
	}
	wantStatus(t, do(t, "GET", reg.URL()+"/v2/nowhere/referrers/"+subj.String(), nil), 200)
	wantStatus(t, do(t, "GET", reg.URL()+"/v2/r/referrers/sha256:zz", nil), 400)

	reg.SetMode(Mode{NoFilterHeader: true})
	r = do(t, "GET", u+"?artifactType=application/vnd.example.sig", nil)
	if idx = decodeIndex(t, r); len(idx.Manifests) != 4 || r.Header.Get("OCI-Filters-Applied") != "" {
		t.Fatalf("NoFilterHeader: %d entries, header %q", len(idx.Manifests), r.Header.Get("OCI-Filters-Applied"))
	}
}

func TestSubjectHeaderOnPush(t *testing.T) {
	t.Parallel()
	subj := descOf(ocispec.MediaTypeImageManifest, []byte("subject"))
	tests := []struct {
		mode Mode
		want string
	}{
		{Mode{}, subj.Digest.String()},
		{Mode{Referrers: ReferrersNotFoundText}, ""},
		{Mode{Referrers: ReferrersNotFoundText, SubjectHeaderWithoutAPI: true}, subj.Digest.String()},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			reg := New(t, tc.mode)
			reg.PutBlob("r", emptyConfig)
			body := imageManifest(t, ocispec.MediaTypeEmptyJSON, "application/x", subj, nil)
			r := do(t, "PUT", reg.URL()+"/v2/r/manifests/"+digest.FromBytes(body).String(), body, "Content-Type", ocispec.MediaTypeImageManifest)
			wantStatus(t, r, 201)
			if got := r.Header.Get("OCI-Subject"); got != tc.want {
				t.Fatalf("OCI-Subject %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReferrersPagination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		style    LinkStyle
		wantLink func(reg *Registry, path string) string
	}{
		{LinkRelative, func(_ *Registry, p string) string { return p }},
		{LinkAbsoluteSameHost, func(reg *Registry, p string) string { return reg.URL() + p }},
		{LinkCrossHost, func(_ *Registry, p string) string { return "http://127.0.0.2:1" + p }},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.style), func(t *testing.T) {
			t.Parallel()
			reg := New(t, Mode{PageSize: 3, LinkStyle: tc.style})
			subj, _ := seedReferrers(t, reg)
			first := "/v2/r/referrers/" + subj.String()
			r := do(t, "GET", reg.URL()+first, nil)
			idx := decodeIndex(t, r)
			if len(idx.Manifests) != 3 {
				t.Fatalf("page 1 has %d entries", len(idx.Manifests))
			}
			next := first + "?last=" + url.QueryEscape(idx.Manifests[2].Digest.String())
			if got, want := r.Header.Get("Link"), "<"+tc.wantLink(reg, next)+`>; rel="next"`; got != want {
				t.Fatalf("Link %q, want %q", got, want)
			}
			r = do(t, "GET", reg.URL()+next, nil)
			idx2 := decodeIndex(t, r)
			if len(idx2.Manifests) != 1 || idx2.Manifests[0].Digest <= idx.Manifests[2].Digest || r.Header.Get("Link") != "" {
				t.Fatalf("page 2: %s, Link %q", r.body, r.Header.Get("Link"))
			}
		})
	}
	t.Run("loop", func(t *testing.T) {
		t.Parallel()
		reg := New(t, Mode{PageSize: 10, LinkStyle: LinkLoop})
		subj, _ := seedReferrers(t, reg)
		first := "/v2/r/referrers/" + subj.String()
		r := do(t, "GET", reg.URL()+first+"?artifactType=application/vnd.example.sig", nil)
		if len(decodeIndex(t, r).Manifests) != 1 || r.Header.Get("Link") != "<"+first+`?artifactType=application%2Fvnd.example.sig>; rel="next"` {
			t.Fatalf("loop Link %q", r.Header.Get("Link"))
		}
	})
}

func TestReferrersBehaviors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		b      ReferrersBehavior
		status int
		ctype  string
		code   string // JSON error code, "" for non-JSON bodies
	}{
		{ReferrersNotFoundText, 404, "text/plain", ""},
		{ReferrersNotFoundJSON, 404, "application/json", "MANIFEST_UNKNOWN"},
		{ReferrersNotFoundHTML, 404, "text/html", ""},
		{ReferrersMethodNotAllowed, 405, "application/json", "UNSUPPORTED"},
		{ReferrersNotAcceptable, 406, "text/plain", ""},
		{ReferrersUnauthorizedNoChallenge, 401, "application/json", "UNAUTHORIZED"},
		{ReferrersBadRequestText, 400, "text/plain", ""},
		{ReferrersFalse200, 200, "application/json", ""},
		{ReferrersFalse200HTML, 200, "text/html", ""},
		{ReferrersForbidden, 403, "application/json", "DENIED"},
		{ReferrersTooManyRequests, 429, "application/json", "TOOMANYREQUESTS"},
		{ReferrersServerError, 500, "application/json", "UNKNOWN"},
		{ReferrersNameUnknown, 404, "application/json", "NAME_UNKNOWN"},
	}
	for _, tc := range tests {
		t.Run(tc.b.String(), func(t *testing.T) {
			t.Parallel()
			reg := New(t, Mode{Referrers: tc.b})
			subj, _ := seedReferrers(t, reg)
			r := do(t, "GET", reg.URL()+"/v2/r/referrers/"+subj.String(), nil)
			wantStatus(t, r, tc.status)
			if !strings.HasPrefix(r.Header.Get("Content-Type"), tc.ctype) {
				t.Fatalf("Content-Type %q, want %q", r.Header.Get("Content-Type"), tc.ctype)
			}
			if tc.code != "" {
				wantErrorCode(t, r, tc.code)
			}
			if r.Header.Get("WWW-Authenticate") != "" {
				t.Fatal("unexpected challenge")
			}
			if tc.b == ReferrersTooManyRequests && r.Header.Get("Retry-After") != "0" {
				t.Fatal("missing Retry-After")
			}
			if tc.b == ReferrersFalse200 {
				var idx ocispec.Index
				if json.Unmarshal(r.body, &idx) != nil || idx.MediaType == ocispec.MediaTypeImageIndex || idx.SchemaVersion == 2 {
					t.Fatalf("false 200 body looks like an index: %s", r.body)
				}
			}
		})
	}
}

func TestConditionalPut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		etag      ETagBehavior
		hasETag   bool
		staleIf   int // status of PUT with a stale If-Match
		createINM int // status of PUT If-None-Match: * on an existing tag
		goodIf    int // status of PUT with the current If-Match
	}{
		{"honoured", ETagHonoured, true, 412, 412, 201},
		{"ignored", ETagIgnored, true, 201, 201, 201},
		{"rejected", ETagRejected, true, 400, 400, 400},
		{"none", ETagNone, false, 201, 201, 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := New(t, Mode{ETag: tc.etag, LenientManifests: true})
			base := reg.URL() + "/v2/r/manifests/"
			put := func(n int, hdr ...string) resp {
				body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[],"annotations":{"n":"%d"}}`, ocispec.MediaTypeImageIndex, n))
				return do(t, "PUT", base+"idx", body, append([]string{"Content-Type", ocispec.MediaTypeImageIndex}, hdr...)...)
			}
			first := put(1, "If-None-Match", "*") // creating: tag absent
			wantStatus(t, first, map[bool]int{true: 400, false: 201}[tc.etag == ETagRejected])
			if tc.etag == ETagRejected {
				wantErrorCode(t, first, "UNSUPPORTED")
				wantStatus(t, put(1), 201)
			}
			r := do(t, "HEAD", base+"idx", nil)
			etag := r.Header.Get("ETag")
			if (etag != "") != tc.hasETag {
				t.Fatalf("ETag %q", etag)
			}
			wantStatus(t, put(2, "If-Match", `"sha256:`+strings.Repeat("0", 64)+`"`), tc.staleIf)
			wantStatus(t, put(3, "If-None-Match", "*"), tc.createINM)
			_, latest, _ := reg.Manifest("r", "idx")
			cur := `"` + digest.FromBytes(latest).String() + `"`
			wantStatus(t, put(4, "If-Match", cur), tc.goodIf)
			if tc.etag == ETagHonoured {
				if h := reg.TagHistory("r", "idx"); len(h) != 2 {
					t.Fatalf("TagHistory %v", h)
				}
				r = do(t, "GET", base+"idx", nil, "If-None-Match", r.Header.Get("ETag"))
				wantStatus(t, r, 200) // the tag moved since
			}
		})
	}

	t.Run("race", func(t *testing.T) {
		t.Parallel()
		reg := New(t, Mode{LenientManifests: true})
		cur := reg.PutManifest("r", "t", ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[]}`))
		const n = 16
		var wg sync.WaitGroup
		statuses := make(chan int, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := []byte(fmt.Sprintf(`{"schemaVersion":2,"manifests":[],"annotations":{"i":"%d"}}`, i))
				req, _ := http.NewRequest("PUT", reg.URL()+"/v2/r/manifests/t", bytes.NewReader(body))
				req.Header.Set("Content-Type", ocispec.MediaTypeImageIndex)
				req.Header.Set("If-Match", `"`+cur.String()+`"`)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				statuses <- res.StatusCode
			}()
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if count[201] != 1 || count[412] != n-1 {
			t.Fatalf("statuses %v, want exactly one 201", count)
		}
	})
}

func TestBearerAuth(t *testing.T) {
	t.Parallel()
	reg := New(t, Mode{Auth: AuthBearer, Username: "u", Password: "p", GrantedActions: []string{"pull", "push"}})
	reg.PutBlob("a/b", emptyConfig)
	tags := reg.URL() + "/v2/a/b/tags/list"

	r := do(t, "GET", tags, nil)
	wantStatus(t, r, 401)
	wantChallenge := fmt.Sprintf(`Bearer realm="%s/token",service="fake",scope="repository:a/b:pull"`, reg.URL())
	if got := r.Header.Get("WWW-Authenticate"); got != wantChallenge {
		t.Fatalf("challenge %q, want %q", got, wantChallenge)
	}
	token := func(scope string, creds ...string) (int, string) {
		req, _ := http.NewRequest("GET", reg.URL()+"/token?"+url.Values{"service": {"fake"}, "scope": {scope}}.Encode(), nil)
		if len(creds) == 2 {
			req.SetBasicAuth(creds[0], creds[1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var tr struct {
			Token       string `json:"token"`
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		_ = json.NewDecoder(res.Body).Decode(&tr)
		if res.StatusCode == 200 && (tr.Token == "" || tr.Token != tr.AccessToken || tr.ExpiresIn != 300) {
			t.Fatalf("token response %+v", tr)
		}
		return res.StatusCode, tr.Token
	}
	if st, _ := token("repository:a/b:pull"); st != 401 {
		t.Fatalf("anonymous token: %d", st)
	}
	if st, _ := token("repository:a/b:pull", "u", "wrong"); st != 401 {
		t.Fatalf("bad password token: %d", st)
	}
	_, pull := token("repository:a/b:pull", "u", "p")
	wantStatus(t, do(t, "GET", tags, nil, "Authorization", "Bearer "+pull), 200)
	wantStatus(t, do(t, "GET", reg.URL()+"/v2/", nil, "Authorization", "Bearer "+pull), 200)
	// Another repository: not covered, challenged again.
	r = do(t, "GET", reg.URL()+"/v2/other/tags/list", nil, "Authorization", "Bearer "+pull)
	wantStatus(t, r, 401)
	// Push with a pull token: grantable, so 401 insufficient_scope with a pull,push challenge.
	r = do(t, "POST", reg.URL()+"/v2/a/b/blobs/uploads/", nil, "Authorization", "Bearer "+pull)
	wantStatus(t, r, 401)
	if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, `scope="repository:a/b:pull,push"`) || !strings.Contains(got, `error="insufficient_scope"`) {
		t.Fatalf("push challenge %q", got)
	}
	_, push := token("repository:a/b:pull,push,delete", "u", "p")
	wantStatus(t, do(t, "POST", reg.URL()+"/v2/a/b/blobs/uploads/", nil, "Authorization", "Bearer "+push), 202)
	// Delete is not grantable in this mode: the valid token gets 403 DENIED.
	r = do(t, "DELETE", reg.URL()+"/v2/a/b/blobs/"+digest.FromBytes(emptyConfig).String(), nil, "Authorization", "Bearer "+push)
	wantStatus(t, r, 403)
	wantErrorCode(t, r, "DENIED")
	wantStatus(t, do(t, "GET", tags, nil, "Authorization", "Bearer forged"), 401)
	if n := reg.TokenRequests(); n != 4 {
		t.Fatalf("TokenRequests %d, want 4", n)
	}
	var sawAuth bool
	for _, q := range reg.Requests() {
		if q.Header.Get("Authorization") == "Bearer "+push && q.Method == "DELETE" && q.Status == 403 {
			sawAuth = true
		}
	}
	if !sawAuth {
		t.Fatal("request log misses the DELETE with its Authorization and status")
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	reg := New(t, Mode{Auth: AuthBasic, Username: "u", Password: "p"})
	r := do(t, "GET", reg.URL()+"/v2/", nil)
	wantStatus(t, r, 401)
	if r.Header.Get("WWW-Authenticate") != `Basic realm="fake"` {
		t.Fatalf("challenge %q", r.Header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest("GET", reg.URL()+"/v2/", nil)
	req.SetBasicAuth("u", "p")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d with credentials", res.StatusCode)
	}
}

func TestBlobRedirect(t *testing.T) {
	t.Parallel()
	reg := New(t, Mode{BlobRedirect: true})
	data := []byte("layer bytes")
	d := reg.PutBlob("r", data)
	r := do(t, "GET", reg.URL()+"/v2/r/blobs/"+d.String(), nil, "Authorization", "Bearer secret")
	wantStatus(t, r, 307)
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "http://127.0.0.1:") || strings.HasPrefix(loc, reg.URL()) {
		t.Fatalf("redirect to %q", loc)
	}
	r = do(t, "GET", loc, nil)
	wantStatus(t, r, 200)
	if !bytes.Equal(r.body, data) || reg.CDNSawAuthorization() || reg.CDNRequests() != 1 {
		t.Fatalf("CDN body %q sawAuth %v requests %d", r.body, reg.CDNSawAuthorization(), reg.CDNRequests())
	}
	do(t, "GET", loc, nil, "Authorization", "Bearer secret")
	if !reg.CDNSawAuthorization() {
		t.Fatal("CDN did not record the leaked Authorization")
	}
	// HEAD is answered directly.
	wantStatus(t, do(t, "HEAD", reg.URL()+"/v2/r/blobs/"+d.String(), nil), 200)
}

func TestQuirks(t *testing.T) {
	t.Parallel()
	reg := New(t, Mode{})
	subj, ds := seedReferrers(t, reg)
	_, sigBody, _ := reg.Manifest("r", ds["sig"].String())
	hexTag := "sha256-" + subj.Encoded()

	t.Run("TagResolvesToSubject", func(t *testing.T) {
		wantStatus(t, do(t, "GET", reg.URL()+"/v2/r/manifests/"+hexTag, nil), 404)
		reg.SetMode(Mode{TagResolvesToSubject: true})
		defer reg.SetMode(Mode{})
		r := do(t, "GET", reg.URL()+"/v2/r/manifests/"+hexTag, nil)
		wantStatus(t, r, 200)
		if r.Header.Get("Docker-Content-Digest") != subj.String() {
			t.Fatalf("resolved to %q", r.Header.Get("Docker-Content-Digest"))
		}
	})
	t.Run("CorruptManifests", func(t *testing.T) {
		reg.SetMode(Mode{CorruptManifests: true})
		defer reg.SetMode(Mode{})
		r := do(t, "GET", reg.URL()+"/v2/r/manifests/"+ds["sig"].String(), nil)
		wantStatus(t, r, 200)
		if len(r.body) != len(sigBody) || digest.FromBytes(r.body) == ds["sig"] || !json.Valid(r.body) {
			t.Fatalf("corrupt body %q", r.body)
		}
	})
	t.Run("CorruptBlobs", func(t *testing.T) {
		reg.SetMode(Mode{CorruptBlobs: true})
		defer reg.SetMode(Mode{})
		r := do(t, "GET", reg.URL()+"/v2/r/blobs/"+digest.FromBytes(emptyConfig).String(), nil)
		if len(r.body) != 2 || bytes.Equal(r.body, emptyConfig) {
			t.Fatalf("corrupt blob %q", r.body)
		}
	})
	t.Run("HugeBody", func(t *testing.T) {
		reg.SetMode(Mode{HugeBody: true})
		defer reg.SetMode(Mode{})
		for _, p := range []string{"/v2/r/manifests/v1", "/v2/r/referrers/" + subj.String()} {
			r := do(t, "GET", reg.URL()+p, nil)
			wantStatus(t, r, 200)
			if len(r.body) <= 8<<20 || r.ContentLength != -1 || !json.Valid(r.body) {
				t.Fatalf("%s: %d bytes, Content-Length %d", p, len(r.body), r.ContentLength)
			}
		}
	})
	t.Run("WrongDigestOnPush", func(t *testing.T) {
		reg.SetMode(Mode{WrongDigestOnPush: true})
		defer reg.SetMode(Mode{})
		r := do(t, "PUT", reg.URL()+"/v2/r/manifests/x", sigBody, "Content-Type", ocispec.MediaTypeImageManifest)
		wantStatus(t, r, 201)
		if got := r.Header.Get("Docker-Content-Digest"); got == "" || got == ds["sig"].String() {
			t.Fatalf("Docker-Content-Digest %q", got)
		}
	})
	t.Run("DeleteDisabled", func(t *testing.T) {
		reg.SetMode(Mode{DeleteDisabled: true})
		defer reg.SetMode(Mode{})
		r := do(t, "DELETE", reg.URL()+"/v2/r/manifests/"+ds["sig"].String(), nil)
		wantStatus(t, r, 405)
		wantErrorCode(t, r, "UNSUPPORTED")
	})
	t.Run("FailNext", func(t *testing.T) {
		reg.FailNext("GET", "/referrers/", 503, 2)
		u := reg.URL() + "/v2/r/referrers/" + subj.String()
		for range 2 {
			r := do(t, "GET", u, nil)
			wantStatus(t, r, 503)
			if r.Header.Get("Retry-After") != "0" {
				t.Fatal("missing Retry-After")
			}
		}
		wantStatus(t, do(t, "HEAD", u, nil), 200)
		wantStatus(t, do(t, "GET", u, nil), 200)
	})
	t.Run("Requests", func(t *testing.T) {
		reg.ResetRequests()
		do(t, "PUT", reg.URL()+"/v2/r/manifests/y?x=1", sigBody, "Content-Type", ocispec.MediaTypeImageManifest, "If-Match", `"abc"`, "X-Other", "no")
		got := reg.Requests()
		if len(got) != 1 || got[0].Method != "PUT" || got[0].Path != "/v2/r/manifests/y?x=1" || got[0].Status != 412 ||
			got[0].Header.Get("If-Match") != `"abc"` || got[0].Header.Get("Content-Type") != ocispec.MediaTypeImageManifest || got[0].Header.Get("X-Other") != "" {
			t.Fatalf("Requests() = %+v", got)
		}
	})
}
