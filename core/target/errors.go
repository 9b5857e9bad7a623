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
