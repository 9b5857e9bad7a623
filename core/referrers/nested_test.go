package referrers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// failingTags is a target whose tag listing fails: every referrers tag is
// read, as without a listing.
type failingTags struct{ target.Target }

func (failingTags) Tags(context.Context) ([]string, error) { return nil, errors.New("no tags for you") }

// noTags is a target that cannot list its tags.
type noTags struct{ target.Target }

// TestListNestedRequests: a nested listing lists the tags once and reads only
// the referrers tags that exist, instead of asking each referrer's tag; the
// mixed state (a referrer only a tag lists, on a registry with the API) is
// still listed completely at every level, and a target whose tag listing
// fails or that has none is read tag by tag as before.
func TestListNestedRequests(t *testing.T) {
	t.Parallel()
	const n = 20
	noAPI := fakeregistry.ReferrersNotFoundText
	for _, tc := range []struct {
		name string
		mode fakeregistry.Mode
		wrap func(target.Target) target.Target
		// want is the number of requests of the listing; tagReads of
		// manifests/<alg>-<hex>
		want, tagReads int
	}{
		// top API GET, tags/list, n API GETs, the one tag that exists, a
		// HEAD of the entry only it lists
		{name: "API", mode: fakeregistry.Mode{}, want: 1 + 1 + n + 1 + 1, tagReads: 1},
		// top API GET (404), tags/list, the subject's tag, the two nested
		// tags that exist
		{name: "tag schema", mode: fakeregistry.Mode{Referrers: noAPI}, want: 5, tagReads: 3},
		{name: "API, tag listing fails", mode: fakeregistry.Mode{}, wrap: func(t target.Target) target.Target { return failingTags{t} },
			want: 1 + n + (n + 1) + 1, tagReads: n + 1},
		{name: "tag schema, no tag listing", mode: fakeregistry.Mode{Referrers: noAPI}, wrap: func(t target.Target) target.Target { return noTags{t} },
			want: 1 + (n + 1), tagReads: n + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.mode)
			other := putImage(t, w.fake, "v2", "linux")
			var top []digest.Digest
			var entries = putReferrers(t, w, n)
			for _, e := range entries {
				top = append(top, e.Digest)
			}
			// entries[0] has a referrer the API lists (on the tag schema
			// registry: its tag); entries[1] one only its tag lists (its
			// manifest names another subject, as olareg's API misses what a
			// tag-mode client wrote)
			kid0 := putReferrer(t, w.fake, entries[0], typeSig, "kid0", nil)
			kid1 := putReferrer(t, w.fake, other, typeSig, "kid1", nil)
			seedIndex(t, w.fake, entries[1].Digest, kid1)
			if tc.mode.Referrers == noAPI {
				seedIndex(t, w.fake, w.subject.Digest, entries...)
				seedIndex(t, w.fake, entries[0].Digest, kid0)
			}
			var tg target.Target = w.repo(t)
			if tc.wrap != nil {
				tg = tc.wrap(tg)
			}
			w.fake.ResetRequests()
			res, err := New().List(ctxT(t), tg, w.subject, ListOptions{Depth: 2})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(top)
			if got := digests(res.Referrers); !slices.Equal(got, top) {
				t.Fatalf("top level %v, want %v", got, top)
			}
			for i, want := range map[int]digest.Digest{0: kid0.Digest, 1: kid1.Digest} {
				var node *Node
				for _, nd := range res.Referrers {
					if nd.Descriptor.Digest == entries[i].Digest {
						node = nd
					}
				}
				if got := digests(node.Referrers); !slices.Equal(got, []digest.Digest{want}) {
					t.Errorf("referrers of entry %d: %v, want %v", i, got, want)
				}
			}
			var lines []string
			tagReads := 0
			for _, q := range w.fake.Requests() {
				lines = append(lines, q.Method+" "+q.Path)
				if strings.Contains(q.Path, "/manifests/sha256-") {
					tagReads++
				}
			}
			if len(lines) != tc.want || tagReads != tc.tagReads {
				t.Errorf("%d requests (%d tag reads), want %d (%d):\n  %s", len(lines), tagReads, tc.want, tc.tagReads, strings.Join(lines, "\n  "))
			}
		})
	}
}

// putReferrers stores n referrers of w's subject (by digest, as the API
// lists them) and returns their entries.
func putReferrers(t testing.TB, w *world, n int) []ocispec.Descriptor {
	t.Helper()
	out := make([]ocispec.Descriptor, n)
	for i := range out {
		out[i] = putReferrer(t, w.fake, w.subject, typeSBOM, fmt.Sprintf("r%d", i), nil)
	}
	return out
}

// gatedReferrers holds every Referrers call but the subject's until release
// is closed, counting the calls in flight.
type gatedReferrers struct {
	target.Target
	subject digest.Digest
	release chan struct{}
	mu      sync.Mutex
	now     int
	most    int
	changed chan struct{} // a value after each entry
}

func (g *gatedReferrers) Referrers(ctx context.Context, subject digest.Digest, artifactType string) (target.ReferrersResult, error) {
	if subject != g.subject {
		g.mu.Lock()
		g.now++
		g.most = max(g.most, g.now)
		g.mu.Unlock()
		g.changed <- struct{}{}
		<-g.release
		g.mu.Lock()
		g.now--
		g.mu.Unlock()
	}
	return g.Target.Referrers(ctx, subject, artifactType)
}

// TestListNestedParallel: a nested listing asks about DefaultParallel
// referrers at once (WithParallel sets it), never more, and every one of
// them in the end.
func TestListNestedParallel(t *testing.T) {
	t.Parallel()
	const n = 40
	for _, tc := range []struct {
		name string
		opts []Option
		want int
	}{
		{"default", nil, DefaultParallel},
		{"WithParallel(3)", []Option{WithParallel(3)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{})
			putReferrers(t, w, n)
			g := &gatedReferrers{Target: w.repo(t), subject: w.subject.Digest, release: make(chan struct{}), changed: make(chan struct{}, n)}
			done := make(chan error, 1)
			var res ListResult
			go func() {
				var err error
				res, err = New(tc.opts...).List(ctxT(t), g, w.subject, ListOptions{Depth: 2})
				done <- err
			}()
			for range tc.want {
				select {
				case <-g.changed:
				case err := <-done:
					t.Fatalf("the listing ended with calls held: %v", err)
				case <-time.After(10 * time.Second):
					g.mu.Lock()
					now := g.now
					g.mu.Unlock()
					t.Fatalf("%d calls in flight after 10 s, want %d", now, tc.want)
				}
			}
			// none beyond the bound arrives while these are held
			select {
			case <-g.changed:
				t.Fatalf("a call beyond %d in flight", tc.want)
			case <-time.After(100 * time.Millisecond):
			}
			close(g.release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if len(res.Referrers) != n || g.most != tc.want {
				t.Errorf("%d referrers listed, at most %d asked at once; want %d and %d", len(res.Referrers), g.most, n, tc.want)
			}
		})
	}
}
