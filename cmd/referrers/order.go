package main

import (
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
)

// latestKey is the annotation --latest goes by when --sort-annotation is not
// given: the one `attach --created` writes.
const latestKey = ocispec.AnnotationCreated

// orderOptions are list's --sort-annotation and --latest.
type orderOptions struct {
	// sortKey sorts by this annotation's value; "" keeps the digest order.
	sortKey string
	// latest keeps only the referrer with the greatest value of sortKey (or of
	// latestKey when sortKey is "").
	latest bool
}

// order applies o to the subject's own referrers ns (already filtered); nested
// levels keep their digest order. It returns the referrers to print and a
// warning ("" for none). With latest, an empty ns stays empty, and a ns in
// which no referrer carries the key is an error: nothing says which is the
// latest.
func order(ns []*referrers.Node, o orderOptions) ([]*referrers.Node, string, error) {
	if o.sortKey != "" {
		sortByAnnotation(ns, o.sortKey)
	}
	if !o.latest || len(ns) == 0 {
		return ns, "", nil
	}
	key := o.sortKey
	if key == "" {
		key = latestKey
	}
	n, missing := latestBy(ns, key)
	if n == nil {
		return nil, "", fmt.Errorf("--latest: no referrer of the %d listed carries the annotation %s, so none is known to be the latest "+
			"(attach with --created, or name another annotation with --sort-annotation)", len(ns), key)
	}
	warning := ""
	if missing > 0 {
		warning = fmt.Sprintf("--latest: skipped %d of the %d referrers: no annotation %s", missing, len(ns), key)
	}
	return []*referrers.Node{n}, warning, nil
}

// sortByAnnotation sorts ns by the value of annotation key, ascending; values
// compare as strings (byte by byte). Referrers without key come last; ties,
// and the referrers without key, are in digest order, so the output is the
// same on every run.
func sortByAnnotation(ns []*referrers.Node, key string) {
	slices.SortStableFunc(ns, func(a, b *referrers.Node) int {
		av, aok := a.Descriptor.Annotations[key]
		bv, bok := b.Descriptor.Annotations[key]
		switch {
		case aok && !bok:
			return -1
		case !aok && bok:
			return 1
		case av != bv:
			return strings.Compare(av, bv)
		}
		return strings.Compare(string(a.Descriptor.Digest), string(b.Descriptor.Digest))
	})
}

// latestBy returns the referrer of ns with the greatest value of annotation
// key (of equal values, the greatest digest: the last in sortByAnnotation's
// order) and how many referrers lack key. It returns nil when none has key.
func latestBy(ns []*referrers.Node, key string) (latest *referrers.Node, missing int) {
	for _, n := range ns {
		v, ok := n.Descriptor.Annotations[key]
		if !ok {
			missing++
			continue
		}
		if latest == nil {
			latest = n
			continue
		}
		lv := latest.Descriptor.Annotations[key]
		if v > lv || (v == lv && n.Descriptor.Digest > latest.Descriptor.Digest) {
			latest = n
		}
	}
	return latest, missing
}
