package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// TestTimeoutFlag: --timeout bounds the whole command against a registry
// that accepts connections and never answers (its own 60 s silence bound
// would come much later); the error says which bound expired, the exit code
// is 1; a bad DURATION is a usage error (exit 2) before any request.
func TestTimeoutFlag(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var requests int
	var mu = make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu <- struct{}{}
		requests++
		<-mu
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	host := strings.TrimPrefix(srv.URL, "http://")
	subject := host + "/app@" + digest.FromString("subject").String()

	for _, cmd := range [][]string{
		{"list", subject},
		{"check", subject, "--require", "application/x"},
		{"attach", subject, "--artifact-type", "application/x"},
	} {
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := run(context.Background(), append(cmd, "--plain-http", "--timeout", "300ms"), fakeGetenv(t, nil), strings.NewReader(""), &stdout, &stderr)
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("%s: took %s", cmd[0], elapsed)
		}
		if code != exitError || !strings.Contains(stderr.String(), "error: --timeout 300ms expired while ") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and the --timeout named", cmd[0], code, stderr.String())
		}
	}

	mu <- struct{}{}
	before := requests
	<-mu
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"list", subject, "--plain-http", "--timeout", "soon"}, fakeGetenv(t, nil), strings.NewReader(""), &stdout, &stderr)
	mu <- struct{}{}
	after := requests
	<-mu
	if code != exitUsage || !strings.Contains(stderr.String(), `invalid value "soon" for flag --timeout`) || after != before {
		t.Errorf("--timeout soon: exit %d, %d requests, stderr %q; want 2, none", code, after-before, stderr.String())
	}
}
