package actionsetup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// version is the release the tests build and serve.
const version = "v9.8.7"

var (
	// root is the repository's root (tests run in the package directory).
	root string
	// scratch holds what the tests share: the release build.
	scratch string
)

func TestMain(m *testing.M) {
	abs, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err == nil {
		_, err = os.Stat(filepath.Join(abs, "action", "setup.sh"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "actionsetup: repository root not found:", err)
		os.Exit(1)
	}
	root = abs
	scratch, err = os.MkdirTemp("", "actionsetup-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(scratch)
	os.Exit(code)
}

// needShell skips the test when bash or curl is missing, except under
// CI=true, where the scripts must be tested and a missing tool fails.
func needShell(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (CI=true, so this is a failure, not a skip): %v", tool, err)
			}
			t.Skipf("%s is missing, so the action's scripts cannot run here (under CI=true this fails): %v", tool, err)
		}
	}
}

// runnerNames maps a Go platform to the runner's RUNNER_OS and RUNNER_ARCH.
func runnerNames(goos, goarch string) (runnerOS, runnerArch string, ok bool) {
	oses := map[string]string{"linux": "Linux", "darwin": "macOS", "windows": "Windows"}
	arches := map[string]string{"amd64": "X64", "arm64": "ARM64"}
	runnerOS, ok1 := oses[goos]
	runnerArch, ok2 := arches[goarch]
	return runnerOS, runnerArch, ok1 && ok2
}

// assetName is the action binary's release asset for a Go platform.
func assetName(goos, goarch string) string {
	name := "referrers-action-" + goos + "-" + goarch
	if goos == "windows" {
		name += ".exe"
	}
	return name
}

// sha256Hex is the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// release is the output of one scripts/release.sh run, shared by the tests.
type release struct {
	dir       string // the assets, SHA256SUMS and checksums.txt
	checksums string // checksums.txt's text
	targets   string // the --targets it was built with
}

var (
	releaseOnce  sync.Once
	releaseBuild release
	releaseErr   error
)

// releaseTargets are the host platform and one other: enough to show that
// the script builds every target and names the assets right, without
// building all six.
func releaseTargets() string {
	other := "linux/arm64"
	if runtime.GOOS == "linux" && runtime.GOARCH == "arm64" {
		other = "linux/amd64"
	}
	return runtime.GOOS + "/" + runtime.GOARCH + " " + other
}

// builtRelease runs scripts/release.sh once for the whole package.
func builtRelease(t *testing.T) release {
	t.Helper()
	needShell(t)
	releaseOnce.Do(func() {
		dir := filepath.Join(scratch, "dist")
		r := release{dir: dir, targets: releaseTargets()}
		out, err := runScript(filepath.Join(root, "scripts", "release.sh"), version,
			"--out", dir, "--checksums", filepath.Join(dir, "checksums.txt"), "--targets", r.targets)
		if err != nil {
			releaseErr = fmt.Errorf("scripts/release.sh: %v\n%s", err, out)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, "checksums.txt"))
		if err != nil {
			releaseErr = err
			return
		}
		r.checksums = string(b)
		releaseBuild = r
	})
	if releaseErr != nil {
		t.Fatal(releaseErr)
	}
	return releaseBuild
}

// runScript runs a script with bash in the repository root, with the
// environment of the test minus anything a runner would set.
func runScript(script string, args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Dir = root
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cleanEnv is the test's environment without the variables of a runner or
// of the action, and without proxies (the server is on 127.0.0.1). Source
// builds get CGO_ENABLED=0 so they reuse the release build's compiled
// packages.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		switch {
		case strings.HasPrefix(upper, "GITHUB_"), strings.HasPrefix(upper, "RUNNER_"),
			strings.HasPrefix(upper, "REFERRERS_"), strings.HasPrefix(upper, "INPUT_"),
			strings.HasSuffix(upper, "_PROXY"), upper == "CGO_ENABLED", upper == "CURL_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "CGO_ENABLED=0")
}

// server is a release download server on 127.0.0.1 that records the paths
// asked for.
type server struct {
	url string
	mu  sync.Mutex
	got []string
}

func (s *server) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// serve starts a server that answers GET /<version>/<name> with the file of
// that name in dir (404 when absent), or every request with status when it
// is not 0.
func serve(t *testing.T, dir string, status int) *server {
	t.Helper()
	s := &server{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.got = append(s.got, r.URL.Path)
		s.mu.Unlock()
		if status != 0 {
			http.Error(w, http.StatusText(status), status)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, "/"+version+"/")
		if r.Method != http.MethodGet || !ok || name == "" || strings.ContainsAny(name, `/\`) || dir == "" {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// fakeAssets writes a made-up asset for each of the six platforms into a
// directory and returns it with the checksum file that lists them.
func fakeAssets(t *testing.T) (dir, checksums string) {
	t.Helper()
	dir = t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "# fake release\nversion %s\ngo go1.0.0\n", version)
	for _, goos := range []string{"darwin", "linux", "windows"} {
		for _, goarch := range []string{"amd64", "arm64"} {
			name := assetName(goos, goarch)
			content := fakeContent(name)
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s  %s\n", sha256Hex(content), name)
		}
	}
	return dir, b.String()
}

func fakeContent(asset string) []byte {
	return []byte("#!/bin/sh\necho fake " + asset + "\n")
}

// actionPath makes a directory laid out like the action at a ref: its
// action/setup.sh and the given action/checksums.txt, and with source the Go
// source of the module (sourceFiles: what a source build compiles and what
// the source digest covers).
func actionPath(t *testing.T, checksums string, source bool) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, filepath.Join(root, "action", "setup.sh"), filepath.Join(dir, "action", "setup.sh"))
	if err := os.WriteFile(filepath.Join(dir, "action", "checksums.txt"), []byte(checksums), 0o644); err != nil {
		t.Fatal(err)
	}
	if !source {
		return dir
	}
	files, err := sourceFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range files {
		copyFile(t, filepath.Join(root, filepath.FromSlash(rel)), filepath.Join(dir, filepath.FromSlash(rel)))
	}
	return dir
}

// sourceFiles lists, as slash paths relative to dir, the files the source
// digest of action/setup.sh covers, in its order: go.mod, go.sum, then every
// .go file but *_test.go in a walk of dir in lexical order, skipping names
// starting with . or _, directories named testdata, directories with their
// own go.mod, and symbolic links. It is written from the rule in setup.sh's
// comment, not from its code, so that TestSourceDigest compares two readings
// of the rule.
func sourceFiles(dir string) ([]string, error) {
	files := []string{"go.mod", "go.sum"}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		name := d.Name()
		if d.Type()&fs.ModeSymlink != 0 || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if name == "testdata" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	return files, err
}

// sourceDigest is the source digest of the module at dir, computed in Go:
// sha256:<hex> of the lines "<sha256>  <path>\n" of sourceFiles.
func sourceDigest(dir string) (string, error) {
	files, err := sourceFiles(dir)
	if err != nil {
		return "", err
	}
	var manifest strings.Builder
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&manifest, "%s  %s\n", sha256Hex(b), rel)
	}
	return "sha256:" + sha256Hex([]byte(manifest.String())), nil
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// setupResult is one run of action/setup.sh.
type setupResult struct {
	code    int
	log     string            // stdout and stderr
	outputs map[string]string // what it wrote to GITHUB_OUTPUT
	rawOut  string
	temp    string // RUNNER_TEMP
}

// installDir is where setup.sh installs.
func (r setupResult) installDir() string { return filepath.Join(r.temp, "referrers-action") }

// wantSourceBuild fails the test unless setup succeeded by building the
// binary from source into binPath.
func (r setupResult) wantSourceBuild(t *testing.T) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.log)
	}
	if r.outputs["bin"] != r.binPath() || r.outputs["how"] != "source" {
		t.Errorf("outputs %q, want bin=%s how=source", r.rawOut, r.binPath())
	}
}

// binPath is where setup installs the action's binary for this machine.
func (r setupResult) binPath() string {
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	return filepath.Join(r.installDir(), "referrers-action"+exe)
}

// runSetup runs action/setup.sh of the action at dir as the runner would,
// with RUNNER_TEMP temp (a new one when empty) and env on top.
func runSetup(t *testing.T, dir, temp string, env map[string]string) setupResult {
	t.Helper()
	if temp == "" {
		temp = t.TempDir()
	}
	output := filepath.Join(t.TempDir(), "github_output")
	if err := os.WriteFile(output, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(dir, "action", "setup.sh"))
	cmd.Dir = t.TempDir() // the workspace
	cmd.Env = append(cleanEnv(),
		"GITHUB_ACTION_PATH="+dir,
		"GITHUB_OUTPUT="+output,
		"RUNNER_TEMP="+temp,
	)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	r := setupResult{log: string(out), temp: temp, outputs: map[string]string{}}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("bash setup.sh: %v", err)
		}
		r.code = ee.ExitCode()
	}
	raw, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	r.rawOut = string(raw)
	for _, line := range strings.Split(strings.TrimSpace(r.rawOut), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			r.outputs[k] = v
		}
	}
	return r
}

// executables lists the files under dir that are executable (or, on
// Windows, any file: there is no mode bit to check).
func executables(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if runtime.GOOS == "windows" || info.Mode()&0o111 != 0 {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// versionOf runs bin --version.
func versionOf(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	return strings.TrimSpace(string(out))
}
