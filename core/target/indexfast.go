//go:build !wasip1

package target

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// decodeIndexFast decodes the JSON of an image index in the shape registries
// and trees write it, in one pass with no reflection: the fields of
// ocispec.Index and of the descriptors a referrers list holds (mediaType,
// digest, size, annotations, artifactType), with exactly those key spellings,
// each at most once, strings without escapes, integers without fraction or
// exponent. On anything else it reports false and DecodeIndex hands the
// document to encoding/json, so what it accepts decodes to what
// json.Unmarshal gives (FuzzDecodeIndexFast compares the two). encoding/json
// takes about six times as long for a list of 2,000 referrers and allocates
// four times as much, a third of a whole `referrers list` run.
//
// Not in the WASI module (indexfast_wasip1.go): its 30 KB do not fit the
// module's size budget.
func decodeIndexFast(b []byte) (ocispec.Index, bool) {
	p := fastParser{b: b, intern: map[string]string{}}
	var idx ocispec.Index
	var seen fields
	if !p.object(func(key []byte) bool {
		if !seen.first(key) {
			return false
		}
		switch string(key) {
		case "schemaVersion":
			n, ok := p.integer()
			idx.SchemaVersion = int(n)
			return ok && int64(int(n)) == n
		case "mediaType":
			return p.str(&idx.MediaType)
		case "artifactType":
			return p.str(&idx.ArtifactType)
		case "manifests":
			// room for one descriptor per "digest" key, a count that is
			// right for a referrers list (and only a hint otherwise)
			idx.Manifests = make([]ocispec.Descriptor, 0, min(bytes.Count(p.b[p.i:], []byte(`"digest"`)), len(p.b)/32))
			return p.array(func() bool {
				idx.Manifests = append(idx.Manifests, ocispec.Descriptor{})
				return p.descriptor(&idx.Manifests[len(idx.Manifests)-1])
			})
		case "subject":
			idx.Subject = &ocispec.Descriptor{}
			return p.descriptor(idx.Subject)
		case "annotations":
			return p.annotations(&idx.Annotations)
		}
		return false
	}) {
		return ocispec.Index{}, false
	}
	p.space()
	return idx, p.i == len(p.b)
}

type fastParser struct {
	b      []byte
	i      int
	intern map[string]string // media types, artifact types and keys repeat
}

func (p *fastParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and consumes c.
func (p *fastParser) next(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object parses {"key": value, ...}, calling field for each key with the
// parser before the value. The callers refuse a repeated key (encoding/json
// keeps the last value; the fallback decides those).
func (p *fastParser) object(field func(key []byte) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	for {
		key, ok := p.raw()
		if !ok || !p.next(':') {
			return false
		}
		if !field(key) {
			return false
		}
		if p.next('}') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// array parses [value, ...], calling elem for each value.
func (p *fastParser) array(elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	if p.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if p.next(']') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// raw parses a string without escapes or control characters and returns its
// bytes in place; invalid UTF-8 (which encoding/json would replace) is refused.
func (p *fastParser) raw() ([]byte, bool) {
	if !p.next('"') {
		return nil, false
	}
	start, ascii := p.i, true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (p *fastParser) str(dst *string) bool {
	s, ok := p.raw()
	*dst = p.keep(s)
	return ok
}

// keep returns s as a string, one copy per distinct value.
func (p *fastParser) keep(s []byte) string {
	if v, ok := p.intern[string(s)]; ok {
		return v
	}
	v := string(s)
	if len(p.intern) < 64 {
		p.intern[v] = v
	}
	return v
}

// integer parses an integer literal: JSON's grammar, no fraction or exponent.
func (p *fastParser) integer() (int64, bool) {
	p.space()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || p.b[digits] == '0' && p.i-digits > 1 {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return n, err == nil
}

func (p *fastParser) annotations(dst *map[string]string) bool {
	m := map[string]string{}
	*dst = m
	return p.object(func(key []byte) bool {
		if _, dup := m[string(key)]; dup {
			return false
		}
		v, ok := p.raw()
		m[p.keep(key)] = string(v)
		return ok
	})
}

func (p *fastParser) descriptor(d *ocispec.Descriptor) bool {
	var seen fields
	return p.object(func(key []byte) bool {
		if !seen.first(key) {
			return false
		}
		switch string(key) {
		case "mediaType":
			return p.str(&d.MediaType)
		case "digest":
			s, ok := p.raw()
			d.Digest = digest.Digest(s)
			return ok
		case "size":
			n, ok := p.integer()
			d.Size = n
			return ok
		case "annotations":
			return p.annotations(&d.Annotations)
		case "artifactType":
			return p.str(&d.ArtifactType)
		}
		return false
	})
}

// fields records which of an object's known keys were met.
type fields uint8

// first reports whether key is met for the first time; unknown keys are
// refused by the callers' switch, so their bit does not matter.
func (f *fields) first(key []byte) bool {
	var bit fields
	switch string(key) {
	case "schemaVersion", "digest":
		bit = 1
	case "mediaType":
		bit = 2
	case "artifactType":
		bit = 4
	case "manifests", "size":
		bit = 8
	case "subject":
		bit = 16
	case "annotations":
		bit = 32
	}
	if *f&bit != 0 {
		return false
	}
	*f |= bit
	return true
}

// mediaTypeFast is MediaTypeOf's one pass: the top-level "mediaType" of a
// JSON object whose keys and strings have no escapes and whose numbers are
// integers, every value checked as encoding/json would check it and none
// decoded but that one. On anything else (a repeated mediaType, a key that
// matches it only without case, which encoding/json also takes) it reports
// false and MediaTypeOf asks encoding/json (FuzzMediaTypeOf compares the two).
func mediaTypeFast(b []byte) (string, bool) {
	p := fastParser{b: b}
	var mt []byte
	seen := false
	if !p.object(func(key []byte) bool {
		if string(key) == "mediaType" && !seen {
			seen = true
			s, ok := p.raw()
			mt = s
			return ok
		}
		if len(key) == len("mediaType") && bytes.EqualFold(key, []byte("mediaType")) {
			return false
		}
		return p.skip(0)
	}) {
		return "", false
	}
	p.space()
	return string(mt), p.i == len(p.b)
}

// skip checks one value and moves past it; deep nesting goes to the fallback.
func (p *fastParser) skip(depth int) bool {
	p.space()
	if p.i >= len(p.b) || depth > 32 {
		return false
	}
	switch p.b[p.i] {
	case '"':
		_, ok := p.raw()
		return ok
	case '{':
		return p.object(func([]byte) bool { return p.skip(depth + 1) })
	case '[':
		return p.array(func() bool { return p.skip(depth + 1) })
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	}
	_, ok := p.integer()
	return ok
}

func (p *fastParser) literal(s string) bool {
	if !bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		return false
	}
	p.i += len(s)
	return true
}
