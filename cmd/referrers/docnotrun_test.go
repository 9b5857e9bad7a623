package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docTestFuncs returns the names of the Test and Benchmark functions of a
// package directory.
func docTestFuncs(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fn := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark)[A-Za-z0-9_]*)\(`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fn.FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1])
		}
	}
	return strings.Join(names, "\n")
}

var docRepoPath = regexp.MustCompile(`^(\./)?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+/?$`)

// checkNotRunCommand checks, as far as it can without running it, one
// command of a block that is not run: scripts exist and parse (and take the
// variables set before them), go test packages exist and their -run and
// -bench patterns name tests there, go install names a main package of the
// module, files a command names exist.
func checkNotRunCommand(t *testing.T, where, cmd string) {
	t.Helper()
	args := words(cmd)
	if i := indexOfRedirect(args); i >= 0 {
		args = args[:i]
	}
	var vars []string
	for len(args) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(args[0]) {
		k, _, _ := strings.Cut(args[0], "=")
		vars, args = append(vars, k), args[1:]
	}
	if len(args) == 0 {
		t.Errorf("%s: %q: no command", where, cmd)
		return
	}
	root := filepath.FromSlash(docRoot)
	exists := func(p string) bool {
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("%s: %q: %s does not exist", where, cmd, p)
		}
		return err == nil
	}
	switch args[0] {
	case "bash":
		if len(args) < 2 || !exists(args[1]) {
			return
		}
		script, err := os.ReadFile(filepath.Join(root, args[1]))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("bash", "-n", filepath.Join(root, args[1])).CombinedOutput(); err != nil {
			t.Errorf("%s: %s does not parse: %v\n%s", where, args[1], err, out)
		}
		for _, v := range vars {
			if !strings.Contains(string(script), v) {
				t.Errorf("%s: %q: %s does not read %s", where, cmd, args[1], v)
			}
		}
	case "go":
		if len(vars) > 0 {
			t.Errorf("%s: %q: variables before go are not checked", where, cmd)
		}
		if len(args) < 2 {
			t.Errorf("%s: %q: no go command", where, cmd)
			return
		}
		switch args[1] {
		case "install":
			for _, a := range args[2:] {
				path, _, _ := strings.Cut(a, "@")
				rel, ok := strings.CutPrefix(path, "github.com/oci-referrers/referrers/")
				if !ok || !exists(rel) {
					t.Errorf("%s: %q: %s is not a package of this module", where, cmd, path)
					continue
				}
				files, _ := filepath.Glob(filepath.Join(root, rel, "*.go"))
				main := false
				for _, f := range files {
					b, _ := os.ReadFile(f)
					main = main || regexp.MustCompile(`(?m)^package main$`).Match(b) && !strings.HasSuffix(f, "_test.go")
				}
				if !main {
					t.Errorf("%s: %q: %s is not a main package", where, cmd, rel)
				}
			}
		case "test":
			var pkgs, patterns []string
			for i := 2; i < len(args); i++ {
				a := args[i]
				switch {
				case strings.HasPrefix(a, "./"):
					pkgs = append(pkgs, a)
				case a == "-run" || a == "-bench":
					if i+1 < len(args) {
						patterns = append(patterns, a+"="+args[i+1])
						i++
					}
				case strings.HasPrefix(a, "-run=") || strings.HasPrefix(a, "-bench="):
					patterns = append(patterns, a)
				}
			}
			if len(pkgs) == 0 {
				t.Errorf("%s: %q: no package", where, cmd)
			}
			var funcs []string
			for _, p := range pkgs {
				if exists(p) {
					funcs = append(funcs, docTestFuncs(t, filepath.Join(root, p)))
				}
			}
			for _, p := range patterns {
				flag, pat, _ := strings.Cut(p, "=")
				first, _, _ := strings.Cut(pat, "/")
				if first == "^$" || first == "." {
					continue
				}
				re, err := regexp.Compile(first)
				if err != nil {
					t.Errorf("%s: %q: %s %q: %v", where, cmd, flag, pat, err)
					continue
				}
				prefix := "Test"
				if flag == "-bench" {
					prefix = "Benchmark"
				}
				found := false
				for _, name := range strings.Split(strings.Join(funcs, "\n"), "\n") {
					found = found || strings.HasPrefix(name, prefix) && re.MatchString(name)
				}
				if !found {
					t.Errorf("%s: %q: %s %q matches no %s function of %s", where, cmd, flag, pat, prefix, strings.Join(pkgs, " "))
				}
			}
		default:
			t.Errorf("%s: %q: go %s is not checked: teach TestDocNotRun", where, cmd, args[1])
		}
	case "wazero", "node":
		n := 0
		for _, a := range args[1:] {
			if docRepoPath.MatchString(a) {
				exists(a)
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: %q: names no file of the repository", where, cmd)
		}
	default:
		t.Errorf("%s: %q: TestDocNotRun cannot check %q: teach it", where, cmd, args[0])
	}
}

// TestDocNotRun checks the shell blocks marked `<!-- not run: REASON -->`
// (they run the whole suite, benchmarks of many minutes, need the network,
// or another test runs them) as far as they can be without running them:
// checkNotRunCommand on each command. The `referrers` lines among them are
// still parsed by TestDocCommands.
func TestDocNotRun(t *testing.T) {
	t.Parallel()
	n := 0
	for _, b := range docBlocksOf(t, "sh") {
		if !b.marked {
			continue
		}
		for _, l := range shellLines(b) {
			if l.cmd == "" {
				continue
			}
			for _, part := range strings.Split(l.cmd, "&&") {
				checkNotRunCommand(t, b.file+":"+strconv.Itoa(l.n), strings.TrimSpace(part))
				n++
			}
		}
	}
	if n < 10 {
		t.Fatalf("checked %d commands of the blocks not run: the extraction is broken", n)
	}
}
