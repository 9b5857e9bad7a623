package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/syncbuf"
)

// TestReferrersAnswerByBody drives Referrers with the answers a registry or a
// plain web server can give to a referrers GET: an image index is used by its
// own mediaType whatever the Content-Type says (with a --debug note), a 200
// whose body is not an image index is judged unsupported with a
// target.UnsupportedAnswer naming the Content-Type (the listing warns and reads the tag
// schema), and a 404 is the spec's "no API" with no reason (issue 18).
func TestReferrersAnswerByBody(t *testing.T) {
	t.Parallel()
	subject := digest.FromString("subject")
	entry := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("referrer"), Size: 12,
		ArtifactType: "application/spdx+json"}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{entry}}
	idx.SchemaVersion = 2
	index, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	noMediaType := strings.Replace(string(index), `"mediaType":"`+ocispec.MediaTypeImageIndex+`",`, "", 1)
	if noMediaType == string(index) {
		t.Fatal("test index has no top-level mediaType to drop")
	}
	const html = "<!DOCTYPE html><html><body>registry UI</body></html>"
	tests := []struct {
		name        string
		status      int
		contentType string // "-": no Content-Type header at all
		body        string
		filtersHdr  bool
		// want: nil (listed), ErrUnsupported (fallback) or the error's class.
		want       error
		wantReason string // UnsupportedAnswer.Reason, exactly ("" for none)
		wantDebug  string // in the debug output ("" = no "for an image index" note)
	}{
		{name: "index, correct type", status: 200, contentType: ocispec.MediaTypeImageIndex, body: string(index)},
		{name: "index, octet-stream", status: 200, contentType: "application/octet-stream", body: string(index),
			wantDebug: `the registry sent Content-Type "application/octet-stream" for an image index`},
		{name: "index, text/plain", status: 200, contentType: "text/plain; charset=utf-8", body: string(index),
			wantDebug: `the registry sent Content-Type "text/plain" for an image index`},
		{name: "index, no Content-Type", status: 200, contentType: "-", body: string(index),
			wantDebug: `the registry sent Content-Type "" for an image index`},
		{name: "index, leading whitespace, application/json", status: 200, contentType: "application/json", body: "\n  " + string(index),
			wantDebug: `the registry sent Content-Type "application/json" for an image index`},
		{name: "index, wrong type, filter header", status: 200, contentType: "application/octet-stream", body: string(index), filtersHdr: true,
			wantDebug: "for an image index"},
		{name: "HTML 200", status: 200, contentType: "text/html; charset=utf-8", body: html, want: target.ErrUnsupported,
			wantReason: "the referrers endpoint answered 200 with Content-Type text/html; charset=utf-8, not an image index"},
		{name: "HTML 200 without Content-Type", status: 200, contentType: "-", body: html, want: target.ErrUnsupported,
			wantReason: "the referrers endpoint answered 200 with no Content-Type, not an image index"},
		{name: "JSON 200 not an index", status: 200, contentType: "application/json", body: `{"ok":1}`, want: target.ErrUnsupported,
			wantReason: "the referrers endpoint answered 200 with Content-Type application/json, not an image index"},
		{name: "image manifest 200", status: 200, contentType: "application/octet-stream",
			body: `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":{},"layers":[]}`, want: target.ErrUnsupported,
			wantReason: "the referrers endpoint answered 200 with Content-Type application/octet-stream, not an image index"},
		{name: "index without its own mediaType, wrong type", status: 200, contentType: "application/octet-stream", body: noMediaType,
			want: target.ErrUnsupported, wantReason: "the referrers endpoint answered 200 with Content-Type application/octet-stream, not an image index"},
		{name: "index mediaType, schemaVersion 1", status: 200, contentType: "text/plain",
			body: `{"schemaVersion":1,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[]}`, want: target.ErrUnsupported,
			wantReason: "the referrers endpoint answered 200 with Content-Type text/plain, not an image index"},
		{name: "index mediaType, manifests not an array", status: 200, contentType: "text/plain",
			body: `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":{}}`, want: target.ErrUnsupported,
			wantReason: "the referrers endpoint answered 200 with Content-Type text/plain, not an image index"},
		// found by FuzzSniffIndex: an index by its fields whose entries are
		// not descriptors is an error of the page, not "no referrers"
		{name: "index by its fields, a bad entry, wrong type", status: 200, contentType: "text/plain",
			body: `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[{"mediaType":0}]}`, want: target.ErrInvalidManifest,
			wantDebug: `the registry sent Content-Type "text/plain" for an image index`},
		{name: "404 text", status: 404, contentType: "text/plain; charset=utf-8", body: "404 page not found", want: target.ErrUnsupported},
		{name: "index, wrong type, over 4 MiB", status: 200, contentType: "application/octet-stream",
			body: string(index[:len(index)-1]) + `,"annotations":{"x":"` + strings.Repeat("a", target.MaxManifestBytes) + `"}}`, want: target.ErrUnsupported,
			wantReason: "the referrers endpoint answered 200 with Content-Type application/octet-stream, not an image index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasSuffix(r.URL.Path, "/referrers/"+subject.String()) {
					http.NotFound(w, r)
					return
				}
				if tt.contentType == "-" {
					w.Header()["Content-Type"] = nil // no sniffing either
				} else {
					w.Header().Set("Content-Type", tt.contentType)
				}
				if tt.filtersHdr {
					w.Header().Set("OCI-Filters-Applied", "artifactType")
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			var debug syncbuf.Buffer
			repo := repoAt(t, newClient(WithDebug(&debug)), strings.TrimPrefix(srv.URL, "http://"), "app")
			filter := ""
			if tt.filtersHdr {
				filter = entry.ArtifactType
			}
			res, err := repo.Referrers(t.Context(), subject, filter)
			switch tt.want {
			case nil:
				if err != nil {
					t.Fatalf("Referrers: %v", err)
				}
				if len(res.Manifests) != 1 || res.Manifests[0].Digest != entry.Digest || res.Manifests[0].ArtifactType != entry.ArtifactType {
					t.Errorf("Manifests = %+v, want the one entry", res.Manifests)
				}
				if got, want := res.FilterApplied, tt.filtersHdr; got != want {
					t.Errorf("FilterApplied = %v, want %v (only OCI-Filters-Applied says so)", got, want)
				}
			default:
				if !errors.Is(err, tt.want) {
					t.Fatalf("Referrers = %v, want errors.Is %v", err, tt.want)
				}
				got := target.UnsupportedReason(err)
				if ua := (*target.UnsupportedAnswer)(nil); errors.As(err, &ua) != (got != "") {
					t.Errorf("errors.As finds %v, UnsupportedReason %q", ua, got)
				}
				if got != tt.wantReason {
					t.Errorf("UnsupportedAnswer.Reason = %q, want %q", got, tt.wantReason)
				}
			}
			note := "for an image index"
			if tt.wantDebug == "" {
				if strings.Contains(debug.String(), note) {
					t.Errorf("debug has a Content-Type note, want none:\n%s", debug.String())
				}
			} else if !strings.Contains(debug.String(), tt.wantDebug) {
				t.Errorf("debug output lacks %q:\n%s", tt.wantDebug, debug.String())
			}
		})
	}
}

// TestResolveHeaderless resolves manifests on a server that sends no
// Docker-Content-Digest and a generic Content-Type (a plain web server
// serving a static tree): by tag and by digest the descriptor carries the
// manifest's own mediaType, its digest is computed from the bytes (and checked
// against a digest reference), and a server that sends other bytes for a
// digest is refused (issue 18).
func TestResolveHeaderless(t *testing.T) {
	t.Parallel()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	body, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(body)
	other := digest.FromString("other")
	for _, ct := range []string{"-", "application/octet-stream", "text/plain; charset=utf-8", "application/json"} {
		t.Run(ct, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/v2/app/manifests/v1", "/v2/app/manifests/" + d.String(), "/v2/app/manifests/" + other.String():
				default:
					http.NotFound(w, r)
					return
				}
				if ct == "-" {
					w.Header()["Content-Type"] = nil
				} else {
					w.Header().Set("Content-Type", ct)
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				if r.Method == http.MethodHead {
					return
				}
				w.Write(body)
			}))
			defer srv.Close()
			repo := repoAt(t, newClient(), strings.TrimPrefix(srv.URL, "http://"), "app")
			for _, reference := range []string{"v1", d.String()} {
				desc, err := repo.Resolve(t.Context(), reference)
				if err != nil {
					t.Fatalf("Resolve(%s): %v", reference, err)
				}
				if desc.MediaType != ocispec.MediaTypeImageIndex || desc.Digest != d || desc.Size != int64(len(body)) {
					t.Errorf("Resolve(%s) = %+v, want %s %s %d", reference, desc, ocispec.MediaTypeImageIndex, d, len(body))
				}
			}
			tg, err := repo.FetchTagged(t.Context(), "v1")
			if err != nil || tg.Descriptor.MediaType != ocispec.MediaTypeImageIndex || tg.Descriptor.Digest != d {
				t.Errorf("FetchTagged = %+v, %v; want %s %s", tg.Descriptor, err, ocispec.MediaTypeImageIndex, d)
			}
			if _, err := repo.Resolve(t.Context(), other.String()); !errors.Is(err, target.ErrDigestMismatch) {
				t.Errorf("Resolve of a digest the bytes do not have = %v, want ErrDigestMismatch", err)
			}
		})
	}
}
