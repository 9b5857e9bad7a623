package progress

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oci-referrers/referrers/core/referrers"
)

// clock advances one second at every reading.
func clock() func() time.Time {
	t := time.Unix(0, 0)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestLine(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	m := New(&out, Line, "sbom.json", 8<<20, clock())
	n, err := io.Copy(io.Discard, m.Reader(io.LimitReader(zeros{}, 8<<20)))
	if err != nil || n != 8<<20 {
		t.Fatalf("copy: %d, %v", n, err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "\r\x1b[Ksbom.json  ") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("line output %.300q", s)
	}
	last := s[strings.LastIndex(s, "\r\x1b[K"):]
	for _, want := range []string{"8.0 MiB / 8.0 MiB (100%)", "/s"} {
		if !strings.Contains(last, want) {
			t.Errorf("last status %q does not contain %q", last, want)
		}
	}
	if strings.Count(s, "\n") != 1 {
		t.Errorf("%d line ends, want 1 (the line is redrawn in place): ...%q", strings.Count(s, "\n"), s[max(0, len(s)-300):])
	}
	if !strings.Contains(s, " left") {
		t.Errorf("no time left shown: %.300q", s)
	}
}

func TestQuarters(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	m := New(&out, Quarters, "big.tar", 1000, clock())
	r := m.Reader(strings.NewReader(strings.Repeat("x", 1000)))
	buf := make([]byte, 100)
	for {
		if _, err := r.Read(buf); err != nil {
			break
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), out.String())
	}
	for i, l := range lines {
		var pct int
		if _, err := fmt.Sscanf(l[strings.Index(l, "(")+1:], "%d%%", &pct); err != nil || pct < 25*(i+1) || strings.Contains(l, "\r") {
			t.Errorf("line %d %q: want at least %d%% and no carriage return", i, l, 25*(i+1))
		}
	}
	if !strings.Contains(lines[3], "(100%)") {
		t.Errorf("last line %q is not at 100%%", lines[3])
	}
}

func TestHostileName(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	m := New(&out, Quarters, "x\x1b]0;pwned\a\n::error::no", 4, clock())
	io.Copy(io.Discard, m.Reader(strings.NewReader("abcd")))
	if s := out.String(); strings.ContainsAny(s, "\x1b\a") || strings.Contains(s, "\n::error") {
		t.Fatalf("name not escaped: %q", s)
	}
}

// TestArtifact: blobs of Threshold bytes or more report, smaller ones do
// not; a resend (Seek to 0) counts from zero again and keeps Seek.
func TestArtifact(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, make([]byte, Threshold), 0o644); err != nil {
		t.Fatal(err)
	}
	bb, err := referrers.FileBlob(big, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	small := referrers.BytesBlob("text/plain", []byte("small"))
	art := referrers.Artifact{ArtifactType: "application/x", Layers: []referrers.Blob{bb, small}}
	var out bytes.Buffer
	var made []string
	Artifact(&art, func(name string, total int64) *Meter {
		made = append(made, name)
		return New(&out, Quarters, name, total, clock())
	})
	if len(made) != 1 || made[0] != "big.bin" {
		t.Fatalf("meters for %v, want [big.bin]", made)
	}
	rc, err := art.Layers[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	io.CopyN(io.Discard, rc, Threshold/2)
	s, ok := rc.(io.Seeker)
	if !ok {
		t.Fatal("the wrapped file lost its Seek")
	}
	if _, err := s.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	if got := strings.Count(out.String(), "(100%)"); got != 1 {
		t.Errorf("100%% reported %d times:\n%s", got, out.String())
	}
	if got := strings.Count(out.String(), "(50%)"); got != 2 {
		t.Errorf("50%% reported %d times, want 2 (before and after the resend):\n%s", got, out.String())
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
