package target

import (
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParseReferrer reads a manifest (desc describes it) as a possible referrer:
// it returns the descriptor a referrers index lists for it and its subject,
// nil when it has none. The entry's artifactType is the manifest's, else its
// config's mediaType for an image manifest, else absent (an index); all
// annotations are copied (distribution-spec v1.1.1 "Listing Referrers";
// image-spec v1.1.1, Image Manifest, subject; distribution-spec v1.1.1, Referrers Tag Schema).
func ParseReferrer(desc ocispec.Descriptor, manifest []byte) (entry ocispec.Descriptor, subject *ocispec.Descriptor, err error) {
	var m struct {
		MediaType    string              `json:"mediaType"`
		ArtifactType string              `json:"artifactType"`
		Config       ocispec.Descriptor  `json:"config"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Annotations  map[string]string   `json:"annotations"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: %w: %w", desc.Digest, ErrInvalidManifest, err)
	}
	e := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, ArtifactType: m.ArtifactType}
	if e.MediaType == "" {
		e.MediaType = m.MediaType
	}
	if e.ArtifactType == "" && e.MediaType != ocispec.MediaTypeImageIndex && e.MediaType != MediaTypeDockerManifestList {
		e.ArtifactType = m.Config.MediaType
	}
	if len(m.Annotations) > 0 {
		e.Annotations = m.Annotations
	}
	if m.Subject != nil {
		if err := m.Subject.Digest.Validate(); err != nil {
			return e, nil, fmt.Errorf("manifest %s: subject: %w: %w", desc.Digest, ErrInvalidManifest, err)
		}
	}
	return e, m.Subject, nil
}
