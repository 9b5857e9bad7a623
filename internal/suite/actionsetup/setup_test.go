package actionsetup

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestAssetChoice checks which release asset setup.sh downloads for each
// runner and which refs select the release, with made-up assets.
func TestAssetChoice(t *testing.T) {
	t.Parallel()
	needShell(t)
	assets, checksums := fakeAssets(t)
	crlf := strings.ReplaceAll(checksums, "\n", "\r\n")
	cases := []struct {
		name, os, arch, ref, asset string
		checksums                  string // default: the fake release's
	}{
		{name: "linux x64", os: "Linux", arch: "X64", ref: version, asset: "referrers-action-linux-amd64"},
		{name: "linux arm64", os: "Linux", arch: "ARM64", ref: version, asset: "referrers-action-linux-arm64"},
		{name: "macos x64", os: "macOS", arch: "X64", ref: version, asset: "referrers-action-darwin-amd64"},
		{name: "macos arm64", os: "macOS", arch: "ARM64", ref: version, asset: "referrers-action-darwin-arm64"},
		{name: "windows x64", os: "Windows", arch: "X64", ref: version, asset: "referrers-action-windows-amd64.exe"},
		{name: "windows arm64", os: "Windows", arch: "ARM64", ref: version, asset: "referrers-action-windows-arm64.exe"},
		{name: "major ref", os: "Linux", arch: "X64", ref: "v9", asset: "referrers-action-linux-amd64"},
		{name: "minor ref", os: "Linux", arch: "X64", ref: "v9.8", asset: "referrers-action-linux-amd64"},
		{name: "CRLF checksum file", os: "macOS", arch: "ARM64", ref: "v9", asset: "referrers-action-darwin-arm64", checksums: crlf},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sums := c.checksums
			if sums == "" {
				sums = checksums
			}
			srv := serve(t, assets, 0)
			r := runSetup(t, actionPath(t, sums, false), "", map[string]string{
				"RUNNER_OS": c.os, "RUNNER_ARCH": c.arch,
				"REFERRERS_ACTION_REF": c.ref, "REFERRERS_RELEASE_URL": srv.url,
			})
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.log)
			}
			if got, want := srv.requests(), []string{"/" + version + "/" + c.asset}; !slices.Equal(got, want) {
				t.Errorf("requested %v, want %v", got, want)
			}
			wantBin := filepath.Join(r.installDir(), c.asset)
			if r.outputs["bin"] != wantBin || r.outputs["how"] != "release" {
				t.Errorf("outputs %q, want bin=%s how=release", r.rawOut, wantBin)
			}
			b, err := os.ReadFile(wantBin)
			if err != nil || !bytes.Equal(b, fakeContent(c.asset)) {
				t.Errorf("installed %q (%v), want the served asset", b, err)
			}
			if got := executables(t, r.installDir()); !slices.Equal(got, []string{wantBin}) {
				t.Errorf("executables %v, want only %s", got, wantBin)
			}
			if !strings.Contains(r.log, "::notice title=referrers-action::installed release "+version+": "+c.asset) {
				t.Errorf("no notice saying what was installed:\n%s", r.log)
			}
		})
	}
}

// TestHostRelease installs the host's asset of a real release build and
// runs it; a second install in the same job reuses it without a download.
func TestHostRelease(t *testing.T) {
	t.Parallel()
	runnerOS, runnerArch, ok := runnerNames(runtime.GOOS, runtime.GOARCH)
	if !ok {
		t.Skipf("no release asset for the host %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	rel := builtRelease(t)
	srv := serve(t, rel.dir, 0)
	dir := actionPath(t, rel.checksums, false)
	env := map[string]string{
		"RUNNER_OS": runnerOS, "RUNNER_ARCH": runnerArch,
		"REFERRERS_ACTION_REF": "v9", "REFERRERS_RELEASE_URL": srv.url,
	}
	asset := assetName(runtime.GOOS, runtime.GOARCH)
	first := runSetup(t, dir, "", env)
	if first.code != 0 {
		t.Fatalf("exit %d\n%s", first.code, first.log)
	}
	bin := first.outputs["bin"]
	if bin != filepath.Join(first.installDir(), asset) {
		t.Fatalf("bin=%q, want %s in %s", bin, asset, first.installDir())
	}
	if got, want := versionOf(t, bin), "referrers-action "+version; got != want {
		t.Errorf("--version printed %q, want %q", got, want)
	}
	served, err := os.ReadFile(filepath.Join(rel.dir, asset))
	if err != nil {
		t.Fatal(err)
	}
	if installed, err := os.ReadFile(bin); err != nil || !bytes.Equal(installed, served) {
		t.Errorf("the installed binary differs from the release asset (%v)", err)
	}

	second := runSetup(t, dir, first.temp, env)
	if second.code != 0 || second.outputs["bin"] != bin {
		t.Fatalf("second install: exit %d, outputs %q\n%s", second.code, second.rawOut, second.log)
	}
	if got := srv.requests(); len(got) != 1 {
		t.Errorf("requests %v: the second install downloaded again", got)
	}
	if !strings.Contains(second.log, "already installed") {
		t.Errorf("the second install did not say it reused the binary:\n%s", second.log)
	}
	if got, want := versionOf(t, bin), "referrers-action "+version; got != want {
		t.Errorf("after the second install, --version printed %q, want %q", got, want)
	}
}

// TestRefuse checks that setup.sh stops, with an error annotation and no
// binary, when it cannot install what it was asked to.
func TestRefuse(t *testing.T) {
	t.Parallel()
	needShell(t)
	assets, checksums := fakeAssets(t)
	const asset = "referrers-action-linux-amd64"
	good := sha256Hex(fakeContent(asset))
	bad := strings.Repeat("0", 64)
	wrongSum := strings.Replace(checksums, good, bad, 1)
	none := "# no release\nversion none\n"
	base := map[string]string{"RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "REFERRERS_ACTION_REF": version}
	cases := []struct {
		name      string
		checksums string
		env       map[string]string
		status    int // the server's answer to everything, when not 0
		url       func(srvURL string) string
		source    bool // the action has its source (to show a source build was not the way out)
		noGo      bool // PATH without go
		title     string
		want      []string // in the log
		requests  int      // at least this many; -1: none
	}{
		{name: "wrong checksum", checksums: wrongSum, title: "referrers-action checksum mismatch",
			want: []string{"expected sha256 " + bad, "got " + good, "refusing to run"}, requests: 1},
		{name: "not found", checksums: checksums, url: func(u string) string { return u + "/missing" },
			title: "referrers-action download failed", want: []string{"/missing/" + version + "/" + asset, "expected sha256 " + good}, requests: 1},
		{name: "server error", checksums: checksums, status: 500,
			title: "referrers-action download failed", want: []string{"refusing to run"}, requests: 2},
		{name: "plain http off loopback", checksums: checksums, url: func(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) },
			title: "referrers-action download refused", want: []string{"not https"}, requests: -1},
		{name: "install=release with a branch ref", checksums: checksums, env: map[string]string{"REFERRERS_ACTION_REF": "main", "REFERRERS_INSTALL": "release"}, source: true,
			title: "referrers-action setup", want: []string{"REFERRERS_INSTALL is release", "ref main does not select release " + version}, requests: -1},
		{name: "install=release with a SHA ref and no source digest", checksums: checksums, env: map[string]string{"REFERRERS_ACTION_REF": strings.Repeat("ab", 20), "REFERRERS_INSTALL": "release"}, source: true,
			title: "referrers-action setup", want: []string{"REFERRERS_INSTALL is release", "names release " + version + " but not the source digest"}, requests: -1},
		{name: "install=release with a SHA ref of other source", checksums: checksums + "source sha256:" + strings.Repeat("0", 64) + "\n", env: map[string]string{"REFERRERS_ACTION_REF": strings.Repeat("ab", 20), "REFERRERS_INSTALL": "release"}, source: true,
			title: "referrers-action setup", want: []string{"REFERRERS_INSTALL is release", "is not a release commit"}, requests: -1},
		{name: "malformed source digest", checksums: checksums + "source " + strings.Repeat("0", 64) + "\n",
			title: "referrers-action setup", want: []string{"is not sha256:<64 hex digits>"}, requests: -1},
		{name: "install=release with a longer patch", checksums: checksums, env: map[string]string{"REFERRERS_ACTION_REF": version + "0", "REFERRERS_INSTALL": "release"},
			title: "referrers-action setup", want: []string{"does not select release"}, requests: -1},
		{name: "install=release with a ref ending in a dot", checksums: checksums, env: map[string]string{"REFERRERS_ACTION_REF": "v9.", "REFERRERS_INSTALL": "release"},
			title: "referrers-action setup", want: []string{"does not select release"}, requests: -1},
		{name: "install=release with version none", checksums: none, env: map[string]string{"REFERRERS_INSTALL": "release"}, source: true,
			title: "referrers-action setup", want: []string{"version none"}, requests: -1},
		{name: "install=release on an unknown arch", checksums: checksums, env: map[string]string{"RUNNER_ARCH": "ARM", "REFERRERS_INSTALL": "release"},
			title: "referrers-action setup", want: []string{"no binary for RUNNER_OS=Linux RUNNER_ARCH=ARM"}, requests: -1},
		{name: "install=release with no checksum for the asset", checksums: strings.ReplaceAll(checksums, "  "+asset+"\n", "  other\n"), env: map[string]string{"REFERRERS_INSTALL": "release"},
			title: "referrers-action setup", want: []string{"lists no SHA-256 for " + asset}, requests: -1},
		{name: "plain http to loopback as user info", checksums: checksums, url: func(u string) string { return strings.Replace(u, "http://", "http://127.0.0.1:1@", 1) },
			title: "referrers-action download refused", want: []string{"not https"}, requests: -1},
		{name: "unknown install way", checksums: checksums, env: map[string]string{"REFERRERS_INSTALL": "bin%ary\nx"},
			title: "referrers-action setup", want: []string{"REFERRERS_INSTALL is 'bin%25ary%0Ax': want auto, release or source"}, requests: -1},
		{name: "malformed version", checksums: "version 1.2\n", source: true,
			title: "referrers-action setup", want: []string{"line 1: version '1.2'"}, requests: -1},
		{name: "malformed checksum line", checksums: checksums + "deadbeef  " + asset + "\n", source: true,
			title: "referrers-action setup", want: []string{"is malformed"}, requests: -1},
		{name: "no Go for a source build", checksums: none, noGo: true, source: true,
			title: "referrers-action needs Go", want: []string{"add actions/setup-go", "version none"}, requests: -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, assets, c.status)
			env := map[string]string{"REFERRERS_RELEASE_URL": srv.url}
			if c.url != nil {
				env["REFERRERS_RELEASE_URL"] = c.url(srv.url)
			}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range c.env {
				env[k] = v
			}
			if c.noGo {
				env["PATH"] = pathWithout(t, "go")
			}
			r := runSetup(t, actionPath(t, c.checksums, c.source), "", env)
			if r.code == 0 {
				t.Fatalf("exit 0, want a failure\n%s", r.log)
			}
			if !strings.Contains(r.log, "::error title="+c.title+"::") {
				t.Errorf("no ::error with title %q:\n%s", c.title, r.log)
			}
			for _, w := range c.want {
				if !strings.Contains(r.log, w) {
					t.Errorf("the log does not say %q:\n%s", w, r.log)
				}
			}
			if strings.Contains(r.rawOut, "bin=") {
				t.Errorf("GITHUB_OUTPUT has a binary: %q", r.rawOut)
			}
			if got := executables(t, r.installDir()); len(got) > 0 {
				t.Errorf("left executable: %v", got)
			}
			if entries, _ := os.ReadDir(r.installDir()); len(entries) > 0 {
				t.Errorf("left in the install directory: %v", entries)
			}
			got := srv.requests()
			switch {
			case c.requests < 0 && len(got) > 0:
				t.Errorf("requested %v, want no download", got)
			case c.requests > 0 && len(got) < c.requests:
				t.Errorf("requested %v, want at least %d", got, c.requests)
			}
		})
	}
}

// pathWithout is a PATH of one directory holding links to the tools
// setup.sh uses, except the one left out.
func pathWithout(t *testing.T, leave string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("no symbolic links to build a PATH from on Windows")
	}
	dir := t.TempDir()
	for _, tool := range []string{"bash", "mkdir", "mktemp", "rm", "mv", "chmod", "cat", "dirname", "curl", "sha256sum", "shasum", "go"} {
		if tool == leave {
			continue
		}
		if p, err := exec.LookPath(tool); err == nil {
			if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// TestSourceBuild checks the ways to a source build: none download, and
// each builds a binary that runs.
func TestSourceBuild(t *testing.T) {
	t.Parallel()
	needShell(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	runnerOS, runnerArch, ok := runnerNames(runtime.GOOS, runtime.GOARCH)
	if !ok {
		runnerOS, runnerArch = "Linux", "X64" // the build is for the host anyway
	}
	// A release build's packages are shared with the source builds
	// (CGO_ENABLED=0 -trimpath), so each of them only links.
	builtRelease(t)
	assets, checksums := fakeAssets(t)
	cases := []struct {
		name, ref, checksums string
		env                  map[string]string
		reason               string
	}{
		{name: "commit SHA ref, no source digest", ref: commitSHA, checksums: checksums, reason: "names release " + version + " but not the source digest"},
		{name: "commit SHA ref, other source", ref: commitSHA, checksums: checksums + "source sha256:" + strings.Repeat("0", 64) + "\n", reason: "is not a release commit"},
		{name: "branch ref", ref: "main", checksums: checksums, reason: "ref main does not select release " + version},
		{name: "version none", ref: version, checksums: "version none\n", reason: "version none"},
		{name: "unknown arch", ref: version, checksums: checksums, env: map[string]string{"RUNNER_ARCH": "X86"}, reason: "no binary for RUNNER_OS=" + runnerOS + " RUNNER_ARCH=X86"},
		{name: "local action", ref: "", checksums: checksums, reason: "uses: ./"},
		{name: "install=source", ref: version, checksums: checksums, env: map[string]string{"REFERRERS_INSTALL": "source"}, reason: "REFERRERS_INSTALL is source"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, assets, 0)
			env := map[string]string{
				"RUNNER_OS": runnerOS, "RUNNER_ARCH": runnerArch,
				"REFERRERS_ACTION_REF": c.ref, "REFERRERS_RELEASE_URL": srv.url,
			}
			for k, v := range c.env {
				env[k] = v
			}
			r := runSetup(t, actionPath(t, c.checksums, true), "", env)
			r.wantSourceBuild(t)
			if got := srv.requests(); len(got) > 0 {
				t.Errorf("requested %v, want no download", got)
			}
			if !strings.Contains(r.log, "::notice title=referrers-action::building from source") || !strings.Contains(r.log, c.reason) {
				t.Errorf("no notice saying it built from source because %q:\n%s", c.reason, r.log)
			}
			if got, want := versionOf(t, r.binPath()), "referrers-action dev"; got != want {
				t.Errorf("--version printed %q, want %q", got, want)
			}
		})
	}
}

// TestRepoChecksums checks the checked-in action/checksums.txt: either no
// release, or a release with a SHA-256 for every asset setup.sh can pick.
func TestRepoChecksums(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "action", "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var ver string
	sums := map[string]string{}
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "version":
			ver = f[1]
		case len(f) == 2 && f[0] == "go":
		case len(f) == 2 && f[0] == "source" && strings.HasPrefix(f[1], "sha256:"):
		case len(f) == 2 && len(f[0]) == 64 && strings.Trim(f[0], "0123456789abcdef") == "" && strings.HasPrefix(line, f[0]+"  "):
			sums[f[1]] = f[0]
		default:
			t.Errorf("action/checksums.txt:%d: malformed: %q", i+1, line)
		}
	}
	if ver == "none" {
		if len(sums) > 0 {
			t.Errorf("version none with checksums %v", sums)
		}
		return
	}
	if !strings.HasPrefix(ver, "v") {
		t.Errorf("version %q", ver)
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		for _, goarch := range []string{"amd64", "arm64"} {
			if _, ok := sums[assetName(goos, goarch)]; !ok {
				t.Errorf("release %s lists no checksum for %s", ver, assetName(goos, goarch))
			}
		}
	}
}
