package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestAttachProgress: an upload of 4 MiB or more shows a status line with
// --progress always; --no-progress, --progress never and auto on a
// stderr that is not a terminal show none; a small file never does.
func TestAttachProgress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	if err := os.WriteFile(filepath.Join(f.dir, "big.bin"), make([]byte, 5<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		file  string
		flags []string
		want  bool
	}{
		{"always", "big.bin", []string{"--progress", "always"}, true},
		{"auto, not a terminal", "big.bin", nil, false},
		{"never", "big.bin", []string{"--progress", "never"}, false},
		{"no-progress wins", "big.bin", []string{"--progress", "always", "--no-progress"}, false},
		{"small file", "sbom.json", []string{"--progress", "always"}, false},
	} {
		args := append([]string{"attach", "--plain-http", phRegistry + "/app:v1", phDir + "/" + tc.file,
			"--artifact-type", "application/vnd.example." + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)}, tc.flags...)
		r := f.cli(args...).run(t)
		if r.code != exitOK {
			t.Fatalf("%s: exit %d\n%s", tc.name, r.code, r.stderr)
		}
		got := strings.Contains(r.stderr, "\r\x1b[Kbig.bin  ")
		if got != tc.want || tc.want && !strings.Contains(r.stderr, "5.0 MiB / 5.0 MiB (100%)") {
			t.Errorf("%s: progress shown %v, want %v; stderr %.300q", tc.name, got, tc.want, r.stderr)
		}
	}
	if r := f.cli("attach", phRegistry+"/app:v1", phDir+"/sbom.json", "--artifact-type", "a/b", "--progress", "sometimes").run(t); r.code != exitUsage {
		t.Errorf("--progress sometimes: exit %d, want %d", r.code, exitUsage)
	}
}
