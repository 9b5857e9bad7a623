package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/layout"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/core/target"
)

// location is where a SUBJECT lives: a registry repository, an OCI image
// layout or a static tree.
type location struct {
	target target.Target
	// reference is the tag or digest to resolve.
	reference string
	// at renders the reference of digest d in this location.
	at func(d digest.Digest) string
	// close releases what the location holds (a directory).
	close func() error
}

// treeRef is a parsed oci: or static: reference.
type treeRef struct {
	kind      string // "oci" or "static"
	dir       string
	name      string // static only
	reference string // tag or digest; "latest" when none was given
	explicit  bool   // a tag or digest was given
}

// parseTreeRef parses oci:DIR[:TAG|@DIGEST] and static:DIR:NAME[:TAG|@DIGEST].
// ok is false for anything else (a registry reference). For oci:, the part
// after the last ':' is a tag only if it is a valid tag (so a DIR may contain
// ':' when a tag follows); a static DIR cannot contain ':'.
func parseTreeRef(s string) (treeRef, bool, error) {
	var r treeRef
	switch {
	case strings.HasPrefix(s, "oci:"):
		r.kind, s = "oci", strings.TrimPrefix(s, "oci:")
	case strings.HasPrefix(s, "static:"):
		r.kind, s = "static", strings.TrimPrefix(s, "static:")
	default:
		return r, false, nil
	}
	rest := s
	if r.kind == "static" {
		dir, name, ok := strings.Cut(s, ":")
		if !ok || dir == "" || name == "" {
			return r, true, fmt.Errorf("%q: want static:DIR:NAME[:TAG|@DIGEST]", "static:"+s)
		}
		r.dir, rest = dir, name
	}
	r.reference = "latest"
	if i := strings.LastIndex(rest, "@"); i >= 0 && digestLike(rest[i+1:]) {
		d, err := ref.ParseDigest(rest[i+1:])
		if err != nil {
			return r, true, err
		}
		rest, r.reference, r.explicit = rest[:i], d.String(), true
	} else if i := strings.LastIndex(rest, ":"); i >= 0 && ref.ValidTag(rest[i+1:]) && !strings.Contains(rest[i+1:], "/") {
		rest, r.reference, r.explicit = rest[:i], rest[i+1:], true
	} else if r.kind == "static" && i >= 0 {
		return r, true, fmt.Errorf("tag %q: %w", rest[i+1:], ref.ErrInvalid)
	}
	if r.kind == "static" {
		r.name = rest
		if err := ref.ValidRepository(r.name); err != nil {
			return r, true, fmt.Errorf("repository %q: %w", r.name, err)
		}
	} else {
		r.dir = rest
	}
	if r.dir == "" {
		return r, true, fmt.Errorf("%s: empty directory", r.kind)
	}
	return r, true, nil
}

// digestLike reports whether s starts like a digest ("alg:..."), so that a
// directory with '@' in its name (a Go module cache path) is not read as one.
func digestLike(s string) bool {
	alg, _, ok := strings.Cut(s, ":")
	return ok && digest.Algorithm(alg).Available()
}

// openTree opens an on-disk location.
func (c *common) openTree(e env, r treeRef) (*location, error) {
	switch r.kind {
	case "oci":
		style, _ := layout.ParseStyle(c.ociStyle) // checked by the command
		opts := []layout.Option{layout.WithScanBlobs(c.scanBlobs), layout.WithStyle(style)}
		if d := cacheDir(e); d != "" {
			opts = append(opts, layout.WithCacheDir(d))
		}
		l, err := layout.Open(r.dir, opts...)
		if err != nil {
			return nil, err
		}
		return &location{target: l, reference: r.reference, close: l.Close,
			at: func(d digest.Digest) string { return "oci:" + r.dir + "@" + d.String() }}, nil
	default:
		t, err := static.Open(r.dir, r.name)
		if err != nil {
			return nil, err
		}
		return &location{target: t, reference: r.reference, close: t.Close,
			at: func(d digest.Digest) string { return "static:" + r.dir + ":" + r.name + "@" + d.String() }}, nil
	}
}

// cacheDir is where layout scans are cached: $REFERRERS_CACHE_DIR ("off"
// disables it), else $XDG_CACHE_HOME/referrers, else $HOME/.cache/referrers.
func cacheDir(e env) string {
	switch v := e.getenv("REFERRERS_CACHE_DIR"); v {
	case "off":
		return ""
	case "":
	default:
		return v
	}
	if x := e.getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "referrers")
	}
	if h := e.getenv("HOME"); h != "" && filepath.IsAbs(h) {
		return filepath.Join(h, ".cache", "referrers")
	}
	return ""
}

// openLocation opens SUBJECT: a tree reference or a registry reference.
func (c *common) openLocation(ctx context.Context, e env, subject string) (*location, error) {
	if tr, ok, err := parseTreeRef(subject); ok {
		if err != nil {
			return nil, usageError{err}
		}
		if err := c.checkPlatform(); err != nil {
			return nil, err
		}
		return c.openTree(e, tr)
	}
	r, repo, err := c.open(ctx, e, subject)
	if err != nil {
		return nil, err
	}
	return &location{target: repo, reference: r.Ref(), close: func() error { return nil },
		at: func(d digest.Digest) string { return r.WithDigest(d).String() }}, nil
}
