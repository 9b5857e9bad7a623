package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// knownEnv are the variables the action may read besides INPUT_*; the fake
// getenv fails the test on any other, so an undocumented dependency on the
// environment shows up.
var knownEnv = map[string]bool{
	"HOME": true, "USERPROFILE": true, "PATH": true,
	"REGISTRY_AUTH_FILE": true, "XDG_RUNTIME_DIR": true, "XDG_CONFIG_HOME": true, "DOCKER_CONFIG": true,
	"SOURCE_DATE_EPOCH": true, "GITHUB_OUTPUT": true, "GITHUB_STEP_SUMMARY": true,
	"GITHUB_ACTOR": true, "RUNNER_DEBUG": true,
}

// fixture is a fake registry holding app:v1 (a linux/amd64 image) and a
// directory with an SBOM; its step has a temporary GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY.
type fixture struct {
	reg     *fakeregistry.Registry
	dir     string
	subject digest.Digest
}

const sbom = `{"spdxVersion":"SPDX-2.3","name":"app"}` + "\n"

func newFixture(t *testing.T, mode fakeregistry.Mode) *fixture {
	t.Helper()
	f := &fixture{reg: fakeregistry.New(t, mode), dir: t.TempDir()}
	writeFile(t, filepath.Join(f.dir, "sbom.spdx.json"), sbom)
	cfg := mustJSON(t, ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}})
	layer := []byte("layer")
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: f.reg.PutBlob("app", cfg), Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: f.reg.PutBlob("app", layer), Size: int64(len(layer))}},
	}
	f.subject = f.reg.PutManifest("app", "v1", ocispec.MediaTypeImageManifest, mustJSON(t, m))
	return f
}

// step is one in-process run of the action. In inputs, values and env,
// REGISTRY stands for the fake's host:port and DIR for the fixture's
// directory; outputs, stdout and the summary have them put back.
type step struct {
	inputs map[string]string
	env    map[string]string
	// noFiles leaves GITHUB_OUTPUT and GITHUB_STEP_SUMMARY unset (a run
	// outside GitHub Actions).
	noFiles bool
}

type stepResult struct {
	code            int
	stdout, stderr  string
	outputsFile     string            // the raw GITHUB_OUTPUT contents
	outputs         map[string]string // parsed as the runner does
	summary         string
	registryTouched int
}

var zeroRandom = bytes.Repeat([]byte{0}, 64)

func (f *fixture) run(t *testing.T, s step) stepResult {
	t.Helper()
	return f.runWith(t, s, func(a *action) { a.random = bytes.NewReader(zeroRandom) })
}

func (f *fixture) runWith(t *testing.T, s step, tweak func(*action)) stepResult {
	t.Helper()
	sub := strings.NewReplacer("REGISTRY", f.reg.Host(), "DIR", f.dir)
	tmp := t.TempDir()
	env := map[string]string{"HOME": filepath.Join(tmp, "home")}
	if !s.noFiles {
		env["GITHUB_OUTPUT"] = filepath.Join(tmp, "output")
		env["GITHUB_STEP_SUMMARY"] = filepath.Join(tmp, "summary")
	}
	for k, v := range s.env {
		env[k] = sub.Replace(v)
	}
	for k, v := range s.inputs {
		env["INPUT_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))] = sub.Replace(v)
	}
	getenv := func(k string) string {
		if !knownEnv[k] && !strings.HasPrefix(k, "INPUT_") {
			t.Errorf("the action read the undocumented environment variable %q", k)
		}
		return env[k]
	}
	var stdout, stderr bytes.Buffer
	a := newAction(getenv, &stdout, &stderr)
	a.now = func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }
	tweak(a)
	before := len(f.reg.Requests())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := a.run(ctx)
	norm := strings.NewReplacer(f.reg.Host(), "REGISTRY", cell(f.reg.Host()), "REGISTRY", f.dir, "DIR")
	r := stepResult{code: code, stdout: norm.Replace(stdout.String()), stderr: norm.Replace(stderr.String()),
		registryTouched: len(f.reg.Requests()) - before}
	if b, err := os.ReadFile(env["GITHUB_OUTPUT"]); err == nil {
		r.outputsFile = norm.Replace(string(b))
		r.outputs = parseOutputs(t, r.outputsFile)
	}
	if b, err := os.ReadFile(env["GITHUB_STEP_SUMMARY"]); err == nil {
		r.summary = norm.Replace(string(b))
	}
	return r
}

// parseOutputs reads a GITHUB_OUTPUT file the way the runner does: "k=v"
// lines, and "k<<DELIM" heredocs that end at the first line equal to DELIM.
func parseOutputs(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		if k, delim, ok := strings.Cut(l, "<<"); ok {
			var v []string
			i++
			for ; i < len(lines) && lines[i] != delim; i++ {
				v = append(v, lines[i])
			}
			if i == len(lines) {
				t.Fatalf("outputs: heredoc %q is not closed", k)
			}
			out[k] = strings.Join(v, "\n")
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("outputs: line %q is neither k=v nor a heredoc", l)
		}
		out[k] = v
	}
	return out
}

// golden compares the step's exit code, stdout, outputs and summary with
// testdata/golden/NAME.txt, and stderr when the step wrote to it (a run
// outside GitHub Actions logs there).
func (r stepResult) golden(t *testing.T, name string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# exit code\n%d\n# stdout\n%s", r.code, r.stdout)
	if r.stderr != "" {
		fmt.Fprintf(&b, "# stderr\n%s", r.stderr)
	}
	fmt.Fprintf(&b, "# GITHUB_OUTPUT\n%s# GITHUB_STEP_SUMMARY\n%s", r.outputsFile, r.summary)
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		writeFile(t, path, b.String())
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func attachInputs(extra map[string]string) map[string]string {
	in := map[string]string{
		"subject":       "REGISTRY/app:v1",
		"files":         "DIR/sbom.spdx.json:application/spdx+json\n",
		"artifact-type": "application/spdx+json",
		"plain-http":    "true",
	}
	for k, v := range extra {
		in[k] = v
	}
	return in
}

// TestGolden runs each command against the fake registry and compares what
// the step wrote with the golden files.
func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mode  fakeregistry.Mode
		steps []step // the last one is compared
		code  int
	}{
		{name: "attach", steps: []step{{inputs: attachInputs(map[string]string{"annotations": "org.example.build=42"})}}},
		{name: "attach-tag-schema", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText},
			steps: []step{{inputs: attachInputs(nil)}}},
		{name: "list", steps: []step{
			{inputs: attachInputs(map[string]string{"created": "2026-11-28T10:00:00Z"})},
			{inputs: map[string]string{"command": "list", "subject": "REGISTRY/app:v1", "plain-http": "true"}},
		}},
		{name: "check-met", steps: []step{
			{inputs: attachInputs(nil)},
			{inputs: map[string]string{"command": "check", "subject": "REGISTRY/app:v1", "plain-http": "true",
				"require": "application/spdx+json"}},
		}},
		{name: "check-not-met", code: exitNotMet, steps: []step{
			{inputs: attachInputs(nil)},
			{inputs: map[string]string{"command": "check", "subject": "REGISTRY/app:v1", "plain-http": "true",
				"require": "application/spdx+json,application/vnd.dev.sigstore.bundle.v0.3+json"}},
		}},
		{name: "check-not-met-reported", steps: []step{
			{inputs: map[string]string{"command": "check", "subject": "REGISTRY/app:v1", "plain-http": "true",
				"require": "application/spdx+json", "fail-on-missing": "false"}},
		}},
		{name: "local-run", steps: []step{{inputs: attachInputs(nil), noFiles: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.mode)
			var r stepResult
			for i, s := range tt.steps {
				r = f.run(t, s)
				if i < len(tt.steps)-1 && r.code != exitOK {
					t.Fatalf("setup step %d: exit %d, stdout:\n%s", i, r.code, r.stdout)
				}
			}
			if r.code != tt.code {
				t.Errorf("exit %d, want %d; stdout:\n%s", r.code, tt.code, r.stdout)
			}
			r.golden(t, tt.name)
		})
	}
}

// TestOutputsAreFromTheRegistry checks the outputs against the registry, not
// against our own golden files: the digest output names the manifest the
// registry holds, whose subject is the image.
func TestOutputsAreFromTheRegistry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		mode fakeregistry.Mode
		want string
	}{
		{"api", fakeregistry.Mode{}, "api"},
		{"tag schema", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundJSON}, "tag"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.mode)
			r := f.run(t, step{inputs: attachInputs(nil)})
			if r.code != exitOK {
				t.Fatalf("exit %d:\n%s", r.code, r.stdout)
			}
			if r.outputs["mode"] != tt.want {
				t.Errorf("mode = %q, want %q", r.outputs["mode"], tt.want)
			}
			_, body, ok := f.reg.Manifest("app", r.outputs["digest"])
			if !ok {
				t.Fatalf("the registry has no manifest %q (the digest output)", r.outputs["digest"])
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(body, &m); err != nil || m.Subject == nil || m.Subject.Digest != f.subject {
				t.Errorf("manifest %s: subject %v, want %s (err %v)", r.outputs["digest"], m.Subject, f.subject, err)
			}
			if got, want := r.outputs["reference"], "REGISTRY/app@"+r.outputs["digest"]; got != want {
				t.Errorf("reference = %q, want %q", got, want)
			}
			if r.outputs["subject-digest"] != f.subject.String() {
				t.Errorf("subject-digest = %q, want %s", r.outputs["subject-digest"], f.subject)
			}
			if tt.want == "tag" {
				tag := "sha256-" + f.subject.Encoded()
				if r.outputs["fallback-tag"] != tag {
					t.Errorf("fallback-tag = %q, want %q", r.outputs["fallback-tag"], tag)
				}
				if !strings.Contains(r.stdout, "::notice title=Referrers tag schema::") {
					t.Errorf("no notice about the tag schema in:\n%s", r.stdout)
				}
				if len(f.reg.Tags("app")) != 2 {
					t.Errorf("tags %v, want v1 and the referrers tag", f.reg.Tags("app"))
				}
			}
		})
	}
}

// TestInjection attaches an artifact whose annotation carries delimiter-like
// lines (go-githubactions' fixed delimiter, a plausible random one, and
// @actions/core's prefix) and newlines, then lists it: the referrers output
// must hold the annotation verbatim and no other output may appear.
func TestInjection(t *testing.T) {
	t.Parallel()
	evil := "x\n_GitHubActionsFileCommandDelimeter_\ndigest<<EOF\nsha256:evil\nEOF\n" +
		"ghadelimiter_00000000000000000000000000000000\ninjected=1\nghadelimiter_\n::set-output name=pwned::1"
	f := newFixture(t, fakeregistry.Mode{})
	ann := filepath.Join(f.dir, "ann.json")
	writeFile(t, ann, string(mustJSON(t, map[string]map[string]string{"$manifest": {"org.example.note": evil}})))
	r := f.runWith(t, step{inputs: attachInputs(map[string]string{"annotation-file": "DIR/ann.json"})}, func(*action) {})
	if r.code != exitOK {
		t.Fatalf("attach: exit %d:\n%s", r.code, r.stdout)
	}
	r = f.runWith(t, step{inputs: map[string]string{"command": "list", "subject": "REGISTRY/app:v1", "plain-http": "true"}}, func(*action) {})
	if r.code != exitOK {
		t.Fatalf("list: exit %d:\n%s", r.code, r.stdout)
	}
	var keys []string
	for k := range r.outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got, want := strings.Join(keys, " "), "count fallback-tag mode referrers subject-digest"; got != want {
		t.Errorf("outputs %q, want exactly %q\nfile:\n%s", got, want, r.outputsFile)
	}
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(r.outputs["referrers"]), &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("referrers output %q: %v", r.outputs["referrers"], err)
	}
	if got := idx.Manifests[0].Annotations["org.example.note"]; got != evil {
		t.Errorf("annotation through the output = %q, want %q", got, evil)
	}
	if strings.Contains(r.stdout, "pwned") || strings.Contains(r.summary, "sha256:evil") {
		t.Errorf("registry data reached the log or summary unescaped:\n%s\n%s", r.stdout, r.summary)
	}
}

// TestOutputsRefuseTheDelimiter checks the writer's last line of defence: a
// value containing the run's delimiter is refused, and nothing is written.
func TestOutputsRefuseTheDelimiter(t *testing.T) {
	t.Parallel()
	o := newOutputs()
	delim := "ghadelimiter_" + strings.Repeat("00", 16)
	if err := o.set("a", "fine"); err != nil {
		t.Fatal(err)
	}
	if err := o.set("b", "x\n"+delim+"\nc=1"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out")
	if err := o.write(path, bytes.NewReader(zeroRandom)); err == nil || !strings.Contains(err.Error(), "delimiter") {
		t.Errorf("write: %v, want a refusal", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the outputs file exists after a refusal (%v)", err)
	}
	for _, k := range []string{"", "a b", "a\nb", "x<<y", "1a"} {
		if err := o.set(k, "v"); err == nil {
			t.Errorf("set(%q) accepted a key that is not an identifier", k)
		}
	}
	if err := o.set("big", strings.Repeat("x", maxOutput+1)); err == nil {
		t.Error("set accepted a value over maxOutput")
	}
}

// TestErrors checks that failures are errors (exit 1, one ::error annotation
// with a title), never a verdict or an empty listing, and that input errors
// cost no request.
func TestErrors(t *testing.T) {
	t.Parallel()
	check := map[string]string{"command": "check", "subject": "REGISTRY/app:v1", "plain-http": "true", "require": "application/spdx+json"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name      string
		mode      fakeregistry.Mode
		inputs    map[string]string
		title     string
		want      string // in the error message
		noRequest bool
	}{
		{name: "bad boolean", inputs: with(check, "plain-http", "yes"), title: "referrers inputs", want: `plain-http: "yes" is not a boolean`, noRequest: true},
		{name: "no subject", inputs: with(check, "subject", ""), title: "referrers inputs", want: "input subject is required", noRequest: true},
		{name: "subject without tag or digest", inputs: with(check, "subject", "REGISTRY/app"), title: "referrers inputs", want: "has no tag or digest", noRequest: true},
		{name: "digests disagree", inputs: with(check, "subject", "REGISTRY/app@sha256:"+strings.Repeat("a", 64), "subject-digest", "sha256:"+strings.Repeat("b", 64)),
			title: "referrers inputs", want: "but subject-digest is", noRequest: true},
		{name: "bad subject-digest", inputs: with(check, "subject-digest", "sha256:xyz"), title: "referrers inputs", want: "input subject-digest", noRequest: true},
		{name: "username alone", inputs: with(check, "username", "u"), title: "referrers inputs", want: "username and password go together", noRequest: true},
		{name: "unknown command", inputs: with(check, "command", "push"), title: "referrers inputs", want: `"push" is not attach, list, check or copy`, noRequest: true},
		{name: "attach input on check", inputs: with(check, "files", "a.txt"), title: "referrers inputs", want: "input files is only used by command attach", noRequest: true},
		{name: "check without require", inputs: with(check, "require", ""), title: "referrers inputs", want: "input require is required", noRequest: true},
		{name: "attach without type", inputs: attachInputs(map[string]string{"artifact-type": ""}), title: "referrers inputs", want: "input artifact-type is required", noRequest: true},
		{name: "attach missing file", inputs: attachInputs(map[string]string{"files": "DIR/nope.json"}), title: "referrers inputs", want: "nope.json", noRequest: true},
		{name: "attach bad created", inputs: attachInputs(map[string]string{"created": "yesterday"}), title: "referrers inputs", want: `input created "yesterday"`, noRequest: true},
		{name: "bad mode", inputs: with(check, "referrers-mode", "fast"), title: "referrers inputs", want: "referrers-mode", noRequest: true},
		{name: "bad min", inputs: with(check, "min", "0"), title: "referrers inputs", want: "input min", noRequest: true},
		{name: "tree subject", inputs: with(check, "subject", "oci:DIR"), title: "referrers inputs", want: "for an on-disk tree", noRequest: true},
		{name: "403 on referrers", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden}, inputs: check, title: "referrers registry", want: "403"},
		{name: "500 on referrers", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersServerError}, inputs: check, title: "referrers registry", want: "500"},
		{name: "no such tag", inputs: with(check, "subject", "REGISTRY/app:v9"), title: "referrers registry", want: "404"},
		{name: "refused credentials", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: "u", Password: "right"},
			inputs: with(check, "username", "u", "password", "wrong"), title: "referrers registry", want: "log in with docker/login-action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.mode)
			r := f.run(t, step{inputs: tt.inputs})
			if r.code != exitError {
				t.Errorf("exit %d, want %d", r.code, exitError)
			}
			prefix := "::error title=" + tt.title + "::"
			if n := strings.Count(r.stdout, "::error"); n != 1 || !strings.Contains(r.stdout, prefix) || !strings.Contains(r.stdout, tt.want) {
				t.Errorf("want one %q annotation containing %q, got:\n%s", prefix, tt.want, r.stdout)
			}
			if _, ok := r.outputs["result"]; ok {
				t.Errorf("an error produced a verdict: %q", r.outputs["result"])
			}
			if _, ok := r.outputs["count"]; ok {
				t.Errorf("an error produced a count: %q", r.outputs["count"])
			}
			if tt.noRequest && r.registryTouched != 0 {
				t.Errorf("%d requests sent for an input error, want none", r.registryTouched)
			}
		})
	}
}

// TestLocalRunStdout checks a run outside GitHub Actions (no GITHUB_OUTPUT):
// stdout is exactly one JSON document, the outputs, or nothing when there
// are none; every log line (what was done, notices, errors) is on stderr.
func TestLocalRunStdout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	tests := []struct {
		name   string
		inputs map[string]string
		code   int
		keys   []string // the JSON document's keys; none: stdout is empty
		stderr string   // in stderr
	}{
		{name: "attach", inputs: attachInputs(nil), keys: []string{"digest", "fallback-tag", "mode", "reference", "subject-digest"}, stderr: "attached sha256:"},
		{name: "check not met", code: exitNotMet,
			inputs: map[string]string{"command": "check", "subject": "REGISTRY/app:v1", "plain-http": "true", "require": "application/x-missing"},
			keys:   []string{"count", "fallback-tag", "mode", "referrers", "result", "subject-digest"}, stderr: "::error title=referrers check::"},
		{name: "input error", inputs: attachInputs(map[string]string{"artifact-type": ""}), code: exitError, stderr: "::error title=referrers inputs::"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.run(t, step{inputs: tt.inputs, noFiles: true})
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr does not say %q:\n%s", tt.stderr, r.stderr)
			}
			if len(tt.keys) == 0 {
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
				return
			}
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			var doc map[string]string
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("stdout does not start with a JSON object of strings: %v\n%s", err, r.stdout)
			}
			if rest, _ := io.ReadAll(dec.Buffered()); strings.TrimSpace(string(rest)) != "" || dec.More() {
				t.Errorf("stdout has more than the JSON document:\n%s", r.stdout)
			}
			if !strings.HasPrefix(r.stdout, "{") || !strings.HasSuffix(r.stdout, "}\n") {
				t.Errorf("stdout is not exactly the JSON document and a newline:\n%q", r.stdout)
			}
			var keys []string
			for k := range doc {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tt.keys) {
				t.Errorf("outputs %v, want %v", keys, tt.keys)
			}
		})
	}
}

// TestMasking checks that secrets are masked before anything else is logged:
// the password and github-token inputs, and a password read from the Docker
// config.
func TestMasking(t *testing.T) {
	t.Parallel()
	mode := fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: "robot", Password: "s3cret-from-config"}
	t.Run("inputs", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: "robot", Password: "s3cret-input"})
		r := f.run(t, step{inputs: attachInputs(map[string]string{"username": "robot", "password": "s3cret-input", "github-token": "ghs_token"}), env: map[string]string{"RUNNER_DEBUG": "1"}})
		if r.code != exitOK {
			t.Fatalf("exit %d:\n%s", r.code, r.stdout)
		}
		first := strings.SplitN(r.stdout, "\n", 3)
		if len(first) < 3 || first[0] != "::add-mask::s3cret-input" || first[1] != "::add-mask::ghs_token" {
			t.Errorf("stdout does not start with the masks:\n%s", r.stdout)
		}
		if !strings.Contains(r.stdout, "::debug::") {
			t.Errorf("RUNNER_DEBUG=1 gave no debug lines")
		}
		if strings.Count(r.stdout, "s3cret-input") != strings.Count(r.stdout, "::add-mask::s3cret-input") {
			t.Errorf("the password appears outside a mask command:\n%s", r.stdout)
		}
	})
	t.Run("docker config", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, mode)
		cfgDir := filepath.Join(f.dir, "docker")
		auth := base64.StdEncoding.EncodeToString([]byte("robot:s3cret-from-config"))
		writeFile(t, filepath.Join(cfgDir, "config.json"), fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, f.reg.Host(), auth))
		r := f.run(t, step{inputs: attachInputs(nil), env: map[string]string{"DOCKER_CONFIG": cfgDir}})
		if r.code != exitOK {
			t.Fatalf("exit %d:\n%s", r.code, r.stdout)
		}
		if !strings.HasPrefix(r.stdout, "::add-mask::s3cret-from-config\n") {
			t.Errorf("the config's password is not masked first:\n%s", r.stdout)
		}
	})
}

// TestGitHubToken checks that github-token is presented to the registries
// that take it, and only when no other credential exists.
func TestGitHubToken(t *testing.T) {
	f := newFixture(t, fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: "octocat", Password: "ghs_token"})
	tweak := func(a *action) { a.random = bytes.NewReader(zeroRandom) }
	in := map[string]string{"command": "list", "subject": "REGISTRY/app:v1", "plain-http": "true", "github-token": "ghs_token"}
	env := map[string]string{"GITHUB_ACTOR": "octocat"}
	// Not a token host: the token is not sent, and the step fails with a hint.
	r := f.runWith(t, step{inputs: in, env: env}, tweak)
	if r.code != exitError || !strings.Contains(r.stdout, "::error title=referrers registry::") || !strings.Contains(r.stdout, "log in with docker/login-action") {
		t.Fatalf("without the host in tokenHosts: exit %d, want 1 with an authentication error and a hint:\n%s", r.code, r.stdout)
	}
	tokenHosts[f.reg.Host()] = true
	defer delete(tokenHosts, f.reg.Host())
	r = f.runWith(t, step{inputs: in, env: env}, tweak)
	if r.code != exitOK || r.outputs["count"] != "0" {
		t.Fatalf("with the token: exit %d, count %q:\n%s", r.code, r.outputs["count"], r.stdout)
	}
	// A username/password input wins over the token.
	in["username"], in["password"] = "octocat", "wrong"
	r = f.runWith(t, step{inputs: in, env: env}, tweak)
	if r.code != exitError || !strings.Contains(r.stdout, "permissions: packages") {
		t.Fatalf("explicit credentials must win over the token: exit %d:\n%s", r.code, r.stdout)
	}
}

func TestVersionAndArgs(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, func(string) string { return "" }, &out, &errb); code != 0 || out.String() != "referrers-action dev\n" {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"attach"}, func(string) string { return "" }, &out, &errb); code != exitError || !strings.Contains(errb.String(), "INPUT_") {
		t.Errorf("an argument: exit %d, stderr %q", code, errb.String())
	}
}

func TestBoolInput(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]any{
		"": true, "true": true, "True": true, "TRUE": true, "false": false, "False": false, "FALSE": false,
		"yes": nil, "1": nil, "tRUE": nil, "on": nil,
	} {
		got, err := boolInput(func(string) string { return v }, "summary", true)
		if want == nil {
			if err == nil {
				t.Errorf("%q: accepted as %v, want an error", v, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", v, got, err, want)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
