package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// quote makes s a quoted-string of RFC 7230 (backslash before '"' and '\').
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// FuzzParseChallenges: ParseChallenges never panics, yields lower-case
// schemes and keys, and round-trips realm and service of a well-formed Bearer
// challenge built from any values. Seeds: testdata/fuzz/FuzzParseChallenges.
func FuzzParseChallenges(f *testing.F) {
	f.Add(`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"`, "https://auth.example/token", "registry.example")
	f.Fuzz(func(t *testing.T, header, realm, service string) {
		for _, c := range ParseChallenges(header) {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) {
				t.Errorf("scheme %q: empty or not lower-case", c.Scheme)
			}
			if c.Params == nil {
				t.Errorf("scheme %q: nil Params", c.Scheme)
			}
			for k := range c.Params {
				if k != strings.ToLower(k) {
					t.Errorf("key %q not lower-case", k)
				}
			}
		}

		if len(realm)+len(service) > 4<<10 {
			return // the header cap is not what is tested here
		}
		h := "Bearer realm=" + quote(realm) + ", service=" + quote(service)
		got := ParseChallenges(h)
		if len(got) != 1 {
			t.Fatalf("ParseChallenges(%q) = %d challenges, want 1", h, len(got))
		}
		if got[0].Scheme != "bearer" || got[0].Params["realm"] != realm || got[0].Params["service"] != service {
			t.Errorf("ParseChallenges(%q) = %+v, want realm %q, service %q", h, got[0], realm, service)
		}
	})
}

// FuzzNextLink: NextLink never panics, and finds X in `<X>; rel="next"`, also
// after a "prev" link, for any X without '>'. Seeds: testdata/fuzz/FuzzNextLink.
func FuzzNextLink(f *testing.F) {
	f.Add(`</v2/a/b/referrers/sha256:x?last=y>; rel="next"`, "/v2/a/b/referrers/sha256:x?last=y")
	f.Fuzz(func(t *testing.T, header, x string) {
		next := NextLink(header)
		if len(next) > len(header) {
			t.Errorf("NextLink(%q) = %q, longer than the header", header, next)
		}

		if strings.Contains(x, ">") || len(x) > 4<<10 {
			return
		}
		for _, h := range []string{
			"<" + x + `>; rel="next"`,
			"</prev>; rel=\"prev\", <" + x + ">; rel=next",
		} {
			if got := NextLink(h); got != x {
				t.Errorf("NextLink(%q) = %q, want %q", h, got, x)
			}
		}
	})
}

// FuzzDecodeIndex: target.DecodeIndex never panics; what it accepts is an
// index of schemaVersion 2 whose entries have valid digests, a media type and
// a non-negative size (distribution-spec v1.1.1, Listing Referrers), and what it refuses wraps
// ErrInvalidManifest. Seeds: testdata/fuzz/FuzzDecodeIndex.
func FuzzDecodeIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := target.DecodeIndex(data)
		if err != nil {
			if !errors.Is(err, target.ErrInvalidManifest) {
				t.Errorf("DecodeIndex error %q does not wrap ErrInvalidManifest", err)
			}
			return
		}
		if idx.SchemaVersion != 2 {
			t.Errorf("accepted schemaVersion %d", idx.SchemaVersion)
		}
		if idx.MediaType != "" && idx.MediaType != ocispec.MediaTypeImageIndex {
			t.Errorf("accepted mediaType %q", idx.MediaType)
		}
		if idx.Manifests == nil {
			t.Error("accepted index has nil Manifests")
		}
		for i, d := range idx.Manifests {
			if err := d.Digest.Validate(); err != nil {
				t.Errorf("entry %d: accepted digest %q: %v", i, d.Digest, err)
			}
			if d.MediaType == "" || d.Size < 0 {
				t.Errorf("entry %d: accepted mediaType %q, size %d", i, d.MediaType, d.Size)
			}
		}
	})
}

// FuzzRedactURL: redactURL never panics and never lets a control byte
// through; whatever a secret is, it does not survive as the value of a
// query parameter outside the readable ones, nor as the password of
// userinfo. Seeds: testdata/fuzz/FuzzRedactURL.
func FuzzRedactURL(f *testing.F) {
	f.Add("https://cdn.example/b?X-Amz-Signature=abc&n=1#frag", "s3cret")
	f.Fuzz(func(t *testing.T, s, secret string) {
		out := redactURL(s)
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] == 0x7f {
				t.Fatalf("redactURL(%q) = %q: control byte", s, out)
			}
		}
		if secret == "" || len(secret) > 1<<10 {
			return
		}
		esc := url.QueryEscape(secret)
		u := "https://reg.example/v2/a/blobs/x?n=1&X-Amz-Signature=" + esc + "&last=y"
		got := redactURL(u)
		_, query, _ := strings.Cut(got, "?")
		if parts := strings.Split(query, "&"); len(parts) != 3 || parts[1] != "X-Amz-Signature=REDACTED" || parts[0] != "n=1" {
			t.Errorf("redactURL(%q) = %q: want n=1&X-Amz-Signature=REDACTED&...", u, got)
		}
		withUser := "https://" + url.UserPassword("u", secret).String() + "@reg.example/v2/"
		if got := redactURL(withUser); got != "https://reg.example/v2/" {
			t.Errorf("redactURL(%q) = %q, want https://reg.example/v2/", withUser, got)
		}
	})
}

// FuzzSniffIndex: the body check of a referrers 200 with a wrong
// Content-Type. Whatever the body, it never panics; it says yes only to a
// body within the manifest cap whose own fields say image index
// (schemaVersion 2, the index mediaType, a manifests array: the entries are
// the page decoder's business, which refuses bad ones with an error), and
// then the response body still reads as exactly the bytes the registry sent.
func FuzzSniffIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	f.Add([]byte(" \n<!doctype html><html></html>"))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp := &http.Response{Body: io.NopCloser(bytes.NewReader(data)), ContentLength: int64(len(data))}
		ok := sniffIndex(resp)
		if !ok {
			return
		}
		if len(data) > target.MaxManifestBytes {
			t.Fatalf("accepted %d bytes, over the cap", len(data))
		}
		var idx struct {
			SchemaVersion int
			MediaType     string
			Manifests     []json.RawMessage
		}
		if err := json.Unmarshal(data, &idx); err != nil || idx.MediaType != ocispec.MediaTypeImageIndex || idx.SchemaVersion != 2 {
			t.Fatalf("accepted a body that is not an image index: %v %q", err, data)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("the body now reads %q (%v), want %q", got, err, data)
		}
	})
}
