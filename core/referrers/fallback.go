package referrers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// FallbackTag is the referrers tag schema tag of a subject digest
// (distribution-spec main, "Referrers Tag Schema"; see target.FallbackTag).
func FallbackTag(d digest.Digest) string { return target.FallbackTag(d) }

// fallback is the state of a tag schema index as read.
type fallback struct {
	tag    string
	index  ocispec.Index
	exists bool
	desc   ocispec.Descriptor // of the stored index, when it exists
	etag   string
}

// readFallback reads the tag schema index of subject: a missing tag is an empty
// index (distribution-spec v1.1.1, Referrers Tag Schema); anything but an image index, or a tag that resolves to
// the subject itself, is ErrFallbackInvalid (distribution-spec v1.1.1, Referrers Tag Schema).
func readFallback(ctx context.Context, t target.Target, subject digest.Digest) (fallback, error) {
	fb := fallback{tag: FallbackTag(subject), index: emptyIndex()}
	tg, err := t.FetchTagged(ctx, fb.tag)
	if errors.Is(err, target.ErrNotFound) {
		return fb, nil
	}
	if err != nil {
		return fb, fmt.Errorf("read referrers tag %s: %w", fb.tag, err)
	}
	if tg.Descriptor.Digest == subject {
		return fb, fmt.Errorf("%w: tag %s of %s resolves to the subject itself (the registry maps the tag to the digest)", ErrFallbackInvalid, fb.tag, t.Name())
	}
	if tg.Descriptor.MediaType != ocispec.MediaTypeImageIndex {
		return fb, fmt.Errorf("%w: tag %s of %s holds %q, not an image index", ErrFallbackInvalid, fb.tag, t.Name(), tg.Descriptor.MediaType)
	}
	idx, err := target.DecodeIndex(tg.Data)
	if err != nil {
		return fb, fmt.Errorf("%w: tag %s of %s: %w", ErrFallbackInvalid, fb.tag, t.Name(), err)
	}
	fb.index, fb.exists, fb.desc, fb.etag = idx, true, tg.Descriptor, tg.ETag
	return fb, nil
}

func emptyIndex() ocispec.Index {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	return idx
}

// EntryFor is the descriptor a referrers index lists for a referrer manifest
// (see target.ParseReferrer).
func EntryFor(desc ocispec.Descriptor, manifest []byte) (ocispec.Descriptor, error) {
	e, _, err := target.ParseReferrer(desc, manifest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("referrer %s: %w", desc.Digest, err)
	}
	return e, nil
}

// merge adds e to idx unless an entry with its digest is there; an entry with
// the same digest but another media type or size is corrupt and replaced
// (distribution-spec v1.1.1, Referrers Tag Schema). It reports whether idx changed.
func merge(idx *ocispec.Index, e ocispec.Descriptor) bool {
	for i, d := range idx.Manifests {
		if d.Digest == e.Digest {
			if d.MediaType == e.MediaType && d.Size == e.Size {
				return false
			}
			idx.Manifests[i] = e
			return true
		}
	}
	idx.Manifests = append(idx.Manifests, e)
	return true
}

func contains(idx ocispec.Index, d digest.Digest) bool {
	for _, m := range idx.Manifests {
		if m.Digest == d {
			return true
		}
	}
	return false
}

// encodeIndex renders an index with its entries sorted by digest, so that the
// same set of referrers always makes the same bytes (and digest).
func encodeIndex(idx ocispec.Index) ([]byte, ocispec.Descriptor, error) {
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	sort.Slice(idx.Manifests, func(i, j int) bool { return idx.Manifests[i].Digest < idx.Manifests[j].Digest })
	b, err := json.Marshal(idx)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	if len(b) > target.MaxManifestBytes {
		return nil, ocispec.Descriptor{}, fmt.Errorf("referrers tag index would be %d bytes, more than %d (prune old referrers): %w", len(b), target.MaxManifestBytes, target.ErrTooLarge)
	}
	return b, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}, nil
}

// fallbackUpdate is the outcome of an update of the tag schema index.
type fallbackUpdate struct {
	tag      string
	warnings []string
	// found: a removal found the entry listed (and removed it); removed is
	// that entry as the index had it.
	found   bool
	removed ocispec.Descriptor
}

// fallbackEdit is what an update does to the tag schema index: add entries
// (an attach adds one, a copy all those it pushed to one subject), or remove
// the entry of a digest (delete). One of the two is set.
type fallbackEdit struct {
	add    []ocispec.Descriptor // nothing to add when empty
	remove digest.Digest        // "": nothing to remove
}

// done reports whether idx already reflects e and lists every one of more
// (other writers' entries our push may have replaced).
func (e fallbackEdit) done(idx ocispec.Index, more []ocispec.Descriptor) bool {
	if e.remove != "" && contains(idx, e.remove) {
		return false
	}
	for _, d := range e.add {
		if !contains(idx, d.Digest) {
			return false
		}
	}
	for _, d := range more {
		if !contains(idx, d.Digest) {
			return false
		}
	}
	return true
}

// apply changes idx as e says and merges more back; it reports whether idx
// changed.
func (e fallbackEdit) apply(idx *ocispec.Index, more []ocispec.Descriptor) bool {
	changed := false
	for _, a := range e.add {
		changed = merge(idx, a) || changed
	}
	if e.remove != "" {
		kept := idx.Manifests[:0]
		for _, d := range idx.Manifests {
			if d.Digest != e.remove {
				kept = append(kept, d)
			}
		}
		changed = len(kept) != len(idx.Manifests)
		idx.Manifests = kept
	}
	for _, p := range more {
		changed = merge(idx, p) || changed
	}
	return changed
}

// updateFallback adds entry to the tag schema index of subject (see
// editFallback).
func (c *Client) updateFallback(ctx context.Context, t target.Target, subject digest.Digest, entry ocispec.Descriptor, gc bool) (fallbackUpdate, error) {
	return c.editFallback(ctx, t, subject, fallbackEdit{add: []ocispec.Descriptor{entry}}, gc)
}

// updateFallbackAll adds entries to the tag schema index of subject in one
// update (a copy records every referrer it pushed to a subject at once): one
// round costs what an Attach's costs, whatever the number of entries.
func (c *Client) updateFallbackAll(ctx context.Context, t target.Target, subject digest.Digest, entries []ocispec.Descriptor, gc bool) (fallbackUpdate, error) {
	if len(entries) == 0 {
		return fallbackUpdate{tag: FallbackTag(subject)}, nil
	}
	return c.editFallback(ctx, t, subject, fallbackEdit{add: entries}, gc)
}

// editFallback adds an entry to, or removes one from, the tag schema index of
// subject so that no other entry is lost when several writers update it at
// once (distribution-spec v1.1.1, "Pushing Manifests with Subject" and
// "Deleting Manifests"):
//
//  1. read the index (HEAD, GET), validate it, merge the entry;
//  2. push it with If-Match (If-None-Match: * when creating) where the target has
//     shown that it honours conditions: the first conditional push of a
//     repository is preceded by a probe with an ETag no index can have, and
//     only a 412 to it proves that conditions are honoured (registries have been
//     seen to ignore If-Match and answer 201). A 412 to a real push starts over;
//  3. otherwise the push is plain, sent at most the guard after its read, or a
//     HEAD that finds the tag unchanged since, completed (see fresh), and
//     verified after the guard plus twice that request's and the push's own
//     durations (see settle and settleWait), so that any other writer that
//     read before our push has pushed by then (the waits scale with the
//     registry's latency and the machine's load);
//  4. re-read: if the entry is gone (or, for a removal, back), another writer
//     overwrote it: start over after a jittered backoff. Rounds are bounded
//     (ErrFallbackConflict). An edit found done in a later round is in
//     another writer's push; unless conditions are honoured it is trusted
//     only when it still holds after the same settling wait as our own push.
//     A removal verified after a plain push is confirmed once more after
//     twice that wait and a backoff: an attach whose read came before it may
//     still push the entry back (and an attach that saw the entry in such a
//     push while its own push was in flight merges it back a round later,
//     see pushWatched).
//
// A removal that finds the entry absent pushes nothing; one that empties
// the index pushes an empty index (the tag stays: deleting it would need a
// tag delete, which registries may not offer, and an empty index means "no
// referrers" to every reader).
//
// With gc, the superseded index is deleted by digest once the new one is
// verified; a failure there is a warning (distribution-spec v1.1.1, Referrers Tag Schema).
func (c *Client) editFallback(ctx context.Context, t target.Target, subject digest.Digest, edit fallbackEdit, gc bool) (fallbackUpdate, error) {
	res := fallbackUpdate{tag: FallbackTag(subject)}
	unlock := c.lock(t.Name() + ":" + res.tag)
	defer unlock()

	var superseded []ocispec.Descriptor
	var pending []ocispec.Descriptor    // other writers' entries our push may have replaced
	dropped := map[digest.Digest]bool{} // entries whose manifests are gone
	backoff := firstBackoff
	confirming := false // this read confirms an entry found in another writer's push
	// of our last plain push: its confirming request's and its own durations
	var pre, lastPush time.Duration
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
		for _, d := range fb.index.Manifests {
			if edit.remove != "" && d.Digest == edit.remove {
				res.found, res.removed = true, d
			}
		}
		if edit.done(fb.index, pending) && attempt > 0 {
			// Our entry is there, after a round that did not verify: another
			// writer merged it. Where conditions are honoured that push is
			// final. Otherwise it is as exposed to writers that read before
			// it as our own push was, and only we would merge our entry
			// again: wait as after our own push, then look again.
			if confirming || c.repo(t.Name()).cond == condHonoured {
				return c.finish(ctx, t, res, superseded, fb, gc), nil
			}
			if err := c.settleWait(ctx, c.settle(max(pre, readDur), max(lastPush, readDur))); err != nil {
				return res, err
			}
			confirming = true
			continue
		}
		if confirming {
			// What we confirmed came undone (a removed entry is back, or
			// our entry is gone again): a writer that read before our push
			// pushed after it. Two removers of different entries can undo
			// each other in step this way round after round, since a
			// confirming read follows a wait of the same length for both:
			// back off with jitter (the top of the loop) and read again.
			confirming = false
			continue
		}
		changed := edit.apply(&fb.index, pending)
		if dropEntries(&fb.index, dropped) {
			changed = true
		}
		if !changed {
			return c.finish(ctx, t, res, superseded, fb, gc), nil
		}
		data, desc, err := encodeIndex(fb.index)
		if err != nil {
			return res, err
		}
		conditional, pushDur, preDur, seen, err := c.pushIndex(ctx, t, subject, fb, desc, data, readDone, readDur, edit.remove)
		if !conditional && err == nil {
			pre, lastPush = preDur, pushDur
		}
		switch {
		case errors.Is(err, errStale), errors.Is(err, target.ErrStale), errors.Is(err, target.ErrPreconditionFailed):
			c.logf("%s:%s: %v; reading again (round %d)", t.Name(), res.tag, err, attempt+1)
			continue
		case err != nil:
			// A registry that checks an index's children refuses an index
			// that lists a deleted manifest (a concurrent delete, or one by
			// a tool that left the entry): drop those and try again.
			gone := c.goneEntries(ctx, t, fb.index)
			if len(gone) == 0 {
				return res, fmt.Errorf("push referrers tag %s: %w", res.tag, err)
			}
			for _, d := range gone {
				dropped[d] = true
				res.warnings = append(res.warnings, fmt.Sprintf("the referrers tag %s listed %s, whose manifest no longer exists; dropped it", res.tag, d))
			}
			c.logf("%s:%s: push refused (%v); %d listed manifests no longer exist: dropping them (round %d)", t.Name(), res.tag, err, len(gone), attempt+1)
			pending = withoutDigests(pending, dropped)
			continue
		}
		if fb.exists && fb.desc.Digest != desc.Digest {
			superseded = append(superseded, fb.desc)
		}
		if len(seen) > 0 {
			// While our plain push was in flight the tag held entries our
			// read had not: their writers may have verified them already,
			// and our push replaced them. Merge them back.
			c.logf("%s:%s: %d entries appeared while our push was in flight; merging them back (round %d)", t.Name(), res.tag, len(seen), attempt+1)
			// an entry deleted since (its delete verified) is not merged back
			for _, d := range c.goneEntries(ctx, t, ocispec.Index{Manifests: seen}) {
				dropped[d] = true
			}
			pending = withoutDigests(mergeDescs(pending, seen), dropped)
			continue
		}
		if !conditional {
			// let every writer that read before our push finish its own
			wait := c.settle(preDur, pushDur)
			c.logf("%s:%s: plain push of %d entries; settling %s before verifying", t.Name(), res.tag, len(fb.index.Manifests), wait.Round(time.Millisecond))
			if err := c.settleWait(ctx, wait); err != nil {
				return res, err
			}
		}
		// verify: a HEAD that finds our index under the tag is enough
		verified := false
		now := fallback{desc: desc}
		if d, err := t.Resolve(ctx, res.tag); err == nil && d.Digest == desc.Digest {
			verified = true
		} else {
			check, err := readFallback(ctx, t, subject)
			if err != nil {
				return res, fmt.Errorf("verify referrers tag %s: %w", res.tag, err)
			}
			verified, now = edit.done(check.index, pending), check
		}
		if verified && edit.remove != "" && !conditional {
			// Confirm a removal once more, after a longer wait (see above):
			// an attach that saw the entry in a push made from the tag as it
			// was before our removal, while its own push was in flight, merges
			// it back one round later (see pushWatched), after its backoff
			// (at most 3/2 of firstBackoff), its read, its confirmation and
			// its push: one more settling wait covers those.
			wait := 2*c.settle(preDur, pushDur) + firstBackoff*3/2
			if err := c.settleWait(ctx, wait); err != nil {
				return res, err
			}
			confirming = true
			continue
		}
		if verified {
			return c.finish(ctx, t, res, superseded, now, gc), nil
		}
		// overwritten by a writer that read before our push: merge again
		c.logf("%s:%s: our edit was overwritten by another writer; merging again (round %d)", t.Name(), res.tag, attempt+1)
	}
	return res, fmt.Errorf("%w: %s:%s after %d rounds", ErrFallbackConflict, t.Name(), res.tag, c.attempts)
}

// settle is how long a plain push waits before it is verified: long enough
// for any writer whose push was made from the tag as it was before ours
// landed to have pushed (we then see our entry gone, and merge again), or
// to have read again. Such a writer confirmed the tag (by its read or a
// HEAD) before ours landed and sent its push at most the guard after that
// request completed (see fresh), so its push lands within the rest of that
// request, the guard and its push after ours. We estimate its durations by
// ours (pre, our confirming request's, and push), which grow with the
// registry's latency and with the load of this machine (a process held up
// between its requests measures longer ones), with a margin of 2, and never
// wait less than settleFloor. A push slower than that is caught by its
// writer's watch (see pushWatched); a writer held up between its check and
// its push, by settleWait.
func (c *Client) settle(pre, push time.Duration) time.Duration {
	wait := max(c.settleFloor, c.guard+2*(pre+push))
	return wait + c.jitter(c.guard+1)
}

// settleWait sleeps the settling wait, and longer where this process woke
// up late: a machine that held us up for that long may have held up another
// writer as long between its check of the guard and its push (a delay our
// requests' durations do not show where the registry is fast). It waits
// twice the delay again, up to three times, and returns once it woke up
// within the guard of the time asked for.
func (c *Client) settleWait(ctx context.Context, wait time.Duration) error {
	for range 3 {
		at := time.Now()
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
		late := time.Since(at) - wait
		if late <= c.guard {
			return nil
		}
		wait = 2 * late
	}
	return nil
}

// firstBackoff is the backoff before an update's second round: it sleeps
// half of it plus a jitter of up to all of it, and each further round twice
// as long, up to 640 ms.
const firstBackoff = 10 * time.Millisecond

// errStale: the index read is too old to be pushed without a condition.
var errStale = errors.New("stale read")

// probeETag is an entity tag no stored manifest has.
const probeETag = `"referrers-condition-probe"`

type conditions int

const (
	condUnknown  conditions = iota
	condHonoured            // a probe got 412: If-Match works
	condNone                // rejected or ignored: push plainly
)

// pushIndex pushes the merged index under the tag, conditionally where the
// target honours conditions. It reports whether the push that landed was
// conditional, how long it took, and how long the request that confirmed the
// read before a plain push took (see fresh). errStale means: read again.
// removed is the digest a removal took out of the index, which the watch of a
// plain push must not take for another writer's entry.
func (c *Client) pushIndex(ctx context.Context, t target.Target, subject digest.Digest, fb fallback, desc ocispec.Descriptor, data []byte, readDone time.Time, readDur time.Duration, removed digest.Digest) (bool, time.Duration, time.Duration, []ocispec.Descriptor, error) {
	name := t.Name()
	if c.repo(name).cond == condUnknown {
		confirmed, pre, err := c.fresh(ctx, t, fb, readDone, readDur)
		if err != nil {
			return false, 0, 0, nil, err // the probe may write: it must be fresh
		}
		at := time.Now()
		// the probe is a plain push where conditions are ignored: no retry
		// past the guard, and watched like one
		seen, err := c.pushWatched(ctx, t, subject, fb.index, removed, func() error {
			_, err := t.PushManifest(ctx, desc, data, target.PushOptions{Tag: fb.tag, IfMatch: probeETag, NotAfter: confirmed.Add(c.guard)})
			return err
		})
		switch {
		case errors.Is(err, target.ErrPreconditionFailed):
			c.logf("%s: conditional pushes are honoured", name)
			c.setRepo(name, func(r *repoState) { r.cond = condHonoured })
		case errors.Is(err, target.ErrConditionalUnsupported):
			c.logf("%s: conditional pushes are rejected; pushing plainly", name)
			c.setRepo(name, func(r *repoState) { r.cond = condNone })
		case err == nil:
			// the condition was ignored and the probe was a plain push
			c.logf("%s: conditional pushes are ignored; the probe was a plain push", name)
			c.setRepo(name, func(r *repoState) { r.cond = condNone })
			return false, time.Since(at), pre, seen, nil
		default:
			return false, 0, 0, nil, err
		}
	}
	opts := target.PushOptions{Tag: fb.tag}
	conditional := false
	if c.repo(name).cond == condHonoured {
		switch {
		case fb.exists && fb.etag != "":
			opts.IfMatch, conditional = fb.etag, true
		case !fb.exists:
			opts.IfNoneMatch, conditional = true, true
		}
	}
	if conditional {
		at := time.Now()
		_, err := t.PushManifest(ctx, desc, data, opts)
		if errors.Is(err, target.ErrConditionalUnsupported) {
			// honoured If-Match, but not this header: plain from now on
			c.setRepo(name, func(r *repoState) { r.cond = condNone })
			return false, 0, 0, nil, errStale
		}
		return true, time.Since(at), 0, nil, err
	}
	confirmed, pre, err := c.fresh(ctx, t, fb, readDone, readDur)
	if err != nil {
		return false, 0, 0, nil, err
	}
	// a retry after the guard would push a stale index over the entries of
	// writers that read since
	opts.NotAfter = confirmed.Add(c.guard)
	at := time.Now()
	seen, err := c.pushWatched(ctx, t, subject, fb.index, removed, func() error {
		_, err := t.PushManifest(ctx, desc, data, opts)
		return err
	})
	return false, time.Since(at), pre, seen, err
}

// fresh confirms, right before a plain push, that the tag still holds the
// index our read found, and returns when that was last confirmed and how
// long the confirming request took. The read confirms it when it completed
// within the guard; otherwise (a large index to merge, a process held up) a
// HEAD of the tag does: the same digest, or still no tag. A tag that changed
// is errStale (read again). The push must then be sent within the guard of
// the HEAD: where it would not be, the HEAD is sent again, a few times,
// before the read is given up as stale. So a plain push replaces the tag at
// most the confirming request, the guard and the push's own duration after
// the tag last held what it merged, and the settling wait only has to cover
// that (see settle).
func (c *Client) fresh(ctx context.Context, t target.Target, fb fallback, readDone time.Time, readDur time.Duration) (time.Time, time.Duration, error) {
	if time.Since(readDone) <= c.guard {
		return readDone, readDur, nil
	}
	for range 3 {
		at := time.Now()
		d, err := t.Resolve(ctx, fb.tag)
		done := time.Now()
		switch {
		case errors.Is(err, target.ErrNotFound):
			if fb.exists {
				return done, 0, errStale
			}
		case err != nil:
			return done, 0, fmt.Errorf("read referrers tag %s: %w", fb.tag, err)
		case !fb.exists || d.Digest != fb.desc.Digest:
			return done, 0, errStale
		}
		if time.Since(done) <= c.guard {
			return done, done.Sub(at), nil
		}
	}
	return time.Time{}, 0, errStale
}

// pushWatched runs a plain push of ours (an index with ours' entries) and,
// while it is in flight, reads the tag every c.watchEvery (10 ms: well below
// the settle floor, so that a push landing within one interval of another
// writer's is caught by that writer's verification). It returns the
// entries those reads found that ours lacks. Those were pushed by writers
// that read after us; when our push lands it replaces them, possibly after
// their writers verified them (a slow push outlasting their settling wait),
// so the caller merges them back. Without conditional requests this closes
// what timing alone leaves open: a push that takes longer than the others'
// settle is watched the whole time it is in flight. The entry of removed
// (what our push takes out) is not another writer's.
func (c *Client) pushWatched(ctx context.Context, t target.Target, subject digest.Digest, ours ocispec.Index, removed digest.Digest, push func() error) ([]ocispec.Descriptor, error) {
	wctx, stop := context.WithCancel(ctx)
	found := make(chan []ocispec.Descriptor, 1)
	go func() {
		have := make(map[digest.Digest]bool, len(ours.Manifests)+1)
		if removed != "" {
			have[removed] = true
		}
		for _, d := range ours.Manifests {
			have[d.Digest] = true
		}
		var extra []ocispec.Descriptor
		tick := time.NewTicker(c.watchEvery)
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				found <- extra
				return
			case <-tick.C:
			}
			fb, err := readFallback(wctx, t, subject)
			if err != nil {
				continue
			}
			for _, d := range fb.index.Manifests {
				if !have[d.Digest] {
					have[d.Digest] = true
					extra = append(extra, d)
				}
			}
		}
	}()
	err := push()
	stop()
	return <-found, err
}

// goneEntries returns the digests idx lists whose manifests t no longer
// holds (a HEAD each, at most c.parallel at once). Other errors count as
// present: only a manifest known to be gone is dropped.
func (c *Client) goneEntries(ctx context.Context, t target.Target, idx ocispec.Index) []digest.Digest {
	gone := make([]bool, len(idx.Manifests))
	_ = fanOut(ctx, len(idx.Manifests), c.parallel, func(ctx context.Context, i int) error {
		_, err := t.Resolve(ctx, idx.Manifests[i].Digest.String())
		gone[i] = errors.Is(err, target.ErrNotFound)
		return nil
	})
	var out []digest.Digest
	for i, g := range gone {
		if g {
			out = append(out, idx.Manifests[i].Digest)
		}
	}
	return out
}

// dropEntries removes the entries of idx whose digests are in set; it
// reports whether any was.
func dropEntries(idx *ocispec.Index, set map[digest.Digest]bool) bool {
	if len(set) == 0 {
		return false
	}
	kept := idx.Manifests[:0]
	for _, d := range idx.Manifests {
		if !set[d.Digest] {
			kept = append(kept, d)
		}
	}
	changed := len(kept) != len(idx.Manifests)
	idx.Manifests = kept
	return changed
}

func withoutDigests(ds []ocispec.Descriptor, set map[digest.Digest]bool) []ocispec.Descriptor {
	out := ds[:0]
	for _, d := range ds {
		if !set[d.Digest] {
			out = append(out, d)
		}
	}
	return out
}

// mergeDescs adds the descriptors of b that a lacks.
func mergeDescs(a, b []ocispec.Descriptor) []ocispec.Descriptor {
	for _, d := range b {
		found := false
		for _, x := range a {
			if x.Digest == d.Digest {
				found = true
				break
			}
		}
		if !found {
			a = append(a, d)
		}
	}
	return a
}

// finish runs the optional GC of superseded indexes: each is deleted by digest
// only when it is not what the tag points to now and not the subject.
func (c *Client) finish(ctx context.Context, t target.Target, res fallbackUpdate, superseded []ocispec.Descriptor, now fallback, gc bool) fallbackUpdate {
	if !gc {
		return res
	}
	for _, old := range superseded {
		if old.Digest == now.desc.Digest || old.MediaType != ocispec.MediaTypeImageIndex {
			continue
		}
		if strings.HasSuffix(res.tag, old.Digest.Encoded()[:min(64, len(old.Digest.Encoded()))]) {
			continue // never the subject (distribution-spec v1.1.1, Referrers Tag Schema)
		}
		if err := t.DeleteManifest(ctx, old.Digest); err != nil && !errors.Is(err, target.ErrNotFound) {
			res.warnings = append(res.warnings, fmt.Sprintf("could not delete the superseded referrers index %s (garbage collection may be needed): %v", old.Digest, err))
		}
	}
	return res
}
