package referrers

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestConcurrentFallbackAttach is the core promise of the tag schema fallback:
// many writers, each a separate process (its own referrers.Client, so no shared
// in-process lock, and its own registry.Client), attach distinct artifacts to
// one subject at once on a registry without the Referrers API, and afterwards
// every entry is listed (distribution-spec v1.1.1, Referrers Tag Schema).
//
// The writers use the default settings, what users get: a 5 ms guard, which a
// writer that takes longer to merge meets by confirming the tag with a HEAD
// right before its push, and the settling wait with its 40 ms floor
// (RATIONALE.md, "The settling wait, shortened").
func TestConcurrentFallbackAttach(t *testing.T) {
	t.Parallel()
	const writers = 16
	for _, tc := range []struct {
		name string
		etag fakeregistry.ETagBehavior
	}{
		{"ETagHonoured", fakeregistry.ETagHonoured},
		{"ETagRejected", fakeregistry.ETagRejected}, // distribution-like: 400 on If-Match
		{"ETagNone", fakeregistry.ETagNone},
		{"ETagIgnored", fakeregistry.ETagIgnored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{
				Referrers: fakeregistry.ReferrersNotFoundJSON,
				ETag:      tc.etag,
				Latency:   1500 * time.Microsecond,
			})
			ctx := ctxT(t)
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make([]error, writers)
			want := make([]digest.Digest, writers)
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := New() // default guard and settling wait
					repo := w.repo(t)
					<-start
					res, err := c.Attach(ctx, repo, w.subject, artifact(typeSig, fmt.Sprintf("writer-%02d", i), nil), AttachOptions{})
					errs[i], want[i] = err, res.Descriptor.Digest
					if err == nil && res.Mode != ModeTag {
						errs[i] = fmt.Errorf("mode %s, want tag", res.Mode)
					}
				}()
			}
			began := time.Now()
			close(start)
			wg.Wait()
			elapsed := time.Since(began)
			for i, err := range errs {
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
			}

			res, err := New().List(ctx, w.repo(t), w.subject, ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[digest.Digest]bool{}
			for _, n := range res.Referrers {
				got[n.Descriptor.Digest] = true
			}
			lost := 0
			for i, d := range want {
				if d != "" && !got[d] {
					lost++
					t.Errorf("writer %d: entry %s lost", i, d)
				}
			}
			puts := len(w.fake.TagHistory(testRepo, FallbackTag(w.subject.Digest)))
			conflicts := 0
			for _, q := range requestsMatching(w.fake, "PUT", "/manifests/"+FallbackTag(w.subject.Digest)) {
				if q.Status != 201 {
					conflicts++
				}
			}
			t.Logf("%s: %d/%d entries listed, %d lost; %d tag writes stored, %d tag PUTs refused (412/400); %s",
				tc.name, len(res.Referrers), writers, lost, puts, conflicts, elapsed.Round(time.Millisecond))
			if len(res.Referrers) != writers {
				t.Errorf("listed %d referrers, want %d", len(res.Referrers), writers)
			}
		})
	}
}
