package actionsetup

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestRunStepWithDefaults runs the installed binary as action.yml's run step
// does: every input mapped to INPUT_*, with action.yml's defaults for those a
// workflow leaves out (the runner always sets them). A default that one
// command rejects (min: '1' once made every attach fail) shows up here.
func TestRunStepWithDefaults(t *testing.T) {
	t.Parallel()
	runnerOS, runnerArch, ok := runnerNames(runtime.GOOS, runtime.GOARCH)
	if !ok {
		t.Skipf("no release asset for the host %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	rel := builtRelease(t)
	srv := serve(t, rel.dir, 0)
	setup := runSetup(t, actionPath(t, rel.checksums, false), "", map[string]string{
		"RUNNER_OS": runnerOS, "RUNNER_ARCH": runnerArch,
		"REFERRERS_ACTION_REF": version, "REFERRERS_RELEASE_URL": srv.url,
	})
	if setup.code != 0 {
		t.Fatalf("setup: exit %d\n%s", setup.code, setup.log)
	}
	bin := setup.outputs["bin"]

	b, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{}
	for _, e := range parseYAML(t, string(b)) {
		if name, ok := strings.CutSuffix(strings.TrimPrefix(e.path, "inputs."), ".default"); ok && strings.HasPrefix(e.path, "inputs.") {
			defaults[name] = strings.ReplaceAll(e.value, "${{ github.token }}", "ghs_not_a_real_token")
		}
	}
	if len(defaults) < len(inputNames)-1 { // subject is required, with no default
		t.Fatalf("read %d input defaults from action.yml, want about %d: %v", len(defaults), len(inputNames), defaults)
	}

	reg := fakeregistry.New(t, fakeregistry.Mode{})
	pushImage(t, reg)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "sbom.spdx.json"), []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	image := reg.Host() + "/app:v1"
	steps := []struct {
		name   string
		with   map[string]string
		output string // an output the step must set
	}{
		{"attach", map[string]string{"subject": image, "files": "sbom.spdx.json:application/spdx+json",
			"artifact-type": "application/spdx+json", "plain-http": "true"}, "digest"},
		{"list", map[string]string{"command": "list", "subject": image, "plain-http": "true"}, "referrers"},
		{"check", map[string]string{"command": "check", "subject": image, "plain-http": "true",
			"require": "application/spdx+json"}, "result"},
	}
	for _, s := range steps {
		env := append(cleanEnv(), "HOME="+t.TempDir(), "RUNNER_TEMP="+t.TempDir())
		out := filepath.Join(t.TempDir(), "output")
		env = append(env, "GITHUB_OUTPUT="+out, "GITHUB_STEP_SUMMARY="+filepath.Join(t.TempDir(), "summary"))
		for name, def := range defaults {
			v := def
			if w, ok := s.with[name]; ok {
				v = w
			}
			env = append(env, "INPUT_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"="+v)
		}
		env = append(env, "INPUT_SUBJECT="+s.with["subject"])
		cmd := exec.Command(bin)
		cmd.Env, cmd.Dir = env, work
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stdout
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s with action.yml's defaults: %v\n%s", s.name, err, stdout.String())
		}
		raw, err := os.ReadFile(out)
		if err != nil || !strings.Contains(string(raw), s.output+"<<ghadelimiter_") {
			t.Errorf("%s: output %s not written (%v):\n%s", s.name, s.output, err, raw)
		}
		if s.name == "check" && !strings.Contains(string(raw), `"pass":true`) {
			t.Errorf("check: the verdict is not a pass:\n%s", raw)
		}
	}
}

// pushImage puts a one-layer image tagged app:v1 in reg.
func pushImage(t *testing.T, reg *fakeregistry.Registry) digest.Digest {
	t.Helper()
	cfg, err := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}})
	if err != nil {
		t.Fatal(err)
	}
	layer := []byte("layer")
	m, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: reg.PutBlob("app", cfg), Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: reg.PutBlob("app", layer), Size: int64(len(layer))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg.PutManifest("app", "v1", ocispec.MediaTypeImageManifest, m)
}
