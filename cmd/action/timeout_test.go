package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// TestTimeoutInput: the timeout input is a Go duration (empty: none; a bad
// one is an input error), and it bounds the whole command against a
// registry that never answers: the step fails within it, and the error
// annotation names the input.
func TestTimeoutInput(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{"": 0, "0": 0, "90s": 90 * time.Second, " 5m ": 5 * time.Minute} {
		in, err := readInputs(func(k string) string {
			return map[string]string{"INPUT_SUBJECT": "r.example/app:v1", "INPUT_COMMAND": "list", "INPUT_TIMEOUT": v}[k]
		})
		if err != nil || in.timeout != want {
			t.Errorf("timeout %q: %s, %v; want %s", v, in.timeout, err, want)
		}
	}
	for _, v := range []string{"soon", "-1s", "10"} {
		_, err := readInputs(func(k string) string {
			return map[string]string{"INPUT_SUBJECT": "r.example/app:v1", "INPUT_COMMAND": "list", "INPUT_TIMEOUT": v}[k]
		})
		var ie inputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "input timeout") {
			t.Errorf("timeout %q: %v; want an input error naming it", v, err)
		}
	}

	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	env := map[string]string{
		"HOME":             filepath.Join(t.TempDir(), "home"),
		"INPUT_COMMAND":    "list",
		"INPUT_SUBJECT":    strings.TrimPrefix(srv.URL, "http://") + "/app@" + digest.FromString("s").String(),
		"INPUT_PLAIN_HTTP": "true",
		"INPUT_SUMMARY":    "false",
		"INPUT_TIMEOUT":    "300ms",
	}
	var stdout, stderr bytes.Buffer
	a := newAction(func(k string) string { return env[k] }, &stdout, &stderr)
	start := time.Now()
	code := a.run(context.Background())
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s", elapsed)
	}
	if out := stdout.String() + stderr.String(); code != exitError || !strings.Contains(out, "input timeout 300ms expired while ") {
		t.Errorf("exit %d, output %q; want 1 and the timeout input named", code, out)
	}
}
