package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestRetryStatus injects faults on the fake and checks how many tries the
// client makes and what it returns.
func TestRetryStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		failures  int
		want      error // nil: ok; errPlain: plain error
		wantTries int
		wantInErr string
	}{
		{"503 twice then ok", http.StatusServiceUnavailable, 2, nil, 3, ""},
		{"429 once then ok", http.StatusTooManyRequests, 1, nil, 2, ""},
		{"502 once then ok", http.StatusBadGateway, 1, nil, 2, ""},
		{"504 once then ok", http.StatusGatewayTimeout, 1, nil, 2, ""},
		{"503 exhausts the tries", http.StatusServiceUnavailable, 10, errPlain, 3, "503 Service Unavailable"},
		{"429 exhausts the tries", http.StatusTooManyRequests, 10, errPlain, 3, "429 Too Many Requests"},
		{"500 is not retried", http.StatusInternalServerError, 10, errPlain, 1, "500 Internal Server Error"},
		{"404 is not retried", http.StatusNotFound, 10, target.ErrNotFound, 1, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, fakeregistry.Mode{})
			desc, data := seedImage(t, reg, repoName, "v1")
			reg.FailNext(http.MethodGet, "/manifests/", tt.status, tt.failures)
			repo := repoAt(t, newClient(), reg.Host(), repoName)

			got, err := repo.FetchManifest(t.Context(), desc)
			if n := count(reg.Requests(), http.MethodGet, "/manifests/"); n != tt.wantTries {
				t.Errorf("GETs = %d, want %d", n, tt.wantTries)
			}
			switch tt.want {
			case nil:
				if err != nil {
					t.Fatalf("FetchManifest: %v", err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("FetchManifest returned other bytes")
				}
				return
			case errPlain:
				wantPlainError(t, err)
			default:
				if !errors.Is(err, tt.want) {
					t.Fatalf("FetchManifest = %v, want errors.Is %q", err, tt.want)
				}
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantInErr)
			}
		})
	}
}

// TestRetryWrites: writes retried after a 503 carry their whole body again.
func TestRetryWrites(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("0123456789"), 1000)
	blob := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(content), Size: int64(len(content))}
	tests := []struct {
		name      string
		method    string
		path      string
		seekable  bool
		want      bool // success
		wantTries int
	}{
		{"upload start (POST) 503 once", http.MethodPost, "/blobs/uploads/", false, true, 2},
		{"upload PUT 503 once, seekable body", http.MethodPut, "/blobs/uploads/", true, true, 2},
		// the second try fails before it is sent
		{"upload PUT 503 once, streamed body", http.MethodPut, "/blobs/uploads/", false, false, 1},
		{"manifest PUT 503 once", http.MethodPut, "/manifests/", false, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, fakeregistry.Mode{LenientManifests: true})
			reg.FailNext(tt.method, tt.path, http.StatusServiceUnavailable, 1)
			repo := repoAt(t, newClient(), reg.Host(), repoName)
			var err error
			if tt.path == "/manifests/" {
				desc, data := manifestBytes(t, sbomType, nil, nil)
				if _, err = repo.PushManifest(t.Context(), desc, data, target.PushOptions{}); err == nil {
					if _, got, ok := reg.Manifest(repoName, desc.Digest.String()); !ok || !bytes.Equal(got, data) {
						t.Error("stored manifest differs")
					}
				}
			} else {
				var body io.Reader = bytes.NewReader(content)
				if !tt.seekable {
					body = struct{ io.Reader }{body}
				}
				err = repo.PushBlob(t.Context(), blob, body)
				if err == nil && !reg.HasBlob(repoName, blob.Digest) {
					t.Error("the registry does not hold the blob")
				}
			}
			if tt.want && err != nil {
				t.Fatalf("push: %v", err)
			}
			if !tt.want && (err == nil || !strings.Contains(err.Error(), "cannot resend")) {
				t.Fatalf("push = %v, want an error (a streamed body cannot be sent twice)", err)
			}
			if got, want := count(reg.Requests(), tt.method, tt.path), tt.wantTries; got != want {
				t.Errorf("%s %s requests = %d, want %d", tt.method, tt.path, got, want)
			}
		})
	}
}

// TestRetryLargeBlobPut: a 503 that arrives while a large blob is still being
// sent leaves the transport reading the first try's body; the retry must not
// rewind the shared reader under it (run with -race; the upload also fails
// with a digest mismatch when it does).
func TestRetryLargeBlobPut(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("0123456789abcdef"), (2<<20)/16)
	blob := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(content), Size: int64(len(content))}
	for range 3 {
		reg := fakeregistry.New(t, fakeregistry.Mode{})
		reg.FailNext(http.MethodPut, "/blobs/uploads/", http.StatusServiceUnavailable, 1)
		repo := repoAt(t, newClient(), reg.Host(), repoName)
		if err := repo.PushBlob(t.Context(), blob, bytes.NewReader(content)); err != nil {
			t.Fatalf("PushBlob: %v", err)
		}
		if !reg.HasBlob(repoName, blob.Digest) {
			t.Fatal("the registry does not hold the blob")
		}
	}
}

// retryServer answers GET /v2/a/b/manifests/v1 with fail for the first n
// requests, then with an index.
func retryServer(t *testing.T, n int, fail func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var reqs atomic.Int32
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if int(reqs.Add(1)) <= n {
			fail(w)
			return
		}
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

// TestRetryAfter: the wait honours Retry-After; a Retry-After beyond the
// client's maximum wait ends the retries at once with a clear error.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter string
		maxWait    time.Duration
		wantErr    string // "": success
		wantTries  int32
		wantWaits  []time.Duration // lower bounds of the recorded waits
	}{
		// GET refused, GET retried.
		{"seconds honoured", "2", 5 * time.Second, "", 2, []time.Duration{2 * time.Second}},
		{"zero uses backoff", "0", 5 * time.Second, "", 2, []time.Duration{0}},
		{"beyond max wait", "120", 5 * time.Second, "asks to wait 2m0s", 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := retryServer(t, 1, func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", tt.retryAfter)
				w.WriteHeader(http.StatusTooManyRequests)
			})
			c := newClient(WithRetry(3, time.Millisecond, tt.maxWait))
			var mu sync.Mutex
			var waits []time.Duration
			c.sleep = func(_ context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				waits = append(waits, d)
				return nil
			}
			repo := repoAt(t, c, strings.TrimPrefix(srv.URL, "http://"), repoName)
			_, err := repo.FetchTagged(t.Context(), "v1")
			if got, want := reqs.Load(), tt.wantTries; got != want {
				t.Errorf("requests = %d, want %d", got, want)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("FetchTagged: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "429") {
				t.Fatalf("FetchTagged = %v, want an error mentioning 429 and %q", err, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(waits) != len(tt.wantWaits) {
				t.Fatalf("waits = %v, want %d", waits, len(tt.wantWaits))
			}
			for i, w := range tt.wantWaits {
				if waits[i] < w || waits[i] > tt.maxWait {
					t.Errorf("wait %d = %s, want between %s and %s", i, waits[i], w, tt.maxWait)
				}
			}
		})
	}
}

// TestRetryBackoffCancelled: a cancelled context ends the backoff at once.
func TestRetryBackoffCancelled(t *testing.T) {
	t.Parallel()
	srv, reqs := retryServer(t, 100, func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	c := newClient(WithRetry(5, time.Hour, time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	c.sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return sleepCtx(ctx, d)
	}
	repo := repoAt(t, c, strings.TrimPrefix(srv.URL, "http://"), repoName)
	_, err := repo.FetchTagged(ctx, "v1")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("FetchTagged = %v, want context.Canceled", err)
	}
	if got, want := reqs.Load(), int32(1); got != want {
		t.Errorf("requests = %d, want %d", got, want)
	}
}

// TestRetryConnectionDropped: a connection closed or reset before any answer
// is retried, and the GET then succeeds.
func TestRetryConnectionDropped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reset bool
	}{
		{"closed", false},
		{"reset", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := retryServer(t, 1, func(w http.ResponseWriter) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Errorf("hijack: %v", err)
					return
				}
				if tc, ok := conn.(*net.TCPConn); ok && tt.reset {
					tc.SetLinger(0) // close sends RST
				}
				conn.Close()
			})
			repo := repoAt(t, newClient(), strings.TrimPrefix(srv.URL, "http://"), repoName)
			got, err := repo.FetchTagged(t.Context(), "v1")
			if err != nil {
				t.Fatalf("FetchTagged: %v", err)
			}
			if got.Descriptor.MediaType != ocispec.MediaTypeImageIndex {
				t.Errorf("MediaType = %q", got.Descriptor.MediaType)
			}
			// GET dropped, GET retried.
			if got, want := reqs.Load(), int32(2); got != want {
				t.Errorf("requests = %d, want %d", got, want)
			}
		})
	}
}

// TestRetryConnectionRefused: nothing listening is retried, then reported.
func TestRetryConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	var sleeps atomic.Int32
	c := newClient()
	c.sleep = func(context.Context, time.Duration) error { sleeps.Add(1); return nil }
	repo := repoAt(t, c, host, repoName)
	_, err = repo.Resolve(t.Context(), "v1")
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 tries") {
		t.Errorf("Resolve = %v, want an error after 3 tries", err)
	}
	if got, want := sleeps.Load(), int32(2); got != want {
		t.Errorf("backoff waits = %d, want %d", got, want)
	}
}

// TestRetryNotAfter: a push whose data goes stale (PushOptions.NotAfter) is
// not retried past that time: a stale referrers index resent after a 503 or
// a reset would overwrite what other writers pushed since.
func TestRetryNotAfter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		notAfter  time.Duration // from now
		wantStale bool
		wantTries int
	}{
		{"stale before the retry", 0, true, 1},
		{"fresh for the retry", time.Minute, false, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, fakeregistry.Mode{LenientManifests: true})
			reg.FailNext(http.MethodPut, "/manifests/", http.StatusServiceUnavailable, 1)
			repo := repoAt(t, newClient(), reg.Host(), repoName)
			desc, data := manifestBytes(t, sbomType, nil, nil)
			_, err := repo.PushManifest(t.Context(), desc, data, target.PushOptions{Tag: "t", NotAfter: time.Now().Add(tt.notAfter)})
			if got := count(reg.Requests(), http.MethodPut, "/manifests/"); got != tt.wantTries {
				t.Errorf("PUTs = %d, want %d", got, tt.wantTries)
			}
			if tt.wantStale {
				if !errors.Is(err, target.ErrStale) || !strings.Contains(err.Error(), "503") {
					t.Fatalf("PushManifest = %v, want ErrStale with the 503", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("PushManifest: %v", err)
			}
		})
	}
}
