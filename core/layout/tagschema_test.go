package layout

import (
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// records returns how index.json records the subject's referrers: the
// untagged entries' digests and the digests the referrers tag's index
// lists (nil without the tag), each sorted.
func records(t *testing.T, f *fixture, subject digest.Digest) (untagged, tagged []string) {
	t.Helper()
	for _, m := range f.readIndex(t).Manifests {
		switch m.Annotations[ocispec.AnnotationRefName] {
		case "":
			if m.Digest != subject {
				untagged = append(untagged, m.Digest.String())
			}
		case target.FallbackTag(subject):
			p, _ := BlobPath(m.Digest)
			b, err := tree.ReadVerified(os.DirFS(f.Dir), p, m.Digest, target.MaxManifestBytes)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := target.DecodeIndex(b)
			if err != nil {
				t.Fatal(err)
			}
			tagged = []string{}
			for _, e := range idx.Manifests {
				if e.ArtifactType != treetest.TypeSBOM || e.Annotations["note"] == "" {
					t.Errorf("tag entry %+v lacks the artifactType or annotations", e)
				}
				tagged = append(tagged, e.Digest.String())
			}
		}
	}
	sort.Strings(untagged)
	sort.Strings(tagged)
	return untagged, tagged
}

// TestStyles proves how each style records a referrer pushed by an auto
// attach (the default records it both ways, so that oras, which reads
// untagged entries, and regctl, which reads only the referrers tag, both
// list it), that the verbs list it once either way, and that the Delete
// verb removes every record: the tag goes with its last entry.
func TestStyles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		style            Style
		untagged, tagged bool
	}{
		{"both (default)", StyleBoth, true, true},
		{"index", StyleIndex, true, false},
		{"tag", StyleTag, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			l := f.open(t, WithStyle(tc.style))
			a := treetest.Attach(t, l, f.Subject, "a", referrers.ModeAuto).Descriptor
			b := treetest.Attach(t, l, f.Subject, "b", referrers.ModeAuto).Descriptor
			treetest.Attach(t, l, f.Subject, "b", referrers.ModeAuto) // a rerun changes nothing
			both := []string{a.Digest.String(), b.Digest.String()}
			sort.Strings(both)
			want := func(on bool, ds []string) []string {
				if on {
					return ds
				}
				return nil
			}
			u, g := records(t, f, f.Subject.Digest)
			if strings.Join(u, ",") != strings.Join(want(tc.untagged, both), ",") || strings.Join(g, ",") != strings.Join(want(tc.tagged, both), ",") {
				t.Fatalf("untagged %v, tagged %v; want untagged %v, tagged %v", u, g, tc.untagged, tc.tagged)
			}
			treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeAuto), a.Digest, b.Digest)
			if tc.tagged {
				treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeTag), a.Digest, b.Digest)
			}

			c := referrers.New()
			res, err := c.Delete(context.Background(), l, a, referrers.DeleteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Deleted) != 1 || res.Deleted[0].Gone {
				t.Errorf("deleted %+v", res.Deleted)
			}
			u, g = records(t, f, f.Subject.Digest)
			rest := []string{b.Digest.String()}
			if strings.Join(u, ",") != strings.Join(want(tc.untagged, rest), ",") || strings.Join(g, ",") != strings.Join(want(tc.tagged, rest), ",") {
				t.Fatalf("after a delete: untagged %v, tagged %v", u, g)
			}
			treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeAuto), b.Digest)
			if _, err := c.Delete(context.Background(), l, b, referrers.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if u, g = records(t, f, f.Subject.Digest); len(u) != 0 || len(g) != 0 {
				t.Errorf("after deleting both: untagged %v, tag %v; want no records", u, g)
			}
			treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeAuto))
			if _, err := c.Delete(context.Background(), l, b, referrers.DeleteOptions{}); !errors.Is(err, target.ErrNotFound) {
				t.Errorf("deleting again: %v, want not found", err)
			}
		})
	}
}

// TestDeleteRecursiveLayout: a signature of an SBOM blocks the SBOM's delete
// unless it is recursive; then both go, every record with them, and with
// GCFallbackIndex the emptied referrers tags too.
func TestDeleteRecursiveLayout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.open(t)
	sbom := treetest.Attach(t, l, f.Subject, "sbom", referrers.ModeAuto).Descriptor
	sig := treetest.Attach(t, l, sbom, "sig", referrers.ModeAuto).Descriptor
	c := referrers.New()
	if _, err := c.Delete(context.Background(), l, sbom, referrers.DeleteOptions{}); !errors.Is(err, referrers.ErrHasReferrers) {
		t.Fatalf("delete without recursive: %v, want ErrHasReferrers", err)
	}
	if _, err := c.Delete(context.Background(), l, f.Subject, referrers.DeleteOptions{Recursive: true}); !errors.Is(err, referrers.ErrNotReferrer) {
		t.Fatalf("delete of the image: %v, want ErrNotReferrer", err)
	}
	res, err := c.Delete(context.Background(), l, sbom, referrers.DeleteOptions{Recursive: true, GCFallbackIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 2 || res.Deleted[0].Descriptor.Digest != sig.Digest || res.Deleted[1].Descriptor.Digest != sbom.Digest {
		t.Errorf("deleted %+v, want the signature then the SBOM", res.Deleted)
	}
	for _, m := range f.readIndex(t).Manifests {
		if m.Digest != f.Subject.Digest {
			t.Errorf("index.json still holds %s %v", m.Digest, m.Annotations)
		}
	}
	ro := New(os.DirFS(f.Dir), nil, f.Dir)
	if _, err := c.Delete(context.Background(), ro, sbom, referrers.DeleteOptions{}); !errors.Is(err, target.ErrUnsupported) {
		t.Errorf("delete on a read-only layout: %v, want ErrUnsupported", err)
	}
}
