package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/target"
)

// TestRedactURL: userinfo and fragment go, every query value is REDACTED
// except the spec's own parameters (n, last, artifactType, digest, mount,
// from) and the token flow's service and scope, and even those when they
// hold a character such values never use.
func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://reg.example/v2/a/referrers/sha256:x", "https://reg.example/v2/a/referrers/sha256:x"},
		{"https://u:pw@reg.example/v2/", "https://reg.example/v2/"},
		{"https://cdn.example/b?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc#frag",
			"https://cdn.example/b?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED"},
		{"https://reg.example/v2/a/referrers/sha256:x?n=10&last=sha256%3Ay&artifactType=application%2Fspdx%2Bjson",
			"https://reg.example/v2/a/referrers/sha256:x?n=10&last=sha256%3Ay&artifactType=application%2Fspdx%2Bjson"},
		{"https://reg.example/v2/a/blobs/uploads/u?_state=SECRET&digest=sha256%3Aab",
			"https://reg.example/v2/a/blobs/uploads/u?_state=REDACTED&digest=sha256%3Aab"},
		{"https://auth.example/token?scope=repository%3Aa%3Apull&service=reg&account=bob",
			"https://auth.example/token?scope=repository%3Aa%3Apull&service=reg&account=REDACTED"},
		{"https://reg.example/x?n=1;sig=SECRET", "https://reg.example/x?n=REDACTED"},
		{"https://reg.example/x?SECRETTOKEN", "https://reg.example/x?REDACTED"},
		{"https://reg.example/x?", "https://reg.example/x"},
		{"https://reg.example/x?a%ZZ=SECRET", "https://reg.example/x?a%ZZ=REDACTED"},
		{"http://u:p@h/%zz?sig=SECRET", "http://h/%zz?REDACTED"}, // does not parse
		// does not parse (a control character): rendered by sanitize
		{"https://reg.example/\x1b[31mred?sig=SECRET", sanitize("https://reg.example/\x1b[31mred?REDACTED", maxPrintedURL)},
	} {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestResolveErrorNamesDigest: a failed resolve of a digest says
// REPO@DIGEST, of a tag REPO:TAG (issue 13, item 8c).
func TestResolveErrorNamesDigest(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c := newClient()
	r := repoAt(t, c, strings.TrimPrefix(srv.URL, "http://"), "app")
	d := digest.FromString("x")
	_, err := r.Resolve(context.Background(), d.String())
	if !errors.Is(err, target.ErrNotFound) || !strings.Contains(err.Error(), "resolve "+r.Name()+"@"+d.String()+":") {
		t.Errorf("resolve by digest: %v; want ErrNotFound naming %s@%s", err, r.Name(), d)
	}
	_, err = r.Resolve(context.Background(), "v1")
	if !errors.Is(err, target.ErrNotFound) || !strings.Contains(err.Error(), "resolve "+r.Name()+":v1:") {
		t.Errorf("resolve by tag: %v; want ErrNotFound naming %s:v1", err, r.Name())
	}
}

// TestTimeoutsOption: the defaults configure the client's own transport;
// zero fields keep a default, negative ones turn the bound off; a caller's
// Transport is left as it is.
func TestTimeoutsOption(t *testing.T) {
	c := New()
	tr := c.hc.Transport.(*http.Transport)
	if tr.TLSHandshakeTimeout != 30*time.Second || tr.DialContext == nil || c.timeouts != DefaultTimeouts {
		t.Errorf("default: TLS %s, timeouts %+v; want 30s and %+v", tr.TLSHandshakeTimeout, c.timeouts, DefaultTimeouts)
	}
	c = New(WithTimeouts(Timeouts{TLSHandshake: 5 * time.Second, Idle: -1}))
	want := Timeouts{Dial: 30 * time.Second, TLSHandshake: 5 * time.Second, ResponseHeaders: 60 * time.Second}
	if c.timeouts != want || c.hc.Transport.(*http.Transport).TLSHandshakeTimeout != 5*time.Second {
		t.Errorf("timeouts %+v, want %+v", c.timeouts, want)
	}
	own := &http.Transport{}
	New(WithHTTPClient(&http.Client{Transport: own}), WithTimeouts(Timeouts{TLSHandshake: time.Second}))
	if own.TLSHandshakeTimeout != 0 || own.DialContext != nil {
		t.Error("a caller's Transport was changed")
	}
}

// TestTimeoutErrorText: the message names method, redacted URL and what
// stalled, and errors.Is finds ErrTimeout.
func TestTimeoutErrorText(t *testing.T) {
	e := &TimeoutError{Method: "GET", URL: redactURL("https://h/v2/app/referrers/sha256:x?sig=S"), Stalled: "no response headers within " + seconds(60*time.Second)}
	if got, want := e.Error(), "GET https://h/v2/app/referrers/sha256:x?sig=REDACTED: no response headers within 60s"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, ErrTimeout) || seconds(200*time.Millisecond) != "200ms" {
		t.Error("not ErrTimeout, or 200ms rendered otherwise")
	}
}
