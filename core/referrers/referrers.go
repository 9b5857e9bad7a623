// Package referrers holds the verbs of the project: Attach an artifact to a
// subject, List the referrers of a subject (optionally nested), and the referrers
// tag schema fallback they share (distribution-spec v1.1.1, "Referrers Tag Schema",
// with the truncation rule of distribution-spec main).
//
// The verbs work on any target.Target. They decide how referrers are found:
//
//   - ModeAPI: only the target's own mechanism (a registry's Referrers API);
//   - ModeTag: only the referrers tag schema index (`<alg>-<encoded>`);
//   - ModeAuto: the API when the target has it, the tag schema otherwise. The
//     capability is learned once per repository and cached in the Client
//     (distribution-spec v1.1.1, Unavailable Referrers API); only target.ErrUnsupported leads to the tag schema, every
//     other error is returned (distribution-spec v1.1.1, Unavailable Referrers API): "no referrers" is never an error's
//     disguise.
//
// See RATIONALE.md for how the tag schema update keeps every entry when many
// writers attach to one subject at once.
package referrers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// Mode selects how referrers are found and recorded.
type Mode string

// The modes of --referrers-mode.
const (
	ModeAuto Mode = "auto"
	ModeAPI  Mode = "api"
	ModeTag  Mode = "tag"

	// ModeScan and ModeIndex are reported, never asked for: an on-disk tree
	// answered by scanning its manifests' subject fields, or from an index it
	// keeps (index.json entries with a fresh scan, a pre-rendered referrers
	// file). Asking for api on a tree means the same thing.
	ModeScan  Mode = "scan"
	ModeIndex Mode = "index"
)

// ParseMode parses "auto", "api" or "tag" ("" is auto).
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeAuto:
		return ModeAuto, nil
	case ModeAPI, ModeTag:
		return Mode(s), nil
	}
	return "", errors.New(`referrers mode must be "auto", "api" or "tag"`)
}

// Sentinel errors of the verbs.
var (
	// ErrFallbackInvalid: the referrers tag holds something other than an image
	// index, or resolves to the subject itself (distribution-spec v1.1.1, Referrers Tag Schema).
	ErrFallbackInvalid = errors.New("referrers tag schema index is invalid")
	// ErrFallbackConflict: the tag schema index kept changing under us and the
	// update could not be verified within the retries.
	ErrFallbackConflict = errors.New("referrers tag schema update did not settle")
	// ErrAPIUnsupported: ModeAPI was asked for and the target has no Referrers API.
	ErrAPIUnsupported = errors.New("the registry has no Referrers API")
	// ErrInvalidArtifact: the artifact to attach breaks image-spec v1.1.1 rules.
	ErrInvalidArtifact = errors.New("invalid artifact")
	// ErrNotIndex: AttachOptions.AllPlatforms was asked for and the subject
	// is a single manifest, not an image index.
	ErrNotIndex = errors.New("the subject is not an image index")
)

type capability int

const (
	capUnknown capability = iota
	capAPI
	capNoAPI
)

// Client runs the verbs. It caches, per repository, whether the Referrers API is
// there and whether conditional pushes are accepted, and serialises tag schema
// updates to one tag inside the process (distribution-spec v1.1.1, Referrers Tag Schema). It is safe for
// concurrent use.
type Client struct {
	mu    sync.Mutex
	repos map[string]repoState
	locks map[string]*sync.Mutex

	guard time.Duration
	// settleFloor is the shortest wait before verifying a plain push.
	settleFloor time.Duration
	// watchEvery is how often the tag is read while a plain push is in
	// flight (see pushWatched).
	watchEvery time.Duration
	attempts   int
	maxNodes   int
	parallel   int
	sleep      func(context.Context, time.Duration) error
	jitter     func(time.Duration) time.Duration
	debug      io.Writer
}

// Option configures a Client.
type Option func(*Client)

// WithSettle sets the staleness guard of unconditional tag schema updates: a
// plain push is sent at most guard after its read, or a HEAD that confirmed
// the read, completed; a pushed index is verified after guard plus twice
// that request's and the push's durations, and at least 40 ms or
// four times the guard, whichever is less (see RATIONALE.md). Every writer must use
// the same guard.
func WithSettle(guard time.Duration) Option {
	return func(c *Client) { c.guard, c.settleFloor = guard, min(c.settleFloor, 4*guard) }
}

// WithDebug writes the verbs' decisions to w: the mode found, condition probes,
// settling waits, retries.
func WithDebug(w io.Writer) Option { return func(c *Client) { c.debug = w } }

// WithUpdateAttempts bounds the read-merge-push-verify rounds of one update.
func WithUpdateAttempts(n int) Option {
	return func(c *Client) { c.attempts = max(1, n) }
}

// WithMaxNodes bounds how many referrers a nested listing visits in all.
func WithMaxNodes(n int) Option { return func(c *Client) { c.maxNodes = max(1, n) } }

// DefaultParallel is the default of WithParallel. 16 rather than 8: a
// depth-2 listing of 2,000 referrers on a loopback registry that spends
// about a millisecond of its own CPU on each API GET took 5-10% less time
// with 16 at once than with 8 (14-17% with 32) in three interleaved sets on
// two cores (RATIONALE.md, "Nested listing"), and a remote registry's
// latency is hidden better still; 32 connections to one registry is more
// than a careful client opens by default.
const DefaultParallel = 16

// WithParallel bounds the concurrent requests of a nested listing's level,
// of the blob uploads of an attach, and of the HEADs and fetches that check
// a listing's entries (default DefaultParallel). Copy has its own bound
// (CopyOptions.Concurrency).
func WithParallel(n int) Option { return func(c *Client) { c.parallel = max(1, n) } }

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{
		repos:       map[string]repoState{},
		locks:       map[string]*sync.Mutex{},
		guard:       5 * time.Millisecond,
		settleFloor: 40 * time.Millisecond,
		watchEvery:  10 * time.Millisecond,
		attempts:    24,
		maxNodes:    10000,
		parallel:    DefaultParallel,
		sleep: func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		},
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// repoState is what the Client has learned about one repository.
type repoState struct {
	cap  capability // is the Referrers API there?
	cond conditions // are conditional pushes honoured?
}

func (c *Client) repo(name string) repoState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.repos[name]
}

func (c *Client) setRepo(name string, f func(*repoState)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.repos[name]
	f(&st)
	c.repos[name] = st
}

func (c *Client) lock(key string) func() {
	c.mu.Lock()
	m, ok := c.locks[key]
	if !ok {
		m = &sync.Mutex{}
		c.locks[key] = m
	}
	c.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (c *Client) logf(format string, a ...any) {
	if c.debug == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.debug, "referrers: "+format+"\n", a...)
}
