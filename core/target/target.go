// Package target is the seam between the verbs (package referrers) and the places
// manifests live: a registry (package registry), an OCI image layout and a static
// registry tree. Each implements Target for one repository.
//
// The fallback's read-modify-write of the referrers tag schema index belongs to the
// verbs, not to the targets: a Target only offers the primitives (fetch by tag with
// an ETag, conditional push, delete), and the verbs decide to merge, verify and retry.
package target

import (
	"context"
	"io"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxManifestBytes caps every manifest and index read or written
// (distribution-spec v1.1.1, "Pushing Manifests": registries SHOULD accept at least
// 4 megabytes; distribution-spec v1.1.1, Pushing Manifests).
const MaxManifestBytes = 4 << 20

// Remote is a Target whose operations are network round trips (the registry
// client). The verbs overlap independent requests to it; a store of local
// files gets them one after the other, so that a file it refuses (a blob
// linked out of the tree) stops the verb before anything else is written.
type Remote interface {
	Remote() bool
}

// Target is one repository of a store.
type Target interface {
	// Name identifies the repository for caches, locks and messages ("host/repo").
	Name() string

	// Resolve turns a tag or a digest into the manifest's exact descriptor
	// (mediaType, digest, size).
	Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error)

	// FetchManifest returns the bytes of the manifest desc names, verified against
	// desc.Digest and capped at MaxManifestBytes.
	FetchManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error)

	// FetchTagged reads the manifest a tag points to, with the validator a
	// conditional update needs. A missing tag is ErrNotFound.
	FetchTagged(ctx context.Context, tag string) (Tagged, error)

	// PushBlob stores the blob desc describes, reading it from r, unless the store
	// already has it. Implementations verify the digest and size.
	PushBlob(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error

	// PushManifest stores data (desc describes it) under its digest, and under
	// opts.Tag when set.
	PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, opts PushOptions) (PushResult, error)

	// DeleteManifest removes a manifest by digest. ErrUnsupported when the store
	// refuses deletes.
	DeleteManifest(ctx context.Context, d digest.Digest) error

	// Referrers lists the referrers of subject through the store's own mechanism
	// (the Referrers API of a registry, a scan or index of a tree). artifactType,
	// when not empty, is passed as a filter the store MAY apply; the result says
	// whether it did. A store without such a mechanism returns ErrUnsupported, and
	// only then do the verbs read the referrers tag schema.
	Referrers(ctx context.Context, subject digest.Digest, artifactType string) (ReferrersResult, error)
}

// Tagged is a manifest read through a tag.
type Tagged struct {
	Descriptor ocispec.Descriptor
	Data       []byte
	// ETag is the validator to send in If-Match, empty when the store gave none.
	ETag string
}

// PushOptions qualify a manifest push.
type PushOptions struct {
	// Tag, when set, is pushed instead of the digest as the reference.
	Tag string
	// IfMatch makes the push conditional on the tag's current ETag.
	IfMatch string
	// IfNoneMatch makes the push conditional on the tag not existing yet.
	IfNoneMatch bool
	// NotAfter, when set, is the time after which the push must not be
	// (re)sent: data is a read-modify-write whose read is stale by then. A
	// store that would retry a failed push later returns ErrStale instead.
	NotAfter time.Time
}

// PushResult reports what the store did with a pushed manifest.
type PushResult struct {
	// SubjectRecorded is true when the store said it indexed the manifest's
	// subject itself (a registry's OCI-Subject header equal to the subject's
	// digest; distribution-spec v1.1.1, "Pushing Manifests with Subject").
	SubjectRecorded bool
	// Indexed is true when the store records referrers itself, so that its
	// Referrers lists the manifest without further confirmation (a tree's
	// index.json entry or pre-rendered referrers index).
	Indexed bool
}

// ReferrersResult is what a store's own referrers mechanism returned.
type ReferrersResult struct {
	// Manifests are the referrer descriptors, possibly unfiltered.
	Manifests []ocispec.Descriptor
	// FilterApplied is true when the store applied the artifactType filter
	// (OCI-Filters-Applied lists artifactType, or the legacy annotation says so;
	// distribution-spec v1.1.1, Listing Referrers; the filtersApplied annotation of distribution-spec v1.1.0-rc1).
	FilterApplied bool
	// Source says how they were found.
	Source Source
}

// Source is how a store found referrers.
type Source string

// The sources of a ReferrersResult.
const (
	// SourceAPI is a registry's Referrers API.
	SourceAPI Source = "api"
	// SourceScan is a scan of the stored manifests' subject fields.
	SourceScan Source = "scan"
	// SourceIndex is an index a tree keeps (a pre-rendered referrers file).
	SourceIndex Source = "index"
)

// NewIndex returns the referrers index listing entries (sorted by digest, as
// the verbs render every index), as a registry's Referrers API answers it.
func NewIndex(entries []ocispec.Descriptor) ocispec.Index {
	ms := append([]ocispec.Descriptor{}, entries...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Digest < ms[j].Digest })
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: ms}
	idx.SchemaVersion = 2
	return idx
}
