package actionsetup

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReleaseBuild checks what scripts/release.sh wrote: both commands for
// each target, SHA256SUMS over them, and the checksum file setup.sh reads,
// with the digest of the source it was built from.
func TestReleaseBuild(t *testing.T) {
	t.Parallel()
	rel := builtRelease(t)
	var want []string
	for _, target := range strings.Fields(rel.targets) {
		goos, goarch, _ := strings.Cut(target, "/")
		ext := ""
		if goos == "windows" {
			ext = ".exe"
		}
		want = append(want, "referrers-"+goos+"-"+goarch+ext, "referrers-action-"+goos+"-"+goarch+ext)
	}
	slices.Sort(want)

	var sums []string
	for _, name := range want {
		b, err := os.ReadFile(filepath.Join(rel.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sha256Hex(b)+"  "+name)
	}
	b, err := os.ReadFile(filepath.Join(rel.dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSpace(string(b)), "\n"); !slices.Equal(got, sums) {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", b, strings.Join(sums, "\n"))
	}

	var body []string
	for _, line := range strings.Split(strings.TrimSpace(rel.checksums), "\n") {
		if !strings.HasPrefix(line, "#") {
			body = append(body, line)
		}
	}
	digest, err := sourceDigest(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) < 3 || body[0] != "version "+version || !strings.HasPrefix(body[1], "go go1.") || body[2] != "source "+digest {
		t.Fatalf("checksums.txt starts %q, want version %s, the go version, then source %s", body, version, digest)
	}
	if got := body[3:]; !slices.Equal(got, sums) {
		t.Errorf("checksums.txt lists:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(sums, "\n"))
	}
}

// TestReleaseVerify checks that --verify passes on the sums it just wrote
// and fails, with a diff, when one of them is altered.
func TestReleaseVerify(t *testing.T) {
	t.Parallel()
	rel := builtRelease(t)
	script := filepath.Join(root, "scripts", "release.sh")
	file := filepath.Join(t.TempDir(), "checksums.txt")
	if err := os.WriteFile(file, []byte(rel.checksums), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runScript(script, "--verify", "--checksums", file, "--targets", rel.targets); err != nil {
		t.Fatalf("--verify of a fresh build: %v\n%s", err, out)
	} else if !strings.Contains(out, "is reproducible ("+version) {
		t.Errorf("--verify did not say the file is reproducible:\n%s", out)
	}

	lines := strings.Split(rel.checksums, "\n")
	i := slices.IndexFunc(lines, func(l string) bool {
		return strings.HasSuffix(l, "  referrers-action-linux-arm64") || strings.HasSuffix(l, "  referrers-action-linux-amd64")
	})
	if i < 0 {
		t.Fatalf("no linux action asset in\n%s", rel.checksums)
	}
	orig := lines[i]
	flip := "0"
	if orig[0] == '0' {
		flip = "1"
	}
	lines[i] = flip + orig[1:]
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runScript(script, version, "--verify", "--checksums", file, "--targets", rel.targets)
	if err == nil {
		t.Fatalf("--verify passed with an altered checksum:\n%s", out)
	}
	for _, w := range []string{"does not reproduce", "-" + lines[i], "+" + orig} {
		if !strings.Contains(out, w) {
			t.Errorf("--verify output does not show %q:\n%s", w, out)
		}
	}
}

// TestReleaseUsage checks that bad arguments stop the script before it
// builds anything.
func TestReleaseUsage(t *testing.T) {
	t.Parallel()
	needShell(t)
	script := filepath.Join(root, "scripts", "release.sh")
	cases := []struct {
		args []string
		want string
	}{
		{args: []string{"1.2.3"}, want: "not vMAJOR.MINOR.PATCH"},
		{args: []string{"v1.2"}, want: "not vMAJOR.MINOR.PATCH"},
		{args: []string{"v01.2.3"}, want: "not vMAJOR.MINOR.PATCH"},
		{args: []string{"v1.2.3-"}, want: "not vMAJOR.MINOR.PATCH"},
		{args: []string{"v1.2.3", "--targets", "linux"}, want: "not os/arch"},
		{args: []string{"v1.2.3", "--bogus"}, want: "unknown flag --bogus"},
		{args: []string{}, want: "usage:"},
		{args: []string{"v1.2.3", "--out"}, want: "usage:"},
		{args: []string{"--verify", "--checksums", filepath.Join(root, "action", "checksums-missing.txt")}, want: "usage:"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			out, err := runScript(script, append(c.args, "--out", t.TempDir())...)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("release.sh %v: %v, want a failure saying %q:\n%s", c.args, err, c.want, out)
			}
			if strings.Contains(out, "== referrers") {
				t.Errorf("release.sh %v built something:\n%s", c.args, out)
			}
		})
	}
}
