package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// The placeholders of test arguments: REGISTRY is the fake's host:port (and
// outputs have the host replaced by REGISTRY before they are compared), DIR is
// the test's directory of input files.
const (
	phRegistry = "REGISTRY"
	phDir      = "DIR"
)

// knownEnv are the variables the CLI may read; the fake getenv fails the test
// on any other, so an undocumented dependency on the environment shows up.
var knownEnv = map[string]bool{
	"HOME": true, "USERPROFILE": true, "PATH": true,
	"REGISTRY_AUTH_FILE": true, "XDG_RUNTIME_DIR": true, "XDG_CONFIG_HOME": true, "DOCKER_CONFIG": true,
	"REFERRERS_USERNAME": true, "REFERRERS_PASSWORD": true,
	"SOURCE_DATE_EPOCH": true, "REFERRERS_CACHE_DIR": true, "XDG_CACHE_HOME": true,
}

// fakeGetenv returns vars, with HOME set to an empty temporary directory so that
// no real docker or containers credential file is read, and "" for the rest.
func fakeGetenv(t *testing.T, vars map[string]string) func(string) string {
	t.Helper()
	env := map[string]string{"HOME": t.TempDir()}
	for k, v := range vars {
		env[k] = v
	}
	return func(k string) string {
		if !knownEnv[k] {
			t.Errorf("the CLI read the undocumented environment variable %q", k)
		}
		return env[k]
	}
}

// result is what one run of the CLI produced, with the registry host replaced
// by REGISTRY and the input directory by DIR.
type result struct {
	code           int
	stdout, stderr string
}

// invocation is one in-process run of the CLI.
type invocation struct {
	reg   *fakeregistry.Registry // what REGISTRY stands for
	dir   string                 // what DIR stands for
	env   map[string]string
	stdin string
	args  []string
}

func (in invocation) run(t *testing.T) result {
	t.Helper()
	args := make([]string, len(in.args))
	for i, a := range in.args {
		args[i] = strings.NewReplacer(phRegistry, in.reg.Host(), phDir, in.dir).Replace(a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, fakeGetenv(t, in.env), strings.NewReader(in.stdin), &stdout, &stderr)
	norm := strings.NewReplacer(in.reg.Host(), phRegistry, in.dir, phDir)
	return result{code: code, stdout: norm.Replace(stdout.String()), stderr: norm.Replace(stderr.String())}
}

// fixture is a fake registry holding, in repository "app":
//
//   - tag v1: a single-platform image manifest (linux/amd64),
//   - tag multi: an image index of linux/amd64 and linux/arm64/v8,
//
// and a directory of input files with fixed contents, so digests are the same
// on every run.
type fixture struct {
	reg      *fakeregistry.Registry
	dir      string
	children map[string]digest.Digest // the index's children by "os/arch"
}

var fixtureFiles = map[string]string{
	"sbom.json": `{"spdxVersion":"SPDX-2.3","name":"app"}` + "\n",
	"sig.bin":   "not really a signature\n",
}

func newFixture(t *testing.T, mode fakeregistry.Mode) *fixture {
	t.Helper()
	f := &fixture{reg: fakeregistry.New(t, mode), dir: t.TempDir(), children: map[string]digest.Digest{}}
	for name, content := range fixtureFiles {
		writeFile(t, filepath.Join(f.dir, name), content)
	}
	f.reg.PutManifest("app", "v1", ocispec.MediaTypeImageManifest,
		imageManifest(t, f.reg, ocispec.Platform{OS: "linux", Architecture: "amd64"}))
	var idx ocispec.Index
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	for _, p := range []ocispec.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
	} {
		b := imageManifest(t, f.reg, p)
		d := f.reg.PutManifest("app", digest.FromBytes(b).String(), ocispec.MediaTypeImageManifest, b)
		f.children[p.OS+"/"+p.Architecture] = d
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(b)), Platform: &p,
		})
	}
	f.reg.PutManifest("app", "multi", ocispec.MediaTypeImageIndex, mustJSON(t, idx))
	return f
}

// imageManifest stores the config and layer of a tiny image for p and returns
// the image manifest's bytes.
func imageManifest(t *testing.T, reg *fakeregistry.Registry, p ocispec.Platform) []byte {
	t.Helper()
	cfg := mustJSON(t, ocispec.Image{Platform: p, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}})
	layer := []byte("layer for " + p.OS + "/" + p.Architecture)
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: reg.PutBlob("app", cfg), Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{
			{MediaType: ocispec.MediaTypeImageLayer, Digest: reg.PutBlob("app", layer), Size: int64(len(layer))},
		},
	}
	return mustJSON(t, m)
}

func (f *fixture) cli(args ...string) invocation {
	return invocation{reg: f.reg, dir: f.dir, args: args}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
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

// readManifest reads a manifest written by --export-manifest.
func readManifest(t *testing.T, path string) ocispec.Manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("exported manifest: %v", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("exported manifest: %v\n%s", err, b)
	}
	return m
}

// goldenText renders a run as a golden file: the command line (with its
// placeholders), the exit code, stdout and stderr.
func goldenText(args []string, r result) string {
	var b strings.Builder
	b.WriteString("$ referrers " + strings.Join(args, " ") + "\n")
	fmt.Fprintf(&b, "exit %d\n", r.code)
	b.WriteString("-- stdout --\n" + r.stdout)
	b.WriteString("-- stderr --\n" + r.stderr)
	return b.String()
}

// checkGolden compares got with testdata/golden/name, or rewrites the file
// under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", filepath.FromSlash(name))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./cmd/referrers -run %s -update' to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (rerun with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// TestGolden attaches an SBOM, a signature of the SBOM and a scan report to an
// image, then lists them in every format, once against a registry with the
// Referrers API and once against one without it (the referrers tag schema).
func TestGolden(t *testing.T) {
	t.Parallel()
	modes := []struct {
		name string
		mode fakeregistry.Mode
	}{
		{"api", fakeregistry.Mode{}},
		{"tag", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}},
	}
	// The steps run in order against one registry. SBOM stands for the digest of
	// the SBOM that the first step attached.
	steps := []struct {
		golden string
		args   []string
	}{
		{"attach_json", []string{"attach", "REGISTRY/app:v1", "DIR/sbom.json:application/spdx+json",
			"--artifact-type", "application/spdx+json", "--created", "2024-01-02T03:04:05Z",
			"--annotation", "org.example.tool=syft", "--format", "json", "--plain-http"}},
		{"attach_text", []string{"attach", "REGISTRY/app@SBOM", "DIR/sig.bin",
			"--artifact-type", "application/vnd.example.signature", "--plain-http"}},
		{"attach_text_no_files", []string{"attach", "--plain-http", "REGISTRY/app:v1",
			"--artifact-type", "application/vnd.example.scan+json", "--annotation", "org.example.result=pass"}},
		{"list_table", []string{"list", "REGISTRY/app:v1", "--plain-http"}},
		{"list_table_depth2", []string{"list", "REGISTRY/app:v1", "--depth", "2", "--plain-http"}},
		{"list_table_filter", []string{"list", "REGISTRY/app:v1", "--artifact-type", "application/spdx+json", "--plain-http"}},
		{"list_json", []string{"list", "REGISTRY/app:v1", "--format", "json", "--plain-http"}},
		{"list_json_depth2", []string{"list", "REGISTRY/app:v1", "--format", "json", "--depth", "2", "--plain-http"}},
		{"list_tree_depth2", []string{"list", "REGISTRY/app:v1", "--format", "tree", "--depth", "2", "--plain-http"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, m.mode)
			sbom := ""
			for _, s := range steps {
				args := make([]string, len(s.args))
				for i, a := range s.args {
					args[i] = strings.ReplaceAll(a, "SBOM", sbom)
				}
				r := f.cli(args...).run(t)
				if r.code != exitOK {
					t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", s.golden, r.code, r.stdout, r.stderr)
				}
				if s.golden == "attach_json" {
					var out struct{ Digest string }
					if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Digest == "" {
						t.Fatalf("attach --format json: %v\n%s", err, r.stdout)
					}
					sbom = out.Digest
				}
				checkGolden(t, m.name+"/"+s.golden+".golden", goldenText(s.args, r))
			}
		})
	}
}

// TestGoldenEmpty lists a subject that has no referrers, in every format.
func TestGoldenEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		golden string
		mode   fakeregistry.Mode
		format string
	}{
		{"api_table", fakeregistry.Mode{}, "table"},
		{"api_json", fakeregistry.Mode{}, "json"},
		{"api_tree", fakeregistry.Mode{}, "tree"},
		{"tag_table", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, "table"},
		{"tag_json", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, "json"},
		{"tag_tree", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, "tree"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.mode)
			args := []string{"list", "REGISTRY/app:v1", "--format", tt.format, "--plain-http"}
			r := f.cli(args...).run(t)
			if r.code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			checkGolden(t, "empty/"+tt.golden+".golden", goldenText(args, r))
		})
	}
}

// TestExitCodes checks the exit code and the messages of usage errors and
// registry failures.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	const (
		emptyTable = "DIGEST  ARTIFACT TYPE  SIZE  CREATED  MODE\n"
		emptyJSON  = "{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n  \"manifests\": []\n}\n"
	)
	tests := []struct {
		name       string
		mode       fakeregistry.Mode
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout *string  // exact, when set
		stdoutHas  []string // substrings of stdout
		stderrHas  []string // substrings of stderr
		stderrNot  []string // must not be in stderr
	}{
		{name: "no arguments", args: nil, wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"Usage:"}},
		{name: "unknown command", args: []string{"frobnicate", "x"}, wantCode: exitUsage, wantStdout: ptr(""),
			stderrHas: []string{`unknown command "frobnicate"`, "Usage:"}},
		{name: "version", args: []string{"version"}, wantCode: exitOK, stdoutHas: []string{"referrers "}},
		{name: "help", args: []string{"help"}, wantCode: exitOK, stdoutHas: []string{"Usage:"}},
		{name: "attach -h", args: []string{"attach", "-h"}, wantCode: exitOK, stderrHas: []string{"--artifact-type"}},
		{name: "unknown flag", args: []string{"list", "REGISTRY/app:v1", "--bogus"}, wantCode: exitUsage,
			stderrHas: []string{"-bogus"}},

		{name: "attach without SUBJECT", args: []string{"attach", "--artifact-type", "a/b", "--plain-http"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"missing SUBJECT"}},
		{name: "list without SUBJECT", args: []string{"list", "--plain-http"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"SUBJECT", "got 0"}},
		{name: "list with two SUBJECTs", args: []string{"list", "REGISTRY/app:v1", "REGISTRY/app:v2"},
			wantCode: exitUsage, stderrHas: []string{"exactly one SUBJECT"}},

		// "UPPER/x" is not here: package ref reads an upper-case first component
		// as a registry host, as docker does, so the CLI would try to reach the
		// host "UPPER" (see the report of the change that added this test).
		{name: "upper-case repository", args: []string{"list", "REGISTRY/UPPER/x", "--plain-http"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"invalid reference", `"UPPER"`}},
		{name: "upper-case short name", args: []string{"attach", "UPPER", "--artifact-type", "a/b"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"invalid reference", `"UPPER"`}},
		{name: "short digest", args: []string{"list", "host/app@sha256:abc"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"invalid reference", `digest "sha256:abc"`, "length"}},
		{name: "short digest on attach", args: []string{"attach", "host/app@sha256:abc", "--artifact-type", "a/b"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"invalid reference", `digest "sha256:abc"`}},
		{name: "bad tag", args: []string{"list", "REGISTRY/app:-x"},
			wantCode: exitUsage, stderrHas: []string{"invalid reference", `tag "-x"`}},

		{name: "list bad format", args: []string{"list", "REGISTRY/app:v1", "--format", "yaml", "--plain-http"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"--format must be table, json or tree"}},
		{name: "attach bad format", args: []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--format", "table", "--plain-http"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"--format must be text or json"}},
		{name: "list bad referrers mode", args: []string{"list", "REGISTRY/app:v1", "--referrers-mode", "bogus", "--plain-http"},
			wantCode: exitUsage, stderrHas: []string{`"auto", "api" or "tag"`}},
		{name: "attach bad referrers mode", args: []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--referrers-mode", "bogus", "--plain-http"},
			wantCode: exitUsage, stderrHas: []string{`"auto", "api" or "tag"`}},
		{name: "artifact type not a media type", args: []string{"attach", "REGISTRY/app:v1", "--artifact-type", "sbom", "--plain-http"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"--artifact-type", "RFC 6838"}},
		{name: "depth 0", args: []string{"list", "REGISTRY/app:v1", "--depth", "0", "--plain-http"},
			wantCode: exitUsage, stderrHas: []string{"--depth"}},
		{name: "created yesterday", args: []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--created", "yesterday", "--plain-http"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{`--created "yesterday"`, "RFC 3339"}},
		{name: "bad SOURCE_DATE_EPOCH", env: map[string]string{"SOURCE_DATE_EPOCH": "yesterday"},
			args:     []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--plain-http"},
			wantCode: exitUsage, stderrHas: []string{"SOURCE_DATE_EPOCH", `"yesterday"`}},
		{name: "bad annotation", args: []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--annotation", "novalue", "--plain-http"},
			wantCode: exitUsage, stderrHas: []string{`annotation "novalue"`, "key=value"}},
		{name: "list bad annotation", args: []string{"list", "REGISTRY/app:v1", "--annotation", "=v", "--plain-http"},
			wantCode: exitUsage, stderrHas: []string{`annotation "=v"`}},
		{name: "attach without artifact type", args: []string{"attach", "REGISTRY/app:v1", "--plain-http"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{"--artifact-type"}},
		{name: "config without media type", args: []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--config", "DIR/sbom.json", "--plain-http"},
			wantCode: exitUsage, stderrHas: []string{"--config wants FILE:MEDIATYPE"}},
		{name: "bad platform", args: []string{"list", "REGISTRY/app:multi", "--platform", "linux", "--plain-http"},
			wantCode: exitUsage, wantStdout: ptr(""), stderrHas: []string{`--platform: platform "linux": want os/arch[/variant]`}},
		{name: "password-stdin without username", args: []string{"list", "REGISTRY/app:v1", "--password-stdin", "--plain-http"},
			wantCode: exitUsage, stderrHas: []string{"--password-stdin needs --username"}},
		{name: "username without password-stdin", args: []string{"list", "REGISTRY/app:v1", "--username", "u", "--plain-http"},
			wantCode: exitUsage, stderrHas: []string{"--username needs --password-stdin"}},
		{name: "missing file", args: []string{"attach", "REGISTRY/app:v1", "DIR/nope.json", "--artifact-type", "a/b", "--plain-http"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"nope.json"}},

		{name: "unknown tag", args: []string{"list", "REGISTRY/app:nope", "--plain-http"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"404"}},
		{name: "list 403", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden},
			args:     []string{"list", "REGISTRY/app:v1", "--plain-http"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"403", "DENIED"}},
		{name: "list 403 json", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden},
			args:     []string{"list", "REGISTRY/app:v1", "--format", "json", "--plain-http"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"403"}},
		{name: "list 403 tree", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden},
			args:     []string{"list", "REGISTRY/app:v1", "--format", "tree", "--plain-http"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"403"}, stderrNot: []string{"no referrers"}},
		{name: "list 500", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersServerError},
			args:     []string{"list", "REGISTRY/app:v1", "--plain-http"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"500"}},
		{name: "list 429", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersTooManyRequests},
			args:     []string{"list", "REGISTRY/app:v1", "--plain-http"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"429"}},
		// The registry confirms the subject (OCI-Subject), so attach checks the
		// API once; its 403 is an error, not "no API".
		{name: "attach 403 on the API check", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden, SubjectHeaderWithoutAPI: true},
			args:     []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--plain-http"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"403", "DENIED", "pushed, but checking the Referrers API failed"}},
		// Without OCI-Subject, attach goes straight to the tag schema and never
		// asks the (forbidden) API.
		{name: "attach without OCI-Subject", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersForbidden},
			args:     []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--plain-http"},
			wantCode: exitOK, stderrHas: []string{"recorded in the referrers tag sha256-"}},
		{name: "api mode without the API", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText},
			args:     []string{"list", "REGISTRY/app:v1", "--referrers-mode", "api", "--plain-http"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"no Referrers API", "--referrers-mode auto or tag"}},
		{name: "TLS to a plain HTTP registry", args: []string{"list", "REGISTRY/app:v1"},
			wantCode: exitError, wantStdout: ptr(""), stderrHas: []string{"--plain-http"}},

		{name: "empty table", args: []string{"list", "REGISTRY/app:v1", "--plain-http"},
			wantCode: exitOK, wantStdout: ptr(emptyTable)},
		{name: "empty json", args: []string{"list", "REGISTRY/app:v1", "--format", "json", "--plain-http"},
			wantCode: exitOK, wantStdout: ptr(emptyJSON)},
		{name: "empty tree", args: []string{"list", "REGISTRY/app:v1", "--format", "tree", "--plain-http"},
			wantCode: exitOK, stdoutHas: []string{"(no referrers)"}},
		{name: "empty table, tag schema", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundJSON},
			args:     []string{"list", "REGISTRY/app:v1", "--plain-http"},
			wantCode: exitOK, wantStdout: ptr(emptyTable)},
		{name: "empty json, tag schema", mode: fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundHTML},
			args:     []string{"list", "REGISTRY/app:v1", "--format", "json", "--plain-http"},
			wantCode: exitOK, wantStdout: ptr(emptyJSON)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.mode)
			in := f.cli(tt.args...)
			in.env = tt.env
			r := in.run(t)
			if r.code != tt.wantCode {
				t.Errorf("exit %d, want %d", r.code, tt.wantCode)
			}
			if tt.wantStdout != nil && r.stdout != *tt.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, *tt.wantStdout)
			}
			for _, s := range tt.stdoutHas {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout does not contain %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, r.stderr)
				}
			}
			for _, s := range tt.stderrNot {
				if strings.Contains(r.stderr, s) {
					t.Errorf("stderr contains %q:\n%s", s, r.stderr)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestUsageErrorsSendNoRequest checks that flag and argument mistakes are found
// before the registry is contacted.
func TestUsageErrorsSendNoRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"attach bad format", []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--format", "yaml"}},
		{"attach created", []string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b", "--created", "yesterday"}},
		{"attach no artifact type", []string{"attach", "REGISTRY/app:v1"}},
		{"attach bad platform", []string{"attach", "REGISTRY/app:multi", "--artifact-type", "a/b", "--platform", "linux/"}},
		{"attach annotation file names another file", []string{"attach", "REGISTRY/app:v1", "DIR/sbom.json", "--artifact-type", "a/b", "--annotation-file", "DIR/ann.json"}},
		{"list bad mode", []string{"list", "REGISTRY/app:v1", "--referrers-mode", "bogus"}},
		{"list bad platform", []string{"list", "REGISTRY/app:multi", "--platform", "linux/amd64/v8/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fakeregistry.Mode{})
			writeFile(t, filepath.Join(f.dir, "ann.json"), `{"other.json":{"k":"v"}}`)
			r := f.cli(append(tt.args, "--plain-http")...).run(t)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if got := f.reg.Requests(); len(got) != 0 {
				t.Errorf("%d requests sent, want none; first: %s %s", len(got), got[0].Method, got[0].Path)
			}
		})
	}
}

// TestCreated checks the org.opencontainers.image.created annotation of the
// pushed manifest: --created, SOURCE_DATE_EPOCH, and none by default.
func TestCreated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		env         map[string]string
		flags       []string
		want        string // "" = no annotation; "NOW" = a time within the run
		wantMissing bool
	}{
		{name: "default: none"},
		{name: "SOURCE_DATE_EPOCH", env: map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}, want: "2023-11-14T22:13:20Z"},
		{name: "SOURCE_DATE_EPOCH 0", env: map[string]string{"SOURCE_DATE_EPOCH": "0"}, want: "1970-01-01T00:00:00Z"},
		{name: "flag beats SOURCE_DATE_EPOCH", env: map[string]string{"SOURCE_DATE_EPOCH": "1700000000"},
			flags: []string{"--created", "2024-01-02T03:04:05Z"}, want: "2024-01-02T03:04:05Z"},
		{name: "none beats SOURCE_DATE_EPOCH", env: map[string]string{"SOURCE_DATE_EPOCH": "1700000000"},
			flags: []string{"--created", "none"}},
		{name: "now", flags: []string{"--created", "now"}, want: "NOW"},
		{name: "RFC 3339 with offset", flags: []string{"--created", "2024-01-02T04:04:05+01:00"}, want: "2024-01-02T04:04:05+01:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fakeregistry.Mode{})
			args := append([]string{"attach", "REGISTRY/app:v1", "--artifact-type", "a/b",
				"--export-manifest", "DIR/manifest.json", "--plain-http"}, tt.flags...)
			in := f.cli(args...)
			in.env = tt.env
			before := time.Now().UTC().Truncate(time.Second)
			r := in.run(t)
			after := time.Now().UTC()
			if r.code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			got, ok := readManifest(t, filepath.Join(f.dir, "manifest.json")).Annotations[ocispec.AnnotationCreated]
			switch tt.want {
			case "":
				if ok {
					t.Errorf("created = %q, want no annotation", got)
				}
			case "NOW":
				ts, err := time.Parse(time.RFC3339, got)
				if err != nil || ts.Before(before) || ts.After(after) || !strings.HasSuffix(got, "Z") {
					t.Errorf("created = %q, want a UTC time between %s and %s", got, before, after)
				}
			default:
				if got != tt.want {
					t.Errorf("created = %q, want %q", got, tt.want)
				}
			}
		})
	}
}

// TestAnnotationFile checks the oras annotation file format: $manifest goes to
// the manifest, $config to the config, a file's title to that file's layer.
func TestAnnotationFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		annFile   string
		extra     []string
		wantCode  int
		stderrHas string
		manifest  map[string]string
		config    map[string]string
		layer     map[string]string // annotations of the sbom.json layer
	}{
		{
			name:     "manifest and file",
			annFile:  `{"$manifest":{"k":"v"},"sbom.json":{"k2":"v2"}}`,
			manifest: map[string]string{"k": "v"},
			layer:    map[string]string{ocispec.AnnotationTitle: "sbom.json", "k2": "v2"},
		},
		{
			name:     "--annotation beats $manifest",
			annFile:  `{"$manifest":{"k":"from-file","only-file":"x"}}`,
			extra:    []string{"--annotation", "k=from-flag"},
			manifest: map[string]string{"k": "from-flag", "only-file": "x"},
			layer:    map[string]string{ocispec.AnnotationTitle: "sbom.json"},
		},
		{
			name:    "config",
			annFile: `{"$config":{"c":"1"}}`,
			extra:   []string{"--config", "DIR/sig.bin:application/vnd.example.config+json"},
			config:  map[string]string{"c": "1"},
			layer:   map[string]string{ocispec.AnnotationTitle: "sbom.json"},
		},
		{
			name:      "file that was not given",
			annFile:   `{"$manifest":{"k":"v"},"other.json":{"k2":"v2"}}`,
			wantCode:  exitUsage,
			stderrHas: `"other.json"`,
		},
		{
			name:      "not an object of strings",
			annFile:   `{"$manifest":{"k":1}}`,
			wantCode:  exitError,
			stderrHas: "ann.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fakeregistry.Mode{})
			writeFile(t, filepath.Join(f.dir, "ann.json"), tt.annFile)
			args := append([]string{"attach", "REGISTRY/app:v1", "DIR/sbom.json", "--artifact-type", "application/spdx+json",
				"--annotation-file", "DIR/ann.json", "--export-manifest", "DIR/manifest.json", "--plain-http"}, tt.extra...)
			r := f.cli(args...).run(t)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if tt.wantCode != exitOK {
				if !strings.Contains(r.stderr, tt.stderrHas) {
					t.Errorf("stderr does not contain %q:\n%s", tt.stderrHas, r.stderr)
				}
				if len(f.reg.Requests()) != 0 && tt.wantCode == exitUsage {
					t.Errorf("a usage error sent requests to the registry")
				}
				return
			}
			m := readManifest(t, filepath.Join(f.dir, "manifest.json"))
			checkAnnotations(t, "manifest", m.Annotations, tt.manifest)
			checkAnnotations(t, "config", m.Config.Annotations, tt.config)
			if len(m.Layers) != 1 {
				t.Fatalf("%d layers, want 1", len(m.Layers))
			}
			checkAnnotations(t, "layer", m.Layers[0].Annotations, tt.layer)
		})
	}
}

func checkAnnotations(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s annotations = %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s annotations = %v, want %v", what, got, want)
			return
		}
	}
}

// TestCredentials runs list against a registry that wants Basic credentials,
// given each way the CLI takes them.
func TestCredentials(t *testing.T) {
	t.Parallel()
	basic := fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: "u", Password: "p"}
	bearer := fakeregistry.Mode{Auth: fakeregistry.AuthBearer, Username: "u", Password: "p"}
	dockerConfig := func(user, pass string) func(t *testing.T, host, dir string) map[string]string {
		return func(t *testing.T, host, dir string) map[string]string {
			auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
			writeFile(t, filepath.Join(dir, "docker", "config.json"), `{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`)
			return map[string]string{"DOCKER_CONFIG": filepath.Join(dir, "docker")}
		}
	}
	tests := []struct {
		name      string
		mode      fakeregistry.Mode
		env       func(t *testing.T, host, dir string) map[string]string
		stdin     string
		flags     []string
		wantCode  int
		stderrHas []string
	}{
		{name: "password-stdin", mode: basic, stdin: "p\n", flags: []string{"--username", "u", "--password-stdin"}},
		{name: "password-stdin CRLF", mode: basic, stdin: "p\r\n", flags: []string{"--username", "u", "--password-stdin"}},
		{name: "password-stdin bearer", mode: bearer, stdin: "p", flags: []string{"--username", "u", "--password-stdin"}},
		{name: "wrong password", mode: basic, stdin: "hunter2\n", flags: []string{"--username", "u", "--password-stdin"},
			wantCode: exitError, stderrHas: []string{"401", "the registry did not accept the credentials from --username and --password-stdin"}},
		{name: "wrong password bearer", mode: bearer, stdin: "hunter2\n", flags: []string{"--username", "u", "--password-stdin"},
			wantCode: exitError, stderrHas: []string{"401", "the registry did not accept the credentials from --username and --password-stdin"}},
		{name: "no credentials", mode: basic, wantCode: exitError, stderrHas: []string{"asks for Basic credentials and none are configured"}},
		{name: "env", mode: basic, env: func(*testing.T, string, string) map[string]string {
			return map[string]string{"REFERRERS_USERNAME": "u", "REFERRERS_PASSWORD": "p"}
		}},
		{name: "env wrong", mode: basic, env: func(*testing.T, string, string) map[string]string {
			return map[string]string{"REFERRERS_USERNAME": "u", "REFERRERS_PASSWORD": "hunter2"}
		}, wantCode: exitError, stderrHas: []string{"401", "did not accept the credentials from REFERRERS_USERNAME and REFERRERS_PASSWORD"}},
		{name: "stdin beats env", mode: basic, stdin: "p\n", flags: []string{"--username", "u", "--password-stdin"},
			env: func(*testing.T, string, string) map[string]string {
				return map[string]string{"REFERRERS_USERNAME": "u", "REFERRERS_PASSWORD": "hunter2"}
			}},
		{name: "docker config", mode: basic, env: dockerConfig("u", "p")},
		{name: "docker config bearer", mode: bearer, env: dockerConfig("u", "p")},
		{name: "docker config wrong", mode: basic, env: dockerConfig("u", "hunter2"), wantCode: exitError,
			stderrHas: []string{"401", "no credentials for REGISTRY were accepted; looked in", filepath.Join("docker", "config.json")}},
		{name: "env beats docker config", mode: basic, env: func(t *testing.T, host, dir string) map[string]string {
			env := dockerConfig("u", "hunter2")(t, host, dir)
			env["REFERRERS_USERNAME"], env["REFERRERS_PASSWORD"] = "u", "p"
			return env
		}},
		{name: "docker config under HOME", mode: basic, env: func(t *testing.T, host, dir string) map[string]string {
			auth := base64.StdEncoding.EncodeToString([]byte("u:p"))
			writeFile(t, filepath.Join(dir, ".docker", "config.json"), `{"auths":{"http://`+host+`":{"auth":"`+auth+`"}}}`)
			return map[string]string{"HOME": dir}
		}},
		{name: "containers auth.json", mode: basic, env: func(t *testing.T, host, dir string) map[string]string {
			auth := base64.StdEncoding.EncodeToString([]byte("u:p"))
			writeFile(t, filepath.Join(dir, "auth.json"), `{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`)
			return map[string]string{"REGISTRY_AUTH_FILE": filepath.Join(dir, "auth.json")}
		}},
		{name: "broken docker config", mode: basic, env: func(t *testing.T, host, dir string) map[string]string {
			writeFile(t, filepath.Join(dir, "docker", "config.json"), `{"auths":`)
			return map[string]string{"DOCKER_CONFIG": filepath.Join(dir, "docker")}
		}, wantCode: exitError, stderrHas: []string{"config.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.mode)
			in := f.cli(append([]string{"list", "REGISTRY/app:v1", "--plain-http"}, tt.flags...)...)
			in.stdin = tt.stdin
			if tt.env != nil {
				in.env = tt.env(t, f.reg.Host(), t.TempDir())
			}
			r := in.run(t)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, r.stderr)
				}
			}
			for _, secret := range []string{"hunter2", base64.StdEncoding.EncodeToString([]byte("u:hunter2")), base64.StdEncoding.EncodeToString([]byte("u:p"))} {
				if strings.Contains(r.stderr, secret) {
					t.Errorf("stderr shows the secret %q:\n%s", secret, r.stderr)
				}
			}
			if tt.wantCode != exitOK && r.stdout != "" {
				t.Errorf("stdout on failure:\n%s", r.stdout)
			}
		})
	}
}

// TestPlatform attaches to and lists the child of an index for --platform.
func TestPlatform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		subject   string
		platform  string
		wantChild string // key of fixture.children; "" = the subject itself
		wantCode  int
		stderrHas []string
	}{
		{name: "arm64", subject: "REGISTRY/app:multi", platform: "linux/arm64", wantChild: "linux/arm64"},
		{name: "arm64/v8", subject: "REGISTRY/app:multi", platform: "linux/arm64/v8", wantChild: "linux/arm64"},
		{name: "amd64", subject: "REGISTRY/app:multi", platform: "linux/amd64", wantChild: "linux/amd64"},
		{name: "absent", subject: "REGISTRY/app:multi", platform: "linux/s390x",
			wantCode: exitError, stderrHas: []string{"linux/s390x", "linux/amd64, linux/arm64/v8"}},
		{name: "absent variant", subject: "REGISTRY/app:multi", platform: "linux/arm64/v7",
			wantCode: exitError, stderrHas: []string{"linux/arm64/v7", "linux/arm64/v8"}},
		{name: "not an index", subject: "REGISTRY/app:v1", platform: "linux/amd64",
			wantCode: exitError, stderrHas: []string{"not an index"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fakeregistry.Mode{})
			r := f.cli("attach", tt.subject, "DIR/sbom.json", "--artifact-type", "application/spdx+json",
				"--platform", tt.platform, "--export-manifest", "DIR/manifest.json", "--format", "json", "--plain-http").run(t)
			if r.code != tt.wantCode {
				t.Fatalf("attach: exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, r.stderr)
				}
			}
			if tt.wantCode != exitOK {
				if r.stdout != "" {
					t.Errorf("stdout on failure:\n%s", r.stdout)
				}
				return
			}
			child := f.children[tt.wantChild]
			m := readManifest(t, filepath.Join(f.dir, "manifest.json"))
			if m.Subject == nil || m.Subject.Digest != child || m.Subject.MediaType != ocispec.MediaTypeImageManifest {
				t.Errorf("subject = %+v, want the image manifest %s", m.Subject, child)
			}
			var out struct{ Subject string }
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatal(err)
			}
			if got, want := out.Subject, "REGISTRY/app@"+child.String(); got != want {
				t.Errorf("json subject = %q, want %q", got, want)
			}

			// list --platform finds it; the index itself has no referrers.
			for _, c := range []struct {
				args []string
				want int
			}{
				{[]string{"--platform", tt.platform}, 1},
				{nil, 0},
			} {
				args := append([]string{"list", tt.subject, "--format", "json", "--plain-http"}, c.args...)
				r := f.cli(args...).run(t)
				if r.code != exitOK {
					t.Fatalf("%v: exit %d; stderr:\n%s", args, r.code, r.stderr)
				}
				var idx ocispec.Index
				if err := json.Unmarshal([]byte(r.stdout), &idx); err != nil {
					t.Fatal(err)
				}
				if len(idx.Manifests) != c.want {
					t.Errorf("%v: %d referrers, want %d:\n%s", args, len(idx.Manifests), c.want, r.stdout)
				}
			}
		})
	}
}

// TestFileArgs checks FILE[:MEDIATYPE]: the media type is after the last ':'
// only when that part has a '/', so file names with colons work.
func TestFileArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		files     map[string]string // created under DIR
		arg       string
		wantCode  int
		wantTitle string
		wantType  string
		stderrHas string
	}{
		{name: "media type", arg: "DIR/sbom.json:application/spdx+json", wantTitle: "sbom.json", wantType: "application/spdx+json"},
		{name: "no media type", arg: "DIR/sbom.json", wantTitle: "sbom.json", wantType: "application/octet-stream"},
		{name: "colon in the name", files: map[string]string{"report:v1.txt": "x\n"},
			arg: "DIR/report:v1.txt", wantTitle: "report:v1.txt", wantType: "application/octet-stream"},
		{name: "colon in the name and a media type", files: map[string]string{"report:v1.txt": "x\n"},
			arg: "DIR/report:v1.txt:text/plain", wantTitle: "report:v1.txt", wantType: "text/plain"},
		{name: "colon in a directory name", files: map[string]string{"build:2024/out.txt": "x\n"},
			arg: "DIR/build:2024/out.txt", wantTitle: "out.txt", wantType: "application/octet-stream"},
		{name: "colon in a directory name and a media type", files: map[string]string{"build:2024/out.txt": "x\n"},
			arg: "DIR/build:2024/out.txt:text/plain", wantTitle: "out.txt", wantType: "text/plain"},
		{name: "media type but no such file", arg: "DIR/nope.txt:text/plain", wantCode: exitError, stderrHas: "nope.txt"},
		{name: "bad media type", arg: "DIR/sbom.json:application/spdx json", wantCode: exitError, stderrHas: "application/spdx json"},
		{name: "directory", files: map[string]string{"d/x": ""}, arg: "DIR/d", wantCode: exitError, stderrHas: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fakeregistry.Mode{})
			for name, content := range tt.files {
				if runtime.GOOS == "windows" && strings.Contains(name, ":") {
					t.Skip("no ':' in Windows file names")
				}
				writeFile(t, filepath.Join(f.dir, name), content)
			}
			r := f.cli("attach", "REGISTRY/app:v1", tt.arg, "--artifact-type", "application/vnd.example",
				"--export-manifest", "DIR/manifest.json", "--plain-http").run(t)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			if tt.wantCode != exitOK {
				if !strings.Contains(r.stderr, tt.stderrHas) {
					t.Errorf("stderr does not contain %q:\n%s", tt.stderrHas, r.stderr)
				}
				return
			}
			m := readManifest(t, filepath.Join(f.dir, "manifest.json"))
			if len(m.Layers) != 1 {
				t.Fatalf("%d layers, want 1", len(m.Layers))
			}
			l := m.Layers[0]
			if got := l.Annotations[ocispec.AnnotationTitle]; got != tt.wantTitle {
				t.Errorf("title = %q, want %q", got, tt.wantTitle)
			}
			if l.MediaType != tt.wantType {
				t.Errorf("media type = %q, want %q", l.MediaType, tt.wantType)
			}
			if !f.reg.HasBlob("app", l.Digest) {
				t.Errorf("layer %s was not pushed", l.Digest)
			}
		})
	}
}

// TestDebug: --debug traces each HTTP exchange and each decision on stderr,
// and never a secret; stdout is unchanged.
func TestDebug(t *testing.T) {
	t.Parallel()
	const password = "debug-secret-pw"
	f := newFixture(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, Auth: fakeregistry.AuthBearer, Username: "u", Password: password, ETag: fakeregistry.ETagIgnored})
	in := f.cli("attach", "REGISTRY/app:v1", "DIR/sbom.json", "--artifact-type", "application/spdx+json",
		"--plain-http", "--username", "u", "--password-stdin", "--debug")
	in.stdin = password + "\n"
	r := in.run(t)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"http: HEAD http://REGISTRY/v2/app/manifests/v1 -> ", "http: PUT ", "referrers: ", "settling"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, secret := range []string{password, "Bearer ", "Authorization"} {
		if strings.Contains(r.stderr, secret) {
			t.Errorf("stderr shows %q:\n%s", secret, r.stderr)
		}
	}
	if !strings.HasPrefix(r.stdout, "REGISTRY/app@sha256:") {
		t.Errorf("stdout = %q, want the artifact reference", r.stdout)
	}
}

// TestParseInterspersed checks the split of flags and positional arguments,
// in particular "-:MEDIATYPE" (standard input), which looks like a flag.
func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantPos string // positional arguments joined by " "
		wantS   string // --s
		wantB   bool   // --b
		wantErr string
	}{
		{name: "flags around", args: []string{"--b", "x", "--s", "v", "y"}, wantPos: "x y", wantS: "v", wantB: true},
		{name: "stdin", args: []string{"x", "-", "--s", "v"}, wantPos: "x -", wantS: "v"},
		{name: "stdin with a media type", args: []string{"x", "-:text/plain", "--s", "v"}, wantPos: "x -:text/plain", wantS: "v"},
		{name: "stdin with a media type first", args: []string{"-:text/plain", "x"}, wantPos: "-:text/plain x"},
		{name: "after a bool flag", args: []string{"--b", "-:text/plain"}, wantPos: "-:text/plain", wantB: true},
		{name: "twice", args: []string{"-:a/b", "--b", "-:c/d"}, wantPos: "-:a/b -:c/d", wantB: true},
		{name: "a flag's value", args: []string{"--s", "-:x", "y"}, wantPos: "y", wantS: "-:x"},
		{name: "after --", args: []string{"x", "--", "-:a/b"}, wantPos: "x -:a/b"},
		{name: "unknown flag", args: []string{"-:a/b", "--nope"}, wantErr: "-nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			s := fs.String("s", "", "")
			b := fs.Bool("b", false, "")
			pos, err := parseInterspersed(fs, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(pos, " "); got != tt.wantPos || *s != tt.wantS || *b != tt.wantB {
				t.Errorf("got %q, --s %q, --b %v; want %q, %q, %v", got, *s, *b, tt.wantPos, tt.wantS, tt.wantB)
			}
		})
	}
}
