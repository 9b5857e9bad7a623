package registry

import (
	"slices"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestTags: the tag listing follows the registry's pages (Link rel="next",
// sent without ?n=) and returns every tag once; a missing repository is an
// error.
func TestTags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		pageSize  int
		wantPages int
	}{
		{"one page", 0, 1},
		{"pages of 2", 2, 3},
		{"pages of 1", 1, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, fakeregistry.Mode{TagsPageSize: tc.pageSize})
			want := []string{"a", "b", "c", "sha256-x", "v1"}
			for _, tag := range want {
				seedImage(t, reg, "repo", tag)
			}
			reg.ResetRequests()
			c := newClient()
			got, err := repoAt(t, c, reg.Host(), "repo").Tags(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("tags %v, want %v", got, want)
			}
			if n := count(reg.Requests(), "GET", "/tags/list"); n != tc.wantPages {
				t.Errorf("%d requests, want %d", n, tc.wantPages)
			}
			if _, err := repoAt(t, c, reg.Host(), "missing").Tags(t.Context()); err == nil {
				t.Error("a missing repository listed tags")
			}
		})
	}
}
