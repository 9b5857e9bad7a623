package actionsetup

import (
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// commitSHA is the ref of a SHA-pinned action in these tests.
const commitSHA = "0123456789abcdef0123456789abcdef01234567"

// TestSourceDigest checks setup.sh's source digest against sourceDigest, an
// independent reading of the rule in Go, and that it follows what a build
// compiles: a changed .go file changes it; a test, a file in testdata, a
// document, a file Go ignores (_x.go) or another module do not.
func TestSourceDigest(t *testing.T) {
	t.Parallel()
	needShell(t)
	script := filepath.Join(root, "action", "setup.sh")
	digest := func(t *testing.T, dir string) string {
		t.Helper()
		out, err := runScript(script, "--source-digest", dir)
		if err != nil {
			t.Fatalf("setup.sh --source-digest %s: %v\n%s", dir, err, out)
		}
		want, err := sourceDigest(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out); got != want {
			t.Fatalf("setup.sh --source-digest %s = %s, the Go reading of the rule = %s", dir, got, want)
		}
		return want
	}
	digest(t, root) // the whole repository, with its other module, testdata, docs

	dir := actionPath(t, "version none\n", true)
	base := digest(t, dir)
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Byte order, not a locale's: B < _ < a, and a directory's files and
	// subdirectories interleaved.
	write("cmd/action/zz_test.go", "package main\n")
	write("cmd/action/testdata/x.go", "package x\n")
	write("cmd/action/_x.go", "package main\n")
	write("cmd/action/.x.go", "package main\n")
	write("README.md", "changed\n")
	write("other/go.mod", "module other\n")
	write("other/x.go", "package other\n")
	if got := digest(t, dir); got != base {
		t.Errorf("a test, testdata, a file Go ignores, a document or another module changed the digest")
	}
	write("cmd/action/B.go", "package main\n")
	write("cmd/action/a/b.go", "package a\n")
	write("cmd/action/a.go", "package main\n")
	added := digest(t, dir)
	if added == base {
		t.Errorf("new .go files did not change the digest")
	}
	write("cmd/action/a.go", "package main // changed\n")
	if got := digest(t, dir); got == added {
		t.Errorf("a changed .go file did not change the digest")
	}
}

// TestActionEmbedsNothing checks the assumption that makes the source digest
// cover the action's build: no package of this module that cmd/action
// compiles embeds a file (the digest covers .go files, go.mod and go.sum
// only).
func TestActionEmbedsNothing(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Module,EmbedFiles", "./cmd/action")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Module     *struct{ Path string }
			EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/oci-referrers/referrers" {
			continue
		}
		n++
		if len(p.EmbedFiles) > 0 {
			t.Errorf("%s embeds %v: the source digest (action/setup.sh) does not cover them", p.ImportPath, p.EmbedFiles)
		}
	}
	if n == 0 {
		t.Fatal("go list found no package of this module")
	}
}

// TestCommitPin checks an action pinned to a commit SHA: a release commit
// (its checksums.txt records the digest of its own source) installs the
// release asset without Go; a commit whose source differs builds; a tampered
// asset is refused even where a build could run; a failed download builds
// the pinned source instead, unless REFERRERS_INSTALL is release.
func TestCommitPin(t *testing.T) {
	t.Parallel()
	runnerOS, runnerArch, ok := runnerNames(runtime.GOOS, runtime.GOARCH)
	if !ok {
		t.Skipf("no release asset for the host %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	rel := builtRelease(t)
	if !strings.Contains(rel.checksums, "\nsource sha256:") {
		t.Fatalf("release.sh recorded no source digest:\n%s", rel.checksums)
	}
	asset := assetName(runtime.GOOS, runtime.GOARCH)
	env := func(srvURL string, extra ...string) map[string]string {
		m := map[string]string{
			"RUNNER_OS": runnerOS, "RUNNER_ARCH": runnerArch,
			"REFERRERS_ACTION_REF": commitSHA, "REFERRERS_RELEASE_URL": srvURL,
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	// releaseCommit is the action at the release commit: release.sh's
	// checksums.txt and the source it was built from.
	releaseCommit := func(t *testing.T) string {
		t.Helper()
		dir := actionPath(t, rel.checksums, true)
		d, err := sourceDigest(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rel.checksums, "\nsource "+d+"\n") {
			t.Fatalf("the source changed since release.sh ran (an edit in the working tree during the test?): %s is not in\n%s", d, rel.checksums)
		}
		return dir
	}

	t.Run("release commit installs the asset without Go", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, rel.dir, 0)
		dir := releaseCommit(t)
		// No go on PATH: the release asset is the only way to succeed.
		r := runSetup(t, dir, "", env(srv.url, "PATH", pathWithout(t, "go")))
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.log)
		}
		bin := filepath.Join(r.installDir(), asset)
		if r.outputs["bin"] != bin || r.outputs["how"] != "release" {
			t.Errorf("outputs %q, want bin=%s how=release", r.rawOut, bin)
		}
		if got, want := srv.requests(), []string{"/" + version + "/" + asset}; !slices.Equal(got, want) {
			t.Errorf("requested %v, want %v", got, want)
		}
		if !strings.Contains(r.log, "installed commit "+commitSHA+", release "+version+": "+asset) {
			t.Errorf("no notice naming the commit and the release:\n%s", r.log)
		}
		if got, want := versionOf(t, bin), "referrers-action "+version; got != want {
			t.Errorf("--version printed %q, want %q", got, want)
		}
		served, _ := os.ReadFile(filepath.Join(rel.dir, asset))
		if installed, err := os.ReadFile(bin); err != nil || !bytes.Equal(installed, served) {
			t.Errorf("the installed binary is not the release asset (%v)", err)
		}
	})

	t.Run("non-release commit builds", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, rel.dir, 0)
		dir := actionPath(t, rel.checksums, true)
		// A commit after the release: the code changed, checksums.txt did not.
		main := filepath.Join(dir, "cmd", "action", "main.go")
		b, err := os.ReadFile(main)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(main, append(b, "\n// a change after the release\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runSetup(t, dir, "", env(srv.url))
		r.wantSourceBuild(t)
		if got := srv.requests(); len(got) > 0 {
			t.Errorf("requested %v, want no download", got)
		}
		if !strings.Contains(r.log, "commit "+commitSHA+" is not a release commit") {
			t.Errorf("no notice saying why it built:\n%s", r.log)
		}
		if got, want := versionOf(t, r.binPath()), "referrers-action dev"; got != want {
			t.Errorf("--version printed %q, want %q", got, want)
		}
	})

	t.Run("tampered asset is refused", func(t *testing.T) {
		t.Parallel()
		assets := t.TempDir()
		b, err := os.ReadFile(filepath.Join(rel.dir, asset))
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1 // one bit
		if err := os.WriteFile(filepath.Join(assets, asset), b, 0o644); err != nil {
			t.Fatal(err)
		}
		srv := serve(t, assets, 0)
		// Go is on PATH and the source is there: refusing is a choice,
		// not the lack of another way.
		r := runSetup(t, releaseCommit(t), "", env(srv.url))
		if r.code == 0 {
			t.Fatalf("exit 0, want a refusal\n%s", r.log)
		}
		if !strings.Contains(r.log, "::error title=referrers-action checksum mismatch::") || !strings.Contains(r.log, "refusing to run") {
			t.Errorf("no checksum mismatch error:\n%s", r.log)
		}
		if strings.Contains(r.log, "building") || strings.Contains(r.rawOut, "bin=") {
			t.Errorf("a mismatch fell back to something:\nlog:\n%s\noutputs: %q", r.log, r.rawOut)
		}
		if entries, _ := os.ReadDir(r.installDir()); len(entries) > 0 {
			t.Errorf("left in the install directory: %v", entries)
		}
	})

	t.Run("failed download builds the pinned source", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, t.TempDir(), 0) // no assets: a fork, or a release not yet published
		r := runSetup(t, releaseCommit(t), "", env(srv.url))
		r.wantSourceBuild(t)
		if len(srv.requests()) == 0 {
			t.Errorf("no download was tried")
		}
		if !strings.Contains(r.log, "::warning title=referrers-action download failed::") || !strings.Contains(r.log, "building the pinned commit from source instead") {
			t.Errorf("no warning about the fallback:\n%s", r.log)
		}
		if got, want := versionOf(t, r.outputs["bin"]), "referrers-action dev"; got != want {
			t.Errorf("--version printed %q, want %q", got, want)
		}
	})

	t.Run("failed download with install=release refuses", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, t.TempDir(), 0)
		r := runSetup(t, releaseCommit(t), "", env(srv.url, "REFERRERS_INSTALL", "release"))
		if r.code == 0 || !strings.Contains(r.log, "::error title=referrers-action download failed::") {
			t.Fatalf("exit %d, want a download failure\n%s", r.code, r.log)
		}
		if strings.Contains(r.log, "building") || strings.Contains(r.rawOut, "bin=") {
			t.Errorf("fell back to a build:\n%s", r.log)
		}
	})
}

// TestSourceBuildIgnoresJobGoEnv builds from source under a job's Go
// environment that would otherwise retarget the build (GOOS, GOARCH,
// GOAMD64), break it (GOFLAGS=-mod=vendor, an unknown GOEXPERIMENT, cgo with
// no C compiler, a go.work of other modules, a pinned old toolchain) or
// change the binary (-ldflags in GOFLAGS); the binary must run here and be
// built like a release asset, for this machine.
func TestSourceBuildIgnoresJobGoEnv(t *testing.T) {
	t.Parallel()
	needShell(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	builtRelease(t) // shares the compiled packages (CGO_ENABLED=0 -trimpath)
	goarch := "arm64"
	if runtime.GOARCH == "arm64" {
		goarch = "amd64"
	}
	work := t.TempDir()
	gowork := filepath.Join(work, "go.work")
	if err := os.WriteFile(gowork, []byte("go 1.25.0\n\nuse ./elsewhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := actionPath(t, "version none\n", true)
	r := runSetup(t, dir, "", map[string]string{
		"RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "REFERRERS_ACTION_REF": "main",
		"GOOS": "windows", "GOARCH": goarch, "GOAMD64": "v4", "GOARM64": "v9.5", "GOARM": "5",
		"GOFLAGS":      "-mod=vendor -tags=nosuchtag -ldflags=-X=main.version=from-the-job",
		"CGO_ENABLED":  "1",
		"CC":           filepath.Join(work, "no-such-cc"),
		"GOEXPERIMENT": "nosuchexperiment",
		"GOWORK":       gowork,
		"GOFIPS140":    "v1.0.0",
		// Pinned, it would be downloaded; GOPROXY=off (respected) makes
		// that fail at once instead of reaching the network.
		"GOTOOLCHAIN": "go1.21.0",
		"GOPROXY":     "off",
	})
	r.wantSourceBuild(t)
	bin := r.binPath()
	if !strings.Contains(r.log, "for "+runtime.GOOS+"/"+runtime.GOARCH+":") {
		t.Errorf("the notice does not name the host platform:\n%s", r.log)
	}
	if got, want := versionOf(t, bin), "referrers-action dev"; got != want {
		t.Errorf("--version printed %q, want %q (the job's -ldflags reached the build)", got, want)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"GOOS": runtime.GOOS, "GOARCH": runtime.GOARCH, "CGO_ENABLED": "0", "-trimpath": "true", "GOEXPERIMENT": "", "-tags": "", "GOFIPS140": ""}
	switch runtime.GOARCH {
	case "amd64":
		want["GOAMD64"] = "v1"
	case "arm64":
		want["GOARM64"] = "v8.0"
	}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("build setting %s=%q, want %q (all: %v)", k, got[k], v, info.Settings)
		}
	}
}
