package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/wasm/host"
)

// runtime runs the command module with stdin and the tree mounted at /tree,
// and returns stdout and the exit code.
type runtimeCmd func(t *testing.T, tree string, stdin []byte) ([]byte, int)

// TestOtherRuntimes runs the command module under the wazero CLI (built
// from the module cache: always present) and node's WASI (node:wasi,
// preview1; skipped with a message where node is absent, and a failure in
// CI, whose runners have node): each must answer as our host does, byte for
// byte, and refuse a symlink out of the tree by itself: the wazero CLI
// mounts with WithReadOnlyDirMount and node with uvwasi, and both follow
// such a symlink.
func TestOtherRuntimes(t *testing.T) {
	t.Parallel()
	module, err := filepath.Abs("referrers.wasm")
	if err != nil {
		t.Fatal(err)
	}
	runtimes := map[string]runtimeCmd{}

	bin := filepath.Join(t.TempDir(), "wazero")
	build := exec.Command("go", "build", "-o", bin, "github.com/tetratelabs/wazero/cmd/wazero")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the wazero CLI: %v\n%s", err, out)
	}
	cache := t.TempDir() // compile once, not once per run
	runtimes["wazero CLI"] = func(t *testing.T, tree string, stdin []byte) ([]byte, int) {
		args := []string{"run", "-cachedir=" + cache}
		if tree != "" {
			args = append(args, "-mount="+tree+":/tree:ro")
		}
		return runCmd(t, exec.Command(bin, append(args, module)...), stdin)
	}

	if node, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Errorf("node is not on PATH in CI: %v", err)
		} else {
			t.Logf("SKIP node's WASI: node is not on PATH (%v)", err)
		}
	} else {
		script, err := filepath.Abs(filepath.Join("..", "testdata", "run-node.mjs"))
		if err != nil {
			t.Fatal(err)
		}
		runtimes["node"] = func(t *testing.T, tree string, stdin []byte) ([]byte, int) {
			args := []string{"--no-warnings", script, module}
			if tree != "" {
				args = append(args, tree)
			}
			return runCmd(t, exec.Command(node, args...), stdin)
		}
	}

	layout, err := filepath.Abs(goldenLayout)
	if err != nil {
		t.Fatal(err)
	}
	static := filepath.Join(filepath.Dir(layout), "static")
	docs := tinyRequest()
	dir := twoLayouts(t)
	escaping := filepath.Join(dir, "tree")
	symlink(t, escaping, v1Manifest, filepath.Join(dir, "outside", filepath.FromSlash(v1Manifest)))
	inside := t.TempDir()
	if err := os.CopyFS(filepath.Join(inside, "real"), os.DirFS(goldenLayout)); err != nil {
		t.Fatal(err)
	}
	symlink(t, inside, "tree", "real") // the tree itself through a relative link: mounted by path

	tests := []struct {
		name, tree string
		req        []byte
		code       int
		sameBytes  bool // else the same exit code and Error code
	}{
		{"List", layout, []byte(`{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"multi","depth":2}`), 0, true},
		{"Check", layout, marshal(t, checkV1()), 0, true},
		{"static List", static, []byte(`{"apiVersion":"referrers/v1","kind":"List","source":{"static":"/tree","name":"app"},"subject":"v1"}`), 0, true},
		{"documents", "", marshal(t, docs), 0, true},
		{"IndexFor", "", marshal(t, request.Request{APIVersion: request.APIVersion, Kind: request.KindIndexFor, Source: docs.Source, Subject: docs.Subject}), 0, true},
		{"malformed", "", []byte(`{"kind":"List"}`), 2, true},
		{"unknown tag", layout, []byte(`{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v9"}`), 3, true},
		{"symlink out of the tree", escaping, marshal(t, checkV1()), 3, false},
		{"tree through a symlink", filepath.Join(inside, "tree"), marshal(t, checkV1()), 0, true},
	}
	for name, run := range runtimes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				want, err := shared.Run(context.Background(), tt.tree, tt.req)
				var ee *host.ExitError
				if code := 0; errors.As(err, &ee) {
					code = int(ee.Code)
					if code != tt.code {
						t.Fatalf("%s: our host: %v", tt.name, err)
					}
				} else if err != nil || tt.code != 0 {
					t.Fatalf("%s: our host: %v", tt.name, err)
				}
				got, code := run(t, tt.tree, tt.req)
				if code != tt.code {
					t.Errorf("%s: exit %d, want %d; stdout %s", tt.name, code, tt.code, got)
					continue
				}
				if tt.sameBytes && !bytes.Equal(got, want) {
					t.Errorf("%s: the answers differ\nours:  %s\n%s: %s", tt.name, want, name, got)
				}
				if !tt.sameBytes && errorCode(got) != errorCode(want) {
					t.Errorf("%s: %s, want the Error code of %s", tt.name, got, want)
				}
				t.Logf("%s: exit %d: %.160s", tt.name, code, got)
			}
		})
	}
}

func runCmd(t *testing.T, cmd *exec.Cmd, stdin []byte) ([]byte, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return stdout.Bytes(), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	return stdout.Bytes(), 0
}

// errorCode is the code of the Error response in b, "" if none.
func errorCode(b []byte) string {
	var r request.Response
	if json.Unmarshal(b, &r) != nil || r.Error == nil {
		return ""
	}
	return strings.TrimSpace(r.Error.Code)
}
