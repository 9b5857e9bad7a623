package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// helpUsage returns the Usage lines of `referrers VERB -h`, each without its
// "Usage:" label or indentation.
func helpUsage(t *testing.T, verb string) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{verb, "-h"}, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	var out []string
	in := false
	for _, l := range strings.Split(stdout.String()+stderr.String(), "\n") {
		switch {
		case strings.HasPrefix(l, "Usage: "):
			in = true
			out = append(out, strings.TrimPrefix(l, "Usage: "))
		case in && strings.HasPrefix(l, "       referrers "):
			out = append(out, strings.TrimSpace(l))
		default:
			in = false
		}
	}
	if len(out) == 0 {
		t.Fatalf("referrers %s -h printed no Usage line:\n%s%s", verb, stdout.String(), stderr.String())
	}
	return out
}

// docNotCommands follow "referrers " in the documents' inline code without
// being commands: the titles of the Action's error annotations.
var docNotCommands = map[string]bool{"help": true, "version": true, "inputs": true, "registry": true}

var (
	inlineCommand = regexp.MustCompile("`(referrers [^`]+)`")
	synopsisFlag  = regexp.MustCompile(`(?:^|[\s\[|])(--?[a-z][a-z0-9-]*)`)
)

// TestDocSynopsis: a plain (no language) block of `referrers` lines is a
// synopsis and must be exactly the Usage lines `referrers VERB -h` prints;
// every other plain block is refused. And every inline `referrers ...` of
// the documents (a synopsis or a command in the text) names a command and
// only flags that command has.
func TestDocSynopsis(t *testing.T) {
	t.Parallel()
	synopses := 0
	for _, b := range docBlocksOf(t, "") {
		fields := strings.Fields(b.lines[0])
		if len(fields) < 2 || fields[0] != "referrers" {
			t.Errorf("%s: a block without a language that is not a synopsis of referrers: give it one (sh, go, yaml, ...)", b.where())
			continue
		}
		synopses++
		var got []string
		for _, l := range b.lines {
			got = append(got, strings.TrimSpace(l))
		}
		if want := helpUsage(t, fields[1]); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: the synopsis differs from `referrers %s -h`:\n%s\nwant:\n%s", b.where(), fields[1], strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	checked := 0
	for _, path := range docFiles(t) {
		f := strings.TrimPrefix(path, "../../")
		for i, line := range proseLines(t, path) {
			for _, m := range inlineCommand.FindAllStringSubmatch(line, -1) {
				fields := strings.Fields(m[1])
				if len(fields) < 2 || strings.HasPrefix(fields[1], "-") || strings.ToUpper(fields[1]) == fields[1] {
					continue // `referrers --version`, `referrers COMMAND -h`
				}
				c, ok := lookupCommand(fields[1])
				if !ok {
					if !docNotCommands[fields[1]] {
						t.Errorf("%s:%d: %q: no command %q", f, i+1, m[1], fields[1])
					}
					continue
				}
				checked++
				fs := c.flags()
				for _, fm := range synopsisFlag.FindAllStringSubmatch(strings.Join(fields[2:], " "), -1) {
					name := strings.TrimLeft(fm[1], "-")
					if name == "h" || name == "help" {
						continue
					}
					if fs.Lookup(name) == nil {
						t.Errorf("%s:%d: %q: referrers %s has no flag %s", f, i+1, m[1], c.name, fm[1])
					}
				}
			}
		}
	}
	if synopses == 0 || checked < 10 {
		t.Fatalf("%d synopsis blocks and %d inline commands found: the extraction is broken", synopses, checked)
	}
}
