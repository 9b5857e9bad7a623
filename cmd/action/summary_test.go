package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCell(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"application/spdx+json", "application/spdx+json"},
		{"a|b", `a\|b`},
		{"line1\nline2\r\n", `line1\\nline2\\r\\n`},
		{"\x1b[2J\x1b]0;title\a", `\\x1b\[2J\\x1b\]0;title\\a`},
		{"evil\u202eexe", `evil\\u202eexe`},
		{"##[error]x", `\\x23\#\[error\]x`},
		{"<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"},
		{"![x](https://example.invalid/p.png)", `\!\[x\](https://example.invalid/p.png)`},
		{"**bold** _it_ `code` # ~x~", `\*\*bold\*\* \_it\_ \` + "`" + `code\` + "`" + ` \# \~x\~`},
		{"a&amp;b", "a&amp;amp;b"},
		{`back\slash`, `back\\slash`},
		{"bad \xff utf8", `bad \\xff utf8`},
		{strings.Repeat("x", maxCell-2) + "\x1b", strings.Repeat("x", maxCell-2) + "…"},
		{strings.Repeat("é", maxCell+5), strings.Repeat("é", maxCell) + "…"},
	}
	for _, tt := range tests {
		if got := cell(tt.in); got != tt.want {
			t.Errorf("cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSummaryBudget renders a listing far over GitHub's limit: the Markdown
// stays within the budget, keeps whole rows and says how many it left out.
func TestSummaryBudget(t *testing.T) {
	t.Parallel()
	tb := &table{title: "referrers list", header: []string{"Referrer", "artifactType"}}
	const n = 20000
	for i := range n {
		tb.rows = append(tb.rows, []string{fmt.Sprintf("sha256:%064d", i), "application/" + strings.Repeat("x|", 100)})
	}
	md := tb.render(maxSummary)
	if len(md) > maxSummary {
		t.Errorf("summary is %d bytes, over the budget %d", len(md), maxSummary)
	}
	kept := strings.Count(md, "| sha256:")
	if kept == 0 || kept == n {
		t.Fatalf("kept %d of %d rows, want some but not all", kept, n)
	}
	if want := fmt.Sprintf("%d more rows left out", n-kept); !strings.Contains(md, want) {
		t.Errorf("summary does not say %q; tail:\n%s", want, md[len(md)-300:])
	}
	for i, l := range strings.Split(strings.TrimSpace(md), "\n") {
		if strings.HasPrefix(l, "| sha256:") && !strings.HasSuffix(l, " |") {
			t.Fatalf("line %d is a cut row: %q", i, l)
		}
	}
	// Two tables share the budget of one step.
	small := (&table{title: "t", header: []string{"a"}, rows: [][]string{{"b"}}}).render(maxSummary - len(md))
	if len(md)+len(small) > maxSummary {
		t.Errorf("two tables: %d bytes, over %d", len(md)+len(small), maxSummary)
	}
}

// FuzzCell checks that no input can break out of a table cell or open raw
// HTML, a link or an image.
func FuzzCell(f *testing.F) {
	for _, s := range []string{"", "a|b", "x\ny", "<script>", "![a](b)", "[a](b)", "\\|", "\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := cell(s)
		if !utf8.ValidString(c) {
			t.Fatalf("cell(%q) = %q is not UTF-8", s, c)
		}
		if strings.ContainsAny(c, "\n\r<>\u2028\u2029") {
			t.Fatalf("cell(%q) = %q has a line break or an angle bracket", s, c)
		}
		// Every '|', '[' and '!' is escaped by an odd run of backslashes.
		for i := 0; i < len(c); i++ {
			if !strings.ContainsRune("|[!`", rune(c[i])) {
				continue
			}
			n := 0
			for j := i - 1; j >= 0 && c[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				t.Fatalf("cell(%q) = %q: %q at %d is not escaped", s, c, c[i], i)
			}
		}
	})
}

// FuzzOutputs writes one output of any key and value and reads the file back
// the way the runner does: the write is refused, or exactly that key comes
// back with exactly that value (no injected outputs).
func FuzzOutputs(f *testing.F) {
	f.Add("referrers", "plain")
	f.Add("note", "x\n_GitHubActionsFileCommandDelimeter_\ninjected<<EOF\nv\nEOF")
	f.Add("note", "a\nghadelimiter_00000000000000000000000000000000\nb=1")
	f.Add("k", "")
	f.Add("k", "\n\n")
	f.Add("bad key", "v")
	dir := f.TempDir()
	i := 0
	f.Fuzz(func(t *testing.T, key, value string) {
		o := newOutputs()
		if err := o.set(key, value); err != nil {
			return
		}
		i++
		path := filepath.Join(dir, fmt.Sprint(i))
		// A fixed "random" delimiter: the fuzzer may even guess it.
		if err := o.write(path, bytes.NewReader(zeroRandom)); err != nil {
			if !strings.Contains(value, "ghadelimiter_") {
				t.Fatalf("write refused a value without the delimiter: %v", err)
			}
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := parseOutputs(t, string(b))
		if len(got) != 1 || got[key] != value {
			t.Fatalf("set(%q, %q) read back as %q", key, value, got)
		}
	})
}
