package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyHost runs the example against the golden trees: a verdict met,
// one not met, an error (never a verdict) and bad usage.
func TestPolicyHost(t *testing.T) {
	t.Parallel()
	trees := filepath.Join("..", "..", "testdata", "trees")
	layout, static := filepath.Join(trees, "layout"), filepath.Join(trees, "static")
	cache := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"met (layout)", []string{"--layout", layout, "--subject", "v1", "--require", "application/spdx+json,application/vnd.example.scan+json"}, exitOK, "application/vnd.example.scan+json  1      1    ok"},
		{"met (static)", []string{"--static", static, "--name", "app", "--subject", "v1", "--require", "application/spdx+json"}, exitOK, "ok"},
		{"not met", []string{"--layout", layout, "--subject", "v1", "--require", "application/spdx+json", "--min", "2", "--format", "json"}, exitNotMet, `"pass": false`},
		{"no such tag", []string{"--layout", layout, "--subject", "v9", "--require", "application/spdx+json"}, exitError, ""},
		{"no such tree", []string{"--layout", filepath.Join(t.TempDir(), "none"), "--subject", "v1", "--require", "a/b"}, exitError, ""},
		{"usage", []string{"--layout", layout, "--static", static, "--subject", "v1", "--require", "a/b"}, exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(tt.args, "--cache", cache, "--timeout", "2m"), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.out) {
				t.Errorf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			if code == exitError && (stdout.Len() != 0 || !strings.Contains(stderr.String(), "error")) {
				t.Errorf("an error printed a verdict or no message: stdout %q stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}
