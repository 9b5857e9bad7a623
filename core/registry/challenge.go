package registry

import (
	"strings"
)

// Challenge is one parsed WWW-Authenticate challenge (RFC 7235 §4.1), e.g.
//
//	Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"
type Challenge struct {
	// Scheme is lower-cased: "basic" or "bearer" for the schemes we speak.
	Scheme string
	// Params has lower-cased keys.
	Params map[string]string
}

const maxChallengeHeader = 16 << 10

// ParseChallenges parses a WWW-Authenticate header value, which may hold several
// challenges separated by commas. Malformed parts are skipped; the result is never
// nil-with-garbage: a header that yields nothing usable returns an empty slice.
func ParseChallenges(h string) []Challenge {
	if len(h) > maxChallengeHeader {
		h = h[:maxChallengeHeader]
	}
	var out []Challenge
	p := &lexer{s: h}
	for {
		p.skip(" \t,")
		if p.done() {
			return out
		}
		scheme := p.token()
		if scheme == "" {
			// not a token: skip one character so we make progress
			p.i++
			continue
		}
		c := Challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
		// parameters: key=value or key="quoted", separated by commas; a bare
		// token not followed by '=' starts the next challenge.
		for {
			p.skip(" \t")
			save := p.i
			key := p.token()
			if key == "" {
				// token68 or junk: consume up to the next comma
				for !p.done() && p.peek() != ',' {
					p.i++
				}
			} else {
				p.skip(" \t")
				if p.done() || p.peek() != '=' {
					p.i = save // next challenge's scheme
					break
				}
				p.i++ // '='
				p.skip(" \t")
				var val string
				if !p.done() && p.peek() == '"' {
					val = p.quoted()
				} else {
					val = p.token()
				}
				c.Params[strings.ToLower(key)] = val
			}
			p.skip(" \t")
			if p.done() {
				break
			}
			if p.peek() == ',' {
				p.i++
				continue
			}
			break
		}
		out = append(out, c)
	}
}

type lexer struct {
	s string
	i int
}

func (p *lexer) done() bool { return p.i >= len(p.s) }
func (p *lexer) peek() byte { return p.s[p.i] }

func (p *lexer) skip(set string) {
	for !p.done() && strings.IndexByte(set, p.peek()) >= 0 {
		p.i++
	}
}

// token reads an RFC 7230 token (plus '/' which token68 values and some realms use).
func (p *lexer) token() string {
	start := p.i
	for !p.done() {
		c := p.peek()
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),:;<=>?@[\\]{}", c) >= 0 {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string starting at '"', handling backslash escapes. An
// unterminated string runs to the end.
func (p *lexer) quoted() string {
	p.i++ // opening quote
	var b strings.Builder
	for !p.done() {
		c := p.peek()
		p.i++
		switch c {
		case '\\':
			if !p.done() {
				b.WriteByte(p.peek())
				p.i++
			}
		case '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
