package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/internal/frontend"
	"github.com/oci-referrers/referrers/internal/testing/displaytest"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
	"github.com/oci-referrers/referrers/internal/testing/syncbuf"
)

// hostileFixture is the fixture of run_test.go with, on app:v1, one referrer
// per string of displaytest.Hostile whose artifactType, annotation keys and
// values (title and created among them) and layer media type are that
// string, a referrer of the first of them (for --depth 2), and an index
// app:hostile whose children have hostile platforms.
func hostileFixture(t *testing.T) (*fixture, []ocispec.Descriptor) {
	t.Helper()
	f := newFixture(t, fakeregistry.Mode{})
	mt, b, ok := f.reg.Manifest("app", "v1")
	if !ok {
		t.Fatal("no app:v1")
	}
	subject := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	empty := ocispec.DescriptorEmptyJSON
	f.reg.PutBlob("app", empty.Data)
	empty.Data = nil
	var refs []ocispec.Descriptor
	put := func(h string, subject ocispec.Descriptor) ocispec.Descriptor {
		layer := []byte("layer " + h)
		m := ocispec.Manifest{
			Versioned:    specs.Versioned{SchemaVersion: 2},
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: h,
			Config:       empty,
			Layers:       []ocispec.Descriptor{{MediaType: h, Digest: f.reg.PutBlob("app", layer), Size: int64(len(layer))}},
			Subject:      &subject,
			Annotations: map[string]string{
				h: h, ocispec.AnnotationTitle: h, ocispec.AnnotationCreated: h, "org.example.key": h,
			},
		}
		body := mustJSON(t, m)
		d := f.reg.PutManifest("app", digest.FromBytes(body).String(), ocispec.MediaTypeImageManifest, body)
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(body))}
	}
	for _, h := range displaytest.Hostile {
		refs = append(refs, put(h, subject))
	}
	put(displaytest.Hostile[2], refs[0]) // a referrer of a referrer

	var idx ocispec.Index
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	for i, key := range []string{"linux/amd64", "linux/arm64"} {
		h := displaytest.Hostile[i*5]
		p := ocispec.Platform{OS: "linux" + h, Architecture: h, Variant: displaytest.Hostile[i*5+1]}
		idx.Manifests = append(idx.Manifests, f.childDescriptor(t, key, p))
		put(displaytest.Hostile[i*3+2], idx.Manifests[i]) // so each child has a hostile referrer
	}
	f.reg.PutManifest("app", "hostile", ocispec.MediaTypeImageIndex, mustJSON(t, idx))
	return f, refs
}

// checkOutput fails the test when out, one stream of a run, holds anything
// package display keeps out of what people read.
func checkOutput(t *testing.T, what, out string) {
	t.Helper()
	for _, p := range displaytest.Problems(out, displaytest.Options{}) {
		t.Errorf("%s: %s", what, p)
	}
}

// TestHostileRegistryData drives the real CLI against a registry whose
// referrers carry terminal escapes, forged lines, workflow commands,
// bidirectional controls and the like in every string it shows (artifactType,
// annotation keys and values, media types, platforms), and checks every line
// of stdout and stderr of list (table, tree, --depth 2, --include-children,
// --debug, a warning), check (text) and attach --platform all: no control
// byte but the newline, no DEL, C1, format character or line separator, no
// line that starts a workflow command and no "##[". The JSON of list is the
// machine interface: it decodes to exactly the strings the registry sent.
func TestHostileRegistryData(t *testing.T) {
	t.Parallel()
	f, refs := hostileFixture(t)
	runs := [][]string{
		{"list", "REGISTRY/app:v1"},
		{"list", "REGISTRY/app:v1", "--format", "tree"},
		{"list", "REGISTRY/app:v1", "--format", "tree", "--depth", "2"},
		{"list", "REGISTRY/app:v1", "--depth", "2", "--debug"},
		{"list", "REGISTRY/app:hostile", "--include-children"},
		{"list", "REGISTRY/app:hostile", "--include-children", "--format", "tree"},
		{"list", "REGISTRY/app:v1", "--latest", "--sort-annotation", displaytest.Hostile[1]}, // a warning names the key
		{"list", "REGISTRY/app:v1", "--sort-annotation", "org.example.key"},
		{"check", "REGISTRY/app:v1", "--require", displaytest.Hostile[0] + "," + displaytest.Hostile[7] + ",application/missing"},
		{"check", "REGISTRY/app:v1", "--require", displaytest.Hostile[2]},
		{"attach", "REGISTRY/app:hostile", "--platform", "all", "--artifact-type", "application/vnd.example.sig", "DIR/sig.bin"},
	}
	for _, args := range runs {
		r := f.cli(append(args, "--plain-http")...).run(t)
		name := strings.Join(args, " ")
		if r.code != exitOK && r.code != exitNotMet && r.code != exitError {
			t.Errorf("%s: exit %d\n%s", name, r.code, r.stderr)
		}
		if r.stdout == "" {
			t.Errorf("%s: nothing on stdout (exit %d): the test does not reach the renderer\n%s", name, r.code, r.stderr)
		}
		checkOutput(t, name+": stdout", r.stdout)
		checkOutput(t, name+": stderr", r.stderr)
		if testing.Verbose() {
			t.Logf("%s:\n%s%s", name, r.stdout, r.stderr)
		}
	}

	// The escapes are visible, not dropped.
	r := f.cli("list", "REGISTRY/app:v1", "--format", "tree", "--plain-http").run(t)
	for _, want := range []string{`\x1b]0;title\a`, `\n\x3a:error::pwned`, `\x3a:add-mask::x`, `\u202e`, `\x23#[error]legacy`, `\u2028`, `\u009b31m`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("tree: no %q in\n%s", want, r.stdout)
		}
	}

	// JSON: the exact strings, as the registry's JSON said them, in a text
	// that is as safe to show as the others (the dangerous characters and
	// markers written as \u escapes inside the strings).
	r = f.cli("list", "REGISTRY/app:v1", "--format", "json", "--plain-http").run(t)
	if r.code != exitOK {
		t.Fatalf("list json: exit %d\n%s", r.code, r.stderr)
	}
	checkOutput(t, "list json: stdout", r.stdout)
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(r.stdout), &idx); err != nil {
		t.Fatal(err)
	}
	byDigest := map[digest.Digest]ocispec.Descriptor{}
	for _, m := range idx.Manifests {
		byDigest[m.Digest] = m
	}
	for i, h := range displaytest.Hostile {
		want := displaytest.ViaJSON(h)
		got, ok := byDigest[refs[i].Digest]
		switch {
		case !ok:
			t.Errorf("json: referrer %d (%q) not listed", i, h)
		case got.ArtifactType != want || got.Annotations[want] != want || got.Annotations[ocispec.AnnotationTitle] != want ||
			got.Annotations[ocispec.AnnotationCreated] != want:
			t.Errorf("json: referrer %d: artifactType %q, annotations %q; want %q everywhere", i, got.ArtifactType, got.Annotations, want)
		}
	}
}

// hostileServer is a registry that answers every request but the subject's
// HEAD with an attack: for repository "json" a 400 with a JSON error body,
// for "text" a 400 with a text body, for "ctype" a 200 with a hostile
// Content-Type (for the referrers tag too), for "auth" a 401 with a hostile
// Bearer realm.
func hostileServer(t *testing.T) (*httptest.Server, digest.Digest) {
	t.Helper()
	const attack = "\x1b]0;owned\a\x1b[2J\r\n::add-mask::x\n  ::error::pwned ##[error]legacy \u202eevil\xff\u0085"
	subject := []byte(`{"schemaVersion":2}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Path, "/")
		repo := ""
		if len(parts) > 2 {
			repo = parts[2]
		}
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") || r.URL.Path == "/v2/" {
			w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(subject).String())
			w.Header().Set("Content-Length", fmt.Sprint(len(subject)))
			return
		}
		switch repo {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": attack, "message": attack}}})
			w.Write(b)
		case "ctype":
			// Go's HTTP client refuses controls in a header: the rest gets through.
			w.Header()["Content-Type"] = []string{"text/html ##[error]x \u202e\xff\u0085"}
			w.Write([]byte("{}"))
		case "auth":
			w.Header()["Www-Authenticate"] = []string{`Bearer realm="` + "::error::x ##[y] \u202e\xff" + `",service="x"`}
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(attack))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, digest.FromBytes(subject)
}

// TestHostileErrors checks the error path: a registry's error message, body,
// header and challenge reach stderr (the error line, a warning and --debug's
// trace) as one line each,
// with every control, bidirectional control and invalid byte visible and no
// workflow command; the message is still there.
func TestHostileErrors(t *testing.T) {
	t.Parallel()
	srv, subject := hostileServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, repo := range []string{"json", "text", "ctype", "auth"} {
		for _, format := range []string{"table", "tree", "json"} {
			args := []string{"list", host + "/" + repo + "@" + subject.String(), "--plain-http", "--format", format, "--debug"}
			var stdout bytes.Buffer
			var stderr syncbuf.Buffer // core/referrers' read of the tag schema may still write --debug lines after run returns
			code := run(t.Context(), args, fakeGetenv(t, nil), strings.NewReader(""), &stdout, &stderr)
			name := repo + " " + format
			// A referrers answer that is not an index means no Referrers
			// API; the referrers tag then holds no index: a warning.
			wantCode, wantLine := exitError, "referrers list: error:"
			if repo == "ctype" {
				wantCode, wantLine = exitOK, "referrers list: warning:"
			}
			if code != wantCode {
				t.Errorf("%s: exit %d, want %d\n%s", name, code, wantCode, stderr.String())
			}
			checkOutput(t, name+": stdout", stdout.String())
			checkOutput(t, name+": stderr", stderr.String())
			if !strings.Contains(stderr.String(), wantLine) {
				t.Errorf("%s: no error line in\n%s", name, stderr.String())
			}
			if want := map[string]string{"json": `\x1b]0;owned\a`, "text": `\x1b]0;owned\a`, "ctype": `\x23#[error]x \u202e\xff`,
				"auth": `x3a:error::x`}[repo]; !strings.Contains(stderr.String(), want) {
				t.Errorf("%s: the registry's message is not shown (escaped) in\n%s", name, stderr.String())
			}
			if testing.Verbose() {
				t.Logf("%s:\n%s", name, stderr.String())
			}
		}
	}
}

// FuzzRenderers renders referrers whose strings the fuzzer chooses with
// every text renderer of the CLI (the table, the tree with children, the
// warnings as cmdList prints them, the error line of run and check's verdict
// table) and checks the whole output as TestHostileRegistryData does.
func FuzzRenderers(f *testing.F) {
	for _, h := range displaytest.Hostile {
		f.Add(h, h, h)
	}
	f.Add("application/spdx+json", "2024-01-02T03:04:05Z", "sbom.json")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, artifactType, value, platform string) {
		d := digest.FromString(value)
		node := &referrers.Node{Descriptor: ocispec.Descriptor{
			MediaType: value, Digest: d, Size: 1, ArtifactType: artifactType,
			Annotations: map[string]string{ocispec.AnnotationCreated: value, ocispec.AnnotationTitle: value, value: artifactType},
		}, Mode: referrers.Mode(value)}
		node.Referrers = []*referrers.Node{{Descriptor: node.Descriptor}}
		res := referrers.ListResult{Mode: referrers.Mode(artifactType), Referrers: []*referrers.Node{node}, Warnings: []string{value}}
		children := []child{{desc: ocispec.Descriptor{Digest: digest.Digest(value)}, platform: platform, res: res}}
		var out bytes.Buffer
		writeTable(&out, res)
		writeTree(&out, platform, res, children)
		writeWarnings(&out, res, children)
		var stderr bytes.Buffer
		// An error that quotes the fuzzer's string (a layout that is not there).
		run(t.Context(), []string{"list", "oci:" + dir + "/" + value}, fakeGetenv(t, nil), strings.NewReader(""), &out, &stderr)
		out.Write(stderr.Bytes())
		v := policy.Result{Requirements: []policy.Outcome{{Requirement: policy.Requirement{ArtifactType: artifactType}}, {Requirement: policy.Requirement{ArtifactType: value}, Pass: true}}}
		if err := frontend.WriteVerdict(&out, v); err != nil {
			t.Fatal(err)
		}
		checkOutput(t, "renderers", out.String())
	})
}

// TestServeLogEscapes runs `referrers serve --log-requests` and sends it
// requests whose paths (client data, percent-decoded by the server) carry a
// forged line, terminal escapes, workflow commands, a bidirectional control
// and an invalid byte: every log line stays free of them (slog quotes a value
// with controls; package display renders what quoting leaves, such as
// "##["), and the paths are still there to read.
func TestServeLogEscapes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tree")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := startServe(ctx, t, "static:"+dir, "--addr", "127.0.0.1:0", "--log-requests")
	code := p.code
	m := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+) `).FindStringSubmatch(p.first)
	if m == nil {
		t.Fatalf("first line %q", p.first)
	}
	rest := p.rest()
	paths := []string{
		"/v2/%23%23[error]legacy/manifests/x",
		"/v2/app/manifests/%1b]0;title%07%1b[2J",
		"/v2/app%0a::error::pwned/tags/list",
		"/v2/%3a%3aadd-mask%3a%3ax/tags/list",
		"/v2/evil%e2%80%aeexe/tags/list",
		"/v2/bad%ff/blobs/sha256:00",
		"/%c2%9b31m/%e2%80%a8",
	}
	for _, p := range paths {
		req, err := http.NewRequest("GET", m[1]+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", "##[error]agent \u202e") // Go refuses controls in a header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("exit %d", c)
	}
	log := <-rest
	if n := strings.Count(log, "msg=request "); n < len(paths) {
		t.Errorf("%d request lines for %d requests:\n%s", n, len(paths), log)
	}
	for _, p := range displaytest.Problems(log, displaytest.Options{}) {
		t.Errorf("serve log: %s", p)
	}
	for _, want := range []string{`\x23#[error]legacy`, `\x1b]0;title\a\x1b[2J`, `app\n::error::pwned`, `evil\u202eexe`, `bad\xff`} {
		if !strings.Contains(log, want) {
			t.Errorf("serve log: no %q in\n%s", want, log)
		}
	}
	if testing.Verbose() {
		t.Logf("serve log:\n%s", log)
	}
}
