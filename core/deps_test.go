package core_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies enforces the dependency promise (STYLE.md 9): packages under
// core/ import only the standard library, go-digest, image-spec and each other;
// only core/registry (the client) and core/server (the registry over a
// static tree) import net/http.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	const mod = "github.com/oci-referrers/referrers/"
	allowed := []string{"github.com/opencontainers/go-digest", "github.com/opencontainers/image-spec/", mod + "core/"}
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		seen++
		for _, imp := range p.Imports {
			if imp == "net/http" && p.ImportPath != mod+"core/registry" && p.ImportPath != mod+"core/server" {
				t.Errorf("%s imports net/http; only core/registry and core/server may", p.ImportPath)
			}
			if !strings.Contains(strings.Split(imp, "/")[0], ".") {
				continue // standard library
			}
			ok := false
			for _, a := range allowed {
				if strings.HasPrefix(imp, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, outside the dependency promise", p.ImportPath, imp)
			}
		}
	}
	if seen < 4 {
		t.Fatalf("go list saw %d core packages, want at least 4", seen)
	}
}

// TestFrontEndDependencies keeps each front end's one extra dependency in
// that front end: go-githubactions only in cmd/action (the Action), wazero
// only in wasm/host, so the CLI and the library do not link them.
func TestFrontEndDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/oci-referrers/referrers/"
	only := map[string]string{
		"github.com/sethvargo/go-githubactions": mod + "cmd/action",
		"github.com/tetratelabs/wazero":         mod + "wasm/host",
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[string]bool{}
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		for _, imp := range p.Imports {
			for dep, pkg := range only {
				if imp == dep || strings.HasPrefix(imp, dep+"/") {
					seen[dep] = true
					if p.ImportPath != pkg && !strings.HasPrefix(p.ImportPath, pkg+"/") {
						t.Errorf("%s imports %s; only %s may", p.ImportPath, imp, pkg)
					}
				}
			}
		}
	}
	if !seen["github.com/sethvargo/go-githubactions"] {
		t.Error("no package imports go-githubactions: the check looks at the wrong packages")
	}
}

// TestWASIDependencies keeps out of the WASI module (./wasm, GOOS=wasip1)
// the packages it has no use for, which would only spend its size budget:
// the terminal sanitizer (core/display: the host renders), the web-server
// configuration (core/hosting), the registry server and net/http.
func TestWASIDependencies(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-deps", "../wasm")
	cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ../wasm: %v", err)
	}
	const mod = "github.com/oci-referrers/referrers/"
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !strings.Contains(string(out), mod+"core/referrers\n") {
		t.Fatalf("go list -deps ../wasm listed %d packages without core/referrers: the check looks at the wrong thing", len(deps))
	}
	for _, d := range deps {
		switch d {
		case mod + "core/display", mod + "core/hosting", mod + "core/server", "net/http":
			t.Errorf("the WASI module links %s", d)
		}
	}
}
