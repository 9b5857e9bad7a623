package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServe runs `referrers serve` in-process on a free loopback port: it
// prints where it listens, answers, and stops cleanly when its context ends.
func TestServe(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tree") // created because pushes are allowed
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "static:" + dir, "--addr", "127.0.0.1:0", "--allow-delete", "--token-file", token}, noEnv, strings.NewReader(""), io.Discard, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output; exit %d", <-code)
	}
	first := lines.Text()
	m := regexp.MustCompile(`^serving static:(.+) on (http://127\.0\.0\.1:\d+) \((.*)\)$`).FindStringSubmatch(first)
	if m == nil || m[1] != dir {
		t.Fatalf("first line %q", first)
	}
	if want := "anyone may pull and delete; token holders may also push and delete"; m[3] != want {
		t.Errorf("access %q, want %q", m[3], want)
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		rest <- b.String()
	}()
	for _, c := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/v2/", "", 200},
		{"POST", "/v2/app/blobs/uploads/", "", 401},
		{"POST", "/v2/app/blobs/uploads/", "Bearer s3cret", 202},
		{"GET", "/v2/app/tags/list", "", 404},
	} {
		req, _ := http.NewRequest(c.method, m[2]+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
	cancel()
	select {
	case got := <-code:
		if got != exitOK {
			t.Errorf("exit %d after the context ended", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if out := <-rest; out != "stopped\n" {
		t.Errorf("after the first line: %q", out)
	}
}

func TestServeUsage(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no tree", []string{"serve"}, exitUsage, "want exactly one static:DIR"},
		{"not static", []string{"serve", "oci:x"}, exitUsage, "serve takes static:DIR"},
		{"with a name", []string{"serve", "static:dir:app"}, exitUsage, "without :NAME"},
		{"empty token", []string{"serve", "static:" + t.TempDir(), "--token-file", empty}, exitUsage, "is empty"},
		{"missing tree, read-only", []string{"serve", "static:" + filepath.Join(t.TempDir(), "nope"), "--addr", "127.0.0.1:0"}, exitError, "serve static tree"},
		{"bad address", []string{"serve", "static:" + t.TempDir(), "--addr", "127.0.0.1:99999"}, exitError, "listen on 127.0.0.1:99999"},
		{"bad flag", []string{"serve", "static:x", "--nope"}, exitUsage, "flag provided but not defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var stderr strings.Builder
			got := run(context.Background(), c.args, noEnv, strings.NewReader(""), io.Discard, &stderr)
			if got != c.code || !strings.Contains(stderr.String(), c.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", got, stderr.String(), c.code, c.msg)
			}
		})
	}
}

func noEnv(string) string { return "" }
