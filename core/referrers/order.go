package referrers

import (
	"fmt"
	"sort"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// LatestAnnotation is the annotation ListOptions.Latest goes by when
// SortAnnotation is empty: the creation time (image-spec v1.1.1,
// "Pre-Defined Annotation Keys"), which `referrers attach --created` writes.
const LatestAnnotation = ocispec.AnnotationCreated

// order applies SortAnnotation and Latest of opts to the subject's own
// referrers ns (already filtered); nested levels keep their digest order. It
// returns the referrers to keep and a warning ("" for none). With Latest, an
// empty ns stays empty, and a ns in which no referrer carries the key is an
// error: nothing says which is the latest.
func order(ns []*Node, opts ListOptions) ([]*Node, string, error) {
	if opts.SortAnnotation != "" {
		sortByAnnotation(ns, opts.SortAnnotation)
	}
	if !opts.Latest || len(ns) == 0 {
		return ns, "", nil
	}
	key := opts.SortAnnotation
	if key == "" {
		key = LatestAnnotation
	}
	n, missing := latestBy(ns, key)
	if n == nil {
		// the message names the command line's flags, as the verbs' other messages do
		return nil, "", fmt.Errorf("--latest: no referrer of the %d listed carries the annotation %s, so none is known to be the latest "+
			"(attach with --created, or name another annotation with --sort-annotation)", len(ns), key)
	}
	warning := ""
	if missing > 0 {
		warning = fmt.Sprintf("--latest: skipped %d of the %d referrers: no annotation %s", missing, len(ns), key)
	}
	return []*Node{n}, warning, nil
}

// sortByAnnotation sorts ns by the value of annotation key, ascending; values
// compare as strings (byte by byte), so UTC RFC 3339 times of one precision
// sort by time. Referrers without key come last; ties, and the referrers
// without key, are in digest order, so the output is the same on every run.
func sortByAnnotation(ns []*Node, key string) {
	// a total order (digests are unique in a listing): no stable sort needed
	sort.Slice(ns, func(i, j int) bool {
		a, b := ns[i].Descriptor, ns[j].Descriptor
		av, aok := a.Annotations[key]
		bv, bok := b.Annotations[key]
		switch {
		case aok != bok:
			return aok
		case av != bv:
			return av < bv
		}
		return a.Digest < b.Digest
	})
}

// latestBy returns the referrer of ns with the greatest value of annotation
// key (of equal values, the greatest digest: the last in sortByAnnotation's
// order) and how many referrers lack key. It returns nil when none has key.
func latestBy(ns []*Node, key string) (latest *Node, missing int) {
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
