package server

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Defaults of the limits (each has an Option).
const (
	// DefaultMaxUploadBytes caps one blob upload (10 GiB).
	DefaultMaxUploadBytes = 10 << 30
	// DefaultMaxUploads caps the upload sessions open at once.
	DefaultMaxUploads = 64
	// DefaultUploadTTL is how long an upload session may sit idle before it
	// expires and its partial data is removed.
	DefaultUploadTTL = 15 * time.Minute
	// DefaultBodyIdleTimeout is how long a request body may send no byte
	// before its request ends (and an upload session it feeds with it).
	DefaultBodyIdleTimeout = 60 * time.Second
	// DefaultPageSize is the most entries one tags list or referrers page
	// holds when the client does not ask for fewer.
	DefaultPageSize = 1000
)

// Action is what a request does to a repository.
type Action string

// The actions an Authorizer is asked about.
const (
	ActionPull   Action = "pull"   // GET and HEAD of anything
	ActionPush   Action = "push"   // blob uploads and mounts, manifest PUT
	ActionDelete Action = "delete" // DELETE of a manifest, tag or blob
)

// Access is one question to an Authorizer. Repository is empty for the
// version check (GET /v2/).
type Access struct {
	Repository string
	Action     Action
}

// An Authorizer decides whether a request may do what it asks. It returns nil
// to allow; ErrUnauthorized (answered 401 with the Challenge) when the
// request carries no or wrong credentials; ErrDenied (403) when it carries
// credentials that are not enough; ErrReadOnly (405) when the server does not
// offer the action at all. Any other error is a 500. It is called from many
// goroutines at once.
type Authorizer interface {
	Authorize(r *http.Request, a Access) error
	// Challenge is the WWW-Authenticate value sent with a 401 ("" for none).
	Challenge() string
}

// Errors an Authorizer returns.
var (
	ErrUnauthorized = errors.New("authentication required")
	ErrDenied       = errors.New("access denied")
	ErrReadOnly     = errors.New("not allowed on this server")
)

type config struct {
	auth           Authorizer
	allowPush      bool
	allowDelete    bool
	token          string
	maxUploadBytes int64
	maxUploads     int
	uploadTTL      time.Duration
	bodyIdle       time.Duration
	pageSize       int
	logger         *slog.Logger
	now            func() time.Time

	cacheHeaders   bool
	cacheMaxAge    time.Duration
	publicReads    bool
	publicReadsSet bool
}

// Option configures a Server.
type Option func(*config)

// WithAllowPush lets anyone push (blob uploads, mounts, manifest PUTs).
func WithAllowPush(allow bool) Option { return func(c *config) { c.allowPush = allow } }

// WithAllowDelete lets anyone delete manifests, tags and blobs.
func WithAllowDelete(allow bool) Option { return func(c *config) { c.allowDelete = allow } }

// WithToken lets requests that carry token push and delete: as a Bearer
// token, or as the password of HTTP Basic authentication (any user name).
// Pulls stay anonymous. An empty token is no token.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithAuthorizer replaces the built-in rules (WithAllowPush, WithAllowDelete,
// WithToken) with a.
func WithAuthorizer(a Authorizer) Option { return func(c *config) { c.auth = a } }

// WithMaxUploadBytes caps the size of one blob upload; a bigger one is
// answered 413 and its session ended. n <= 0 keeps the default.
func WithMaxUploadBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxUploadBytes = n
		}
	}
}

// WithMaxUploads caps the upload sessions open at once; one more is answered
// 429. n <= 0 keeps the default.
func WithMaxUploads(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxUploads = n
		}
	}
}

// WithUploadTTL sets how long an upload session may sit idle before it
// expires. d <= 0 keeps the default.
func WithUploadTTL(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.uploadTTL = d
		}
	}
}

// WithBodyIdleTimeout sets how long a request body may send no byte before
// its request ends: a chunk or manifest whose client stops sending (a stalled
// or hostile client) is answered 408 and its connection closed, and an upload
// session it was feeding ends, its data removed and its slot freed (a
// client starts the upload again; see the package documentation). A body
// that keeps flowing is never cut, however long it takes. The same limit
// holds for answers: a client that stops reading a download for d loses its
// connection, and its request ends. d <= 0 keeps the default.
func WithBodyIdleTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.bodyIdle = d
		}
	}
}

// WithPageSize sets the most entries in one tags list or referrers page.
// n <= 0 keeps the default.
func WithPageSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.pageSize = n
		}
	}
}

// WithCacheHeaders turns the caching headers (Cache-Control and Vary; see
// DefaultCacheMaxAge and the package documentation) on, the default, or off:
// off, no cache in front of the server stores anything. ETags and
// If-None-Match work either way.
func WithCacheHeaders(on bool) Option { return func(c *config) { c.cacheHeaders = on } }

// WithCacheMaxAge sets how long a cache may answer a manifest by tag, a tags
// list, a referrers list or the catalog without asking the server (RFC 9111,
// 5.2.2.1 max-age), in whole seconds (rounded down). 0 (or less than a
// second) sends no-cache: caches revalidate on every use (RFC 9111, 5.2.2.4
// no-cache). d < 0 keeps the default, DefaultCacheMaxAge. Answers by digest
// are immutable whatever d is.
func WithCacheMaxAge(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.cacheMaxAge = d
		}
	}
}

// WithPublicReads says whether every client may pull every answer, so that
// shared caches (a CDN) may keep them ("public") or not ("private", kept by
// the client's own cache only, with Vary: Authorization). The default is
// true with the built-in rules (pulls are anonymous) and false with
// WithAuthorizer, whose rules the server cannot see.
func WithPublicReads(public bool) Option {
	return func(c *config) { c.publicReads, c.publicReadsSet = public, true }
}

// WithLogger logs one line per request and each storage error (default:
// nothing).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// withClock is for tests of session expiry.
func withClock(now func() time.Time) Option { return func(c *config) { c.now = now } }
