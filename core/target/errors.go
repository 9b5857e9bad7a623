package target

import "errors"

// Sentinel errors shared by all targets. Wrap them with context; test with errors.Is.
var (
	// ErrNotFound: the manifest, tag, blob or repository does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnsupported: the store does not offer the operation (no Referrers API,
	// deletes disabled). For Referrers, only this error leads to the tag schema.
	ErrUnsupported = errors.New("unsupported")
	// ErrPreconditionFailed: a conditional push lost (HTTP 412).
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrConditionalUnsupported: the store rejected a conditional header.
	ErrConditionalUnsupported = errors.New("conditional requests unsupported")
	// ErrDigestMismatch: content did not match the digest it was fetched or pushed by.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrTooLarge: a body exceeded its cap.
	ErrTooLarge = errors.New("too large")
	// ErrStale: a push was not retried because its data was stale by then
	// (PushOptions.NotAfter); the first try failed and may or may not have
	// been applied.
	ErrStale = errors.New("not retried: the data is stale")
	// ErrInvalidManifest: bytes that should be a manifest or index are not.
	ErrInvalidManifest = errors.New("invalid manifest")
)

// UnsupportedAnswer is an answer judged ErrUnsupported although it is not the
// spec's own "no Referrers API" answer (distribution-spec v1.1.1, "Listing
// Referrers": a 404), such as a referrers 200 whose body is not an image
// index. Reason says what came back, so that a listing that reads the tag
// schema instead can say why; Err is the store's error and wraps
// ErrUnsupported. Find it with UnsupportedReason.
type UnsupportedAnswer struct {
	Reason string
	Err    error
}

func (e *UnsupportedAnswer) Error() string { return e.Err.Error() }
func (e *UnsupportedAnswer) Unwrap() error { return e.Err }

// UnsupportedReason returns the Reason of the first UnsupportedAnswer in
// err's tree, or "". It walks the tree with type assertions rather than
// errors.As, whose reflection would cost the WASI module about 49 KB.
func UnsupportedReason(err error) string {
	switch e := err.(type) {
	case nil:
		return ""
	case *UnsupportedAnswer:
		return e.Reason
	case interface{ Unwrap() error }:
		return UnsupportedReason(e.Unwrap())
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if r := UnsupportedReason(inner); r != "" {
				return r
			}
		}
	}
	return ""
}
