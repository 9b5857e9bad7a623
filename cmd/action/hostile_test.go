package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/displaytest"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// putHostile attaches to the fixture's subject one referrer per string of
// displaytest.Hostile whose artifactType, layer media type, annotation keys
// and values (the created time among them) are that string.
func (f *fixture) putHostile(t *testing.T) {
	t.Helper()
	_, b, ok := f.reg.Manifest("app", f.subject.String())
	if !ok {
		t.Fatal("no subject")
	}
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: f.subject, Size: int64(len(b))}
	empty := ocispec.DescriptorEmptyJSON
	f.reg.PutBlob("app", empty.Data)
	empty.Data = nil
	for _, h := range displaytest.Hostile {
		layer := []byte("layer " + h)
		body := mustJSON(t, ocispec.Manifest{
			Versioned:    specs.Versioned{SchemaVersion: 2},
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: h,
			Config:       empty,
			Layers:       []ocispec.Descriptor{{MediaType: h, Digest: f.reg.PutBlob("app", layer), Size: int64(len(layer))}},
			Subject:      &subject,
			Annotations:  map[string]string{h: h, ocispec.AnnotationCreated: h, ocispec.AnnotationTitle: h},
		})
		f.reg.PutManifest("app", digest.FromBytes(body).String(), ocispec.MediaTypeImageManifest, body)
	}
}

// checkStep fails the test when the step's log (stdout and stderr, where
// the runner reads workflow commands) holds a control byte but the newline,
// DEL, a C1 control, a format character, a line separator, "##[", or a line
// that starts a workflow command other than the Action's own ::debug::,
// ::notice, ::warning and ::error (no ::add-mask:: at all: the steps here
// have no secret); or when the job summary holds any of them.
func checkStep(t *testing.T, name string, r stepResult) {
	t.Helper()
	for _, p := range displaytest.Problems(r.stdout, displaytest.Options{Commands: true}) {
		t.Errorf("%s: stdout: %s", name, p)
	}
	for _, p := range displaytest.Problems(r.stderr, displaytest.Options{}) {
		t.Errorf("%s: stderr: %s", name, p)
	}
	for _, p := range displaytest.Problems(r.summary, displaytest.Options{}) {
		t.Errorf("%s: summary: %s", name, p)
	}
}

// TestHostileRegistryData runs the Action's list and check (with step debug
// logging on, and once outside GitHub Actions) on a subject whose referrers
// carry terminal escapes, forged lines, workflow commands and bidirectional
// controls in every string, and attach with a hostile artifact-type input:
// the log and the job summary hold none of them raw (checkStep), the
// summary shows them escaped, and the step outputs (the machine interface)
// carry exactly the strings the registry sent.
func TestHostileRegistryData(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	f.putHostile(t)
	types := displaytest.Hostile[0] + "," + displaytest.Hostile[7] + ",application/missing"
	steps := []struct {
		name string
		s    step
	}{
		{"list", step{inputs: map[string]string{"command": "list", "subject": "REGISTRY/app:v1", "plain-http": "true"}}},
		{"list debug", step{inputs: map[string]string{"command": "list", "subject": "REGISTRY/app:v1", "plain-http": "true"},
			env: map[string]string{"RUNNER_DEBUG": "1"}}},
		{"check", step{inputs: map[string]string{"command": "check", "subject": "REGISTRY/app:v1", "plain-http": "true", "require": types}}},
		{"check passes", step{inputs: map[string]string{"command": "check", "subject": "REGISTRY/app:v1", "plain-http": "true", "require": types,
			"fail-on-missing": "false"}}},
		{"attach", step{inputs: map[string]string{"command": "attach", "subject": "REGISTRY/app:v1", "plain-http": "true",
			"artifact-type": "application/spdx+json", "files": "DIR/sbom.spdx.json", "annotations": "k=::error::v \u2066 ##[error]x\x1b[2J"}}},
		{"attach bad type", step{inputs: map[string]string{"command": "attach", "subject": "REGISTRY/app:v1", "plain-http": "true",
			"artifact-type": "application/x\u202e##[error]x\x1b[2J", "files": "DIR/sbom.spdx.json"}}},
		{"local list", step{inputs: map[string]string{"command": "list", "subject": "REGISTRY/app:v1", "plain-http": "true"}, noFiles: true}},
	}
	for _, st := range steps {
		r := f.run(t, st.s)
		if r.code == exitError && st.name != "attach bad type" {
			t.Errorf("%s: exit %d\n%s", st.name, r.code, r.stdout)
		}
		if st.s.noFiles {
			// Outside GitHub Actions the outputs are printed as JSON: exact
			// (see TestLocalRunStdout) and, like the rest, safe to show
			// (dangerous characters written as \u escapes).
			var out map[string]string
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out["referrers"] == "" {
				t.Errorf("%s: stdout is not the outputs as JSON (%v):\n%s", st.name, err, r.stdout)
			}
		}
		checkStep(t, st.name, r)
		if testing.Verbose() {
			t.Logf("%s: exit %d\nstdout:\n%s\nsummary:\n%s", st.name, r.code, r.stdout, r.summary)
		}
		if st.name == "list debug" && !strings.Contains(r.stdout, "::debug::") {
			t.Errorf("%s: no debug line in\n%s", st.name, r.stdout)
		}
		if st.name == "attach bad type" && !strings.Contains(r.stdout, `application/x\u202e\x23#[error]x\x1b[2J`) {
			t.Errorf("%s: the refused input is not shown escaped in\n%s", st.name, r.stdout)
		}
		if st.name != "list" {
			continue
		}
		// The summary shows the escapes (Markdown-escaped in turn).
		for _, want := range []string{`\\x1b\]0;title\\a`, `evil\\u202eexe.txt`, `\\x23\#\[error\]legacy`} {
			if !strings.Contains(r.summary, want) {
				t.Errorf("summary: no %q in\n%s", want, r.summary)
			}
		}
		// The outputs carry the exact strings.
		var idx ocispec.Index
		if err := json.Unmarshal([]byte(r.outputs["referrers"]), &idx); err != nil {
			t.Fatalf("output referrers: %v\n%s", err, r.outputs["referrers"])
		}
		seen := map[string]bool{}
		for _, m := range idx.Manifests {
			if m.Annotations[m.ArtifactType] != m.ArtifactType || m.Annotations[ocispec.AnnotationCreated] != m.ArtifactType {
				t.Errorf("output referrers: entry %s: artifactType %q, annotations %q", m.Digest, m.ArtifactType, m.Annotations)
			}
			seen[m.ArtifactType] = true
		}
		for _, h := range displaytest.Hostile {
			if want := displaytest.ViaJSON(h); !seen[want] {
				t.Errorf("output referrers: no artifactType %q", want)
			}
		}
	}
}

// TestHostileErrors runs list against a registry whose error answers carry
// the attacks (a JSON error body, a text body): the error annotation shows
// the registry's message escaped, and the log holds nothing raw.
func TestHostileErrors(t *testing.T) {
	t.Parallel()
	const attack = "\x1b]0;owned\a\x1b[2J\r\n::add-mask::x\n  ::error::pwned ##[error]legacy \u202eevil\xff\u0085"
	subject := []byte(`{"schemaVersion":2}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") || r.URL.Path == "/v2/" {
			w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(subject).String())
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v2/json/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": attack, "message": attack}}})
			w.Write(b)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(attack))
	}))
	t.Cleanup(srv.Close)
	f := newFixture(t, fakeregistry.Mode{})
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, repo := range []string{"json", "text"} {
		for _, debug := range []string{"", "1"} {
			r := f.run(t, step{inputs: map[string]string{"command": "list", "subject": host + "/" + repo + "@" + digest.FromBytes(subject).String(),
				"plain-http": "true"}, env: map[string]string{"RUNNER_DEBUG": debug}})
			name := repo + " debug=" + debug
			if r.code != exitError {
				t.Errorf("%s: exit %d, want %d", name, r.code, exitError)
			}
			checkStep(t, name, r)
			if !strings.Contains(r.stdout, "::error title=referrers registry::") || !strings.Contains(r.stdout, `\x1b]0;owned\a`) {
				t.Errorf("%s: no error annotation with the escaped message in\n%s", name, r.stdout)
			}
			if testing.Verbose() {
				t.Logf("%s:\n%s", name, r.stdout)
			}
		}
	}
}
