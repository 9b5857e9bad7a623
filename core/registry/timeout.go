package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// ErrTimeout is wrapped by the error of every exchange the client gave up on
// because the registry (or a host it redirected to) went silent: no
// connection, no response headers, no byte of a response body, or our upload
// no longer read, within the bound Timeouts set. errors.Is finds it through
// the retry notes ("gave up after N tries").
var ErrTimeout = errors.New("registry timed out")

// Timeouts bound the silences of a registry, never the total time of an
// exchange that makes progress: a large upload or download may take as long as
// it takes while bytes flow. A zero field keeps the default, a negative one
// turns that bound off.
//
// Dial and TLSHandshake configure the client's own transport; with
// WithHTTPClient they are the caller's Transport's business and are not
// applied. ResponseHeaders and Idle are enforced by the client itself around
// every exchange, whatever the transport.
type Timeouts struct {
	// Dial bounds opening a TCP connection (default 30s).
	Dial time.Duration
	// TLSHandshake bounds the TLS handshake (default 30s).
	TLSHandshake time.Duration
	// ResponseHeaders bounds the wait for a response's headers once the
	// request, with all of its body, is sent (default 60s: a registry may
	// verify a large blob before it answers the PUT that closes the upload).
	// For a request without a body it also covers connecting.
	ResponseHeaders time.Duration
	// Idle bounds the silence inside a body (default 60s): no byte of a
	// response body arrives, or the transport pulls no byte of our request
	// body (the registry stopped reading the upload), for this long. The time
	// our own source of an upload takes to produce bytes does not count.
	Idle time.Duration
}

// DefaultTimeouts are the bounds of a client built without WithTimeouts:
// a slow registry is fine, a silent one is not. An idempotent request that
// met a silence is tried once more, never more (a silent registry costs at
// most two bounds).
var DefaultTimeouts = Timeouts{
	Dial:            30 * time.Second,
	TLSHandshake:    30 * time.Second,
	ResponseHeaders: 60 * time.Second,
	Idle:            60 * time.Second,
}

// WithTimeouts sets the bounds on a registry's silences (see Timeouts; zero
// fields keep DefaultTimeouts, negative ones disable that bound).
func WithTimeouts(t Timeouts) Option {
	return func(c *Client) {
		pick := func(v, def time.Duration) time.Duration {
			switch {
			case v == 0:
				return def
			case v < 0:
				return 0
			}
			return v
		}
		c.timeouts = Timeouts{
			Dial:            pick(t.Dial, DefaultTimeouts.Dial),
			TLSHandshake:    pick(t.TLSHandshake, DefaultTimeouts.TLSHandshake),
			ResponseHeaders: pick(t.ResponseHeaders, DefaultTimeouts.ResponseHeaders),
			Idle:            pick(t.Idle, DefaultTimeouts.Idle),
		}
	}
}

// configureTransport applies the dial and TLS bounds to the client's own
// transport.
func configureTransport(tr *http.Transport, t Timeouts) {
	d := &net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}
	tr.DialContext = d.DialContext
	tr.TLSHandshakeTimeout = t.TLSHandshake
}

// TimeoutError is the error of an exchange the client cancelled because the
// other side went silent. It wraps ErrTimeout (and the transport's own error,
// when the transport timed out first).
type TimeoutError struct {
	Method string
	// URL is redacted (see redactURL).
	URL string
	// Stalled says what stalled, e.g. "no response headers within 60s".
	Stalled string
	// Err is the transport's error, when it detected the timeout (a dial or
	// TLS handshake bound); nil when the client's own watchdog fired.
	Err error
}

func (e *TimeoutError) Error() string {
	s := e.Method + " " + e.URL + ": " + e.Stalled
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap gives ErrTimeout and the transport's error.
func (e *TimeoutError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrTimeout, e.Err}
	}
	return []error{ErrTimeout}
}

// Timeout reports true (net.Error): the retry policy treats a stall like a
// network timeout (retried only when the request may be resent).
func (e *TimeoutError) Timeout() bool { return true }

// Temporary reports false (net.Error).
func (e *TimeoutError) Temporary() bool { return false }

// seconds renders a bound the way a user writes it: "60s", "200ms".
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// Phases of one exchange; the watchdog never goes back to an earlier one
// (the transport may still pull the request body after the answer came).
const (
	phaseUpload = iota
	phaseHeaders
	phaseBody
	phaseDone
)

// watchdog cancels one exchange's context when the current phase's bound
// passes without progress. One timer per exchange, re-armed on progress.
type watchdog struct {
	cancel context.CancelCauseFunc
	method string

	mu       sync.Mutex
	url      string
	phase    int
	armed    bool
	deadline time.Time
	stalled  string
	timer    *time.Timer
	fired    *TimeoutError
}

// set enters phase (unless a later one was reached) and arms the bound d
// with the message stalled; d <= 0 disarms.
func (w *watchdog) set(phase int, d time.Duration, stalled string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if phase < w.phase || w.fired != nil {
		return
	}
	w.phase = phase
	if d <= 0 {
		w.armed = false
		return
	}
	w.armed, w.deadline, w.stalled = true, time.Now().Add(d), stalled
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
	} else {
		w.timer.Reset(d)
	}
}

func (w *watchdog) fire() {
	w.mu.Lock()
	if !w.armed || w.fired != nil || w.phase == phaseDone {
		w.mu.Unlock()
		return
	}
	if rem := time.Until(w.deadline); rem > 0 {
		w.timer.Reset(rem) // re-armed since this firing was scheduled
		w.mu.Unlock()
		return
	}
	w.fired = &TimeoutError{Method: w.method, URL: w.url, Stalled: w.stalled}
	e := w.fired
	w.mu.Unlock()
	w.cancel(e)
}

// stop ends the watch for good.
func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase, w.armed = phaseDone, false
	if w.timer != nil {
		w.timer.Stop()
	}
}

// err is the timeout that fired, or nil.
func (w *watchdog) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired == nil {
		return nil
	}
	return w.fired
}

func (w *watchdog) setURL(u string) {
	w.mu.Lock()
	w.url = u
	w.mu.Unlock()
}

// uploadBody is a request body under the watchdog: the bound runs while the
// transport is not pulling bytes (the time our source takes does not count),
// and once the body is all read (EOF, its length, or closed by the
// transport) the wait for the response headers starts.
type uploadBody struct {
	rc      io.ReadCloser
	w       *watchdog
	idle    time.Duration
	headers time.Duration
	length  int64 // -1 when unknown
	n       int64
	// the messages, made once: Read runs once per buffer of the body
	stalled, noHeaders string
}

func newUploadBody(rc io.ReadCloser, w *watchdog, idle, headers time.Duration, length int64) *uploadBody {
	return &uploadBody{rc: rc, w: w, idle: idle, headers: headers, length: length,
		stalled:   "request body: the registry read none of it for " + seconds(idle),
		noHeaders: "no response headers within " + seconds(headers)}
}

func (b *uploadBody) stalledMsg() string { return b.stalled }

func (b *uploadBody) headersMsg() string { return b.noHeaders }

func (b *uploadBody) Read(p []byte) (int, error) {
	b.w.set(phaseUpload, 0, "") // our source's time is not the registry's
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil || (b.length >= 0 && b.n >= b.length) {
		b.w.set(phaseHeaders, b.headers, b.headersMsg())
	} else {
		b.w.set(phaseUpload, b.idle, b.stalledMsg())
	}
	if err != nil && err != io.EOF {
		if te := b.w.err(); te != nil {
			return n, te
		}
	}
	return n, err
}

func (b *uploadBody) Close() error {
	b.w.set(phaseHeaders, b.headers, b.headersMsg())
	return b.rc.Close()
}

// idleBody is a response body under the watchdog: each Read must see a byte
// within the idle bound (the time between Reads, the caller's, does not
// count). Close ends the exchange.
type idleBody struct {
	rc     io.ReadCloser
	w      *watchdog
	idle   time.Duration
	cancel context.CancelCauseFunc
	once   sync.Once
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.w.set(phaseBody, b.idle, "response body: no data for "+seconds(b.idle))
	n, err := b.rc.Read(p)
	b.w.set(phaseBody, 0, "")
	if err != nil && err != io.EOF {
		if te := b.w.err(); te != nil {
			return n, te
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	err := b.rc.Close()
	b.once.Do(func() {
		b.w.stop()
		b.cancel(nil)
	})
	return err
}

// exchange sends hr under a watchdog (see Timeouts): the request's context is
// cancelled when a bound passes, and the error then is the *TimeoutError. The
// returned body keeps the watch until it is closed.
func (c *Client) exchange(ctx context.Context, hr *http.Request) (*http.Response, error) {
	t := c.timeouts
	tctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{cancel: cancel, method: hr.Method, url: redactURL(hr.URL.String())}
	hr = hr.WithContext(tctx)
	if hr.Body != nil && hr.Body != http.NoBody {
		length := hr.ContentLength
		if length <= 0 {
			length = -1
		}
		ub := newUploadBody(hr.Body, w, t.Idle, t.ResponseHeaders, length)
		hr.Body = ub
		w.set(phaseUpload, t.Idle, ub.stalledMsg())
	} else {
		w.set(phaseHeaders, t.ResponseHeaders, "no response headers within "+seconds(t.ResponseHeaders))
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		w.stop()
		cancel(nil)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, c.transportError(ctx, w, hr, err)
	}
	if resp.Request != nil {
		w.setURL(redactURL(resp.Request.URL.String()))
	}
	w.set(phaseBody, 0, "")
	resp.Body = &idleBody{rc: resp.Body, w: w, idle: t.Idle, cancel: cancel}
	return resp, nil
}

// transportError turns what the transport returned into the client's error:
// the watchdog's timeout when it fired, a transport timeout (dial, TLS) as a
// *TimeoutError, and in any case no URL with a secret in it.
func (c *Client) transportError(parent context.Context, w *watchdog, hr *http.Request, err error) error {
	if te := w.err(); te != nil {
		return te
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redactURL(ue.URL)
	}
	var ne net.Error
	if parent.Err() == nil && errors.As(err, &ne) && ne.Timeout() {
		inner := err
		if ue != nil {
			inner = ue.Err
		}
		return &TimeoutError{Method: hr.Method, URL: redactURL(hr.URL.String()), Stalled: "timed out", Err: inner}
	}
	return err
}
