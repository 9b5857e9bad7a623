// Package display renders data from outside the program (what a registry, a
// tree on disk, a file or an HTTP request says) as text for people: a
// terminal, a log, a CI system's log.
//
// # The threat
//
// A string a registry chose (an annotation value, an artifactType, an error
// message) that is printed raw can
//
//   - drive the terminal: ANSI/ECMA-48 control sequences (ECMA-48, 5th
//     edition, section 5) start with ESC (0x1b) or a C1 control such as CSI
//     (U+009B) and can clear the screen, set the window title, move the cursor
//     or, on some terminals, write to the clipboard;
//   - forge lines: a newline or a carriage return starts what looks like a new
//     line of the program's own output;
//   - reorder what is shown: the Unicode bidirectional controls (Unicode
//     Standard Annex #9, "Unicode Bidirectional Algorithm", section 2) make
//     text display in another order than it is stored, and other format
//     characters (general category Cf) are invisible;
//   - run a workflow command: a GitHub Actions runner reads every line of a
//     step's output and runs a line that starts, after white space, with "::"
//     ("::add-mask::", "::error::", "::stop-commands::"; GitHub Actions
//     documentation, "Workflow commands for GitHub Actions") and, in its older
//     form, any line that holds "##[" ("##[error]..."). Other CI systems read
//     the same shape anywhere in a line: Azure Pipelines "##vso[" (Azure
//     DevOps documentation, "Logging commands") and TeamCity "##teamcity["
//     (TeamCity documentation, "Service messages").
//
// # The rules
//
// [Text] renders one value on one line:
//
//   - every C0 control (U+0000 to U+001F, newline, carriage return and tab
//     included), DEL (U+007F), every C1 control (U+0080 to U+009F), every
//     format character (Unicode general category Cf: the bidirectional
//     controls U+061C, U+200E, U+200F, U+202A to U+202E and U+2066 to U+2069,
//     the zero-width characters, U+FEFF, the tag characters...) and the line
//     and paragraph separators U+2028 and U+2029 are shown as an escape in
//     the manner of Go's string literals (The Go Programming Language
//     Specification, "Rune literals"): \a \b \t \n \v \f \r, \x1b for the
//     other C0 controls and DEL, \u0085 or \u202e for the others (\U000e0041
//     beyond the Basic Multilingual Plane);
//   - every byte that is not part of valid UTF-8 is shown as \xff;
//   - nothing is dropped: what was there stays visible;
//   - if the value, after leading white space (any Unicode white space, the
//     escaped controls included), starts with "::", its first colon is shown
//     as \x3a; and in every "##" followed by '[', or by ASCII letters and
//     '[' ("##[", "##vso[", "##teamcity["), the first '#' is shown as \x23.
//     The value can then neither start nor carry a workflow command wherever
//     it is put on a line.
//
// Everything else, including non-ASCII letters, symbols, emoji and other
// white space, is kept as is. Format characters are escaped as a class, the
// joiners U+200C and U+200D too: an emoji sequence or a Persian word that
// uses them shows \u200d or \u200c. Invisible characters are exactly what can
// hide or smuggle text, and telling the harmless joiner from the harmful one
// is not attempted. A string without the characters above, that
// does not start with "::" and holds no "##[" (or "##vso["...), is returned
// unchanged.
//
// The backslash itself is not escaped: a value that holds the four characters
// \x1b is shown like one that holds ESC. That ambiguity is accepted. Escaping
// every backslash would double those of every Windows path and regular
// expression for the benefit of telling two harmless renderings apart, and the
// machine interfaces (JSON output, step outputs) carry the exact strings.
//
// Because no escape holds a control, a colon, '#' or '[', [Text] is
// idempotent: Text(Text(s)) == Text(s).
//
// [Lines] renders a message of several lines: each line as [Text] renders it,
// the newlines kept. [Truncate] renders one value cut to a length, never in the
// middle of an escape or a character.
//
// A caller must put rendered values after fixed text of its own or at the
// start of a line, never join two of them so that the end of one and the
// start of the other make a command marker (as "##" and "[", or "##" and
// "vso["): the rules hold for each value, not for what is glued around it.
package display

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text renders s for display on one line, by the rules of the package
// documentation: controls, format characters and invalid UTF-8 become
// visible escapes, and s can neither start nor carry a workflow command.
func Text(s string) string {
	if safe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	render(&b, s, -1)
	return b.String()
}

// Truncate renders s as [Text] does, keeping at most n characters of the
// rendering (an escape counts as the characters it is shown with and is kept
// whole or not at all), followed by "…" when anything was cut.
func Truncate(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if safe(s) && utf8.RuneCountInString(s) <= n {
		return s
	}
	var b strings.Builder
	if render(&b, s, n) {
		b.WriteString("…")
	}
	return b.String()
}

// Lines renders a message of one or more lines: each line (separated by
// "\n") as [Text] renders it, joined by "\n" again. So every line of the
// result obeys the rules of [Text]: a carriage return is still shown as \r,
// and no line can start or carry a workflow command.
func Lines(s string) string {
	if !strings.Contains(s, "\n") {
		return Text(s)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Text(l)
	}
	return strings.Join(lines, "\n")
}

// Dangerous reports whether [Text] shows r as an escape wherever it is: a C0
// or C1 control, DEL, a format character (category Cf) or U+2028 or U+2029.
// utf8.RuneError stands for an invalid byte here only when it was decoded from
// one; the character U+FFFD itself is not dangerous.
func Dangerous(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r < 0xa0:
		return false
	case r == '\u2028', r == '\u2029':
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// safe reports whether Text(s) is s: valid UTF-8 without dangerous characters,
// no "::" at the start after white space and no command marker.
func safe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			return safeSlow(s)
		}
	}
	return !commandStart(s) && !hasMarker(s)
}

func safeSlow(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if Dangerous(r) {
			return false
		}
	}
	return !commandStart(s) && !hasMarker(s)
}

// hasMarker reports whether s holds a command marker: "##", ASCII letters
// (none or more) and '['.
func hasMarker(s string) bool {
	for i := strings.Index(s, "##"); i >= 0; {
		if markerAt(s, i) {
			return true
		}
		j := strings.Index(s[i+1:], "##")
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// markerAt reports whether a command marker starts at s[i].
func markerAt(s string, i int) bool {
	if !strings.HasPrefix(s[i:], "##") {
		return false
	}
	for j := i + 2; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '[':
			return true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		default:
			return false
		}
	}
	return false
}

// commandStart reports whether s starts with "::" after white space, and
// returns where the first colon is.
func commandStart(s string) bool {
	_, ok := commandColon(s)
	return ok
}

func commandColon(s string) (int, bool) {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isSpace(r) {
			break
		}
		i += n
	}
	return i, strings.HasPrefix(s[i:], "::")
}

// isSpace reports white space as a runner trims it before it looks for "::":
// Unicode white space and the space separators (category Zs).
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r)
}

// render writes the rendering of s to b; with limit >= 0 it stops before the
// rendering would pass limit characters and reports that it did.
func render(b *strings.Builder, s string, limit int) (cut bool) {
	colon, start := commandColon(s)
	if !start {
		colon = -1
	}
	n := 0 // characters written
	var buf [16]byte
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var chunk string
		var chars int
		switch {
		case r == utf8.RuneError && size == 1:
			chunk = fmt.Sprintf(`\x%02x`, s[i])
		case i == colon:
			chunk = `\x3a`
		case r == '#' && markerAt(s, i):
			chunk = `\x23`
		case Dangerous(r):
			chunk = escape(r)
		default:
			chunk = string(utf8.AppendRune(buf[:0], r))
			chars = 1
		}
		if chars == 0 {
			chars = len(chunk) // escapes are ASCII
		}
		if limit >= 0 && n+chars > limit {
			return true
		}
		b.WriteString(chunk)
		n += chars
		i += size
	}
	return false
}

// escape is the escape of a dangerous rune.
func escape(r rune) string {
	switch r {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\t':
		return `\t`
	case '\n':
		return `\n`
	case '\v':
		return `\v`
	case '\f':
		return `\f`
	case '\r':
		return `\r`
	}
	switch {
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf(`\x%02x`, r)
	case r <= 0xffff:
		return fmt.Sprintf(`\u%04x`, r)
	default:
		return fmt.Sprintf(`\U%08x`, r)
	}
}
