package registry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/credential"
	"github.com/oci-referrers/referrers/core/target"
)

// The secrets of host A. None of them may reach host B, an error or a debug
// line; the last two are query values of URLs the hostile hosts hand out.
const (
	hUser      = "alice"
	hPassword  = "s3cret-pw"
	hToken     = "tok-A-secret"
	hSignature = "SIGSECRET"
	hState     = "STATESECRET"
)

var hSecrets = []string{hPassword, hToken, hSignature, hState,
	base64.StdEncoding.EncodeToString([]byte(hUser + ":" + hPassword))}

const emptyIndexJSON = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`

// wantPlain in a case's want: an error that wraps none of the sentinels.
var wantPlain = errors.New("plain error")

// seen is one request a hostile server received.
type seen struct {
	method, url, auth string
}

// hostileServer is an httptest server on 127.0.0.1 that records every request.
type hostileServer struct {
	srv  *httptest.Server
	host string
	mu   sync.Mutex
	reqs []seen
	h    http.HandlerFunc
}

func (s *hostileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, seen{r.Method, r.URL.String(), r.Header.Get("Authorization")})
	h := s.h
	s.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (s *hostileServer) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// smallBuffers shrinks the kernel's socket buffers, so that how fast the
// server reads an upload is what the client sees (not megabytes of loopback
// buffering).
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(32 << 10)
	}
	return c, err
}

func newHostileServer(t *testing.T, tls bool, release <-chan struct{}) *hostileServer {
	s := &hostileServer{}
	s.srv = httptest.NewUnstartedServer(s)
	s.srv.Listener = smallBuffers{s.srv.Listener}
	if tls {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	// Cleanups run last-in first-out: handlers blocked on release end
	// before Close waits for them.
	t.Cleanup(s.srv.Close)
	s.host = s.srv.Listener.Addr().String()
	return s
}

// hostileEnv is one case's world: host A (the registry the user named, with
// credentials) and host B (somewhere A sends the client).
type hostileEnv struct {
	a, b    *hostileServer
	release chan struct{} // closed at the end: stalled handlers return
	subject digest.Digest
}

func (e *hostileEnv) aURL() string { return e.a.srv.URL }
func (e *hostileEnv) bURL() string { return e.b.srv.URL }

// stall blocks until the client goes away or the test ends.
func (e *hostileEnv) stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-e.release:
	}
}

// authA wraps a handler of host A with the Bearer token flow: a request
// without A's token gets a challenge whose realm is A's /token, which grants
// the token for A's Basic credentials.
func (e *hostileEnv) authA(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if u, p, ok := r.BasicAuth(); ok && u == hUser && p == hPassword {
				fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, hToken)
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+hToken {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+e.aURL()+`/token",service="a"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// redirectTo answers 307 to the same path and query on u.
func redirectTo(u func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, u()+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}
}

func writeIndex(w http.ResponseWriter) {
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	io.WriteString(w, emptyIndexJSON)
}

// endless writes a until the client hangs up.
func endless(w http.ResponseWriter) {
	chunk := bytes.Repeat([]byte("a"), 32<<10)
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// slowReader is a source that takes a while for each chunk of 1 KiB (a
// pipe from a slow producer); it hides its Seek, as a pipe has none.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 1<<10)])
}

// zeros is an endless, non-seekable source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// uploadFlow answers the blob upload of PushBlob on host A: the blob is
// missing, the session starts, and put handles the closing PUT.
func (e *hostileEnv) uploadFlow(put http.HandlerFunc) http.HandlerFunc {
	return e.authA(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead:
			w.WriteHeader(http.StatusNotFound)
		case r.Method == http.MethodPost:
			w.Header().Set("Location", "/v2/app/blobs/uploads/u1?_state="+hState)
			w.WriteHeader(http.StatusAccepted)
		case r.Method == http.MethodPut:
			put(w, r)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
}

// shortTimeouts are the bounds of the rows about a stall.
var shortTimeouts = Timeouts{ResponseHeaders: 200 * time.Millisecond, Idle: 200 * time.Millisecond}

type hostileCase struct {
	name string
	// tlsA serves host A over TLS.
	tlsA bool
	a, b func(e *hostileEnv) http.HandlerFunc
	// timeouts for the client (default: 5 s headers and idle).
	timeouts *Timeouts
	op       func(ctx context.Context, e *hostileEnv, r *Repository) error
	// want is the sentinel the error wraps, wantPlain for none, nil for success.
	want error
	// status is the HTTP status the error must carry (0: not checked).
	status int
	// text must all be in the error; debug must all be in the debug output.
	text, debug []string
	// bSeesNothing: host B must receive no request at all.
	bSeesNothing bool
	// maxElapsed bounds the operation (default 5 s).
	maxElapsed time.Duration
	// check makes more assertions, after the operation.
	check func(t *testing.T, e *hostileEnv)
}

func runReferrers(ctx context.Context, e *hostileEnv, r *Repository) error {
	_, err := r.Referrers(ctx, e.subject, "")
	return err
}

func opOpenBlob(size int64, content []byte) func(ctx context.Context, e *hostileEnv, r *Repository) error {
	return func(ctx context.Context, e *hostileEnv, r *Repository) error {
		rc, err := r.OpenBlob(ctx, ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(content), Size: size})
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, rc)
		return err
	}
}

var (
	blobContent = []byte("twenty bytes of blob")
	manContent  = []byte(`{"schemaVersion":2}`)
	slowContent = []byte("thirty bytes of a slow blob...")
)

// TestHostileRegistry is the proof of "hostile registries are bounded": each
// row sets up a hostile host A (and a host B it points to), a client with
// credentials for A only and bounds set by WithTimeouts (200 ms for the rows
// about a stall, 5 s elsewhere), runs one operation and asserts the exact
// outcome; for every row, no request to B carries an Authorization header,
// credentials are only ever looked up for A, neither the error nor the
// --debug trace holds a secret (A's password, its Basic encoding, A's token,
// a signed query value), and the operation ends within 5 s (30 s for the
// slow-but-flowing rows, which take 3-4.8 s by design: a byte or 32 KiB
// every 100 ms, 20 times less than the 2 s idle bound, so that a loaded
// machine does not trip them).
func TestHostileRegistry(t *testing.T) {
	cases := []hostileCase{
		{
			name: "cross-host 307 then Bearer challenge from B",
			a:    func(e *hostileEnv) http.HandlerFunc { return e.authA(redirectTo(e.bURL)) },
			b: func(e *hostileEnv) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/token" {
						fmt.Fprint(w, `{"token":"tok-B"}`)
						return
					}
					w.Header().Set("WWW-Authenticate", `Bearer realm="`+e.bURL()+`/token",service="b"`)
					w.WriteHeader(http.StatusUnauthorized)
				}
			},
			op:   runReferrers,
			want: ErrAuth,
			text: []string{"was redirected to http://127.0.0.1:", "asks for bearer authentication", "never sent to another host"},
			check: func(t *testing.T, e *hostileEnv) {
				if q := e.b.requests(); len(q) != 1 || strings.HasPrefix(q[0].url, "/token") {
					t.Errorf("B got %v, want only the redirected request (never a token request)", q)
				}
			},
		},
		{
			name: "cross-host 307 then Basic challenge from B",
			a:    func(e *hostileEnv) http.HandlerFunc { return e.authA(redirectTo(e.bURL)) },
			b: func(e *hostileEnv) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", `Basic realm="b"`)
					w.WriteHeader(http.StatusUnauthorized)
				}
			},
			op: func(ctx context.Context, e *hostileEnv, r *Repository) error {
				_, err := r.Resolve(ctx, "v1")
				return err
			},
			want: ErrAuth,
			text: []string{"asks for basic authentication"},
		},
		{
			name: "token realm redirects to B",
			a: func(e *hostileEnv) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/token" {
						redirectTo(e.bURL)(w, r)
						return
					}
					w.Header().Set("WWW-Authenticate", `Bearer realm="`+e.aURL()+`/token",service="a"`)
					w.WriteHeader(http.StatusUnauthorized)
				}
			},
			b: func(e *hostileEnv) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }
			},
			op:   runReferrers,
			want: ErrAuth,
			text: []string{"token from 127.0.0.1:", "401 Unauthorized"},
		},
		{
			name: "https to http downgrade redirect",
			tlsA: true,
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, e.bURL()+r.URL.Path+"?X-Amz-Signature="+hSignature, http.StatusFound)
				})
			},
			op:           opOpenBlob(int64(len(blobContent)), blobContent),
			want:         ErrRedirect,
			text:         []string{"redirects from https to http://127.0.0.1:", "X-Amz-Signature=REDACTED"},
			bSeesNothing: true,
		},
		{
			name:     "stall before headers",
			timeouts: &shortTimeouts,
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) { e.stall(r) })
			},
			op: func(ctx context.Context, e *hostileEnv, r *Repository) error {
				_, err := r.Resolve(ctx, "v1")
				return err
			},
			want: ErrTimeout,
			text: []string{"HEAD http://127.0.0.1:", "/v2/app/manifests/v1: no response headers within 200ms", "(after: HEAD"},
		},
		{
			name:     "headers then stalled body",
			timeouts: &shortTimeouts,
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", fmt.Sprint(len(blobContent)))
					w.Write(blobContent[:5])
					w.(http.Flusher).Flush()
					e.stall(r)
				})
			},
			op:   opOpenBlob(int64(len(blobContent)), blobContent),
			want: ErrTimeout,
			text: []string{"GET http://127.0.0.1:", "response body: no data for 200ms"},
		},
		{
			name: "endless referrers page hits the 4 MiB cap",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
					endless(w)
				})
			},
			op:   runReferrers,
			want: target.ErrTooLarge,
		},
		{
			name: "endless blob hits its size",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) { endless(w) })
			},
			op:   opOpenBlob(int64(len(blobContent)), blobContent),
			want: target.ErrDigestMismatch,
		},
		{
			name: "huge error body",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusInternalServerError)
					endless(w)
				})
			},
			op:     runReferrers,
			want:   wantPlain,
			status: http.StatusInternalServerError,
			text:   []string{"500 Internal Server Error: aaaa"},
		},
		{
			name: "Link points to its own page",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Link", "<"+r.URL.Path+`>; rel="next"`)
					writeIndex(w)
				})
			},
			op:   runReferrers,
			want: wantPlain,
			text: []string{"Link pages loop back to"},
		},
		{
			name: "Link points to an earlier page",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Query().Get("last") == "" {
						w.Header().Set("Link", "<"+r.URL.Path+`?last=x&_state=`+hState+`>; rel="next"`)
					} else {
						w.Header().Set("Link", "<"+r.URL.Path+`>; rel="next"`)
					}
					writeIndex(w)
				})
			},
			op:    runReferrers,
			want:  wantPlain,
			text:  []string{"Link pages loop back to"},
			debug: []string{"?last=x&_state=REDACTED"},
		},
		{
			name: "cross-host Link",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Link", "<"+e.bURL()+r.URL.Path+"?X-Amz-Signature="+hSignature+`>; rel="next"`)
					writeIndex(w)
				})
			},
			op:           runReferrers,
			want:         wantPlain,
			text:         []string{"Link target", "leaves http://127.0.0.1:", "X-Amz-Signature=REDACTED"},
			bSeesNothing: true,
		},
		{
			name: "wrong digest on a manifest",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
					w.Write(manContent)
				})
			},
			op: func(ctx context.Context, e *hostileEnv, r *Repository) error {
				_, err := r.FetchManifest(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
					Digest: digest.FromString("another manifest"), Size: int64(len(manContent))})
				return err
			},
			want: target.ErrDigestMismatch,
			text: []string{"fetch 127.0.0.1:", "/app@sha256:"},
		},
		{
			name: "wrong digest on a blob",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("twenty bytes of BLOB")) })
			},
			op:   opOpenBlob(int64(len(blobContent)), blobContent),
			want: target.ErrDigestMismatch,
		},
		{
			name: "429 with Retry-After beyond maxWait",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", "3600")
					w.WriteHeader(http.StatusTooManyRequests)
				})
			},
			op:     runReferrers,
			want:   wantPlain,
			status: http.StatusTooManyRequests,
			text:   []string{"the registry asks to wait 1h0m0s, more than 50ms"},
		},
		{
			name: "5xx every time",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
			},
			op:     runReferrers,
			want:   wantPlain,
			status: http.StatusServiceUnavailable,
			text:   []string{"503 Service Unavailable"},
			check: func(t *testing.T, e *hostileEnv) {
				n := 0
				for _, q := range e.a.requests() {
					if q.auth == "Bearer "+hToken {
						n++
					}
				}
				if n != 3 {
					t.Errorf("A got %d authenticated requests, want 3 (the tries of testRetry)", n)
				}
			},
		},
		{
			name: "403",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusForbidden)
					io.WriteString(w, `{"errors":[{"code":"DENIED","message":"no"}]}`)
				})
			},
			op:     runReferrers,
			want:   wantPlain,
			status: http.StatusForbidden,
			text:   []string{"403 Forbidden: DENIED no"},
		},
		{
			name: "signed query string of a failed blob GET after a redirect",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, e.bURL()+"/cdn/blob?X-Amz-Credential=AKIA&X-Amz-Signature="+hSignature+"#frag", http.StatusTemporaryRedirect)
				})
			},
			b: func(e *hostileEnv) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusForbidden)
					io.WriteString(w, "<Error>SignatureDoesNotMatch</Error>")
				}
			},
			op:     opOpenBlob(int64(len(blobContent)), blobContent),
			want:   wantPlain,
			status: http.StatusForbidden,
			text:   []string{"GET http://127.0.0.1:", "/cdn/blob?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED: 403"},
			debug:  []string{"(redirected to http://127.0.0.1:", "X-Amz-Signature=REDACTED"},
		},
		{
			name: "debug trace of a successful paged listing",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Query().Get("last") == "" {
						w.Header().Set("Link", "<"+r.URL.Path+`?n=1&last=x&_state=`+hState+`>; rel="next"`)
					}
					writeIndex(w)
				})
			},
			op:    runReferrers,
			debug: []string{"?n=1&last=x&_state=REDACTED -> 200", "/token?scope=repository%3Aapp%3Apull&service=a -> 200"},
		},
		{
			name:     "upload stall: the registry stops reading the PUT body",
			timeouts: &shortTimeouts,
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.uploadFlow(func(w http.ResponseWriter, r *http.Request) {
					io.CopyN(io.Discard, r.Body, 1024)
					e.stall(r)
				})
			},
			op: func(ctx context.Context, e *hostileEnv, r *Repository) error {
				const size = 64 << 20
				return r.PushBlob(ctx, ocispec.Descriptor{MediaType: "application/octet-stream",
					Digest: digest.FromString("never reached"), Size: size}, io.LimitReader(zeros{}, size))
			},
			want: ErrTimeout,
			text: []string{"PUT http://127.0.0.1:", "/v2/app/blobs/uploads/u1?_state=REDACTED&digest=sha256%3A", "request body: the registry read none of it for 200ms"},
		},
		{
			name: "slow but flowing download succeeds",
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.authA(func(w http.ResponseWriter, r *http.Request) {
					for i := range slowContent { // 30 bytes, 100 ms apart: 3 s in all, longer than the idle bound
						w.Write(slowContent[i : i+1])
						w.(http.Flusher).Flush()
						time.Sleep(100 * time.Millisecond)
					}
				})
			},
			op:         opOpenBlob(int64(len(slowContent)), slowContent),
			timeouts:   &Timeouts{ResponseHeaders: 5 * time.Second, Idle: 2 * time.Second},
			maxElapsed: 30 * time.Second,
		},
		{
			name:       "a slow source of our own upload is not a stall",
			timeouts:   &Timeouts{ResponseHeaders: 5 * time.Second, Idle: time.Second},
			maxElapsed: 30 * time.Second,
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.uploadFlow(func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusCreated)
				})
			},
			op: func(ctx context.Context, e *hostileEnv, r *Repository) error {
				data := bytes.Repeat([]byte("x"), 2<<10) // 2 chunks, 1.5 s each
				return r.PushBlob(ctx, ocispec.Descriptor{MediaType: "application/octet-stream",
					Digest: digest.FromBytes(data), Size: int64(len(data))}, slowReader{bytes.NewReader(data), 1500 * time.Millisecond})
			},
		},
		{
			name:       "slow but flowing upload succeeds",
			timeouts:   &Timeouts{ResponseHeaders: 3 * time.Second, Idle: 2 * time.Second},
			maxElapsed: 30 * time.Second,
			a: func(e *hostileEnv) http.HandlerFunc {
				return e.uploadFlow(func(w http.ResponseWriter, r *http.Request) {
					// 32 KiB every 100 ms: 1.5 MiB in about 4.8 s, longer
					// than both bounds
					buf := make([]byte, 32<<10)
					for {
						if _, err := io.ReadFull(r.Body, buf); err != nil {
							break
						}
						time.Sleep(100 * time.Millisecond)
					}
					w.WriteHeader(http.StatusCreated)
				})
			},
			op: func(ctx context.Context, e *hostileEnv, r *Repository) error {
				data := make([]byte, 3<<19)
				return r.PushBlob(ctx, ocispec.Descriptor{MediaType: "application/octet-stream",
					Digest: digest.FromBytes(data), Size: int64(len(data))}, bytes.NewReader(data))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &hostileEnv{release: make(chan struct{}), subject: digest.FromString("subject")}
			e.a = newHostileServer(t, tc.tlsA, e.release)
			e.b = newHostileServer(t, false, e.release)
			t.Cleanup(func() { close(e.release) })
			if tc.a != nil {
				e.a.h = tc.a(e)
			}
			if tc.b != nil {
				e.b.h = tc.b(e)
			}

			var askedMu sync.Mutex
			var asked []string
			creds := credential.StoreFunc(func(_ context.Context, host string) (credential.Credential, error) {
				askedMu.Lock()
				asked = append(asked, host)
				askedMu.Unlock()
				if host == e.a.host {
					return credential.Credential{Username: hUser, Password: hPassword}, nil
				}
				return credential.Credential{}, nil
			})
			tr := http.DefaultTransport.(*http.Transport).Clone()
			dialer := &net.Dialer{Timeout: 5 * time.Second}
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, addr)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetWriteBuffer(32 << 10)
				}
				return c, err
			}
			if tc.tlsA {
				tr.TLSClientConfig = e.a.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			}
			// Rows that are not about a stall get bounds a loaded machine
			// cannot trip: still bounded, never what the row tests.
			timeouts := Timeouts{ResponseHeaders: 5 * time.Second, Idle: 5 * time.Second}
			if tc.timeouts != nil {
				timeouts = *tc.timeouts
			}
			var debug bytes.Buffer
			c := New(WithHTTPClient(&http.Client{Transport: tr}), WithPlainHTTP(!tc.tlsA), testRetry,
				WithCredentials(creds), WithTimeouts(timeouts), WithDebug(&debug))
			r := repoAt(t, c, e.a.host, "app")

			start := time.Now()
			err := tc.op(context.Background(), e, r)
			elapsed := time.Since(start)

			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("error %v, want success", err)
			case tc.want == wantPlain:
				wantPlainError(t, err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("error %v, want one wrapping %q", err, tc.want)
			}
			if tc.status != 0 && httpStatus(err) != tc.status {
				t.Errorf("status of %v = %d, want %d", err, httpStatus(err), tc.status)
			}
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			for _, s := range tc.text {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			if len(msg) > 2000 {
				t.Errorf("error is %d characters long", len(msg))
			}
			trace := debug.String()
			for _, s := range tc.debug {
				if !strings.Contains(trace, s) {
					t.Errorf("debug trace does not contain %q:\n%s", s, trace)
				}
			}
			for _, s := range hSecrets {
				if strings.Contains(msg, s) {
					t.Errorf("error %q holds the secret %q", msg, s)
				}
				if strings.Contains(trace, s) {
					t.Errorf("debug trace holds the secret %q:\n%s", s, trace)
				}
			}
			for _, q := range e.b.requests() {
				if q.auth != "" {
					t.Errorf("host B got %s %s with Authorization %q", q.method, q.url, q.auth)
				}
			}
			if n := len(e.b.requests()); tc.bSeesNothing && n > 0 {
				t.Errorf("host B got %d requests, want none: %v", n, e.b.requests())
			}
			askedMu.Lock()
			for _, h := range asked {
				if h != e.a.host {
					t.Errorf("credentials looked up for %q, not the registry named (%s)", h, e.a.host)
				}
			}
			askedMu.Unlock()
			if tc.check != nil {
				tc.check(t, e)
			}
			if limit := cmp.Or(tc.maxElapsed, 5*time.Second); elapsed > limit {
				t.Errorf("took %s, want a bounded time (< %s)", elapsed, limit)
			}
			if testing.Verbose() {
				t.Logf("%s: %v", elapsed.Round(time.Millisecond), err)
			}
		})
	}
}
