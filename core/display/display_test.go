package display

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain", "application/spdx+json", "application/spdx+json"},
		{"empty", "", ""},
		{"non-ASCII kept", "créé 日本 🐳 a\u00a0b", "créé 日本 🐳 a\u00a0b"},
		{"U+FFFD kept", "\uFFFD", "\uFFFD"},
		{"backslash kept", `C:\x1b\n`, `C:\x1b\n`},
		{"colons inside kept", "a::b", "a::b"},
		{"one colon kept", ":a", ":a"},
		{"single hash kept", "#[x] ## [", "#[x] ## ["},

		// C0 controls, DEL.
		{"newline", "a\nb", `a\nb`},
		{"carriage return", "a\rb", `a\rb`},
		{"tab", "a\tb", `a\tb`},
		{"short escapes", "\a\b\v\f", `\a\b\v\f`},
		{"NUL", "a\x00b", `a\x00b`},
		{"ESC clear screen", "\x1b[2J", `\x1b[2J`},
		{"OSC window title", "\x1b]0;title\a", `\x1b]0;title\a`},
		{"unit separator", "\x1f", `\x1f`},
		{"DEL", "a\x7fb", `a\x7fb`},

		// C1 controls (as characters, that is valid UTF-8).
		{"CSI", "\u009b2J", `\u009b2J`},
		{"NEL", "a\u0085b", `a\u0085b`},
		{"first C1", "\u0080", `\u0080`},
		{"last C1", "\u009f", `\u009f`},
		{"NBSP is not C1", "\u00a0", "\u00a0"},

		// Bidirectional and other format characters; separators.
		{"RLO", "evil\u202eexe.txt", `evil\u202eexe.txt`},
		{"LRM RLM", "\u200e\u200f", `\u200e\u200f`},
		{"embeddings", "\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`},
		{"isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"ALM", "\u061c", `\u061c`},
		{"zero width space", "a\u200bb", `a\u200bb`},
		{"BOM", "\ufeffx", `\ufeffx`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"paragraph separator", "a\u2029b", `a\u2029b`},
		{"tag character", "a\U000E0041", `a\U000e0041`},

		// Invalid UTF-8.
		{"invalid byte", "bad \xff utf8", `bad \xff utf8`},
		{"lone continuation", "\x80", `\x80`},
		{"C1 byte alone is invalid", "\x9b2J", `\x9b2J`},
		{"truncated sequence", "\xe2\x80", `\xe2\x80`},
		{"surrogate encoded", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"overlong", "\xc0\xaf", `\xc0\xaf`},

		// Workflow commands.
		{"command", "::error::pwned", `\x3a:error::pwned`},
		{"add-mask", "::add-mask::x", `\x3a:add-mask::x`},
		{"command after spaces", "   ::warning::x", `   \x3a:warning::x`},
		{"command after tab", "\t::error::x", `\t\x3a:error::x`},
		{"command after NBSP and ideographic space", "\u00a0\u3000::x", "\u00a0\u3000\\x3a:x"},
		{"command after newline", "\n::error::x", `\n\x3a:error::x`},
		{"command after a forged line", "ok\n::error::x", `ok\n::error::x`},
		{"legacy command", "##[error]x", `\x23#[error]x`},
		{"legacy command inside", "see ##[group]x", `see \x23#[group]x`},
		{"three hashes", "###[x", `#\x23#[x`},
		{"two legacy commands", "##[a##[b", `\x23#[a\x23#[b`},
		{"Azure Pipelines", "x ##vso[task.setvariable variable=a]b", `x \x23#vso[task.setvariable variable=a]b`},
		{"TeamCity", "##teamcity[message text='x']", `\x23#teamcity[message text='x']`},
		{"marker upper case", "##VSO[x]", `\x23#VSO[x]`},
		{"hashes without bracket kept", "C## and ##vso and ## [", "C## and ##vso and ## ["},
		{"digit breaks a marker", "##v1[x", "##v1[x"},
		{"everything", "\x1b]0;t\a\n::error::p\u202e##[x\xff", `\x1b]0;t\a\n::error::p\u202e\x23#[x\xff`},
	}
	for _, tt := range tests {
		got := Text(tt.in)
		if got != tt.want {
			t.Errorf("%s: Text(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
		if again := Text(got); again != got {
			t.Errorf("%s: Text is not idempotent: Text(%q) = %q", tt.name, got, again)
		}
		if p := problem(got); p != "" {
			t.Errorf("%s: Text(%q) = %q: %s", tt.name, tt.in, got, p)
		}
	}
}

func TestLines(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"one", "one"},
		{"a\nb\n", "a\nb\n"},
		{"ok\n::error::x\n  ::add-mask::y", "ok\n\\x3a:error::x\n  \\x3a:add-mask::y"},
		{"a\r\nb", "a\\r\nb"},
		{"\x1b[2J\n##[error]", "\\x1b[2J\n\\x23#[error]"},
	}
	for _, tt := range tests {
		got := Lines(tt.in)
		if got != tt.want {
			t.Errorf("Lines(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, l := range strings.Split(got, "\n") {
			if p := problem(l); p != "" {
				t.Errorf("Lines(%q): line %q: %s", tt.in, l, p)
			}
		}
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300)
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"eight ch", 7, "eight c…"},
		{long, 200, strings.Repeat("x", 200) + "…"},
		{strings.Repeat("é", 205), 200, strings.Repeat("é", 200) + "…"},
		{"日本語", 2, "日本…"},
		// An escape is kept whole or not at all.
		{"ab\x1bcd", 4, "ab…"},
		{"ab\x1bcd", 6, `ab\x1b…`},
		{"ab\u202ecd", 7, "ab…"},
		{"ab\u202ecd", 8, `ab\u202e…`},
		{"ab\xffcd", 5, "ab…"},
		{"::x", 3, "…"},
		{"::x", 5, `\x3a:…`},
		{"a\nb", 3, "a\\n…"},
		{"", 0, ""},
		{"x", 0, "…"},
		{"x", -1, "…"},
	}
	for _, tt := range tests {
		got := Truncate(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q is not UTF-8", tt.in, tt.n, got)
		}
		if p := problem(got); p != "" {
			t.Errorf("Truncate(%q, %d) = %q: %s", tt.in, tt.n, got, p)
		}
	}
	// A long hostile value: the cut never passes the limit.
	hostile := strings.Repeat("\x1b[2J\u202e::##[\xff", 100)
	for n := 0; n < 60; n++ {
		got := Truncate(hostile, n)
		if c := utf8.RuneCountInString(strings.TrimSuffix(got, "…")); c > n {
			t.Errorf("Truncate(hostile, %d) keeps %d characters", n, c)
		}
		if !strings.HasPrefix(Text(hostile), strings.TrimSuffix(got, "…")) {
			t.Errorf("Truncate(hostile, %d) = %q is not a prefix of the rendering", n, got)
		}
	}
}

func TestDangerous(t *testing.T) {
	t.Parallel()
	for _, r := range []rune{0, '\n', '\r', '\t', 0x1b, 0x1f, 0x7f, 0x80, 0x85, 0x9b, 0x9f,
		0x00ad, 0x061c, 0x200b, 0x200d, 0x200e, 0x200f, 0x202a, 0x202e, 0x2028, 0x2029,
		0x2060, 0x2066, 0x2069, 0xfeff, 0xfff9, 0xe0001, 0xe007f} {
		if !Dangerous(r) {
			t.Errorf("Dangerous(%U) = false", r)
		}
	}
	for _, r := range []rune{' ', 'a', '~', '\\', ':', '#', 0xa0, 0xe9, 0x2026, 0x3000, 0xfffd, 0x1f433} {
		if Dangerous(r) {
			t.Errorf("Dangerous(%U) = true", r)
		}
	}
}

// FuzzText checks the invariants of Text for any string: the result is valid
// UTF-8, holds no dangerous character, cannot start or carry a workflow
// command, is a fixed point of Text, and is the input itself when the input
// had nothing to escape. Truncate and Lines keep the same invariants.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b]0;title\a", "\x1b[2J", "\n::error::pwned", "::add-mask::x",
		" \t::x", "##[error]", "##vso[x]", "##teamcity[", "\u202e", "\xff", "\u2028", "\U000E0041", "a::b", "#[", "##"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := Text(s)
		if p := problem(got); p != "" {
			t.Fatalf("Text(%q) = %q: %s", s, got, p)
		}
		if Text(got) != got {
			t.Fatalf("Text(Text(%q)) = %q, not %q", s, Text(got), got)
		}
		if clean(s) && got != s {
			t.Fatalf("Text(%q) = %q changed a string with nothing to escape", s, got)
		}
		if n > 1000 || n < -1 {
			n %= 1000
		}
		tr := Truncate(s, n)
		if p := problem(tr); p != "" {
			t.Fatalf("Truncate(%q, %d) = %q: %s", s, n, tr, p)
		}
		if kept := strings.TrimSuffix(tr, "…"); !strings.HasPrefix(got, kept) || (kept != got && utf8.RuneCountInString(kept) > max(n, 0)) {
			t.Fatalf("Truncate(%q, %d) = %q, Text = %q", s, n, tr, got)
		}
		for _, l := range strings.Split(Lines(s), "\n") {
			if p := problem(l); p != "" {
				t.Fatalf("Lines(%q): line %q: %s", s, l, p)
			}
		}
	})
}

// problem says what is wrong with a rendered line, or "".
func problem(s string) string {
	if !utf8.ValidString(s) {
		return "not UTF-8"
	}
	for _, r := range s {
		if Dangerous(r) {
			return "holds " + string(escape(r))
		}
	}
	if strings.HasPrefix(strings.TrimLeftFunc(s, isSpace), "::") {
		return "starts a workflow command"
	}
	if marker.MatchString(s) {
		return "holds a command marker"
	}
	return ""
}

// marker is a workflow command marker of a CI system read anywhere in a line.
var marker = regexp.MustCompile(`##[A-Za-z]*\[`)

// clean reports, independently of Text's code, whether s has nothing to
// escape.
func clean(s string) bool {
	if !utf8.ValidString(s) || marker.MatchString(s) || strings.HasPrefix(strings.TrimLeftFunc(s, isSpace), "::") {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c || r == 0xfeff {
			return false
		}
		if Dangerous(r) { // the other format characters
			return false
		}
	}
	return true
}

func TestWriter(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	w := NewWriter(&b)
	for _, s := range []string{"ok\n::error::x\n", "  ##", "[group]\x1b", "[2J\n", "tail \r"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if want := "ok\n\\x3a:error::x\n  \\x23#[group]\\x1b[2J\n"; b.String() != want {
		t.Errorf("after the writes: %q, want %q", b.String(), want)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "ok\n\\x3a:error::x\n  \\x23#[group]\\x1b[2J\ntail \\r"; b.String() != want {
		t.Errorf("after Flush: %q, want %q", b.String(), want)
	}
	// A line longer than the bound is written out with a newline of its own.
	b.Reset()
	w.Write([]byte(strings.Repeat("x", maxPending+1)))
	if got := b.String(); len(got) != maxPending+2 || !strings.HasSuffix(got, "\n") {
		t.Errorf("a long line: %d bytes written, want %d ending in a newline", len(got), maxPending+2)
	}
}
