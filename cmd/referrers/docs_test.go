package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docFiles are the documents whose shell blocks show the CLI.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../../README.md", "../../CONTRIBUTING.md", "../../RATIONALE.md"}
	more, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, more...)
}

// shellCommands returns the `referrers ...` command lines of the sh/bash
// code blocks of a Markdown document: continuation lines joined, comments
// cut, and commands after a pipe, &&, ; or $( found too.
func shellCommands(doc string) []string {
	var out []string
	in := false
	var cur string
	for _, line := range strings.Split(doc, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "```") {
			lang := strings.TrimPrefix(trim, "```")
			in = !in && (lang == "sh" || lang == "bash" || lang == "shell" || lang == "console")
			cur = ""
			continue
		}
		if !in {
			continue
		}
		if strings.HasSuffix(trim, `\`) {
			cur += strings.TrimSuffix(trim, `\`) + " "
			continue
		}
		cur += trim
		cmd := cur
		cur = ""
		if i := strings.Index(cmd, " #"); i >= 0 {
			cmd = cmd[:i]
		}
		for _, part := range regexp.MustCompile(`\|\||&&|[|;]|\$\(|<\(`).Split(cmd, -1) {
			part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "$ "))
			if strings.HasPrefix(part, "referrers ") {
				out = append(out, strings.TrimRight(part, ")"))
			}
		}
	}
	return out
}

// words splits a command line as a shell would for the simple forms the
// documents use: single and double quotes, no expansions.
func words(s string) []string {
	var out []string
	var b strings.Builder
	quote := rune(0)
	has := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			b.WriteRune(r)
		case r == '\'' || r == '"':
			quote, has = r, true
		case r == ' ' || r == '\t':
			if b.Len() > 0 || has {
				out = append(out, b.String())
				b.Reset()
				has = false
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 || has {
		out = append(out, b.String())
	}
	return out
}

// TestDocCommands checks every `referrers ...` line of the shell blocks in
// README.md, CONTRIBUTING.md, RATIONALE.md and docs/*.md against the CLI as
// built: the command exists and its flags parse (names, and values where
// the flag checks them when parsed), so a renamed or removed flag cannot stay
// in the documents. Output redirections are dropped; placeholders such as
// SUBJECT are positional arguments and are not checked.
func TestDocCommands(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range shellCommands(string(b)) {
			args := words(line)[1:]
			if i := indexOfRedirect(args); i >= 0 {
				args = args[:i]
			}
			if len(args) == 0 {
				continue
			}
			checked++
			switch args[0] {
			case "version", "help", "--version", "--help", "-h":
				continue
			}
			c, ok := lookupCommand(args[0])
			if !ok {
				t.Errorf("%s: %q: no command %q", filepath.Base(f), line, args[0])
				continue
			}
			fs := c.flags()
			fs.SetOutput(devNull{})
			if _, err := parseInterspersed(fs, args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Errorf("%s: %q: %v", filepath.Base(f), line, err)
			}
		}
	}
	if checked < 30 {
		t.Fatalf("only %d referrers command lines found in the documents: the extraction is broken", checked)
	}
}

func indexOfRedirect(args []string) int {
	for i, a := range args {
		if a == ">" || a == ">>" || a == "<" || a == "2>&1" || strings.HasPrefix(a, ">") || strings.HasPrefix(a, "2>") {
			return i
		}
	}
	return -1
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }

// TestNoOutsideReferences: the repository stands on its own, so no code or
// document cites a numbered checklist, a file outside the repository, or
// an unexplained seed library (say what is meant instead).
func TestNoOutsideReferences(t *testing.T) {
	t.Parallel()
	bad := regexp.MustCompile(`(?i)\bchecklist [0-9]|spec-checklist|\.\./shared|\bthe seed\b|\bseed's\b`)
	ok := regexp.MustCompile(`(?i)the seed corp`) // fuzzing's seed corpus
	root := filepath.Join("..", "..")
	n := 0
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".oracles", ".fuzz", "testdata", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".md", ".sh", ".yml", ".yaml":
		default:
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		lines := strings.Split(string(b), "\n")
		for i, line := range lines {
			if strings.Contains(line, "regexp.MustCompile(`(?i)") {
				continue
			}
			if i+1 < len(lines) && !strings.Contains(lines[i+1], "regexp.MustCompile(`(?i)") {
				// a citation wrapped at the end of a comment line
				line += " " + strings.TrimLeft(lines[i+1], " \t/#*")
			}
			if bad.MatchString(ok.ReplaceAllString(line, "")) {
				t.Errorf("%s:%d: %s", p, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("read %d files: the walk looks in the wrong place", n)
	}
}
