package referrers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// updateFallbackAll is updateFallback for several entries of one subject at
// once (a copy records all the referrers it pushed to a subject in one
// update): the same rounds of read, merge, push (conditional where the
// target honours conditions, else plain under the staleness guard and
// watched), settle and verify, until the index lists every entry; the
// entries of other writers are never dropped. One round costs what an
// Attach's update costs, whatever the number of entries.
//
// It mirrors updateFallback step for step; updateFallback(e) is
// updateFallbackAll([]{e}).
func (c *Client) updateFallbackAll(ctx context.Context, t target.Target, subject digest.Digest, entries []ocispec.Descriptor, gc bool) (fallbackUpdate, error) {
	res := fallbackUpdate{tag: FallbackTag(subject)}
	if len(entries) == 0 {
		return res, nil
	}
	unlock := c.lock(t.Name() + ":" + res.tag)
	defer unlock()

	entry, rest := entries[0], entries[1:]
	var superseded []ocispec.Descriptor
	pending := append([]ocispec.Descriptor{}, rest...) // ours after the first, then other writers' entries our push may have replaced
	backoff := 10 * time.Millisecond
	confirming := false
	for attempt := 0; attempt < c.attempts; attempt++ {
		if attempt > 0 && !confirming {
			if err := c.sleep(ctx, backoff/2+c.jitter(backoff)); err != nil {
				return res, err
			}
			backoff = min(backoff*2, 640*time.Millisecond)
		}
		readAt := time.Now()
		fb, err := readFallback(ctx, t, subject)
		if err != nil {
			return res, err
		}
		readDone := time.Now()
		readDur := readDone.Sub(readAt)
		if containsAll(fb.index, entry, pending) && attempt > 0 {
			if confirming || c.repo(t.Name()).cond == condHonoured {
				return c.finish(ctx, t, res, superseded, fb, gc), nil
			}
			if err := c.sleep(ctx, c.settle(readDur, 0)); err != nil {
				return res, err
			}
			confirming = true
			continue
		}
		confirming = false
		changed := merge(&fb.index, entry)
		for _, p := range pending {
			changed = merge(&fb.index, p) || changed
		}
		if !changed {
			return c.finish(ctx, t, res, superseded, fb, gc), nil
		}
		data, desc, err := encodeIndex(fb.index)
		if err != nil {
			return res, err
		}
		conditional, pushDur, seen, err := c.pushIndex(ctx, t, subject, fb, desc, data, readDone)
		switch {
		case errors.Is(err, errStale), errors.Is(err, target.ErrStale), errors.Is(err, target.ErrPreconditionFailed):
			c.logf("%s:%s: %v; reading again (round %d)", t.Name(), res.tag, err, attempt+1)
			continue
		case err != nil:
			return res, fmt.Errorf("push referrers tag %s: %w", res.tag, err)
		}
		if fb.exists && fb.desc.Digest != desc.Digest {
			superseded = append(superseded, fb.desc)
		}
		if len(seen) > 0 {
			c.logf("%s:%s: %d entries appeared while our push was in flight; merging them back (round %d)", t.Name(), res.tag, len(seen), attempt+1)
			pending = mergeDescs(pending, seen)
			continue
		}
		if !conditional {
			wait := c.settle(readDur, pushDur)
			c.logf("%s:%s: plain push of %d entries; settling %s before verifying", t.Name(), res.tag, len(fb.index.Manifests), wait.Round(time.Millisecond))
			if err := c.sleep(ctx, wait); err != nil {
				return res, err
			}
		}
		if now, err := t.Resolve(ctx, res.tag); err == nil && now.Digest == desc.Digest {
			return c.finish(ctx, t, res, superseded, fallback{desc: desc}, gc), nil
		}
		check, err := readFallback(ctx, t, subject)
		if err != nil {
			return res, fmt.Errorf("verify referrers tag %s: %w", res.tag, err)
		}
		if containsAll(check.index, entry, pending) {
			return c.finish(ctx, t, res, superseded, check, gc), nil
		}
		c.logf("%s:%s: entries of ours were overwritten by another writer; merging again (round %d)", t.Name(), res.tag, attempt+1)
	}
	return res, fmt.Errorf("%w: %s:%s after %d rounds", ErrFallbackConflict, t.Name(), res.tag, c.attempts)
}
