package referrers

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestListTagIndexListingTheSubject: a referrers tag index that lists the
// subject itself (a manifest cannot refer to itself) loses that entry, and
// the warning says so, in auto mode on a registry with the API (where the
// tag is merged in) and in tag mode; the mixed-state warning counts only
// the entries really included (issue 13, item 8b).
func TestListTagIndexListingTheSubject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode Mode
		api  fakeregistry.ReferrersBehavior
	}{
		{"auto with the API", ModeAuto, fakeregistry.ReferrersAPI},
		{"auto without the API", ModeAuto, fakeregistry.ReferrersNotFoundText},
		{"tag", ModeTag, fakeregistry.ReferrersAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{Referrers: tc.api})
			sig := putReferrer(t, w.fake, w.subject, typeSig, "sig", nil)
			seedIndex(t, w.fake, w.subject.Digest, w.subject, sig)

			res, err := New().List(ctxT(t), w.repo(t), w.subject, ListOptions{Mode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			if want := sortedDigests(sig); !slices.Equal(digests(res.Referrers), want) {
				t.Errorf("listed %v, want %v", digests(res.Referrers), want)
			}
			want := "referrers tag " + FallbackTag(w.subject.Digest) + " lists the subject " + w.subject.Digest.String() + " itself; left out"
			if !slices.Contains(res.Warnings, want) {
				t.Errorf("warnings %q; want %q", res.Warnings, want)
			}
			for _, s := range res.Warnings {
				if strings.Contains(s, "they are included") {
					t.Errorf("warning %q: nothing of the tag is included (the API lists sig)", s)
				}
			}
		})
	}
}

// TestResolveListSubject: a digest whose manifest is missing resolves, for
// listing, to the bare digest (its referrers may exist: they can be pushed
// first); a missing tag, or any platform lookup, is still ErrNotFound
// (issue 13, item 8a).
func TestResolveListSubject(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{})
	ghost := digest.FromString("a subject never pushed")
	ref := putReferrer(t, w.fake, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: ghost, Size: 123}, typeSig, "early", nil)

	desc, missing, err := ResolveListSubject(ctxT(t), w.repo(t), ghost.String(), "")
	if err != nil || !missing || desc.Digest != ghost || desc.MediaType != "" {
		t.Fatalf("ResolveListSubject(ghost) = %+v, %v, %v; want the bare digest, missing", desc, missing, err)
	}
	res, err := New().List(ctxT(t), w.repo(t), desc, ListOptions{})
	if err != nil || !slices.Equal(digests(res.Referrers), sortedDigests(ref)) {
		t.Errorf("List(ghost) = %v, %v; want %v", digests(res.Referrers), err, ref.Digest)
	}
	desc, missing, err = ResolveListSubject(ctxT(t), w.repo(t), w.subject.Digest.String(), "")
	if err != nil || missing || desc.MediaType != w.subject.MediaType {
		t.Errorf("ResolveListSubject(existing) = %+v, %v, %v; want it resolved", desc, missing, err)
	}
	for _, tc := range []struct{ reference, platform string }{{"no-such-tag", ""}, {ghost.String(), "linux/amd64"}} {
		if _, _, err := ResolveListSubject(ctxT(t), w.repo(t), tc.reference, tc.platform); !errors.Is(err, target.ErrNotFound) {
			t.Errorf("ResolveListSubject(%s, %q): %v, want ErrNotFound", tc.reference, tc.platform, err)
		}
	}
}
