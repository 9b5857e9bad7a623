package frontend

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func noEnv(string) string { return "" }

// TestBuildStdin checks the file "-": read from Stdin into SpoolDir, titled
// StdinName, and the input errors around it.
func TestBuildStdin(t *testing.T) {
	t.Parallel()
	const content = "from standard input\n"
	tests := []struct {
		name      string
		files     []string
		stdin     io.Reader
		stdinName string
		wantTitle string // of the last layer
		wantType  string
		wantData  string
		wantErr   string // substring; "" = no error
		wantInput bool   // the error is ErrInput
	}{
		{name: "stdin", files: []string{"-:application/spdx+json"}, stdin: strings.NewReader(content), stdinName: "sbom.json",
			wantTitle: "sbom.json", wantType: "application/spdx+json", wantData: content},
		{name: "no media type", files: []string{"-"}, stdin: strings.NewReader(content), stdinName: "a.txt",
			wantTitle: "a.txt", wantType: "application/octet-stream", wantData: content},
		{name: "no Stdin: - is a file name", files: []string{"-"}, wantErr: "-", wantInput: false},
		{name: "twice", files: []string{"-", "-"}, stdin: strings.NewReader(content), stdinName: "a",
			wantErr: "only once", wantInput: true},
		{name: "no name", files: []string{"-"}, stdin: strings.NewReader(content),
			wantErr: "needs --stdin-name NAME", wantInput: true},
		{name: "name without -", stdin: strings.NewReader(content), stdinName: "a",
			wantErr: "not among the files", wantInput: true},
		{name: "name with a separator", files: []string{"-"}, stdin: strings.NewReader(content), stdinName: `a\b`,
			wantErr: "without a directory", wantInput: true},
		{name: "bad media type", files: []string{"-:text/pl ain"}, stdin: strings.NewReader(content), stdinName: "a",
			wantErr: `file -: media type "text/pl ain"`},
		{name: "read error", files: []string{"-"}, stdin: errReader{}, stdinName: "a", wantErr: "spool standard input: broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spool := t.TempDir()
			art, err := ArtifactSpec{
				ArtifactType: "application/vnd.example",
				Files:        tt.files,
				Stdin:        tt.stdin,
				StdinName:    tt.stdinName,
				SpoolDir:     spool,
			}.Build(noEnv, time.Now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if got := errors.Is(err, ErrInput); got != tt.wantInput {
					t.Errorf("errors.Is(err, ErrInput) = %v, want %v", got, tt.wantInput)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := art.Layers[len(art.Layers)-1]
			d := l.Descriptor
			if got := d.Annotations[ocispec.AnnotationTitle]; got != tt.wantTitle {
				t.Errorf("title = %q, want %q", got, tt.wantTitle)
			}
			if d.MediaType != tt.wantType {
				t.Errorf("media type = %q, want %q", d.MediaType, tt.wantType)
			}
			if want := digest.FromString(tt.wantData); d.Digest != want || d.Size != int64(len(tt.wantData)) {
				t.Errorf("descriptor = %s (%d bytes), want %s (%d bytes)", d.Digest, d.Size, want, len(tt.wantData))
			}
			// The blob reopens (a push reads it again), from the spool.
			rc, err := l.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(b) != tt.wantData {
				t.Errorf("reopened: %q, %v; want %q", b, err, tt.wantData)
			}
			if entries, _ := os.ReadDir(spool); len(entries) != 1 {
				t.Errorf("%d files in the spool directory, want 1", len(entries))
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken") }

// TestBuildStdinNeedsSpoolDir: reading Stdin without a SpoolDir is the
// caller's mistake, reported rather than leaving a file behind.
func TestBuildStdinNeedsSpoolDir(t *testing.T) {
	t.Parallel()
	_, err := ArtifactSpec{ArtifactType: "a/b", Files: []string{"-"}, Stdin: strings.NewReader("x"), StdinName: "x"}.Build(noEnv, time.Now)
	if err == nil || !strings.Contains(err.Error(), "SpoolDir") {
		t.Fatalf("err = %v, want one naming SpoolDir", err)
	}
}

// TestReadsStdin checks which file arguments read standard input.
func TestReadsStdin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		files []string
		want  bool
	}{
		{nil, false},
		{[]string{"a.txt"}, false},
		{[]string{"a.txt", "-"}, true},
		{[]string{"-:text/plain"}, true},
		{[]string{filepath.Join(dir, "-")}, false},
		{[]string{"./-"}, false},
	} {
		if got := ReadsStdin(tt.files); got != tt.want {
			t.Errorf("ReadsStdin(%q) = %v, want %v", tt.files, got, tt.want)
		}
	}
}
