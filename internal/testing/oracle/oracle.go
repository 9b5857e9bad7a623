// Package oracle starts the test oracles that scripts/oracles.sh builds (real
// registries and peer client tools) for tests that check our behaviour against
// implementations we did not write.
//
// A missing oracle skips the test with a message that says how to build it,
// except when CI=true, where it fails the test: in CI a skipped interop test
// would be a silent pass.
//
// Registries bind 127.0.0.1 on a free port and are stopped when the test ends.
// Client tools run with a private HOME (and Docker config) per Tool, so nothing
// leaks between tests or from the developer's own login.
package oracle

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Names of the oracle binaries in the oracle directory.
const (
	Olareg       = "olareg"
	Distribution = "registry"
	Oras         = "oras"
	Regctl       = "regctl"
	// Actionlint is rhysd/actionlint, the GitHub workflow linter.
	Actionlint = "actionlint"
	// YAMLCheck is internal/tools/oracles/cmd/yamlcheck, the shape checks for the
	// action metadata, the workflows and the GitLab template.
	YAMLCheck = "yamlcheck"
	// Conformance is the OCI distribution-spec conformance suite
	// (internal/suite/conformance runs it against `referrers serve`).
	Conformance = "conformance"
)

// Root returns the main module's root directory, found by walking up from
// the working directory to the go.mod that declares the main module.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/oci-referrers/referrers\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("oracle: main module root not found above the working directory")
		}
		dir = parent
	}
}

// Dir returns the directory holding the oracle binaries:
// $REFERRERS_ORACLES/bin, or .oracles/bin under the module root.
func Dir() (string, error) {
	if d := os.Getenv("REFERRERS_ORACLES"); d != "" {
		return filepath.Join(d, "bin"), nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".oracles", "bin"), nil
}

// InCI reports whether the tests run in CI (CI=true), where a missing oracle
// is a failure rather than a skip.
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// Require returns the path of the named oracle binary. When it is missing the
// test is skipped with a message, or fails when CI=true.
func Require(t testing.TB, name string) string {
	t.Helper()
	dir, err := Dir()
	if err == nil {
		p := filepath.Join(dir, name)
		if fi, err2 := os.Stat(p); err2 == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
		err = fmt.Errorf("%s not found in %s", name, dir)
	}
	msg := fmt.Sprintf("oracle %s missing (%v); build the oracles with: bash scripts/oracles.sh", name, err)
	if InCI() {
		t.Fatal(msg + " [CI=true: a missing oracle fails the run]")
	}
	t.Skip(msg)
	return ""
}

// Registry is a running registry process.
type Registry struct {
	// Kind is Olareg or Distribution.
	Kind string
	// Host is 127.0.0.1:PORT.
	Host string
	// API reports whether the registry answers the Referrers API.
	API bool
	// LogPath is the file receiving the registry's stdout and stderr.
	LogPath string
}

// Ref returns HOST/repo followed by suffix (":tag" or "@digest").
func (r *Registry) Ref(repo, suffix string) string { return r.Host + "/" + repo + suffix }

// Log returns the registry's log so far.
func (r *Registry) Log() string {
	b, _ := os.ReadFile(r.LogPath)
	return string(b)
}

// RegistryOption configures StartOlareg and StartDistribution.
type RegistryOption func(*regConfig)

type regConfig struct{ noAPI, noDelete bool }

// WithoutReferrersAPI starts olareg with the Referrers API off: it then
// answers 405 on /referrers/, an "unsupported" answer.
func WithoutReferrersAPI() RegistryOption { return func(c *regConfig) { c.noAPI = true } }

// StartOlareg starts olareg v0.2.2 with an in-memory store, deletes enabled,
// and the Referrers API on unless WithoutReferrersAPI is given.
func StartOlareg(t testing.TB, opts ...RegistryOption) *Registry {
	t.Helper()
	var c regConfig
	for _, o := range opts {
		o(&c)
	}
	bin := Require(t, Olareg)
	return start(t, Olareg, !c.noAPI, func(port int, dir string) *exec.Cmd {
		args := []string{"serve", "--addr", "127.0.0.1", "--port", strconv.Itoa(port),
			"--store-type", "mem", "--api-delete", "--api-blob-delete"}
		if c.noAPI {
			args = append(args, "--api-referrer=false")
		}
		return exec.Command(bin, args...)
	})
}

// WithoutDeletes starts distribution with deletes disabled
// (storage.delete.enabled: false): it then answers every manifest DELETE
// with 405 UNSUPPORTED.
func WithoutDeletes() RegistryOption { return func(c *regConfig) { c.noDelete = true } }

// StartDistribution starts distribution v3.1.2 with a filesystem store in a
// temporary directory and deletes enabled. It has no Referrers API.
func StartDistribution(t testing.TB) *Registry {
	t.Helper()
	return StartDistributionWith(t)
}

// StartDistributionWith is StartDistribution with options (WithoutDeletes).
func StartDistributionWith(t testing.TB, opts ...RegistryOption) *Registry {
	t.Helper()
	var c regConfig
	for _, o := range opts {
		o(&c)
	}
	bin := Require(t, Distribution)
	return start(t, Distribution, false, func(port int, dir string) *exec.Cmd {
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: %t
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:%d
  debug:
    addr: ""
`, filepath.Join(dir, "storage"), !c.noDelete, port)
		p := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", p)
		cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
		return cmd
	})
}

func start(t testing.TB, kind string, api bool, mk func(port int, dir string) *exec.Cmd) *Registry {
	t.Helper()
	host, _, logPath := startProcess(t, kind, mk, func(host string, exited <-chan error) error {
		return waitReady(host, exited)
	})
	return &Registry{Kind: kind, Host: host, API: api, LogPath: logPath}
}

// startProcess starts the server mk builds for a free loopback port and a
// fresh temporary directory, its output in DIR/KIND.log, and waits until
// ready says it serves; up to three attempts (a port taken in between). The
// process is killed when the test ends, and the end of its log printed if
// the test failed. It returns HOST:PORT, the directory and the log's path.
func startProcess(t testing.TB, kind string, mk func(port int, dir string) *exec.Cmd,
	ready func(host string, exited <-chan error) error) (host, dir, logPath string) {
	t.Helper()
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir = t.TempDir()
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		host, logPath = "127.0.0.1:"+strconv.Itoa(port), filepath.Join(dir, kind+".log")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := mk(port, dir)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("start %s: %v", kind, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); logf.Close() }()
		if err := ready(host, exited); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%s did not start: %v\n%s", kind, err, tail(readLog(), 20))
			continue
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("%s log (last lines):\n%s", kind, tail(readLog(), 40))
			}
		})
		return host, dir, logPath
	}
	t.Fatal(lastErr)
	return "", "", ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(host string, exited <-chan error) error {
	return waitFor(host, "/v2/", exited, func(status int) bool { return status == http.StatusOK })
}

// waitFor waits (20 s) until GET path on host answers a status ok accepts,
// or the process exits.
func waitFor(host, path string, exited <-chan error, ok func(status int) bool) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited early: %v", err)
		default:
		}
		resp, err := client.Get("http://" + host + path)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer to GET %s within 20 s", path)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Tool is a client program run with a private HOME.
type Tool struct {
	// Name is "referrers", "oras" or "regctl".
	Name string
	// Path is the binary.
	Path string
	// Home is the private HOME (and the parent of its Docker config).
	Home string
	// Dir is the working directory of each run (default: a temporary one).
	Dir string
	// Prefix is put before the arguments of every run.
	Prefix []string
	t      testing.TB
}

// Result is one run of a Tool.
type Result struct {
	Args           []string
	Stdout, Stderr string
	Err            error
}

// Run runs the tool with args and returns what it printed. A non-zero exit is
// in Err, with the tool's stderr.
func (x *Tool) Run(args ...string) Result {
	return x.RunContext(context.Background(), args...)
}

// RunContext is Run with a context (killing the process when it is done).
func (x *Tool) RunContext(ctx context.Context, args ...string) Result {
	all := append(append([]string(nil), x.Prefix...), args...)
	cmd := exec.CommandContext(ctx, x.Path, all...)
	cmd.Dir = x.Dir
	cmd.Env = x.Env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", x.Name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return Result{Args: all, Stdout: out.String(), Stderr: errb.String(), Err: err}
}

// Must runs the tool and fails the test on a non-zero exit. It returns stdout.
func (x *Tool) Must(args ...string) string {
	x.t.Helper()
	r := x.Run(args...)
	if r.Err != nil {
		x.t.Fatal(r.Err)
	}
	return r.Stdout
}

// Env returns the environment of the tool's runs: the test's own minus
// anything that points at a registry login, with the private HOME.
func (x *Tool) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "REGCTL_CONFIG":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+x.Home,
		"DOCKER_CONFIG="+filepath.Join(x.Home, ".docker"),
		"XDG_CONFIG_HOME="+filepath.Join(x.Home, ".config"),
		"XDG_RUNTIME_DIR="+filepath.Join(x.Home, ".run"),
		"REGCTL_CONFIG="+filepath.Join(x.Home, ".regctl", "config.json"),
	)
}

func newTool(t testing.TB, name, path string) *Tool {
	home := t.TempDir()
	for _, d := range []string{".docker", ".config", ".run", ".regctl"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return &Tool{Name: name, Path: path, Home: home, Dir: t.TempDir(), t: t}
}

// NewOras returns oras v1.3.6 with a private HOME. Pass --plain-http yourself.
func NewOras(t testing.TB) *Tool {
	t.Helper()
	return newTool(t, "oras", Require(t, Oras))
}

// NewRegctl returns regctl v0.11.7 with a private HOME and config, told to
// speak plain HTTP to each given registry host.
func NewRegctl(t testing.TB, hosts ...string) *Tool {
	t.Helper()
	x := newTool(t, "regctl", Require(t, Regctl))
	for _, h := range hosts {
		x.Prefix = append(x.Prefix, "--host", "reg="+h+",tls=disabled")
	}
	return x
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// NewReferrers returns our own CLI, built once per test binary from
// ./cmd/referrers (without -race, like a user's build), with a private HOME.
// Pass --plain-http yourself.
func NewReferrers(t testing.TB) *Tool {
	t.Helper()
	return newTool(t, "referrers", ReferrersBinary(t))
}

// ReferrersBinary returns the path of our CLI, built once per test binary
// from ./cmd/referrers (without -race, like a user's build). Call Cleanup from
// TestMain to remove it.
func ReferrersBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := Root()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "referrers-interop-")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "referrers"), "./cmd/referrers")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/referrers: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "referrers")
}

// Cleanup removes what NewReferrers built. Call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// CountLines returns how many lines of s contain substr (for access logs).
func CountLines(s, substr string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n
}
