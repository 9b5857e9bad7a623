// Package ref parses registry references:
//
//	[docker://]HOST[:PORT]/REPO[:TAG][@DIGEST]
//
// with Docker Hub's short forms ("alpine" is "docker.io/library/alpine:latest"
// when neither tag nor digest is given). Repository names follow the grammar of
// distribution-spec v1.1.1, "Pulling manifests" (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
// components separated by `/`), tags follow `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, and
// digests are validated by go-digest (sha256 and sha512).
package ref

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid reference")

// DockerHub is the canonical host name of Docker Hub in references.
const DockerHub = "docker.io"

// DockerHubEndpoint is where Docker Hub's registry API is served.
const DockerHubEndpoint = "registry-1.docker.io"

const (
	maxNameLength = 255
	maxTagLength  = 128
	maxInput      = 4096
)

// Reference names a repository in a registry and, optionally, a tag and/or digest.
type Reference struct {
	// Registry is "host[:port]"; Docker Hub is DockerHub.
	Registry string
	// Repository is the repository path, e.g. "library/alpine".
	Repository string
	// Tag is empty when none was given.
	Tag string
	// Digest is empty when none was given.
	Digest digest.Digest
}

// Parse parses s. A reference with neither tag nor digest gets no default tag; callers
// that need one use WithDefaultTag.
func Parse(s string) (Reference, error) {
	if len(s) > maxInput {
		return Reference{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, maxInput)
	}
	orig := s
	s = strings.TrimPrefix(s, "docker://")
	if s == "" {
		return Reference{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return Reference{}, fmt.Errorf("%w %q: contains white space", ErrInvalid, orig)
	}
	var r Reference
	if i := strings.IndexByte(s, '@'); i >= 0 {
		d, err := ParseDigest(s[i+1:])
		if err != nil {
			return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalid, orig, err)
		}
		r.Digest = d
		s = s[:i]
	}
	// The tag is after the last ':' that follows the last '/'.
	lastSlash := strings.LastIndexByte(s, '/')
	if i := strings.LastIndexByte(s, ':'); i > lastSlash {
		r.Tag = s[i+1:]
		s = s[:i]
		if !ValidTag(r.Tag) {
			return Reference{}, fmt.Errorf("%w %q: tag %q does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", ErrInvalid, orig, r.Tag)
		}
	}
	host, repo := splitHost(s)
	if host == "" {
		return Reference{}, fmt.Errorf("%w %q: empty registry host", ErrInvalid, orig)
	}
	if err := validHost(host); err != nil {
		return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalid, orig, err)
	}
	if host == DockerHub || host == "index.docker.io" || host == DockerHubEndpoint {
		host = DockerHub
		if !strings.Contains(repo, "/") && repo != "" {
			repo = "library/" + repo
		}
	}
	if err := ValidRepository(repo); err != nil {
		return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalid, orig, err)
	}
	r.Registry, r.Repository = host, repo
	return r, nil
}

// splitHost decides, as docker does, whether the first path component is a host:
// it is when it contains '.' or ':' or is "localhost" (or has an upper-case letter,
// which no repository may have).
func splitHost(s string) (host, repo string) {
	i := strings.IndexByte(s, '/')
	if i < 0 {
		return DockerHub, s
	}
	first := s[:i]
	if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
		return first, s[i+1:]
	}
	return DockerHub, s
}

func validHost(h string) error {
	name, port := h, ""
	if strings.HasPrefix(h, "[") { // IPv6 literal
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return fmt.Errorf("bad IPv6 host %q", h)
		}
		name, port = h[1:end], strings.TrimPrefix(h[end+1:], ":")
		if name == "" {
			return fmt.Errorf("bad IPv6 host %q", h)
		}
		for _, c := range name {
			if !(isHex(c) || c == ':' || c == '.') {
				return fmt.Errorf("bad IPv6 host %q", h)
			}
		}
	} else {
		if i := strings.IndexByte(h, ':'); i >= 0 {
			name, port = h[:i], h[i+1:]
			if port == "" {
				return fmt.Errorf("empty port in host %q", h)
			}
		}
		for _, label := range strings.Split(name, ".") {
			if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
				return fmt.Errorf("bad host %q", h)
			}
			for _, c := range label {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
					return fmt.Errorf("bad host %q", h)
				}
			}
		}
	}
	if port != "" {
		if len(port) > 5 {
			return fmt.Errorf("bad port in host %q", h)
		}
		for _, c := range port {
			if c < '0' || c > '9' {
				return fmt.Errorf("bad port in host %q", h)
			}
		}
	}
	return nil
}

func isHex(c rune) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// ValidRepository checks a repository name against distribution-spec v1.1.1:
// components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` separated by '/', at most 255 bytes.
func ValidRepository(repo string) error {
	if repo == "" {
		return errors.New("empty repository")
	}
	if len(repo) > maxNameLength {
		return fmt.Errorf("repository longer than %d bytes", maxNameLength)
	}
	for _, comp := range strings.Split(repo, "/") {
		if !validComponent(comp) {
			return fmt.Errorf("repository component %q does not match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*", comp)
		}
	}
	return nil
}

func validComponent(c string) bool {
	if c == "" {
		return false
	}
	i := 0
	alnum := func() bool {
		start := i
		for i < len(c) && (c[i] >= 'a' && c[i] <= 'z' || c[i] >= '0' && c[i] <= '9') {
			i++
		}
		return i > start
	}
	if !alnum() {
		return false
	}
	for i < len(c) {
		switch {
		case c[i] == '.':
			i++
		case c[i] == '_':
			i++
			if i < len(c) && c[i] == '_' {
				i++
			}
		case c[i] == '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return false
		}
		if !alnum() {
			return false
		}
	}
	return true
}

// ValidTag reports whether t matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
// (distribution-spec v1.1.1, "Pulling manifests").
func ValidTag(t string) bool {
	if t == "" || len(t) > maxTagLength {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		if i > 0 {
			ok = ok || c == '.' || c == '-'
		}
		if !ok {
			return false
		}
	}
	return true
}

// ParseDigest parses and validates a digest. Only algorithms go-digest has
// available (sha256, sha512 and any registered with it) are accepted.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("digest %q: %w", truncate(s, 80), err)
	}
	return d, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// String renders the reference in its canonical, fully qualified form.
func (r Reference) String() string {
	var b strings.Builder
	b.WriteString(r.Registry)
	b.WriteByte('/')
	b.WriteString(r.Repository)
	if r.Tag != "" {
		b.WriteByte(':')
		b.WriteString(r.Tag)
	}
	if r.Digest != "" {
		b.WriteByte('@')
		b.WriteString(r.Digest.String())
	}
	return b.String()
}

// Name is "REGISTRY/REPOSITORY".
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// Ref is what goes in a manifests URL: the digest when set, else the tag.
func (r Reference) Ref() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// WithDigest returns the reference pinned to d (the tag is dropped).
func (r Reference) WithDigest(d digest.Digest) Reference {
	r.Tag, r.Digest = "", d
	return r
}

// WithDefaultTag returns r with tag "latest" when it has neither tag nor digest.
func (r Reference) WithDefaultTag() Reference {
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r
}

// Endpoint is the host that serves the registry API for r.Registry.
func (r Reference) Endpoint() string {
	if r.Registry == DockerHub {
		return DockerHubEndpoint
	}
	return r.Registry
}
