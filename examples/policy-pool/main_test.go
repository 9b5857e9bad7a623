package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyPool runs the example with 8 goroutines sharing a pool of 2
// instances (run it with -race): 300 checks, each subject's answers all
// alike, the instances reused.
func TestPolicyPool(t *testing.T) {
	t.Parallel()
	layout := filepath.Join("..", "..", "testdata", "trees", "layout")
	cache := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"met and not met", []string{"--subjects", "v1,multi,v512", "--require", "application/spdx+json", "--repeat", "100"}, exitOK,
			[]string{"v1: met (100 checks)", "multi: met (100 checks)", "v512: met (100 checks)"}},
		{"not met", []string{"--subjects", "v1,multi", "--require", "application/spdx+json,application/vnd.example.scan+json", "--repeat", "20"}, exitNotMet,
			[]string{"v1: met (20 checks)", "multi: not met (20 checks)"}},
		{"an error is no verdict", []string{"--subjects", "v1,absent", "--require", "application/spdx+json", "--repeat", "10"}, exitError,
			[]string{"v1: met (10 checks)"}},
		{"usage", []string{"--subjects", "v1"}, exitUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			args := append([]string{"--layout", layout, "--workers", "8", "--instances", "2", "--cache", cache, "--timeout", "2m"}, tt.args...)
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, want := range tt.out {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if code != exitUsage && !strings.Contains(stderr.String(), "on 2 instances") && !strings.Contains(stderr.String(), "on 1 instances") {
				t.Errorf("the pool made more instances than its size: %s", stderr.String())
			}
		})
	}
}
