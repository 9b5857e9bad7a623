package target

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// FallbackTag is the referrers tag schema tag of a subject digest: the
// algorithm truncated to 32 characters, "-", the encoded part truncated to 64,
// with every character outside [a-zA-Z0-9._-] replaced by "-"
// (distribution-spec main, "Referrers Tag Schema"; the same as v1.1.1 for
// sha256). It lives here, beside the targets, because a store that records
// referrers itself (an OCI layout) writes the tag too.
func FallbackTag(d digest.Digest) string {
	alg, enc := string(d.Algorithm()), d.Encoded()
	if len(alg) > 32 {
		alg = alg[:32]
	}
	if len(enc) > 64 {
		enc = enc[:64]
	}
	b := []byte(alg + "-" + enc)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// TagLister is a Target that can list its tags in one paged request
// (distribution-spec v1.1.1, "Listing Tags"). The verbs use it to learn which
// referrers tags exist before a nested listing, so that they read only those
// instead of asking once per referrer.
type TagLister interface {
	// Tags returns every tag of the repository, following the store's pages.
	Tags(ctx context.Context) ([]string, error)
}
