package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoNetworkInTheModule checks, from the build graph of the WASI builds
// (the command and the reactor), that the modules link no network code and none of the front ends'
// dependencies: it has no sockets to use them with, and they would double
// its size.
func TestNoNetworkInTheModule(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-deps", ".", "./reactor")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps (GOOS=wasip1): %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list gave %d packages; the check would prove nothing", len(deps))
	}
	for _, d := range deps {
		switch {
		case d == "net" || strings.HasPrefix(d, "net/"), d == "crypto/tls",
			strings.HasSuffix(d, "/core/registry"), strings.HasSuffix(d, "/core/credential"),
			strings.HasPrefix(d, "github.com/tetratelabs/wazero"), strings.HasPrefix(d, "github.com/sethvargo/"):
			t.Errorf("the WASI module depends on %s", d)
		}
	}
}

// TestRun checks the command's contract natively: one response line on
// stdout, the exit code of the error class, a diagnostic on stderr.
func TestRun(t *testing.T) {
	t.Parallel()
	layout, err := filepath.Abs(filepath.Join("..", "testdata", "trees", "layout"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in    string
		code        int
		stdout      string // a substring
		quietStderr bool
	}{
		{"list", `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"` + layout + `"},"subject":"v1"}`, 0, `"kind":"ListResult"`, true},
		{"malformed", `{"kind":"List"}`, 2, `"code":"MalformedRequest"`, false},
		{"unreadable", `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/nonexistent/tree"},"subject":"v1"}`, 3, `"code":"SourceUnreadable"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), strings.NewReader(tt.in), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || strings.Count(stdout.String(), "\n") != 1 {
				t.Errorf("exit %d, stdout %q; want %d and one line with %q", code, stdout.String(), tt.code, tt.stdout)
			}
			if (stderr.Len() == 0) != tt.quietStderr {
				t.Errorf("stderr %q", stderr.String())
			}
		})
	}
}
