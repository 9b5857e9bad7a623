package tree

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// Scanner finds referrers by reading stored manifests and grouping them by
// their subject field (image-spec v1.1.1, Image Manifest, subject), as
// `referrers index-for` does. Each manifest is read once, capped at target.MaxManifestBytes and
// verified against its digest.
type Scanner struct {
	// FS is the tree.
	FS fs.FS
	// Path returns where the manifest with digest d is stored in FS.
	Path func(d digest.Digest) (string, error)
	// Follow descends into image indexes: their children are scanned too.
	Follow bool
	// Workers bounds the parallel reads (default 4 × GOMAXPROCS).
	Workers int
}

// Found maps a subject digest to its referrers' index entries, sorted by
// digest and each listed once.
type Found map[digest.Digest][]ocispec.Descriptor

// Stats counts what a scan read.
type Stats struct {
	Files int
	Bytes int64
}

// Scan reads the manifests roots describe (and, with Follow, those their
// indexes reach) and returns the referrers found. With only set, the result
// holds only only's referrers (every manifest is still read). An unreadable,
// oversized, corrupt or mismatching manifest is an error that names it: a
// scan never answers "no referrers" for a tree it could not read.
func (s *Scanner) Scan(ctx context.Context, roots []ocispec.Descriptor, only digest.Digest) (Found, Stats, error) {
	workers := s.Workers
	if workers <= 0 {
		workers = 4 * runtime.GOMAXPROCS(0)
	}
	found := Found{}
	var st Stats
	visited := map[digest.Digest]bool{}
	level := make([]ocispec.Descriptor, 0, len(roots))
	for _, d := range roots {
		if !visited[d.Digest] {
			visited[d.Digest] = true
			level = append(level, d)
		}
	}
	for len(level) > 0 {
		results := make([]scanned, len(level))
		var wg sync.WaitGroup
		sem := make(chan struct{}, workers)
		for i := range level {
			if err := ctx.Err(); err != nil {
				wg.Wait()
				return nil, st, err
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				results[i] = s.read(level[i])
			}(i)
		}
		wg.Wait()
		var next []ocispec.Descriptor
		for _, r := range results {
			if r.err != nil {
				return nil, st, r.err
			}
			st.Files++
			st.Bytes += r.size
			if r.subject != "" && (only == "" || r.subject == only) {
				found[r.subject] = append(found[r.subject], r.entry)
			}
			for _, c := range r.children {
				if !visited[c.Digest] {
					visited[c.Digest] = true
					next = append(next, c)
				}
			}
		}
		level = next
	}
	for k, v := range found {
		sort.Slice(v, func(i, j int) bool { return v[i].Digest < v[j].Digest })
		found[k] = v
	}
	return found, st, nil
}

type scanned struct {
	size     int64
	subject  digest.Digest
	entry    ocispec.Descriptor
	children []ocispec.Descriptor
	err      error
}

var subjectKey, escape = []byte(`"subject"`), []byte(`\u`)

func (s *Scanner) read(d ocispec.Descriptor) scanned {
	if err := d.Digest.Validate(); err != nil {
		return scanned{err: fmt.Errorf("manifest digest %q: %w: %w", d.Digest, target.ErrInvalidManifest, err)}
	}
	p, err := s.Path(d.Digest)
	if err != nil {
		return scanned{err: err}
	}
	b, err := ReadVerified(s.FS, p, d.Digest, target.MaxManifestBytes)
	if err != nil {
		return scanned{err: fmt.Errorf("scan manifest %s: %w", d.Digest, err)}
	}
	r := scanned{size: int64(len(b))}
	desc := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: int64(len(b))}
	if s.Follow && isIndex(d.MediaType, b) {
		var idx struct {
			Manifests []ocispec.Descriptor `json:"manifests"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return scanned{err: fmt.Errorf("scan index %s: %w: %w", d.Digest, target.ErrInvalidManifest, err)}
		}
		for i, c := range idx.Manifests {
			if isManifestType(c.MediaType) {
				if err := c.Digest.Validate(); err != nil {
					return scanned{err: fmt.Errorf("scan index %s: child %d: digest %q: %w: %w", d.Digest, i, c.Digest, target.ErrInvalidManifest, err)}
				}
				r.children = append(r.children, ocispec.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size})
			}
		}
	}
	if !bytes.Contains(b, subjectKey) && !bytes.Contains(b, escape) {
		// Cheap skip: most manifests of a tree are images without a subject.
		// A key spelled with escapes ("\u0073ubject") is still decoded.
		return r
	}
	entry, subject, err := target.ParseReferrer(desc, b)
	if err != nil {
		return scanned{err: fmt.Errorf("scan: %w", err)}
	}
	if subject != nil {
		r.subject, r.entry = subject.Digest, entry
	}
	return r
}

func isIndex(mediaType string, b []byte) bool {
	switch mediaType {
	case ocispec.MediaTypeImageIndex, target.MediaTypeDockerManifestList:
		return true
	case "":
		var m struct {
			MediaType string `json:"mediaType"`
		}
		_ = json.Unmarshal(b, &m)
		return m.MediaType == ocispec.MediaTypeImageIndex || m.MediaType == target.MediaTypeDockerManifestList
	}
	return false
}

// isManifestType reports whether a child of an index is a manifest or index
// (and not, say, a layer an artifact index happens to list).
func isManifestType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		target.MediaTypeDockerManifest, target.MediaTypeDockerManifestList:
		return true
	}
	return false
}
