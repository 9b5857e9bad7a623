package static

import (
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// TestValidTag: the tags that would name one of the tree's own files (a
// .mediatype sidecar, in any case; a dot file: temporary files, the marker,
// the lock) are refused with the grammar's invalid tags; the rest pass.
func TestValidTag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tag  string
		want bool
	}{
		{"v1", true},
		{"latest", true},
		{"x.mediatype.v2", true},
		{"mediatype", true},
		{"x.mediatypes", true},
		{"_x", true},
		{"x.mediatype", false},
		{"x.MediaType", false},
		{"sha256-abc.mediatype", false},
		{".mediatype", false},
		{".tmp-v1-1234", false},
		{".complete", false},
		{".referrers.lock", false},
		{"", false},
		{"-v1", false},
		{"a/b", false},
	} {
		if got := ValidTag(c.tag); got != c.want {
			t.Errorf("ValidTag(%q) = %v, want %v", c.tag, got, c.want)
		}
	}
}

// TestSidecarTagRefused: a push under a sidecar's name stores nothing (the
// error is ref.ErrInvalid), a read of one finds nothing even where the
// sidecar exists, the tags list is not changed, and a delete of one removes
// nothing.
func TestSidecarTagRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.open(t)
	ctx := context.Background()
	before := treetest.Hash(t, f.Dir)
	data := treetest.MustJSON(t, ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.DescriptorEmptyJSON})
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if _, err := tr.PushManifest(ctx, desc, data, target.PushOptions{Tag: "v1.mediatype"}); !errors.Is(err, ref.ErrInvalid) {
		t.Fatalf("push of tag v1.mediatype: %v, want ref.ErrInvalid", err)
	}
	treetest.Same(t, "after a refused push", before, treetest.Hash(t, f.Dir))
	// v1.mediatype exists on disk: the sidecar of tag v1
	if _, err := tr.FetchTagged(ctx, "v1.mediatype"); !errors.Is(err, ref.ErrInvalid) {
		t.Errorf("fetch of v1.mediatype: %v", err)
	}
	if _, err := tr.Resolve(ctx, "v1.mediatype"); err == nil {
		t.Error("resolved v1.mediatype")
	}
	if err := tr.DeleteTag(ctx, "v1.mediatype"); !errors.Is(err, ref.ErrInvalid) {
		t.Errorf("delete of v1.mediatype: %v", err)
	}
	treetest.Same(t, "after a refused delete", before, treetest.Hash(t, f.Dir))
	tags, err := tr.Tags()
	if err != nil || len(tags) != 1 || tags[0] != "v1" {
		t.Errorf("tags %v, %v", tags, err)
	}
}
