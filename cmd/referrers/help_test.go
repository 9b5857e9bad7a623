package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestSuggest(t *testing.T) {
	t.Parallel()
	cands := commandNames()
	for _, tc := range []struct{ in, want string }{
		{"lsit", "list"},
		{"atach", "attach"},
		{"attahc", "attach"},
		{"delte", "delete"},
		{"cpoy", "copy"},
		{"chekc", "check"},
		{"index", "index-for"},
		{"serv", "serve"},
		{"completoin", "completion"},
		{"frobnicate", ""},
		{"x", ""},
		{"", ""},
	} {
		if got := suggest(tc.in, cands); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lsit", "x"}, `unknown command "lsit"; did you mean "list"?`},
		{[]string{"list", "--artifact-typ", "a/b", "x"}, "unknown flag --artifact-typ; did you mean --artifact-type?"},
		{[]string{"attach", "-plain-htp", "x"}, "unknown flag --plain-htp; did you mean --plain-http?"},
		{[]string{"copy", "--depht", "2", "a", "b"}, "unknown flag --depht; did you mean --depth?"},
		{[]string{"list", "--zzzzzz", "x"}, "unknown flag --zzzzzz (run 'referrers list -h' for the flags)"},
		{[]string{"list", "--depth", "x", "y"}, `invalid value "x" for flag --depth`},
		{[]string{"completion", "bsh"}, "unknown shell \"bsh\"; did you mean bash?"},
	} {
		r := runCLI(t, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, exitUsage, tc.want)
		}
	}
}

// TestHelp: every command's help spells its flags --name, in the groups, with
// examples, and names every flag the command parses.
func TestHelp(t *testing.T) {
	t.Parallel()
	sets := flagsOf()
	single := regexp.MustCompile(`(?m)^\s+-[a-z]`)
	for _, c := range commands {
		r := runCLI(t, "help", c.name)
		if r.code != exitOK {
			t.Fatalf("help %s: exit %d\n%s", c.name, r.code, r.stderr)
		}
		out := r.stdout
		if single.MatchString(out) {
			t.Errorf("help %s spells a flag with one dash:\n%s", c.name, out)
		}
		for _, n := range sortedFlagNames(sets[c.name]) {
			if !strings.Contains(out, "  --"+n) {
				t.Errorf("help %s does not list --%s", c.name, n)
			}
		}
		if !strings.Contains(out, "Examples:") {
			t.Errorf("help %s has no examples", c.name)
		}
		if len(sets[c.name].Args()) > 0 || sets[c.name].NFlag() > 0 {
			t.Errorf("flagsOf ran %s's parsing", c.name)
		}
		h := runCLI(t, c.name, "-h")
		if h.stderr != out {
			t.Errorf("%s -h differs from help %s", c.name, c.name)
		}
	}
	if r := runCLI(t, "list", "--help"); !strings.Contains(r.stderr, "Registry and store flags:") || !strings.Contains(r.stderr, "Output flags:") {
		t.Errorf("list --help has no flag groups:\n%s", r.stderr)
	}
}

// TestCompletion: each script names every command and every flag of each
// command; the bash script is valid bash and completes commands and flags
// when bash runs it; zsh and fish check their scripts' syntax where installed.
func TestCompletion(t *testing.T) {
	t.Parallel()
	sets := flagsOf()
	scripts := map[string]string{}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := runCLI(t, "completion", sh)
		if r.code != exitOK || r.stderr != "" {
			t.Fatalf("completion %s: exit %d\n%s", sh, r.code, r.stderr)
		}
		scripts[sh] = r.stdout
		for _, c := range commands {
			if !strings.Contains(r.stdout, c.name) {
				t.Errorf("%s script does not name %s", sh, c.name)
			}
			for _, n := range sortedFlagNames(sets[c.name]) {
				if !regexp.MustCompile(`(--|-l )` + regexp.QuoteMeta(n) + `\b`).MatchString(r.stdout) {
					t.Errorf("%s script does not complete %s --%s", sh, c.name, n)
				}
			}
		}
	}
	dir := t.TempDir()
	for sh, s := range scripts {
		p := filepath.Join(dir, "referrers."+sh)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		bin, err := exec.LookPath(sh)
		if err != nil {
			if sh == "bash" {
				t.Fatalf("bash not found: %v", err)
			}
			t.Logf("%s not installed: its script's syntax is not checked", sh)
			continue
		}
		if out, err := exec.Command(bin, "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, out)
		}
	}
	bash, _ := exec.LookPath("bash")
	for _, tc := range []struct {
		words string
		cword int
		want  []string
	}{
		{"referrers li", 1, []string{"list"}},
		{"referrers list --artifact", 2, []string{"--artifact-type"}},
		{"referrers cp --referrers", 2, []string{"--referrers-mode", "--referrers-only"}},
		{"referrers serve --cache", 2, []string{"--cache-max-age"}},
	} {
		script := scripts["bash"] + "\nCOMP_WORDS=(" + tc.words + ")\nCOMP_CWORD=" + string(rune('0'+tc.cword)) + "\n_referrers\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.CommandContext(context.Background(), bash, "--norc", "--noprofile", "-c", script)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("bash: %v\n%s", err, out.String())
		}
		got := strings.Fields(out.String())
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("completing %q: %v, want %v", tc.words, got, tc.want)
		}
	}
}

// TestGoldenHelp pins the help of every command, the top-level usage, the
// "did you mean" answers and the completion scripts (testdata/golden/help/;
// -update rewrites them).
func TestGoldenHelp(t *testing.T) {
	t.Parallel()
	cases := [][]string{{"help"}, {"lsit", "x"}, {"list", "--artifact-typ", "a/b", "x"}, {"completion", "bash"},
		{"completion", "zsh"}, {"completion", "fish"}}
	for _, c := range commands {
		cases = append(cases, []string{"help", c.name})
	}
	for _, args := range cases {
		r := runCLI(t, args...)
		checkGolden(t, "help/"+strings.ReplaceAll(strings.Join(args, "_"), "/", "-")+".golden", goldenText(args, r))
	}
}
