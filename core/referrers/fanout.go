package referrers

import (
	"context"
	"sync"
	"sync/atomic"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// IsIndex reports whether mediaType is an image index: the OCI one
// (image-spec v1.1.1, "Image Index") or the Docker manifest list it was
// made from. An empty media type (a subject whose manifest is not there) is
// not an index.
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == target.MediaTypeDockerManifestList
}

// fanOut calls f(ctx, i) for each i in [0, n), at most limit calls at a time
// (at least one), and waits for them. The first error a call returns is
// fanOut's: it cancels the context of the calls still running, and the calls
// not yet started are not made. When the caller's ctx ends before every call
// was started, fanOut returns its error. The verbs' concurrent requests all go through here, so
// that each fan-out is bounded and ends alike. The calls run on at most limit
// goroutines that each take the next i: a goroutine per call grew its stack
// anew for every request (a depth-2 listing of 2,000 referrers started 2,000).
func fanOut(ctx context.Context, n, limit int, f func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		once    sync.Once
		first   error
		next    atomic.Int64
		stopped atomic.Bool
	)
	fail := func(err error) {
		once.Do(func() { first = err; cancel() })
	}
	for range max(1, min(limit, n)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if ctx.Err() != nil {
					stopped.Store(true) // a call failed, or the caller gave up
					return
				}
				if err := f(ctx, i); err != nil {
					fail(err)
				}
			}
		})
	}
	wg.Wait()
	if first == nil && stopped.Load() {
		return parent.Err()
	}
	return first
}
