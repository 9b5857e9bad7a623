package referrers

import (
	"slices"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/fakeregistry"
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
