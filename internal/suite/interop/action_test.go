package interop

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// TestActionEndToEnd runs the GitHub Action's binary as the composite
// action's run step does (INPUT_* variables, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY files) against olareg (Referrers API) and distribution
// (tag schema). Its work is checked by oras and regctl, and it checks
// theirs: the attach it reports must be what they list, and its check must
// count what oras attached.
//
// With REFERRERS_ACTION_E2E_DIR set, each run's outputs file and job summary
// are copied there (the samples in the closing note).
func TestActionEndToEnd(t *testing.T) {
	bin := buildAction(t)
	for _, start := range []func(testing.TB) *oracle.Registry{
		func(t testing.TB) *oracle.Registry { return oracle.StartOlareg(t) },
		oracle.StartDistribution,
	} {
		reg := start(t)
		t.Run(reg.Kind, func(t *testing.T) {
			repo := repository(t, reg.Host, "app")
			subject := mustImage(t, repo, "action-e2e", "v1")
			work := t.TempDir()
			sbom := filepath.Join(work, "sbom.spdx.json")
			if err := os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			image := reg.Host + "/app"
			wantMode := "tag"
			if reg.API {
				wantMode = "api"
			}

			// 1. attach, with the subject given as name + digest, as after
			// docker/build-push-action.
			out := runAction(t, bin, reg.Kind+"-attach", map[string]string{
				"subject":        image,
				"subject-digest": subject.Digest.String(),
				"files":          sbom + ":application/spdx+json",
				"artifact-type":  "application/spdx+json",
				"annotations":    "org.example.build=42\norg.example.note=two words",
				"plain-http":     "true",
			}, 0)
			if out["mode"] != wantMode || out["subject-digest"] != subject.Digest.String() {
				t.Errorf("mode %q subject-digest %q, want %q %s", out["mode"], out["subject-digest"], wantMode, subject.Digest)
			}
			if out["reference"] != image+"@"+out["digest"] {
				t.Errorf("reference %q, want %s@%s", out["reference"], image, out["digest"])
			}
			// The peers see exactly the artifact the action reported.
			ref := image + "@" + subject.Digest.String()
			for _, peer := range []interface {
				name() string
				list(*testing.T, string, int, string) []seen
			}{&oras{oracle.NewOras(t)}, &regctl{oracle.NewRegctl(t, reg.Host)}} {
				got := peer.list(t, ref, 1, "")
				s, n := find(got, out["digest"])
				if n != 1 || s.ArtifactType != "application/spdx+json" || s.Annotations["org.example.note"] != "two words" {
					t.Errorf("%s lists %d of the action's artifact %s (%+v); want it once with its type and annotations", peer.name(), n, out["digest"], got)
				}
			}

			// 2. oras attaches a signature; the action's check counts both.
			o := &oras{oracle.NewOras(t)}
			sig := o.attach(t, ref, artifact{artifactType: "application/vnd.example.signature",
				files: []file{{name: "sig.txt", mediaType: "application/octet-stream", content: "signed"}}})
			out = runAction(t, bin, reg.Kind+"-check", map[string]string{
				"command": "check", "subject": image + ":v1", "plain-http": "true",
				"require": "application/spdx+json, application/vnd.example.signature",
			}, 0)
			verdict := decodeVerdict(t, out["result"])
			if !verdict.Pass || len(verdict.Requirements) != 2 || verdict.Requirements[1].Found != 1 ||
				verdict.Requirements[1].Matches[0].Digest.String() != sig {
				t.Errorf("check: %s, want a pass with oras's signature %s", out["result"], sig)
			}
			if out["count"] != "2" {
				t.Errorf("count %q, want 2", out["count"])
			}

			// 3. A missing type is a verdict (exit 3), with the result output.
			out = runAction(t, bin, reg.Kind+"-check-missing", map[string]string{
				"command": "check", "subject": image + ":v1", "plain-http": "true",
				"require": "application/vnd.example.scan",
			}, 3)
			if v := decodeVerdict(t, out["result"]); v.Pass || v.Requirements[0].Found != 0 {
				t.Errorf("check of a missing type: %s, want not met", out["result"])
			}

			// 4. list filtered by type.
			out = runAction(t, bin, reg.Kind+"-list", map[string]string{
				"command": "list", "subject": ref, "plain-http": "true",
				"artifact-type": "application/vnd.example.signature",
			}, 0)
			var idx ocispec.Index
			if err := json.Unmarshal([]byte(out["referrers"]), &idx); err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest.String() != sig {
				t.Errorf("list --artifact-type signature: %s (%v), want only %s", out["referrers"], err, sig)
			}
		})
	}
}

func decodeVerdict(t *testing.T, s string) policy.Result {
	t.Helper()
	var v policy.Result
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("result output %q: %v", s, err)
	}
	return v
}

// buildAction builds ./cmd/action (without -race, as a release is built).
func buildAction(t *testing.T) string {
	t.Helper()
	root, err := oracle.Root()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "referrers-action")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/action")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/action: %v\n%s", err, out)
	}
	return bin
}

// runAction runs the binary as the composite action's run step would, with
// a private HOME, and returns its outputs, parsed as the runner parses them.
func runAction(t *testing.T, bin, name string, inputs map[string]string, wantCode int) map[string]string {
	t.Helper()
	dir := t.TempDir()
	outputs, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	env := []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "GITHUB_OUTPUT=" + outputs, "GITHUB_STEP_SUMMARY=" + summary}
	for k, v := range inputs {
		env = append(env, "INPUT_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))+"="+v)
	}
	cmd := exec.Command(bin)
	cmd.Env, cmd.Dir = env, dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code != wantCode {
		t.Fatalf("%s: exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", name, code, err, wantCode, stdout.String(), stderr.String())
	}
	rawOut, _ := os.ReadFile(outputs)
	rawSum, _ := os.ReadFile(summary)
	t.Logf("%s: stdout:\n%s\nGITHUB_OUTPUT:\n%s\nGITHUB_STEP_SUMMARY:\n%s", name, stdout.String(), rawOut, rawSum)
	if d := os.Getenv("REFERRERS_ACTION_E2E_DIR"); d != "" {
		for suffix, b := range map[string][]byte{".stdout": stdout.Bytes(), ".outputs": rawOut, ".summary.md": rawSum} {
			if err := os.WriteFile(filepath.Join(d, name+suffix), b, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	return parseRunnerOutputs(t, string(rawOut))
}

// parseRunnerOutputs reads a GITHUB_OUTPUT file as the runner does.
func parseRunnerOutputs(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		k, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			k, v, _ := strings.Cut(lines[i], "=")
			out[k] = v
			continue
		}
		var v []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			v = append(v, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("GITHUB_OUTPUT: heredoc %s is not closed:\n%s", k, s)
		}
		out[k] = strings.Join(v, "\n")
	}
	return out
}
