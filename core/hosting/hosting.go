// Package hosting describes the response headers a plain web server needs to
// serve a registry-v2 static tree (package static) as a registry: the
// Content-Type of each manifest, of each pre-rendered referrers index and of
// each blob, and the Docker-Content-Digest of manifests and blobs
// (distribution-spec v1.1.1, "Pulling manifests", "Pulling blobs", "Listing
// Referrers"). A file server knows neither: it guesses the Content-Type from
// the file name's extension, which these files lack.
//
// Headers lists them for one repository of a tree; Render writes them in the
// form a server reads: a Caddyfile snippet, an nginx include or a `_headers`
// file. The configuration describes the tree when it was made: rebuild it
// after every change to the tree (a moved tag changes its digest, a new
// manifest needs its own entry).
//
// The tree is outside data: a name or media type that could change the
// meaning of the configuration (quotes, braces, spaces, line breaks, a '#')
// is refused with ErrUnsafe before anything is written. Tags and digests are
// held to their grammars (static.ValidTag, go-digest), media types to the
// grammar of RFC 6838, section 4.2, without parameters.
//
// Decisions: a referrers index gets no Docker-Content-Digest. The spec does
// not ask for one, and every attach rewrites the index, so a configuration
// made before it would send a wrong digest, while no digest breaks nothing.
// Its Content-Type is always the image index's, whether or not the file has a
// .mediatype sidecar. Blobs are application/octet-stream.
package hosting

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/core/target"
)

// ErrUnsafe is a name or value of the tree that a server configuration
// cannot carry as it is (see the package documentation).
var ErrUnsafe = errors.New("unsafe for a server configuration")

// Kind is what a path serves.
type Kind string

// The kinds of path.
const (
	Manifest  Kind = "manifests"
	Referrers Kind = "referrers"
	Blob      Kind = "blobs"
)

// Entry is the response headers of one URL path.
type Entry struct {
	// Path is the URL path: /v2/<name>/<kind>/<reference>, which is also
	// the file's path under the tree's root.
	Path string
	Kind Kind
	// ContentType is the Content-Type.
	ContentType string
	// Digest is the Docker-Content-Digest; empty for none.
	Digest digest.Digest
}

// Headers lists the entries of repository name of the tree in fsys (the
// tree's root; dir names it in messages), sorted by path: every manifest file
// (by tag and by digest; sidecars and dot files skipped), every referrers
// file and every blob. A manifest's Content-Type is its sidecar's, else its
// mediaType field; a tag's digest is the one the tree stores its manifest
// under (static.Tree.Resolve). Manifests stored by digest are verified. A
// file named by neither a tag nor a digest, or a media type outside the
// grammar, is ErrUnsafe.
func Headers(ctx context.Context, fsys fs.FS, dir, name string) ([]Entry, error) {
	t, err := static.New(fsys, nil, dir, name)
	if err != nil {
		return nil, err
	}
	base := "v2/" + name
	var out []Entry
	names, err := files(fsys, base+"/manifests")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	for _, n := range names {
		if _, err := digest.Parse(n); err != nil && !static.ValidTag(n) {
			return nil, fmt.Errorf("%s: manifests/%q is named by neither a tag nor a digest: %w", t.Name(), n, ErrUnsafe)
		}
		desc, err := t.Resolve(ctx, n)
		if err != nil {
			return nil, err
		}
		if err := ValidMediaType(desc.MediaType); err != nil {
			return nil, fmt.Errorf("%s: manifest %s: %w", t.Name(), n, err)
		}
		out = append(out, Entry{Path: "/" + base + "/manifests/" + n, Kind: Manifest, ContentType: desc.MediaType, Digest: desc.Digest})
	}
	for _, k := range []Kind{Referrers, Blob} {
		names, err := files(fsys, base+"/"+string(k))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name(), err)
		}
		for _, n := range names {
			d, err := digest.Parse(n)
			if err != nil {
				return nil, fmt.Errorf("%s: %s/%q is not named by a digest: %w", t.Name(), k, n, ErrUnsafe)
			}
			e := Entry{Path: "/" + base + "/" + string(k) + "/" + n, Kind: k, ContentType: ocispec.MediaTypeImageIndex}
			if k == Blob {
				e.ContentType, e.Digest = "application/octet-stream", d
			}
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// files lists the files of a directory of the tree that a server serves as
// the tree's: not dot files (the marker, the lock, temporary files) nor
// sidecars. A directory that does not exist has none.
func files(fsys fs.FS, dir string) ([]string, error) {
	ents, err := tree.ReadDir(fsys, dir)
	if errors.Is(err, target.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		const sidecar = ".mediatype"
		if strings.HasPrefix(n, ".") || len(n) >= len(sidecar) && strings.EqualFold(n[len(n)-len(sidecar):], sidecar) {
			continue
		}
		if e.IsDir() {
			return nil, fmt.Errorf("%s/%q is a directory: %w", dir, n, ErrUnsafe)
		}
		out = append(out, n)
	}
	return out, nil
}

// ValidMediaType checks mt against the grammar of a media type without
// parameters (RFC 6838, section 4.2): type "/" subtype, each a
// restricted-name of 1 to 127 characters, the first a letter or a digit,
// the others letters, digits or ! # $ & - ^ _ . +. Other values are
// ErrUnsafe.
func ValidMediaType(mt string) error {
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !restrictedName(typ) || !restrictedName(sub) {
		return fmt.Errorf("media type %q is not type/subtype (RFC 6838, section 4.2): %w", clip(mt), ErrUnsafe)
	}
	return nil
}

func restrictedName(s string) bool {
	if len(s) == 0 || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && strings.IndexByte("!#$&-^_.+", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// clip shortens a hostile value for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
