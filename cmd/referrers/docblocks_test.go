package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docBlock is one fenced code block of a document.
type docBlock struct {
	file   string // relative to the module root, e.g. "docs/cli.md"
	line   int    // the opening fence's line, 1-based
	lang   string // the info string: sh, go, yaml, caddyfile, nginx or "" (text)
	lines  []string
	notRun string // the reason of a `<!-- not run: REASON -->` marker before it
	marked bool   // a marker is there (its reason may be empty: an error)
}

// where names the block in failures: "docs/cli.md:91".
func (b docBlock) where() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

// lineOf is the document's line number of the block's i-th line.
func (b docBlock) lineOf(i int) int { return b.line + 1 + i }

func (b docBlock) text() string { return strings.Join(b.lines, "\n") + "\n" }

// notRunMarker is the one way to exempt a block from being run: an HTML
// comment (invisible when rendered) on the line before its fence, with the
// reason. The block is still checked as far as it can be.
var notRunMarker = regexp.MustCompile(`^<!-- not run:(.*)-->$`)

// docBlockLangs are the info strings a fenced block may carry, each checked
// by a test of its own kind.
var docBlockLangs = map[string]bool{"": true, "sh": true, "go": true, "yaml": true, "caddyfile": true, "nginx": true}

// parseDocBlocks returns the fenced code blocks of a Markdown document. A
// closing fence with text after it, or an unclosed block, is an error: the
// rest of the page would render as code.
func parseDocBlocks(file, doc string) ([]docBlock, error) {
	var out []docBlock
	lines := strings.Split(doc, "\n")
	var cur *docBlock
	for i, line := range lines {
		trim := strings.TrimSpace(line)
		if cur == nil {
			if !strings.HasPrefix(trim, "```") {
				continue
			}
			cur = &docBlock{file: file, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(trim, "```"))}
			for j := i - 1; j >= 0; j-- {
				prev := strings.TrimSpace(lines[j])
				if prev == "" {
					continue
				}
				if m := notRunMarker.FindStringSubmatch(prev); m != nil {
					cur.marked, cur.notRun = true, strings.TrimSpace(m[1])
				}
				break
			}
			continue
		}
		if strings.HasPrefix(trim, "```") {
			if trim != "```" {
				return nil, fmt.Errorf("%s:%d: a closing fence with text after it (%q): the block does not end there", file, i+1, trim)
			}
			out = append(out, *cur)
			cur = nil
			continue
		}
		cur.lines = append(cur.lines, line)
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: the block is never closed", file, cur.line)
	}
	return out, nil
}

// docRoot is the module root, seen from cmd/referrers.
const docRoot = "../.."

// allDocBlocks reads every block of the documents TestDocCommands reads.
func allDocBlocks(t *testing.T) []docBlock {
	t.Helper()
	var out []docBlock
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(docRoot, f)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseDocBlocks(filepath.ToSlash(rel), string(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, blocks...)
	}
	if len(out) < 30 {
		t.Fatalf("only %d code blocks found in the documents: the extraction is broken", len(out))
	}
	return out
}

// docBlocksOf returns the blocks of one kind.
func docBlocksOf(t *testing.T, lang string) []docBlock {
	t.Helper()
	var out []docBlock
	for _, b := range allDocBlocks(t) {
		if b.lang == lang {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %q block in the documents: the extraction is broken", lang)
	}
	return out
}

// TestDocBlocks: every fenced block of the documents is of a kind a test runs
// or checks (TestDocShell, TestDocGo, TestDocYAML, TestDocServerConfig, and
// TestDocSynopsis for plain blocks), its fences are well formed, and a block
// marked "not run" says why.
func TestDocBlocks(t *testing.T) {
	t.Parallel()
	notRun := 0
	for _, b := range allDocBlocks(t) {
		if !docBlockLangs[b.lang] {
			t.Errorf("%s: a %q block: no test runs or checks this kind (add one, or use one of sh, go, yaml, caddyfile, nginx)", b.where(), b.lang)
		}
		if b.marked {
			notRun++
			if len(b.notRun) < 10 {
				t.Errorf("%s: the not-run marker needs a reason: <!-- not run: WHY -->", b.where())
			}
			if b.lang != "sh" {
				t.Errorf("%s: a not-run marker on a %q block: only shell blocks may be exempted from running", b.where(), b.lang)
			}
		}
	}
	if notRun > 10 {
		t.Errorf("%d blocks are marked not run: keep them few", notRun)
	}
}

func TestParseDocBlocks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		want      []docBlock
		err       string
	}{
		{name: "plain", doc: "a\n```sh\nx\n```\n", want: []docBlock{{file: "f", line: 2, lang: "sh", lines: []string{"x"}}}},
		{name: "marker", doc: "<!-- not run: needs root -->\n\n```sh\nx\ny\n```\n",
			want: []docBlock{{file: "f", line: 3, lang: "sh", lines: []string{"x", "y"}, notRun: "needs root", marked: true}}},
		{name: "marker not adjacent", doc: "<!-- not run: r -->\ntext\n```go\n```\n", want: []docBlock{{file: "f", line: 3, lang: "go"}}},
		{name: "bad close", doc: "```sh\nx\n``` Why\n", err: "closing fence with text"},
		{name: "unclosed", doc: "```sh\nx\n", err: "never closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDocBlocks("f", tc.doc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}
