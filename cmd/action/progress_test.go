package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestUploadProgress: a file of 4 MiB or more logs one line per quarter of
// its upload; a small one logs none.
func TestUploadProgress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	if err := os.WriteFile(filepath.Join(f.dir, "big.tar"), make([]byte, 6<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	r := f.run(t, step{inputs: attachInputs(map[string]string{"files": "DIR/big.tar:application/x-tar\n"})})
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr+r.stdout)
	}
	var lines []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "uploading big.tar  ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 4 || !strings.Contains(lines[3], "6.0 MiB / 6.0 MiB (100%)") {
		t.Errorf("progress lines %q, want 4 ending at 100%%\nstdout: %.1000s", lines, r.stdout)
	}
	if strings.Contains(r.stdout, "\r") {
		t.Errorf("a log line holds a carriage return")
	}
	small := f.run(t, step{inputs: attachInputs(map[string]string{"artifact-type": "application/vnd.example.small"})})
	if small.code != 0 || strings.Contains(small.stdout, "uploading ") {
		t.Errorf("small file: exit %d, stdout %.500q", small.code, small.stdout)
	}
}
