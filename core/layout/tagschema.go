package layout

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/target"
)

// Style is how a Layout records a referrer pushed into it.
type Style int

// The styles of WithStyle. Peers read a layout's referrers differently: oras
// (and our scan) finds an untagged index.json entry; regctl's ocidir:// reads
// only the referrers tag schema index stored under the tag <alg>-<hex>
// (distribution-spec v1.1.1, "Referrers Tag Schema"), which index.json
// names like any tag.
const (
	// StyleBoth records the referrer both ways, so that every peer lists
	// it (the default).
	StyleBoth Style = iota
	// StyleIndex records it as an untagged index.json entry only.
	StyleIndex
	// StyleTag records it in the referrers tag schema index only.
	StyleTag
)

// ParseStyle parses "both", "index" or "tag" ("" is both).
func ParseStyle(s string) (Style, error) {
	switch s {
	case "", "both":
		return StyleBoth, nil
	case "index":
		return StyleIndex, nil
	case "tag":
		return StyleTag, nil
	}
	return 0, fmt.Errorf(`layout referrers style %q: want "both", "index" or "tag"`, s)
}

// WithStyle sets how referrers pushed into the layout are recorded.
func WithStyle(s Style) Option { return func(l *Layout) { l.style = s } }

// tagSchema finds the referrers tag of subject in idx: the position of its
// entry (-1 when there is none) and the entries of the index it names. ok
// is false when the tag names something that is not a readable image index
// or is the subject itself: such a tag is left alone.
func (l *Layout) tagSchema(idx ocispec.Index, subject digest.Digest) (pos int, entries []ocispec.Descriptor, ok bool) {
	tag := target.FallbackTag(subject)
	for i, m := range idx.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] != tag {
			continue
		}
		if m.Digest == subject || m.MediaType != ocispec.MediaTypeImageIndex {
			return i, nil, false
		}
		p, err := BlobPath(m.Digest)
		if err != nil {
			return i, nil, false
		}
		b, err := tree.ReadVerified(l.fsys, p, m.Digest, target.MaxManifestBytes)
		if err != nil {
			return i, nil, false
		}
		ti, err := target.DecodeIndex(b)
		if err != nil {
			return i, nil, false
		}
		return i, ti.Manifests, true
	}
	return -1, nil, true
}

// setTagSchema stores entries as subject's referrers tag schema index
// (sorted by digest, as the verbs write it) and points the tag at it in idx,
// replacing the entry at pos; with no entries the tag is removed instead.
func (l *Layout) setTagSchema(idx *ocispec.Index, pos int, subject digest.Digest, entries []ocispec.Descriptor) error {
	if len(entries) == 0 {
		if pos >= 0 {
			idx.Manifests = append(idx.Manifests[:pos:pos], idx.Manifests[pos+1:]...)
		}
		return nil
	}
	b, err := json.Marshal(target.NewIndex(entries))
	if err != nil {
		return err
	}
	d := digest.FromBytes(b)
	p, _ := BlobPath(d)
	if err := tree.WriteBlob(l.root, p, d, int64(len(b)), bytesReader(b)); err != nil {
		return fmt.Errorf("%s: %w", l.Name(), err)
	}
	e := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: int64(len(b)),
		Annotations: map[string]string{ocispec.AnnotationRefName: target.FallbackTag(subject)}}
	if pos >= 0 {
		idx.Manifests[pos] = e
	} else {
		idx.Manifests = append(idx.Manifests, e)
	}
	return nil
}

// withTagEntry adds e to the referrers tag schema index of subject in idx
// (replacing an entry of the same digest that differs); it reports whether
// idx changed. A tag that is not a readable index is left alone.
func (l *Layout) withTagEntry(idx *ocispec.Index, subject digest.Digest, e ocispec.Descriptor) (bool, error) {
	pos, entries, ok := l.tagSchema(*idx, subject)
	if !ok {
		return false, nil
	}
	for _, d := range entries {
		if d.Digest == e.Digest && d.MediaType == e.MediaType && d.Size == e.Size {
			return false, nil
		}
	}
	return true, l.setTagSchema(idx, pos, subject, addEntry(entries, e))
}

// withoutTagEntry removes d from the referrers tag schema index of subject
// in idx; it reports whether idx changed.
func (l *Layout) withoutTagEntry(idx *ocispec.Index, subject, d digest.Digest) (bool, error) {
	pos, entries, ok := l.tagSchema(*idx, subject)
	if !ok || pos < 0 {
		return false, nil
	}
	kept := make([]ocispec.Descriptor, 0, len(entries))
	for _, e := range entries {
		if e.Digest != d {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(entries) {
		return false, nil
	}
	return true, l.setTagSchema(idx, pos, subject, kept)
}
