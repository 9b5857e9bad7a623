package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/static"
)

// FuzzParseRoute: any path either is no endpoint, or names a valid,
// unreserved repository, or is refused with NAME_INVALID.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2/a/b/manifests/v1", "/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/x", "/v2/a/tags/list", "/v2/a/referrers/sha256:00", "/v2/../manifests/x", "/v2/a/manifests/manifests/x", "/v2//blobs/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, ok, e := parseRoute(p)
		if !ok {
			return
		}
		if e != nil {
			if e.code != codeNameInvalid || e.status != http.StatusBadRequest {
				t.Fatalf("%q: %v", p, e)
			}
			return
		}
		if rt.kind == kindPing {
			return
		}
		if err := ref.ValidRepository(rt.name); err != nil {
			t.Fatalf("%q: accepted name %q: %v", p, rt.name, err)
		}
		for _, c := range strings.Split(rt.name, "/") {
			if reserved[c] {
				t.Fatalf("%q: reserved component in %q", p, rt.name)
			}
		}
	})
}

// FuzzContentRange: what parses is a non-negative, ordered range.
func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"0-0", "0-999", "bytes 5-9", "bytes=5-9", "9-5", "-1-3", "1-", "x-y", "0-9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, ok := parseContentRange(s)
		if ok && (start < 0 || end < start) {
			t.Fatalf("%q -> %d-%d", s, start, end)
		}
	})
}

// FuzzCheckManifest: an accepted manifest is one JSON object with
// schemaVersion 2 and a known media type that agrees with its field.
func FuzzCheckManifest(f *testing.F) {
	f.Add("application/vnd.oci.image.manifest.v1+json", []byte(image("a", nil, "")))
	f.Add("application/vnd.oci.image.index.v1+json", []byte(`{"schemaVersion":2,"manifests":[]}`))
	f.Add("", []byte(`{"schemaVersion":2,"mediaType":"x/y"}`))
	f.Add("a; charset=utf-8", []byte(`{"schemaVersion":2,"mediaType":"a"} {}`))
	f.Fuzz(func(t *testing.T, ctype string, data []byte) {
		mt, e := checkManifest(ctype, data)
		if e != nil {
			if e.status != http.StatusBadRequest || e.code != codeManifestInvalid {
				t.Fatalf("error %v", e)
			}
			return
		}
		var m manifestShape
		if mt == "" || json.Unmarshal(data, &m) != nil || m.SchemaVersion == nil || *m.SchemaVersion != 2 {
			t.Fatalf("accepted %q %q as %q", ctype, data, mt)
		}
		if m.MediaType != "" && m.MediaType != mt {
			t.Fatalf("media type %q accepted as %q", m.MediaType, mt)
		}
	})
}

// FuzzServe: no request a client sends makes the server fail (5xx) or
// panic; every error answer is the spec's error body and never names the
// server's directory; once a request is answered, the per-repository lock
// table is empty again; a tag that names a .mediatype sidecar is never
// stored.
func FuzzServe(f *testing.F) {
	seeds := []struct {
		method, path, query, ctype string
		body                       []byte
	}{
		{"GET", "/v2/", "", "", nil},
		{"PUT", "/v2/a/manifests/v1", "", "application/vnd.oci.image.manifest.v1+json", image("x", nil, "")},
		{"POST", "/v2/a/blobs/uploads/", "digest=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "", []byte("{}")},
		{"POST", "/v2/a/blobs/uploads/", "mount=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a&from=b", "", nil},
		{"GET", "/v2/a/tags/list", "n=1&last=a", "", nil},
		{"GET", "/v2/a/referrers/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "artifactType=x&last=sha256:00&n=2", "", nil},
		{"DELETE", "/v2/a/manifests/v1", "", "", nil},
		{"PATCH", "/v2/a/blobs/uploads/0123", "", "", []byte("abc")},
		{"PUT", "/v2/a/manifests/x.mediatype", "", "application/vnd.oci.image.manifest.v1+json", image("x", nil, "")},
		{"PUT", "/v2/a/manifests/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "tag=v1.MEDIATYPE", "application/vnd.oci.image.manifest.v1+json", []byte("{}")},
		{"GET", "/v2/a/manifests/v1.mediatype", "", "", nil},
		{"DELETE", "/v2/a/manifests/v1.mediatype", "", "", nil},
		{"GET", "/v2/made/up/referrers/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "", "", nil},
		{"DELETE", "/v2/made/up/manifests/v1", "", "", nil},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.ctype, s.body)
	}
	dir := f.TempDir()
	s, err := New(dir, WithAllowPush(true), WithAllowDelete(true), WithMaxUploadBytes(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, method, path, query, ctype string, body []byte) {
		req := httptest.NewRequest("GET", "/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path = path
		req.URL.RawQuery = query
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q ?%q: %d %s", method, path, query, w.Code, w.Body)
		}
		if w.Code >= 400 && method != http.MethodHead {
			var b errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || len(b.Errors) != 1 || b.Errors[0].Code == "" {
				t.Fatalf("%s %q: error body %q", method, path, w.Body)
			}
			if !strings.Contains(path+query, dir) && strings.Contains(w.Body.String(), dir) {
				t.Fatalf("%s %q: the answer names the tree: %s", method, path, w.Body)
			}
		}
		if n := s.lockCount(); n != 0 {
			t.Fatalf("%s %q: %d locks left", method, path, n)
		}
		if ents, err := os.ReadDir(filepath.Join(dir, "v2", "a", "manifests")); err == nil {
			for _, e := range ents {
				if n := strings.TrimSuffix(e.Name(), ".mediatype"); !static.ValidTag(n) && !strings.Contains(n, ":") {
					t.Fatalf("%s %q ?%q: stored %s", method, path, query, e.Name())
				}
			}
		}
	})
}
