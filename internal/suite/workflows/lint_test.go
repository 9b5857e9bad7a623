package workflows

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// root returns the main module's root directory.
func root(t *testing.T) string {
	t.Helper()
	r, err := oracle.Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// workflowFiles returns the workflows, relative to the root.
func workflowFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, ".github", "workflows", pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, err := filepath.Rel(root, f)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, filepath.ToSlash(rel))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no workflow in .github/workflows")
	}
	return files
}

// actionFile returns "action.yml" when it exists; when it does not, the test
// is skipped locally and fails under CI=true.
func actionFile(t *testing.T, root string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "action.yml")); err != nil {
		msg := "action.yml does not exist yet: " + err.Error()
		if oracle.InCI() {
			t.Fatal(msg + " [CI=true]")
		}
		t.Skip(msg)
	}
	return "action.yml"
}

// run runs an oracle in dir and returns its combined output and whether it
// exited 0. Any failure to run it at all fails the test.
func run(t *testing.T, dir, bin string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), true
	case errors.As(err, &exit):
		return string(out), false
	default:
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
		return "", false
	}
}

func TestActionlint(t *testing.T) {
	t.Parallel()
	bin := oracle.Require(t, oracle.Actionlint)
	r := root(t)
	files := workflowFiles(t, r)
	if out, ok := run(t, r, bin, append([]string{"-no-color"}, files...)...); !ok {
		t.Fatalf("actionlint reports:\n%s", out)
	}
}

func TestWorkflowShape(t *testing.T) {
	t.Parallel()
	bin := oracle.Require(t, oracle.YAMLCheck)
	r := root(t)
	if out, ok := run(t, r, bin, append([]string{"-workflow"}, workflowFiles(t, r)...)...); !ok {
		t.Fatalf("yamlcheck -workflow reports:\n%s", out)
	}
}

func TestGitLabTemplate(t *testing.T) {
	t.Parallel()
	bin := oracle.Require(t, oracle.YAMLCheck)
	if out, ok := run(t, root(t), bin, "-gitlab", "templates/gitlab-ci.yml"); !ok {
		t.Fatalf("yamlcheck -gitlab reports:\n%s", out)
	}
}

func TestActionMetadata(t *testing.T) {
	t.Parallel()
	bin := oracle.Require(t, oracle.YAMLCheck)
	r := root(t)
	if out, ok := run(t, r, bin, "-action", actionFile(t, r)); !ok {
		t.Fatalf("yamlcheck -action reports:\n%s", out)
	}
}

var (
	usesLineRE = regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(.*)$`)
	actionRE   = regexp.MustCompile(`^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(/[^@\s]+)?@([0-9a-f]{40})$`)
	dockerRE   = regexp.MustCompile(`^docker://[^@\s]+@sha256:[0-9a-f]{64}$`)
	versionRE  = regexp.MustCompile(`^#\s*v[0-9]+(\.[0-9]+)*\S*`)
)

// use is one `uses:` of a file.
type use struct {
	line    int
	ref     string // as written, without quotes
	comment string // the rest of the line, trimmed
}

// uses returns the `uses:` lines of a YAML file (comment lines excluded).
func uses(data []byte) []use {
	var out []use
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		m := usesLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := strings.TrimSpace(m[1])
		var ref, rest string
		if v != "" && (v[0] == '\'' || v[0] == '"') {
			end := strings.IndexByte(v[1:], v[0])
			if end < 0 {
				ref = v
			} else {
				ref, rest = v[1:1+end], v[2+end:]
			}
		} else if i := strings.Index(v, " #"); i >= 0 {
			ref, rest = v[:i], v[i:]
		} else {
			ref = v
		}
		out = append(out, use{line: n, ref: ref, comment: strings.TrimSpace(rest)})
	}
	return out
}

// pinFindings reports every `uses:` that is neither local nor pinned to a
// full commit SHA with a version comment.
func pinFindings(name string, data []byte) []string {
	var out []string
	for _, u := range uses(data) {
		switch {
		case strings.HasPrefix(u.ref, "./"):
		case strings.HasPrefix(u.ref, "docker://"):
			if !dockerRE.MatchString(u.ref) {
				out = append(out, fmt.Sprintf("%s:%d: %s: a docker:// image must be pinned by @sha256 digest", name, u.line, u.ref))
			}
		case !actionRE.MatchString(u.ref):
			out = append(out, fmt.Sprintf("%s:%d: %s: pin owner/repo@<40-hex commit SHA> (a tag or branch can move)", name, u.line, u.ref))
		case !versionRE.MatchString(u.comment):
			out = append(out, fmt.Sprintf("%s:%d: %s: follow the SHA with the release it is, as a `# vX.Y.Z` comment", name, u.line, u.ref))
		}
	}
	return out
}

// pinnedFiles are the files whose `uses:` must be pinned: the workflows and,
// when it exists, action.yml.
func pinnedFiles(t *testing.T, r string) []string {
	files := workflowFiles(t, r)
	if _, err := os.Stat(filepath.Join(r, "action.yml")); err == nil {
		files = append(files, "action.yml")
	}
	return files
}

func TestUsesPinned(t *testing.T) {
	t.Parallel()
	r := root(t)
	var bad []string
	n := 0
	for _, f := range pinnedFiles(t, r) {
		data, err := os.ReadFile(filepath.Join(r, f))
		if err != nil {
			t.Fatal(err)
		}
		n += len(uses(data))
		bad = append(bad, pinFindings(f, data)...)
	}
	if len(bad) > 0 {
		t.Fatalf("unpinned uses:\n%s", strings.Join(bad, "\n"))
	}
	if n == 0 {
		t.Fatal("found no uses: at all; the line scanner is broken")
	}
}

// self is this repository, which attach-sbom.yml (a reusable workflow, run in
// its caller's repository) must name to use the action.
const self = "oci-referrers/referrers"

const zeroSHA = "0000000000000000000000000000000000000000"

// TestSelfReference checks that a workflow naming this repository's action
// by commit names one that has action.yml. The zero SHA is the placeholder
// until the first release: logged, and a failure only in CI for a tag push
// (release.yml refuses it too). A commit missing from this clone (a shallow
// CI checkout) cannot be checked.
func TestSelfReference(t *testing.T) {
	t.Parallel()
	r := root(t)
	for _, f := range workflowFiles(t, r) {
		data, err := os.ReadFile(filepath.Join(r, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range uses(data) {
			m := actionRE.FindStringSubmatch(u.ref)
			if m == nil || m[1] != self || m[2] != "" {
				continue
			}
			where := fmt.Sprintf("%s:%d", f, u.line)
			sha := m[3]
			if sha == zeroSHA {
				msg := where + ": uses " + self + " at the placeholder zero SHA: set it to a release commit that has action.yml"
				if oracle.InCI() && os.Getenv("GITHUB_REF_TYPE") == "tag" {
					t.Error(msg + " [CI=true, a tag push]")
				} else {
					t.Log(msg)
				}
				continue
			}
			if _, err := exec.LookPath("git"); err != nil {
				t.Logf("%s: git not found; %s not checked", where, sha)
				continue
			}
			if _, ok := run(t, r, "git", "cat-file", "-e", sha+"^{commit}"); !ok {
				t.Logf("%s: commit %s is not in this clone (shallow?); not checked", where, sha)
				continue
			}
			if _, ok := run(t, r, "git", "cat-file", "-e", sha+":action.yml"); !ok {
				t.Errorf("%s: commit %s has no action.yml", where, sha)
			}
		}
	}
}

// writeFile writes a file under dir and returns its name relative to dir.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestChecksBite feeds each check a file it must reject, next to a control
// it must accept.
func TestChecksBite(t *testing.T) {
	t.Parallel()

	t.Run("unpinned uses", func(t *testing.T) {
		t.Parallel()
		const sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
		bad := map[string]string{
			"tag":             "      - uses: actions/checkout@v7\n",
			"branch":          "      - uses: 'actions/checkout@main' # v7.0.1\n",
			"short SHA":       "      - uses: actions/checkout@3d3c42e # v7.0.1\n",
			"no comment":      "      - uses: actions/checkout@" + sha + "\n",
			"not a version":   "      - uses: actions/checkout@" + sha + " # latest\n",
			"docker tag":      "      - uses: docker://alpine:3\n",
			"reusable by tag": "    uses: owner/repo/.github/workflows/x.yml@v1\n",
		}
		for name, line := range bad {
			if got := pinFindings("w.yml", []byte("jobs:\n  a:\n    steps:\n"+line)); len(got) != 1 {
				t.Errorf("%s: %q gave %q, want one finding", name, line, got)
			}
		}
		good := "jobs:\n  a:\n    steps:\n" +
			"      - uses: actions/checkout@" + sha + " # v7.0.1\n" +
			"      - uses: 'actions/checkout@" + sha + "' # v7.0.1\n" +
			"      - uses: ./\n" +
			"      # - uses: actions/checkout@v7   (a comment line)\n" +
			"  b:\n    uses: owner/repo/.github/workflows/x.yml@" + sha + " # v1.2.3\n"
		if got := pinFindings("w.yml", []byte(good)); len(got) != 0 {
			t.Errorf("pinned uses reported: %q", got)
		}
		if n := len(uses([]byte(good))); n != 4 {
			t.Errorf("found %d uses in the control, want 4", n)
		}
	})

	t.Run("expression in run", func(t *testing.T) {
		t.Parallel()
		actionlint := oracle.Require(t, oracle.Actionlint)
		yamlcheck := oracle.Require(t, oracle.YAMLCheck)
		dir := t.TempDir()
		f := writeFile(t, dir, "bad.yml", `name: 'bad'
on: issues
permissions:
  contents: read
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event.issue.title }}"
`)
		out, ok := run(t, dir, actionlint, "-no-color", f)
		if ok || !strings.Contains(out, "github.event.issue.title") || !strings.Contains(out, "untrusted") {
			t.Errorf("actionlint did not report the untrusted input in run (ok=%v):\n%s", ok, out)
		}
		out, ok = run(t, dir, yamlcheck, "-workflow", f)
		if ok || !strings.Contains(out, "jobs.greet.steps[0].run: contains ${{ }}") {
			t.Errorf("yamlcheck -workflow did not report ${{ }} in run (ok=%v):\n%s", ok, out)
		}
		ctl := writeFile(t, dir, "good.yml", `name: 'good'
on: issues
permissions:
  contents: read
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - run: echo "$TITLE"
        env:
          TITLE: ${{ github.event.issue.title }}
`)
		if out, ok := run(t, dir, actionlint, "-no-color", ctl); !ok {
			t.Errorf("actionlint rejects the control:\n%s", out)
		}
		if out, ok := run(t, dir, yamlcheck, "-workflow", ctl); !ok {
			t.Errorf("yamlcheck -workflow rejects the control:\n%s", out)
		}
	})

	t.Run("action metadata", func(t *testing.T) {
		t.Parallel()
		yamlcheck := oracle.Require(t, oracle.YAMLCheck)
		dir := t.TempDir()
		f := writeFile(t, dir, "action.yml", `name: 'x'
description: 'x'
inputs:
  subject:
    description: 'mapped'
  unmapped:
    description: 'never passed to a step'
outputs:
  digest:
    value: '${{ steps.nope.outputs.digest }}'
runs:
  using: 'composite'
  steps:
    - id: 'run'
      shell: 'bash'
      env:
        INPUT_SUBJECT: '${{ inputs.subject }}'
        INPUT_OTHER: '${{ inputs.undeclared }}'
      run: 'echo "${{ inputs.subject }}"'
    - run: 'true'
`)
		out, ok := run(t, dir, yamlcheck, "-action", f)
		if ok {
			t.Fatalf("yamlcheck -action accepted a bad action.yml:\n%s", out)
		}
		for _, want := range []string{
			"runs.steps[0].run: contains ${{ }}",
			"reads inputs.undeclared, which is not declared",
			"runs.steps[0].env.INPUT_OTHER: not set from the input of that name",
			"inputs.unmapped: not passed to any step as env INPUT_UNMAPPED",
			`outputs.digest.value: step id "nope" does not exist`,
			"runs.steps[1]: a composite action's run step needs a shell",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("yamlcheck -action did not report %q:\n%s", want, out)
			}
		}
		ctl := writeFile(t, dir, "ok/action.yml", `name: 'x'
description: 'x'
inputs:
  subject-digest:
    description: 'mapped'
outputs:
  digest:
    value: '${{ steps.run.outputs.digest }}'
runs:
  using: 'composite'
  steps:
    - id: 'run'
      shell: 'bash'
      env:
        INPUT_SUBJECT_DIGEST: '${{ inputs.subject-digest }}'
      run: 'echo "$INPUT_SUBJECT_DIGEST"'
`)
		if out, ok := run(t, dir, yamlcheck, "-action", ctl); !ok {
			t.Errorf("yamlcheck -action rejects the control:\n%s", out)
		}
	})

	t.Run("gitlab template", func(t *testing.T) {
		t.Parallel()
		yamlcheck := oracle.Require(t, oracle.YAMLCheck)
		dir := t.TempDir()
		f := writeFile(t, dir, "bad.yml", `stages: [build]
visible:
  script: ['true']
.empty:
  image: alpine
.child:
  extends: .missing
  stage: publish
`)
		out, ok := run(t, dir, yamlcheck, "-gitlab", f)
		if ok {
			t.Fatalf("yamlcheck -gitlab accepted a bad template:\n%s", out)
		}
		for _, want := range []string{
			"stages: a template must not set it",
			"visible: a visible job would run",
			".empty: has none of script, before_script, extends",
			`.child.extends: ".missing" is not defined`,
			`.child.stage: "publish" is not one of GitLab's default stages`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("yamlcheck -gitlab did not report %q:\n%s", want, out)
			}
		}
		dup := writeFile(t, dir, "dup.yml", ".a:\n  script: ['true']\n.a:\n  script: ['false']\n")
		if out, ok := run(t, dir, yamlcheck, "-gitlab", dup); ok || !strings.Contains(out, "already defined") {
			t.Errorf("yamlcheck accepted a duplicate key (ok=%v):\n%s", ok, out)
		}
		ctl := writeFile(t, dir, "good.yml", `.base:
  before_script: ['echo base']
.child:
  extends: .base
  before_script:
    - !reference [.base, before_script]
  script: ['true']
`)
		if out, ok := run(t, dir, yamlcheck, "-gitlab", ctl); !ok {
			t.Errorf("yamlcheck -gitlab rejects the control:\n%s", out)
		}
	})
}
