package registry

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// response builds the response a registry would send to method on u.
func response(method, u string, status int, contentType, challenge, body string) *http.Response {
	pu, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if challenge != "" {
		h.Set("WWW-Authenticate", challenge)
	}
	return &http.Response{
		StatusCode: status,
		Header:     h,
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    &http.Request{Method: method, URL: pu},
	}
}

func errBody(code string) string {
	return `{"errors":[{"code":"` + code + `","message":"m"}]}`
}

const (
	jsonCT = "application/json; charset=utf-8"
	textCT = "text/plain; charset=utf-8"
	htmlCT = "text/html; charset=utf-8"
	htmlPg = "<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>"
	bearer = `Bearer realm="https://auth.example/token",service="reg"`
)

// errPlain marks rows whose answer is an error with no sentinel: a hard
// failure that must never read as "unsupported" or "not found".
var errPlain = errors.New("plain error")

// TestJudge drives the one status classifier (judge, through check, so that
// error bodies are parsed as in production) with one row per registry
// behaviour collected in peers.md §4-5 (distribution-spec v1.1.1, Listing Referrers and Unavailable Referrers API).
func TestJudge(t *testing.T) {
	t.Parallel()
	const (
		refURL = "https://reg.example/v2/a/b/referrers/sha256:" + "0000000000000000000000000000000000000000000000000000000000000000"
		manURL = "https://reg.example/v2/a/b/manifests/v1"
		blbURL = "https://reg.example/v2/a/b/blobs/sha256:" + "0000000000000000000000000000000000000000000000000000000000000000"
		upURL  = "https://reg.example/v2/a/b/blobs/uploads/"
		tokURL = "https://auth.example/token"
		index  = ocispec.MediaTypeImageIndex
	)
	tests := []struct {
		name        string
		op          op
		method, url string
		status      int
		contentType string
		challenge   string
		body        string
		conditional bool
		want        error // nil: ok; errPlain: an error without sentinel
	}{
		// Referrers API (distribution-spec v1.1.1 "Listing Referrers").
		{name: "referrers 200 index", op: opReferrers, status: 200, contentType: index, body: `{}`, want: nil},                                                                  // distribution-spec v1.1.1, Listing Referrers
		{name: "referrers 200 index with charset", op: opReferrers, status: 200, contentType: index + "; charset=utf-8", body: `{}`, want: nil},                                 // distribution-spec v1.1.1, Listing Referrers
		{name: "referrers false 200 application/json", op: opReferrers, status: 200, contentType: jsonCT, body: `{"ok":1}`, want: target.ErrUnsupported},                        // distribution-spec v1.1.1, Listing Referrers; sigstore-js #1187
		{name: "referrers false 200 text/html", op: opReferrers, status: 200, contentType: htmlCT, body: htmlPg, want: target.ErrUnsupported},                                   // distribution-spec v1.1.1, Listing Referrers
		{name: "referrers 200 without Content-Type", op: opReferrers, status: 200, body: `{}`, want: target.ErrUnsupported},                                                     // distribution-spec v1.1.1, Listing Referrers
		{name: "referrers 404 text (distribution v3)", op: opReferrers, status: 404, contentType: textCT, body: "404 page not found\n", want: target.ErrUnsupported},            // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 404 JSON MANIFEST_UNKNOWN (GHCR)", op: opReferrers, status: 404, contentType: jsonCT, body: errBody("MANIFEST_UNKNOWN"), want: target.ErrUnsupported}, // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 404 empty body", op: opReferrers, status: 404, want: target.ErrUnsupported},                                                                           // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 404 HTML (GitLab proxy)", op: opReferrers, status: 404, contentType: htmlCT, body: htmlPg, want: target.ErrUnsupported},                               // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 404 NAME_UNKNOWN", op: opReferrers, status: 404, contentType: jsonCT, body: errBody("NAME_UNKNOWN"), want: target.ErrNotFound},                        // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 405", op: opReferrers, status: 405, contentType: jsonCT, body: errBody("UNSUPPORTED"), want: target.ErrUnsupported},                                   // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 406 (old Artifactory)", op: opReferrers, status: 406, contentType: textCT, body: "406 Not Acceptable", want: target.ErrUnsupported},                   // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 400 text without code", op: opReferrers, status: 400, contentType: textCT, body: "bad reference", want: target.ErrUnsupported},                        // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 400 HTML", op: opReferrers, status: 400, contentType: htmlCT, body: htmlPg, want: target.ErrUnsupported},                                              // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 400 JSON without errors", op: opReferrers, status: 400, contentType: jsonCT, body: `{"message":"x"}`, want: target.ErrUnsupported},                    // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 400 DIGEST_INVALID", op: opReferrers, status: 400, contentType: jsonCT, body: errBody("DIGEST_INVALID"), want: errPlain},                              // distribution-spec v1.1.1, Listing Referrers
		{name: "referrers 401 without challenge (Harbor 2.7)", op: opReferrers, status: 401, contentType: jsonCT, body: errBody("UNAUTHORIZED"), want: target.ErrUnsupported},   // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 401 with challenge", op: opReferrers, status: 401, contentType: jsonCT, challenge: bearer, body: errBody("UNAUTHORIZED"), want: errPlain},             // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 403 DENIED", op: opReferrers, status: 403, contentType: jsonCT, body: errBody("DENIED"), want: errPlain},                                              // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 429", op: opReferrers, status: 429, contentType: jsonCT, body: errBody("TOOMANYREQUESTS"), want: errPlain},                                            // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 500", op: opReferrers, status: 500, contentType: jsonCT, body: errBody("UNKNOWN"), want: errPlain},                                                    // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 502 HTML", op: opReferrers, status: 502, contentType: htmlCT, body: htmlPg, want: errPlain},                                                           // distribution-spec v1.1.1, Unavailable Referrers API
		{name: "referrers 503", op: opReferrers, status: 503, want: errPlain},                                                                                                   // distribution-spec v1.1.1, Unavailable Referrers API

		// Manifest PUT.
		{name: "manifest put 201", op: opManifestPut, method: "PUT", status: 201, want: nil},                                                                                                   // distribution-spec v1.1.1, Pushing Manifests with Subject
		{name: "manifest put 412", op: opManifestPut, method: "PUT", status: 412, conditional: true, body: errBody("PRECONDITION_FAILED"), want: target.ErrPreconditionFailed},                 // distribution-spec v1.1.1, Referrers Tag Schema
		{name: "manifest put 400 conditional", op: opManifestPut, method: "PUT", status: 400, conditional: true, body: errBody("UNSUPPORTED"), want: target.ErrConditionalUnsupported},         // distribution-spec v1.1.1, Referrers Tag Schema
		{name: "manifest put 400 conditional MANIFEST_BLOB_UNKNOWN", op: opManifestPut, method: "PUT", status: 400, conditional: true, body: errBody("MANIFEST_BLOB_UNKNOWN"), want: errPlain}, // an index listing a deleted manifest
		{name: "manifest put 501 conditional", op: opManifestPut, method: "PUT", status: 501, conditional: true, want: target.ErrConditionalUnsupported},                                       // distribution-spec v1.1.1, Referrers Tag Schema
		{name: "manifest put 400 plain", op: opManifestPut, method: "PUT", status: 400, body: errBody("MANIFEST_INVALID"), want: errPlain},
		{name: "manifest put 413", op: opManifestPut, method: "PUT", status: 413, body: errBody("SIZE_INVALID"), want: target.ErrTooLarge}, // distribution-spec v1.1.1, Pushing Manifests
		{name: "manifest put 404 NAME_UNKNOWN", op: opManifestPut, method: "PUT", status: 404, body: errBody("NAME_UNKNOWN"), want: errPlain},
		{name: "manifest put 500", op: opManifestPut, method: "PUT", status: 500, want: errPlain},

		// Manifest DELETE.
		{name: "delete 202", op: opManifestDelete, method: "DELETE", status: 202, want: nil},                                                                  // distribution-spec v1.1.1, Deleting Manifests
		{name: "delete 405", op: opManifestDelete, method: "DELETE", status: 405, body: errBody("UNSUPPORTED"), want: target.ErrUnsupported},                  // distribution-spec v1.1.1, Referrers Tag Schema and Deleting Manifests
		{name: "delete 400 UNSUPPORTED code", op: opManifestDelete, method: "DELETE", status: 400, body: errBody("UNSUPPORTED"), want: target.ErrUnsupported}, // distribution-spec v1.1.1, Referrers Tag Schema
		{name: "delete 404", op: opManifestDelete, method: "DELETE", status: 404, body: errBody("MANIFEST_UNKNOWN"), want: target.ErrNotFound},
		{name: "delete 403 DENIED", op: opManifestDelete, method: "DELETE", status: 403, body: errBody("DENIED"), want: errPlain}, // distribution-spec v1.1.1, Referrers Tag Schema

		// Manifest and blob GET/HEAD.
		{name: "manifest get 200", op: opManifestGet, status: 200, contentType: index, want: nil},
		{name: "manifest get 404", op: opManifestGet, status: 404, body: errBody("MANIFEST_UNKNOWN"), want: target.ErrNotFound}, // distribution-spec v1.1.1, Referrers Tag Schema
		{name: "manifest get 404 text", op: opManifestGet, status: 404, body: "404 page not found", want: target.ErrNotFound},   // distribution-spec v1.1.1, Referrers Tag Schema
		{name: "manifest head 404", op: opManifestHead, method: "HEAD", status: 404, want: target.ErrNotFound},                  // distribution-spec v1.1.1, Referrers Tag Schema
		{name: "manifest get 401", op: opManifestGet, status: 401, challenge: bearer, want: errPlain},
		{name: "manifest get 500", op: opManifestGet, status: 500, want: errPlain},
		{name: "blob head 404", op: opBlobHead, method: "HEAD", url: blbURL, status: 404, want: target.ErrNotFound},
		{name: "blob get 200", op: opBlobGet, url: blbURL, status: 200, want: nil},
		{name: "blob get 404", op: opBlobGet, url: blbURL, status: 404, body: errBody("BLOB_UNKNOWN"), want: target.ErrNotFound},

		// Blob upload.
		{name: "upload start 202", op: opUploadStart, method: "POST", url: upURL, status: 202, want: nil},
		{name: "upload start 201 (mounted)", op: opUploadStart, method: "POST", url: upURL, status: 201, want: nil},
		{name: "upload start 404", op: opUploadStart, method: "POST", url: upURL, status: 404, want: errPlain},
		{name: "upload finish 201", op: opUploadFinish, method: "PUT", url: upURL + "x", status: 201, want: nil},
		{name: "upload finish 400 DIGEST_INVALID", op: opUploadFinish, method: "PUT", url: upURL + "x", status: 400, body: errBody("DIGEST_INVALID"), want: target.ErrDigestMismatch}, // distribution-spec v1.1.1, Pushing Manifests with Subject
		{name: "upload finish 400 other", op: opUploadFinish, method: "PUT", url: upURL + "x", status: 400, body: errBody("BLOB_UPLOAD_INVALID"), want: errPlain},

		// Token endpoint and ping: a 404 is an error, not a missing manifest.
		{name: "token 200", op: opToken, url: tokURL, status: 200, want: nil},
		{name: "token 404", op: opToken, url: tokURL, status: 404, want: errPlain},
		{name: "ping 404", op: opPing, url: "https://reg.example/v2/", status: 404, want: errPlain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method, u := tt.method, tt.url
			if method == "" {
				method = http.MethodGet
			}
			if u == "" {
				u = manURL
				if tt.op == opReferrers {
					u = refURL
				}
			}
			err := check(tt.op, response(method, u, tt.status, tt.contentType, tt.challenge, tt.body), tt.conditional)
			switch {
			case tt.want == nil:
				if err != nil {
					t.Fatalf("check = %v, want ok", err)
				}
			case tt.want == errPlain:
				wantPlainError(t, err)
			default:
				if !errors.Is(err, tt.want) {
					t.Fatalf("check = %v, want errors.Is %q", err, tt.want)
				}
			}
			if err == nil {
				return
			}
			var he *HTTPError
			if !errors.As(err, &he) {
				t.Fatalf("check = %T %v, want *HTTPError", err, err)
			}
			if got, want := he.StatusCode, tt.status; got != want {
				t.Errorf("StatusCode = %d, want %d", got, want)
			}
			if got, want := he.Method, method; got != want {
				t.Errorf("Method = %q, want %q", got, want)
			}
			if msg := err.Error(); !strings.Contains(msg, http.StatusText(tt.status)) {
				t.Errorf("message %q does not name the status", msg)
			}
		})
	}
}

// TestJudgeDirect checks rows whose meaning does not depend on the body, on
// judge itself: the conditional flag, the challenge flag.
func TestJudgeDirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		op     op
		a      answer
		wantOK bool
		want   error
	}{
		{"put 400 not conditional", opManifestPut, answer{status: 400}, false, nil},
		{"put 400 conditional", opManifestPut, answer{status: 400, conditional: true}, false, target.ErrConditionalUnsupported}, // distribution-spec v1.1.1, Referrers Tag Schema
		{"put 412 not conditional", opManifestPut, answer{status: 412}, false, target.ErrPreconditionFailed},
		{"referrers 401 challenge", opReferrers, answer{status: 401, challenge: true}, false, nil},                                   // distribution-spec v1.1.1, Unavailable Referrers API
		{"referrers 401 no challenge", opReferrers, answer{status: 401}, false, target.ErrUnsupported},                               // distribution-spec v1.1.1, Unavailable Referrers API
		{"referrers 404 NAME_UNKNOWN", opReferrers, answer{status: 404, codes: []string{"NAME_UNKNOWN"}}, false, target.ErrNotFound}, // distribution-spec v1.1.1, Unavailable Referrers API
		{"referrers 400 with code", opReferrers, answer{status: 400, codes: []string{"DIGEST_INVALID"}}, false, nil},                 // distribution-spec v1.1.1, Listing Referrers
		{"referrers 200 index", opReferrers, answer{status: 200, contentType: ocispec.MediaTypeImageIndex}, true, nil},
		{"referrers 200 body index, octet-stream", opReferrers, answer{status: 200, contentType: "application/octet-stream", bodyIndex: true}, true, nil}, // issue 18
		{"referrers 200 body index, no type", opReferrers, answer{status: 200, bodyIndex: true}, true, nil},                                               // issue 18
		{"referrers 200 not an index", opReferrers, answer{status: 200, contentType: "text/html"}, false, target.ErrUnsupported},
		{"delete 204", opManifestDelete, answer{status: 204}, true, nil},
		{"token 404", opToken, answer{status: 404}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gotOK, gotKind := judge(tt.op, tt.a)
			if gotOK != tt.wantOK || gotKind != tt.want {
				t.Errorf("judge = %v, %v; want %v, %v", gotOK, gotKind, tt.wantOK, tt.want)
			}
		})
	}
}

// readCounter counts the bytes read through it.
type readCounter struct {
	r      io.Reader
	n      int
	closed bool
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func (c *readCounter) Close() error { c.closed = true; return nil }

// TestCheckFalse200DoesNotReadBody: a false 200 (an HTML UI answering every
// path) is judged unsupported after a short prefix of its body (sniffPrefix: it
// does not start like JSON, so it is no image index); the rest, possibly huge,
// is not read, and the body is closed (distribution-spec v1.1.1, "Listing
// Referrers": a client bounds what it reads of an answer).
func TestCheckFalse200DoesNotReadBody(t *testing.T) {
	t.Parallel()
	resp := response("GET", "https://reg.example/v2/a/b/referrers/sha256:x", 200, htmlCT, "", "")
	body := &readCounter{r: strings.NewReader(strings.Repeat("<p>", 1<<20))}
	resp.Body = body
	err := check(opReferrers, resp, false)
	if !errors.Is(err, target.ErrUnsupported) {
		t.Fatalf("check = %v, want ErrUnsupported", err)
	}
	if got, limit := body.n, sniffPrefix; got > limit {
		t.Errorf("read %d bytes of the body, want at most %d", got, limit)
	}
	if !body.closed {
		t.Error("body not closed")
	}
}
