package display

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// JSON makes an encoded JSON document safe to show in a terminal or a CI log
// without changing what it means: every dangerous character (see [Dangerous];
// encoding/json leaves DEL, the C1 controls and the format characters raw) and
// the '#' that starts a command marker ("##", letters, '[') are written as
// \uXXXX escapes (RFC 8259, section 7), so the document decodes to exactly the
// same values while its text holds no control, no bidi override and no marker.
// A line of an encoded document starts with '{', '[', '"', a digit, a letter or
// white space before one of them, never with "::".
//
// b must be valid JSON as encoding/json writes it (valid UTF-8: it replaces
// invalid bytes with U+FFFD); outside strings JSON holds only ASCII with no
// '#', so every rewrite falls inside a string. b is returned unchanged when
// there is nothing to rewrite.
func JSON(b []byte) []byte {
	if safeJSON(b) {
		return b
	}
	s := string(b)
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			// not from encoding/json; keep the byte visible and the text valid
			out = append(out, `\ufffd`...)
		case r == '\n' || r == '\t' || r == '\r':
			// white space between tokens: encoding/json escapes every
			// control inside a string
			out = append(out, byte(r))
		case Dangerous(r):
			out = appendU(out, r)
		case r == '#' && markerAt(s, i):
			out = append(out, `\u0023`...)
		default:
			out = append(out, s[i:i+n]...)
		}
		i += n
	}
	return out
}

// safeJSON reports whether b needs no rewrite. It reads b in place: a list of
// 2,000 referrers is written in 2,000 pieces, and a string copy of each was
// most of the garbage of the writing.
func safeJSON(b []byte) bool {
	for _, c := range b {
		if c == 0x7f || c >= utf8.RuneSelf || c < 0x20 && c != '\n' && c != '\t' && c != '\r' {
			return false
		}
	}
	return !bytes.Contains(b, []byte("##")) || !hasMarker(string(b))
}

// appendU writes r as a JSON \u escape, a UTF-16 surrogate pair above U+FFFF.
func appendU(out []byte, r rune) []byte {
	if r > 0xffff {
		r -= 0x10000
		return fmt.Appendf(out, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
	}
	return fmt.Appendf(out, `\u%04x`, r)
}

// NewJSONWriter returns a writer that passes each Write through [JSON]. Each
// Write must carry whole JSON text, as json.Encoder.Encode writes it (one
// Write per value), so no character or marker is split between two writes.
func NewJSONWriter(w io.Writer) io.Writer { return jsonWriter{w} }

type jsonWriter struct{ w io.Writer }

func (j jsonWriter) Write(p []byte) (int, error) {
	if _, err := j.w.Write(JSON(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
