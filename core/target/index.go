package target

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types met in registries besides the OCI ones: Docker v2 schema 2, and the
// artifact manifest of image-spec v1.1.0-rc drafts that old registry data carries.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeArtifactManifest   = "application/vnd.oci.artifact.manifest.v1+json"
)

// DecodeIndex decodes and validates an image index as the Referrers API and the
// tag schema return it: schemaVersion 2, mediaType the OCI index type (when
// present), and descriptors with a valid digest, a media type and a
// non-negative size (distribution-spec v1.1.1, Listing Referrers). Unknown fields are ignored (image-spec v1.1.1, Guidelines for Artifact Usage).
func DecodeIndex(b []byte) (ocispec.Index, error) {
	idx, ok := decodeIndexFast(b)
	if !ok {
		idx = ocispec.Index{}
		if err := json.Unmarshal(b, &idx); err != nil {
			return ocispec.Index{}, fmt.Errorf("not an image index: %w: %w", err, ErrInvalidManifest)
		}
	}
	if idx.SchemaVersion != 2 {
		return ocispec.Index{}, fmt.Errorf("not an image index: schemaVersion %d: %w", idx.SchemaVersion, ErrInvalidManifest)
	}
	if idx.MediaType != "" && idx.MediaType != ocispec.MediaTypeImageIndex {
		return ocispec.Index{}, fmt.Errorf("not an image index: mediaType %q: %w", clip(idx.MediaType, 80), ErrInvalidManifest)
	}
	for i, d := range idx.Manifests {
		if err := validDigest(d.Digest); err != nil {
			return ocispec.Index{}, fmt.Errorf("entry %d: %w: %w", i, err, ErrInvalidManifest)
		}
		if d.MediaType == "" || d.Size < 0 {
			return ocispec.Index{}, fmt.Errorf("entry %d (%s): missing mediaType or negative size: %w", i, d.Digest, ErrInvalidManifest)
		}
	}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	return idx, nil
}

// validDigest is d.Validate with a fast path for the common case, a sha256
// digest of 64 lowercase hex digits (go-digest checks the encoded part with a
// regular expression: a few milliseconds for a list of 2,000 referrers).
func validDigest(d digest.Digest) error {
	if len(d) == 71 && d[:7] == "sha256:" {
		ok := true
		for i := 7; i < 71; i++ {
			if c := d[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return d.Validate()
}

func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// MediaTypeOf returns the mediaType a manifest's JSON declares at its top
// level, or "" when it declares none or is not JSON (image-spec v1.1.1,
// manifest.md and image-index.md: mediaType "SHOULD be used"), as
// json.Unmarshal into a struct with that one field would. A registry's
// Content-Type may disagree with the document; the document is what its
// digest covers. Documents in the usual shape are read in one pass without
// encoding/json (a 2,000-entry referrers index: 3-5 ms less per list).
func MediaTypeOf(b []byte) string {
	if mt, ok := mediaTypeFast(b); ok {
		return mt
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	return m.MediaType
}
