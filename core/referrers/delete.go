package referrers

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// Sentinel errors of Delete.
var (
	// ErrNotReferrer: the manifest to delete has no subject. Delete removes
	// referrers; an image or index without a subject is deleted with a
	// registry's own tools.
	ErrNotReferrer = errors.New("not a referrer (the manifest has no subject)")
	// ErrHasReferrers: the referrer to delete has referrers of its own and
	// DeleteOptions.Recursive was not set.
	ErrHasReferrers = errors.New("the referrer has referrers of its own")
)

// DeleteOptions qualify Delete.
type DeleteOptions struct {
	// Mode: with auto (default) or tag, the referrer's entry is removed from
	// its subject's referrers tag wherever that tag lists it, also on a
	// registry with the Referrers API (a mixed state, where another client
	// wrote the tag); with api the tag is left alone. The referrers of a
	// referrer (Recursive) are found as List finds them in this mode.
	Mode Mode
	// GCFallbackIndex deletes the superseded tag schema index after an
	// update (as AttachOptions.GCFallbackIndex).
	GCFallbackIndex bool
	// Recursive also deletes the referrers of the referrer, and theirs, each
	// before what it refers to. Without it, a referrer that has referrers of
	// its own is refused with ErrHasReferrers and nothing is deleted.
	Recursive bool
	// Subject is the subject's digest of a referrer whose manifest is
	// already gone: a rerun after a delete whose tag update failed
	// (*DeleteIncompleteError). Its entry is then removed from that
	// subject's referrers tag. When the manifest is there its own subject
	// field decides, and Subject, if set, must equal it.
	Subject digest.Digest
}

// Deleted is one referrer Delete removed.
type Deleted struct {
	// Descriptor of the referrer's manifest.
	Descriptor ocispec.Descriptor
	// Subject is the digest of what it referred to.
	Subject digest.Digest
	// Gone is true when the manifest was already gone: only an index entry
	// that still listed it was removed.
	Gone bool
	// FallbackTag is the referrers tag whose index listed the referrer and
	// no longer does; "" when no such tag listed it (a store that records
	// referrers itself removes its own records with the manifest).
	FallbackTag string
}

// DeleteResult reports a delete.
type DeleteResult struct {
	// Deleted are the referrers removed, in the order they were: the
	// referrers of a referrer before it, the one asked for last.
	Deleted []Deleted
	// Warnings are problems that did not fail the delete.
	Warnings []string
}

// DeleteIncompleteError is a delete that took the referrer out of its
// subject's referrers tag but could not delete its manifest, nor put the
// entry back: the referrer is still stored, and listings by the tag schema
// no longer show it. Running the delete again finishes it (the manifest still
// names its subject).
type DeleteIncompleteError struct {
	Referrer digest.Digest
	Subject  digest.Digest
	Tag      string
	// Err is why the manifest was not deleted; Restore why the entry could
	// not be put back.
	Err, Restore error
}

func (e *DeleteIncompleteError) Error() string {
	return fmt.Sprintf("referrer %s was taken out of the referrers tag %s of %s, but its manifest was not deleted (%v) and putting the entry back failed (%v): delete it again to finish", e.Referrer, e.Tag, e.Subject, e.Err, e.Restore)
}

func (e *DeleteIncompleteError) Unwrap() error { return e.Err }

// deletion is one manifest to delete and what it refers to.
type deletion struct {
	desc    ocispec.Descriptor
	subject digest.Digest
	gone    bool
}

// Delete removes the referrer desc names from t (distribution-spec v1.1.1,
// "Deleting Manifests"): it reads the manifest's subject, removes the entry
// from the subject's referrers tag schema index with the update that loses
// no other writer's entry (see editFallback; an attach and a delete at once
// both take effect), and then deletes the manifest. An OCI layout and a
// static tree update their own records (index.json, the pre-rendered index)
// when the manifest is deleted.
//
// The entry goes first because registries that check an index's children
// (distribution) refuse every later push of an index that lists a deleted
// manifest: an entry left behind by a failure would block every attach to
// the subject. Before anything changes, one DELETE of a manifest that cannot
// exist asks whether the store deletes at all: a store that refuses
// (ErrUnsupported) is reported and nothing changes. A manifest delete that
// fails afterwards puts the entry back; if that fails too, the error is a
// *DeleteIncompleteError, and running the delete again finishes it.
//
// A manifest without a subject is refused (ErrNotReferrer); one with
// referrers of its own is refused (ErrHasReferrers) unless Recursive is set.
// A manifest that is already gone, with Subject given, only has its entry
// removed from that subject's tag (Deleted.Gone): the stale entry another
// tool's delete left. If no tag lists it either, the error is
// target.ErrNotFound.
func (c *Client) Delete(ctx context.Context, t target.Target, desc ocispec.Descriptor, opts DeleteOptions) (DeleteResult, error) {
	var res DeleteResult
	mode, err := ParseMode(string(opts.Mode))
	if err != nil {
		return res, err
	}
	if err := desc.Digest.Validate(); err != nil {
		return res, fmt.Errorf("referrer: %w", err)
	}
	root, err := inspect(ctx, t, desc)
	if err != nil {
		return res, err
	}
	switch {
	case root.gone && opts.Subject == "":
		return res, fmt.Errorf("%s: manifest %s: %w (if a referrers tag still lists it, give its subject to remove the entry)", t.Name(), desc.Digest, target.ErrNotFound)
	case root.gone:
		if err := opts.Subject.Validate(); err != nil {
			return res, fmt.Errorf("subject: %w", err)
		}
		root.subject = opts.Subject
	case root.subject == "":
		return res, fmt.Errorf("%s: %s: %w", t.Name(), desc.Digest, ErrNotReferrer)
	case opts.Subject != "" && opts.Subject != root.subject:
		return res, fmt.Errorf("%s: %s refers to %s, not to the subject %s given", t.Name(), desc.Digest, root.subject, opts.Subject)
	}
	plan := []deletion{root}
	if !root.gone {
		if plan, err = c.deletionPlan(ctx, t, root, mode, opts.Recursive); err != nil {
			return res, err
		}
		if err := probeDelete(ctx, t); err != nil {
			return res, err
		}
	}
	for _, n := range plan {
		d, w, err := c.deleteOne(ctx, t, n, mode, opts.GCFallbackIndex)
		res.Warnings = append(res.Warnings, w...)
		if err != nil {
			return res, err
		}
		if d.Gone && d.FallbackTag == "" {
			if n.desc.Digest == root.desc.Digest {
				return res, fmt.Errorf("%s: manifest %s is gone and the referrers tag of %s does not list it: %w", t.Name(), n.desc.Digest, n.subject, target.ErrNotFound)
			}
			continue // a listing's entry whose manifest went meanwhile
		}
		res.Deleted = append(res.Deleted, d)
	}
	return res, nil
}

// probeManifest is the digest probeDelete deletes: no store holds it.
var probeManifest = digest.FromString("referrers: does this store delete manifests?")

// probeDelete asks whether t deletes manifests before anything is changed:
// a DELETE of a manifest that does not exist answers "not found" where
// deletes work, and "unsupported" (405, UNSUPPORTED) where they are disabled
// whatever the digest; a refused permission shows here too.
func probeDelete(ctx context.Context, t target.Target) error {
	err := t.DeleteManifest(ctx, probeManifest)
	switch {
	case err == nil, errors.Is(err, target.ErrNotFound):
		return nil
	case errors.Is(err, target.ErrUnsupported):
		return fmt.Errorf("%s refuses to delete manifests (deletes are disabled or not offered there; asked by deleting a digest no manifest has); nothing was changed: %w", t.Name(), err)
	}
	return fmt.Errorf("%s: checking that deletes are allowed (nothing was changed): %w", t.Name(), err)
}

// inspect reads the manifest desc names: its exact descriptor and subject,
// or gone when the store does not hold it.
func inspect(ctx context.Context, t target.Target, desc ocispec.Descriptor) (deletion, error) {
	n := deletion{desc: desc}
	var err error
	if desc.MediaType == "" || desc.Size <= 0 {
		desc, err = t.Resolve(ctx, desc.Digest.String())
	}
	var b []byte
	if err == nil {
		b, err = t.FetchManifest(ctx, desc)
	}
	switch {
	case errors.Is(err, target.ErrNotFound):
		n.gone = true
		return n, nil
	case err != nil:
		return n, fmt.Errorf("read referrer %s: %w", desc.Digest, err)
	}
	n.desc = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	_, s, err := target.ParseReferrer(n.desc, b)
	if err != nil {
		return n, err
	}
	if s != nil {
		n.subject = s.Digest
	}
	return n, nil
}

// deletionPlan lists the referrers below root, breadth first with a visited
// set and the node cap of nested listings, and returns what to delete in
// reverse order (each referrer before what it refers to; root last). Without
// recursive, any referrer of root refuses the delete.
func (c *Client) deletionPlan(ctx context.Context, t target.Target, root deletion, mode Mode, recursive bool) ([]deletion, error) {
	order := []deletion{root}
	visited := map[digest.Digest]bool{root.desc.Digest: true, root.subject: true}
	for i := 0; i < len(order); i++ {
		n := order[i]
		kids, _, _, err := c.referrersOf(ctx, t, n.desc.Digest, mode, filter{}, nil)
		if err != nil {
			return nil, fmt.Errorf("list the referrers of %s: %w", n.desc.Digest, err)
		}
		if len(kids) > 0 && !recursive {
			return nil, fmt.Errorf("%s: %s has %d referrer(s), such as %s; delete them first or delete recursively: %w", t.Name(), n.desc.Digest, len(kids), kids[0].Digest, ErrHasReferrers)
		}
		for _, k := range kids {
			if visited[k.Digest] {
				continue
			}
			visited[k.Digest] = true
			order = append(order, deletion{desc: ocispec.Descriptor{MediaType: k.MediaType, Digest: k.Digest, Size: k.Size}, subject: n.desc.Digest})
			if len(order) > c.maxNodes {
				return nil, fmt.Errorf("more than %d referrers below %s: %w", c.maxNodes, root.desc.Digest, target.ErrTooLarge)
			}
		}
	}
	for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
		order[i], order[j] = order[j], order[i]
	}
	return order, nil
}

// deleteOne removes one referrer's entry from its subject's referrers tag
// (unless mode is api), then deletes its manifest; a failed delete puts the
// entry back.
func (c *Client) deleteOne(ctx context.Context, t target.Target, n deletion, mode Mode, gc bool) (Deleted, []string, error) {
	d := Deleted{Descriptor: n.desc, Subject: n.subject, Gone: n.gone}
	var warnings []string
	var upd fallbackUpdate
	if mode != ModeAPI {
		var err error
		upd, err = c.editFallback(ctx, t, n.subject, fallbackEdit{remove: n.desc.Digest}, gc)
		warnings = append(warnings, upd.warnings...)
		switch {
		case errors.Is(err, ErrFallbackInvalid):
			// not an index, or the subject itself (a registry that maps
			// the tag to the digest): no tag schema index to clean
			warnings = append(warnings, err.Error()+"; left as it is")
		case err != nil:
			return d, warnings, fmt.Errorf("remove %s from the referrers tag %s (its manifest is not deleted): %w", n.desc.Digest, upd.tag, err)
		}
		if upd.found {
			d.FallbackTag = upd.tag
			if n.gone {
				c.logf("%s: %s was already gone; removed its entry from the referrers tag %s", t.Name(), n.desc.Digest, upd.tag)
			}
		}
	}
	if n.gone {
		return d, warnings, nil
	}
	err := t.DeleteManifest(ctx, n.desc.Digest)
	switch {
	case errors.Is(err, target.ErrNotFound):
		// gone meanwhile, or (a layout that records referrers in the tag
		// only) no record but the entry we removed
		d.Gone = !upd.found
	case err != nil:
		if errors.Is(err, target.ErrUnsupported) {
			err = fmt.Errorf("%s refuses to delete %s (deletes are disabled or not offered there): %w", t.Name(), n.desc.Digest, err)
		} else {
			err = fmt.Errorf("delete %s: %w", n.desc.Digest, err)
		}
		if upd.found {
			// the referrer stays, and so must its listing
			if _, rerr := c.updateFallback(ctx, t, n.subject, upd.removed, false); rerr != nil {
				return d, warnings, &DeleteIncompleteError{Referrer: n.desc.Digest, Subject: n.subject, Tag: upd.tag, Err: err, Restore: rerr}
			}
			err = fmt.Errorf("%w (its entry is back in the referrers tag %s)", err, upd.tag)
		}
		return d, warnings, err
	}
	if gc {
		// tags left with an empty index go: the subject's, and the
		// referrer's own (its referrers were deleted before it)
		if upd.found {
			warnings = append(warnings, dropEmptyTag(ctx, t, n.subject)...)
		}
		warnings = append(warnings, dropEmptyTag(ctx, t, n.desc.Digest)...)
	}
	return d, warnings, nil
}

// dropEmptyTag deletes, by digest, the referrers tag index of subject when
// it lists nothing (distribution-spec v1.1.1, "Deleting
// Manifests" allows removing a referrers tag). All empty indexes have the
// same bytes, so this may untag another subject's empty index too: a missing
// tag and an empty index both mean "no referrers".
func dropEmptyTag(ctx context.Context, t target.Target, subject digest.Digest) []string {
	fb, err := readFallback(ctx, t, subject)
	if err != nil || !fb.exists || len(fb.index.Manifests) > 0 {
		return nil
	}
	if err := t.DeleteManifest(ctx, fb.desc.Digest); err != nil && !errors.Is(err, target.ErrNotFound) {
		return []string{fmt.Sprintf("could not delete the empty referrers tag %s of %s: %v", fb.tag, subject, err)}
	}
	return nil
}
