package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/fakeregistry"
)

// TestAttachStdin attaches a file read from standard input ("-"), titled by
// --stdin-name, and checks the usage errors around it.
func TestAttachStdin(t *testing.T) {
	t.Parallel()
	const content = `{"spdxVersion":"SPDX-2.3","name":"from-stdin"}` + "\n"
	tests := []struct {
		name      string
		files     map[string]string // created under DIR
		stdin     string
		args      []string // after "attach REGISTRY/app:v1"
		wantCode  int
		wantTitle string
		wantType  string
		wantData  string // the layer's content; defaults to stdin
		wantLayer map[string]string
		stderrHas string
	}{
		{name: "with a media type", stdin: content, args: []string{"-:application/spdx+json", "--stdin-name", "sbom.spdx.json"},
			wantTitle: "sbom.spdx.json", wantType: "application/spdx+json"},
		{name: "without a media type", stdin: content, args: []string{"-", "--stdin-name", "sbom.spdx.json"},
			wantTitle: "sbom.spdx.json", wantType: "application/octet-stream"},
		{name: "empty", args: []string{"-", "--stdin-name", "empty.txt"}, wantTitle: "empty.txt", wantType: "application/octet-stream"},
		{name: "beside a file", stdin: content, args: []string{"DIR/sig.bin", "-:application/spdx+json", "--stdin-name", "sbom.spdx.json"},
			wantTitle: "sbom.spdx.json", wantType: "application/spdx+json"},
		{name: "annotation file names it", stdin: content, files: map[string]string{"ann.json": `{"sbom.spdx.json":{"k":"v"}}`},
			args:      []string{"-", "--stdin-name", "sbom.spdx.json", "--annotation-file", "DIR/ann.json"},
			wantTitle: "sbom.spdx.json", wantType: "application/octet-stream",
			wantLayer: map[string]string{ocispec.AnnotationTitle: "sbom.spdx.json", "k": "v"}},
		{name: "a file named - is a file", stdin: "not read", files: map[string]string{"-": content},
			args: []string{"DIR/-"}, wantTitle: "-", wantType: "application/octet-stream", wantData: content},

		{name: "twice", stdin: content, args: []string{"-", "-:text/plain", "--stdin-name", "x"},
			wantCode: exitUsage, stderrHas: "the file - (standard input) can be given only once"},
		{name: "without --stdin-name", stdin: content, args: []string{"-"},
			wantCode: exitUsage, stderrHas: "needs --stdin-name NAME"},
		{name: "--stdin-name without -", args: []string{"DIR/sig.bin", "--stdin-name", "x"},
			wantCode: exitUsage, stderrHas: "--stdin-name names the file - (standard input), which is not among the files"},
		{name: "--stdin-name with a directory", stdin: content, args: []string{"-", "--stdin-name", "../x"},
			wantCode: exitUsage, stderrHas: `--stdin-name "../x": want a file name without a directory`},
		{name: "--stdin-name ..", stdin: content, args: []string{"-", "--stdin-name", ".."},
			wantCode: exitUsage, stderrHas: "want a file name without a directory"},
		{name: "with --password-stdin", stdin: content, args: []string{"-", "--stdin-name", "x", "--username", "u", "--password-stdin"},
			wantCode: exitUsage, stderrHas: "the file - and --password-stdin both read standard input"},
		{name: "bad media type", stdin: content, args: []string{"-:application/spdx json", "--stdin-name", "x"},
			wantCode: exitError, stderrHas: `file -: media type "application/spdx json"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fakeregistry.Mode{})
			for name, c := range tt.files {
				writeFile(t, filepath.Join(f.dir, name), c)
			}
			in := f.cli(append([]string{"attach", "REGISTRY/app:v1", "--artifact-type", "application/vnd.example",
				"--export-manifest", "DIR/manifest.json", "--plain-http"}, tt.args...)...)
			in.stdin = tt.stdin
			r := in.run(t)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if tt.wantCode != exitOK {
				if !strings.Contains(r.stderr, tt.stderrHas) {
					t.Errorf("stderr does not contain %q:\n%s", tt.stderrHas, r.stderr)
				}
				if r.stdout != "" {
					t.Errorf("stdout on failure:\n%s", r.stdout)
				}
				if got := f.reg.Requests(); len(got) != 0 {
					t.Errorf("%d requests sent, want none", len(got))
				}
				return
			}
			checkStdinLayer(t, f, tt.wantTitle, tt.wantType, orString(tt.wantData, tt.stdin), tt.wantLayer)
		})
	}
}

// checkStdinLayer checks the last layer of the manifest written to
// DIR/manifest.json: its title, media type and content (pushed), and its
// annotations when want is set.
func checkStdinLayer(t *testing.T, f *fixture, title, mediaType, data string, want map[string]string) {
	t.Helper()
	m := readManifest(t, filepath.Join(f.dir, "manifest.json"))
	if len(m.Layers) == 0 {
		t.Fatal("no layers")
	}
	l := m.Layers[len(m.Layers)-1]
	if got := l.Annotations[ocispec.AnnotationTitle]; got != title {
		t.Errorf("title = %q, want %q", got, title)
	}
	if l.MediaType != mediaType {
		t.Errorf("media type = %q, want %q", l.MediaType, mediaType)
	}
	if d := digest.FromString(data); l.Digest != d || l.Size != int64(len(data)) {
		t.Errorf("layer = %s (%d bytes), want %s (%d bytes)", l.Digest, l.Size, d, len(data))
	}
	if !f.reg.HasBlob("app", l.Digest) {
		t.Errorf("layer %s was not pushed", l.Digest)
	}
	if want != nil {
		checkAnnotations(t, "layer", l.Annotations, want)
	}
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestAttachStdinSpoolRemoved checks that standard input is spooled under
// TMPDIR and the spool is removed after the push, and after a failed one. It
// sets TMPDIR, so it does not run in parallel.
func TestAttachStdinSpoolRemoved(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("os.TempDir reads TMP, not TMPDIR, on Windows")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, tt := range []struct {
		name     string
		mode     fakeregistry.Mode
		wantCode int
	}{
		{"pushed", fakeregistry.Mode{}, exitOK},
		{"push failed", fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden, SubjectHeaderWithoutAPI: true}, exitError},
	} {
		f := newFixture(t, tt.mode)
		in := f.cli("attach", "REGISTRY/app:v1", "-", "--stdin-name", "x.txt", "--artifact-type", "application/vnd.example", "--plain-http")
		in.stdin = "some content\n"
		if r := in.run(t); r.code != tt.wantCode {
			t.Fatalf("%s: exit %d, want %d; stderr:\n%s", tt.name, r.code, tt.wantCode, r.stderr)
		}
		entries, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "referrers-stdin-") {
				t.Errorf("%s: the spool %s is left in TMPDIR", tt.name, e.Name())
			}
		}
	}
}
