// Package registry is a pure net/http client for OCI registries
// (distribution-spec v1.1.1): authentication (anonymous, Basic, the Bearer token
// flow), manifests, blobs and the Referrers API with Link paging and the
// artifactType filter. A Repository implements target.Target.
//
// It is the only package of core that imports net/http. Every status code is judged
// in one function (judge), every body is read through a cap, and every byte fetched
// by digest is verified against it.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/oci-referrers/referrers/core/credential"
	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
)

// Client talks to registries. It is safe for concurrent use and is meant to live
// for the process: tokens and the auth scheme of each host are reused.
type Client struct {
	hc         *http.Client
	creds      credential.Store
	plainHTTP  func(host string) bool
	userAgent  string
	debug      io.Writer
	attempts   int
	backoff    time.Duration
	maxWait    time.Duration
	maxPages   int
	maxEntries int
	sleep      func(ctx context.Context, d time.Duration) error
	timeouts   Timeouts
	// ownTransport: the transport is the client's, and the dial and TLS
	// bounds of timeouts apply to it.
	ownTransport bool

	mu      sync.Mutex
	debugMu sync.Mutex
	tokens  map[string][]token // host -> tokens
	basic   map[string]credential.Credential
	fetch   map[string]*sync.Mutex // host+scope -> serialises token fetches
}

type token struct {
	repo    string
	actions map[string]bool
	value   string
	expires time.Time
}

// Option configures a Client. Options never fail.
type Option func(*Client)

// WithHTTPClient sets the http.Client: its Transport and Timeout are used, its
// CheckRedirect is replaced by ours. The dial and TLS handshake bounds of
// Timeouts are then the Transport's own business; the response-header bound,
// the idle bound on response bodies and the stall guard on uploads are the
// client's and always apply.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		cp := *hc
		c.hc = &cp
		c.ownTransport = false
	}
}

// WithCredentials sets where credentials come from (default: none, anonymous).
func WithCredentials(s credential.Store) Option { return func(c *Client) { c.creds = s } }

// WithPlainHTTP makes the client speak http:// to every host (registries without TLS).
func WithPlainHTTP(plain bool) Option {
	return func(c *Client) { c.plainHTTP = func(string) bool { return plain } }
}

// WithPlainHTTPHosts speaks http:// to the hosts for which f is true.
func WithPlainHTTPHosts(f func(host string) bool) Option { return func(c *Client) { c.plainHTTP = f } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithDebug writes one line per HTTP exchange to w: method, URL, status and
// duration. Credentials and tokens are never written.
func WithDebug(w io.Writer) Option { return func(c *Client) { c.debug = w } }

// WithRetry sets how many times a request is tried in all (at least 1) and the
// first backoff; it doubles each time, with jitter. maxWait bounds any single wait,
// a Retry-After asking for more ends the retries.
func WithRetry(attempts int, backoff, maxWait time.Duration) Option {
	return func(c *Client) {
		if attempts < 1 {
			attempts = 1
		}
		c.attempts, c.backoff, c.maxWait = attempts, backoff, maxWait
	}
}

// WithReferrersLimits bounds Referrers API paging: at most pages pages and entries
// descriptors in all (bounded Link paging, a safeguard the spec leaves to clients).
func WithReferrersLimits(pages, entries int) Option {
	return func(c *Client) { c.maxPages, c.maxEntries = pages, entries }
}

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{
		// a transport of our own: no state shared with other users of
		// http.DefaultTransport
		hc:           &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		ownTransport: true,
		timeouts:     DefaultTimeouts,
		plainHTTP:    func(string) bool { return false },
		userAgent:    "referrers",
		attempts:     4,
		backoff:      200 * time.Millisecond,
		maxWait:      30 * time.Second,
		maxPages:     1000,
		maxEntries:   100000,
		sleep:        sleepCtx,
		tokens:       map[string][]token{},
		basic:        map[string]credential.Credential{},
		fetch:        map[string]*sync.Mutex{},
	}
	for _, o := range opts {
		o(c)
	}
	if tr, ok := c.hc.Transport.(*http.Transport); ok && c.ownTransport {
		configureTransport(tr, c.timeouts)
	}
	c.hc.CheckRedirect = checkRedirect
	return c
}

// ErrRedirect is wrapped by the error of a redirect the client refuses to
// follow: from https to http (a downgrade that would put the request, and
// the signed URL of a blob, on the wire in clear) or past 10 hops.
var ErrRedirect = errors.New("redirect refused")

// checkRedirect is the one place redirects are judged. Whenever a redirect
// leaves the original scheme and host (blob CDNs), the Authorization header is
// dropped: credentials are never sent to another host, and the client never
// answers another host's challenge with them (see Client.do). A redirect from
// https to http is refused whatever the host.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("%w: stopped after 10 redirects", ErrRedirect)
	}
	first := via[0].URL
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w: %s redirects from https to %s", ErrRedirect, redactURL(first.String()), redactURL(req.URL.String()))
	}
	if req.URL.Host != first.Host || req.URL.Scheme != first.Scheme {
		req.Header.Del("Authorization")
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Repository returns the target for one repository of the registry r names.
func (c *Client) Repository(r ref.Reference) *Repository {
	return &Repository{client: c, host: r.Endpoint(), registry: r.Registry, name: r.Repository}
}

func (c *Client) scheme(host string) string {
	if c.plainHTTP(host) {
		return "http"
	}
	return "https"
}

// request describes one logical request; do may send it several times.
type request struct {
	method string
	url    string
	header http.Header
	// body returns a fresh body for each try; nil for no body.
	body   func() (io.ReadCloser, error)
	length int64
	// scope of the request, "repository:NAME:ACTIONS".
	repo    string
	actions []string
	// noAuth: send no credentials of the client's and do not answer challenges
	// (token requests carry their own).
	noAuth bool
	// replayable: a non-idempotent request that is safe to resend after a
	// network error (starting a blob upload).
	replayable bool
	// notAfter, when set, is when the body goes stale: no retry is sent after
	// it (target.PushOptions.NotAfter).
	notAfter time.Time
}

// do sends req with authentication and retries. The caller closes the body of the
// returned response. A 401 that remains after authenticating is returned as is,
// for judge to see.
//
// A 401 challenge is answered (with the credentials of the host the request
// names) only when it comes from that host itself. One that comes from
// another host the request was redirected to is an error wrapping ErrAuth,
// never answered: neither the user's credentials nor a token fetched with
// them may reach a host the user did not name, and an anonymous answer would
// only hide where the registry sends its clients.
func (c *Client) do(ctx context.Context, req request) (*http.Response, error) {
	orig, err := url.Parse(req.url)
	if err != nil {
		return nil, fmt.Errorf("bad request URL %s", redactURL(req.url))
	}
	authTried := false
	var lastErr error
	for attempt := 0; attempt < c.attempts; attempt++ {
		if attempt > 0 {
			wait := c.backoff << (attempt - 1)
			wait = wait/2 + rand.N(wait/2+1)
			if ra, ok := retryAfter(lastErr); ok {
				if ra > c.maxWait {
					return nil, fmt.Errorf("%w (the registry asks to wait %s, more than %s)", lastErr, ra, c.maxWait)
				}
				wait = max(wait, ra)
			}
			wait = min(wait, c.maxWait)
			if !req.notAfter.IsZero() && time.Now().Add(wait).After(req.notAfter) {
				// the first try may have been applied; resending stale
				// data could overwrite what others wrote since
				return nil, fmt.Errorf("%w: %w", target.ErrStale, unwrapRetry(lastErr))
			}
			if err := c.sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
		resp, err := c.send(ctx, req)
		if err != nil {
			// A registry silent for a whole bound is tried once more, not
			// until the attempts run out: a silent registry costs at most
			// two bounds, not four.
			silentAgain := errors.Is(err, ErrTimeout) && errors.Is(lastErr, ErrTimeout)
			if ctx.Err() != nil || silentAgain || !retryableNetErr(err) || req.body == nil && !idempotent(req.method) && !req.replayable {
				if lastErr != nil {
					// a retry that cannot be made: say what the last try met
					return nil, fmt.Errorf("%w (after: %w)", err, unwrapRetry(lastErr))
				}
				return nil, err
			}
			lastErr = err
			continue
		}
		if resp.StatusCode == http.StatusUnauthorized && !req.noAuth {
			challenges := ParseChallenges(resp.Header.Get("WWW-Authenticate"))
			if fu := resp.Request.URL; len(challenges) > 0 && (fu.Host != orig.Host || fu.Scheme != orig.Scheme) {
				drain(resp)
				return nil, fmt.Errorf("%w: %s %s was redirected to %s, which asks for %s authentication; "+
					"the credentials of %s are never sent to another host, and a host redirected to is not authenticated to",
					ErrAuth, req.method, redactURL(req.url), redactURL(fu.String()), challenges[0].Scheme, orig.Host)
			}
			if len(challenges) > 0 && !authTried {
				drain(resp)
				authTried = true
				if err := c.authenticate(ctx, req, challenges, resp.Request.Header.Get("Authorization")); err != nil {
					return nil, err
				}
				attempt-- // authentication is not a retry
				continue
			}
		}
		if retryableStatus(resp.StatusCode) && attempt+1 < c.attempts {
			b := readCapped(resp.Body, maxErrorBody)
			resp.Body.Close()
			lastErr = &retryErr{err: newHTTPError(resp, b, nil), after: parseRetryAfter(resp.Header.Get("Retry-After"))}
			continue
		}
		return resp, nil
	}
	var re *retryErr
	if errors.As(lastErr, &re) {
		return nil, fmt.Errorf("%w (gave up after %d tries)", re.err, c.attempts)
	}
	return nil, fmt.Errorf("%w (gave up after %d tries)", lastErr, c.attempts)
}

type retryErr struct {
	err   error
	after time.Duration
}

func (e *retryErr) Error() string { return e.err.Error() }
func (e *retryErr) Unwrap() error { return e.err }

func unwrapRetry(err error) error {
	var re *retryErr
	if errors.As(err, &re) {
		return re.err
	}
	return err
}

func retryAfter(err error) (time.Duration, bool) {
	var re *retryErr
	if errors.As(err, &re) && re.after > 0 {
		return re.after, true
	}
	return 0, false
}

// parseRetryAfter reads delay-seconds or an HTTP-date; 0 when absent or bad.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func retryableStatus(s int) bool {
	return s == http.StatusTooManyRequests || s == http.StatusBadGateway ||
		s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout
}

func idempotent(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodPut || m == http.MethodDelete
}

func retryableNetErr(err error) bool {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) { // a body write cut short when the reader saw a reset
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// send makes one HTTP exchange with the credentials the client already holds.
func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	var body io.ReadCloser
	if req.body != nil {
		b, err := req.body()
		if err != nil {
			return nil, err
		}
		body = b
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	if body != nil {
		hr.ContentLength = req.length
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	hr.Header.Set("User-Agent", c.userAgent)
	if !req.noAuth {
		if a := c.authorization(hr.URL.Host, req.repo, req.actions); a != "" {
			hr.Header.Set("Authorization", a)
		}
	}
	if c.debug == nil {
		return c.exchange(ctx, hr)
	}
	start := time.Now()
	resp, err := c.exchange(ctx, hr)
	line := fmt.Sprintf("http: %s %s", hr.Method, redactURL(hr.URL.String()))
	if err != nil {
		line += fmt.Sprintf(" -> error %v", err)
	} else {
		line += fmt.Sprintf(" -> %d", resp.StatusCode)
		if resp.Request != nil && resp.Request.URL.String() != hr.URL.String() {
			line += " (redirected to " + redactURL(resp.Request.URL.String()) + ")"
		}
	}
	c.debugMu.Lock()
	// The line carries what the registry said (an error, a redirect): one
	// line, rendered by package display.
	fmt.Fprintf(c.debug, "%s (%s)\n", display.Text(line), time.Since(start).Round(100*time.Microsecond))
	c.debugMu.Unlock()
	return resp, err
}

// debugf writes one line to the --debug writer, if any, rendered by package
// display (it may carry what the registry said).
func (c *Client) debugf(format string, a ...any) {
	if c.debug == nil {
		return
	}
	c.debugMu.Lock()
	fmt.Fprintln(c.debug, display.Text(fmt.Sprintf(format, a...)))
	c.debugMu.Unlock()
}

const (
	maxErrorBody = 64 << 10
	maxTokenBody = 1 << 20
)

// readCapped reads at most n bytes of r (the rest is left unread).
func readCapped(r io.Reader, n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	return b
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
}
