package servetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/server"
	"github.com/oci-referrers/referrers/core/static"
)

// ---- the server under test, in-process ----

// served is a server.Server behind an httptest server on 127.0.0.1.
type served struct {
	dir  string
	host string // 127.0.0.1:PORT
	base string // http://127.0.0.1:PORT
	// stop closes the listener (waiting for requests in flight) and the
	// Server. It may be called more than once; the test's cleanup calls it.
	stop func()
}

func startServer(t testing.TB, dir string, opts ...server.Option) *served {
	t.Helper()
	srv, err := server.New(dir, opts...)
	if err != nil {
		t.Fatalf("server.New(%s): %v", dir, err)
	}
	ts := httptest.NewServer(srv) // binds 127.0.0.1:0
	s := &served{dir: dir, host: ts.Listener.Addr().String(), base: ts.URL}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			ts.Close()
			if err := srv.Close(); err != nil {
				t.Errorf("server Close: %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// ---- a raw distribution-spec client (independent of core/registry) ----

const (
	loadArtifactType = "application/vnd.example.load"
	maxBody          = 8 << 20
)

// emptyJSON is the empty descriptor's content (image-spec v1.1.1).
var emptyJSON = []byte("{}")

func emptyDescriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(emptyJSON), Size: int64(len(emptyJSON))}
}

type rawClient struct {
	hc   *http.Client
	base string
}

func newRawClient(t testing.TB, base string) *rawClient {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &rawClient{hc: &http.Client{Transport: tr}, base: base}
}

// do sends one request and returns the response with its body read (capped).
func (c *rawClient) do(ctx context.Context, method, u, contentType string, body []byte) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if method == http.MethodGet || method == http.MethodHead {
		req.Header.Set("Accept", strings.Join([]string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex}, ", "))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp, nil, fmt.Errorf("%s %s: read body: %w", method, u, err)
	}
	return resp, b, nil
}

// wantStatus is nil when resp has status want, else an error naming the
// request and the start of the body.
func wantStatus(method, u string, resp *http.Response, body []byte, want int) error {
	if resp.StatusCode == want {
		return nil
	}
	return statusErr(method, u, resp, body, want)
}

func statusErr(method, u string, resp *http.Response, body []byte, want int) error {
	return fmt.Errorf("%s %s: status %d, want %d; body %.300q", method, u, resp.StatusCode, want, body)
}

// location resolves a Location header against the request URL.
func location(resp *http.Response) (*url.URL, error) {
	l := resp.Header.Get("Location")
	if l == "" {
		return nil, fmt.Errorf("%s %s: %d without a Location header", resp.Request.Method, resp.Request.URL, resp.StatusCode)
	}
	return resp.Request.URL.Parse(l)
}

// pushBlob uploads data with POST then PUT (the two-step monolithic upload).
func (c *rawClient) pushBlob(ctx context.Context, name string, data []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(data)
	u := c.base + "/v2/" + name + "/blobs/uploads/"
	resp, body, err := c.do(ctx, http.MethodPost, u, "", nil)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return ocispec.Descriptor{}, statusErr("POST", u, resp, body, http.StatusAccepted)
	}
	return ocispec.Descriptor{Digest: d, Size: int64(len(data))}, c.finishUpload(ctx, resp, d, data)
}

// pushBlobSingle uploads data in the POST itself (?digest=); a server that
// answers 202 instead has opened a session, finished with a PUT (the spec
// allows both).
func (c *rawClient) pushBlobSingle(ctx context.Context, name string, data []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(data)
	u := c.base + "/v2/" + name + "/blobs/uploads/?digest=" + url.QueryEscape(d.String())
	resp, body, err := c.do(ctx, http.MethodPost, u, "application/octet-stream", data)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{Digest: d, Size: int64(len(data))}
	switch resp.StatusCode {
	case http.StatusCreated:
		return desc, nil
	case http.StatusAccepted:
		return desc, c.finishUpload(ctx, resp, d, data)
	}
	return desc, statusErr("POST", u, resp, body, http.StatusCreated)
}

func (c *rawClient) finishUpload(ctx context.Context, started *http.Response, d digest.Digest, data []byte) error {
	loc, err := location(started)
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	resp, body, err := c.do(ctx, http.MethodPut, loc.String(), "application/octet-stream", data)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return statusErr("PUT", loc.String(), resp, body, http.StatusCreated)
	}
	return nil
}

// putManifest pushes a manifest under reference (a tag or its digest) and
// returns the response headers of the 201.
func (c *rawClient) putManifest(ctx context.Context, name, reference, mediaType string, data []byte) (http.Header, error) {
	u := c.base + "/v2/" + name + "/manifests/" + reference
	resp, body, err := c.do(ctx, http.MethodPut, u, mediaType, data)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return resp.Header, statusErr("PUT", u, resp, body, http.StatusCreated)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != digest.FromBytes(data).String() {
		return resp.Header, fmt.Errorf("PUT %s: Docker-Content-Digest %s, want %s", u, got, digest.FromBytes(data))
	}
	return resp.Header, nil
}

// listing is one referrers list, all pages followed.
type listing struct {
	manifests      []ocispec.Descriptor
	pages          []time.Duration // latency of each page request
	filtersApplied string          // OCI-Filters-Applied of the first page
}

// listReferrers lists the referrers of subject (with the artifactType filter
// when set), following Link rel="next" pages. Each page must be an image
// index of at most maxPage entries (maxPage 0: no limit).
func (c *rawClient) listReferrers(ctx context.Context, name string, subject digest.Digest, artifactType string, maxPage int) (listing, error) {
	var out listing
	u, err := url.Parse(c.base + "/v2/" + name + "/referrers/" + subject.String())
	if err != nil {
		return out, err
	}
	if artifactType != "" {
		u.RawQuery = url.Values{"artifactType": {artifactType}}.Encode()
	}
	visited := map[string]bool{}
	for page := 0; ; page++ {
		if visited[u.String()] {
			return out, fmt.Errorf("referrers pages loop: %s again after %d pages", u, page)
		}
		if page >= 10000 {
			return out, fmt.Errorf("referrers: more than %d pages", page)
		}
		visited[u.String()] = true
		start := time.Now()
		resp, body, err := c.do(ctx, http.MethodGet, u.String(), "", nil)
		if err != nil {
			return out, err
		}
		out.pages = append(out.pages, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			return out, statusErr("GET", u.String(), resp, body, http.StatusOK)
		}
		if page == 0 {
			out.filtersApplied = resp.Header.Get("OCI-Filters-Applied")
		}
		if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != ocispec.MediaTypeImageIndex {
			return out, fmt.Errorf("GET %s: Content-Type %q, want %s", u, resp.Header.Get("Content-Type"), ocispec.MediaTypeImageIndex)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return out, fmt.Errorf("GET %s: not an image index: %v; body %.300q", u, err, body)
		}
		if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
			return out, fmt.Errorf("GET %s: schemaVersion %d mediaType %q, want 2 and %s", u, idx.SchemaVersion, idx.MediaType, ocispec.MediaTypeImageIndex)
		}
		if maxPage > 0 && len(idx.Manifests) > maxPage {
			return out, fmt.Errorf("GET %s: page of %d entries, page size is %d", u, len(idx.Manifests), maxPage)
		}
		out.manifests = append(out.manifests, idx.Manifests...)
		next, err := nextLink(resp.Header.Values("Link"))
		if err != nil {
			return out, fmt.Errorf("GET %s: %w", u, err)
		}
		if next == "" {
			return out, nil
		}
		nu, err := u.Parse(next)
		if err != nil {
			return out, fmt.Errorf("GET %s: Link %q: %w", u, next, err)
		}
		if nu.Host != u.Host || nu.Scheme != u.Scheme {
			return out, fmt.Errorf("GET %s: Link to another origin %s", u, nu)
		}
		u = nu
	}
}

// nextLink returns the target of the rel="next" link among Link values
// (RFC 8288), or "".
func nextLink(values []string) (string, error) {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			end := strings.Index(part, ">")
			if !strings.HasPrefix(part, "<") || end < 0 {
				return "", fmt.Errorf("malformed Link %q", v)
			}
			target, params := part[1:end], strings.Split(part[end+1:], ";")
			for _, p := range params {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && slices.Contains(strings.Fields(strings.Trim(val, `"`)), "next") {
					return target, nil
				}
			}
		}
	}
	return "", nil
}

// pushSubject pushes a one-layer image tagged tag and checks that the tag
// resolves to it.
func (c *rawClient) pushSubject(ctx context.Context, name, tag string) (ocispec.Descriptor, error) {
	cfg, err := c.pushBlob(ctx, name, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer, err := c.pushBlob(ctx, name, []byte("servetest subject layer\n"))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfg.MediaType, layer.MediaType = ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayer
	b, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfg,
		Layers:    []ocispec.Descriptor{layer},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}
	h, err := c.putManifest(ctx, name, tag, d.MediaType, b)
	if err != nil {
		return d, err
	}
	if s := h.Get("OCI-Subject"); s != "" {
		return d, fmt.Errorf("PUT of a manifest without subject answered OCI-Subject %q", s)
	}
	return d, c.checkResolves(ctx, name, tag, d)
}

// checkResolves checks HEAD /v2/NAME/manifests/REFERENCE against d.
func (c *rawClient) checkResolves(ctx context.Context, name, reference string, d ocispec.Descriptor) error {
	u := c.base + "/v2/" + name + "/manifests/" + reference
	resp, _, err := c.do(ctx, http.MethodHead, u, "", nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusErr("HEAD", u, resp, nil, http.StatusOK)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != d.Digest.String() {
		return fmt.Errorf("HEAD %s: Docker-Content-Digest %q, want %s", u, got, d.Digest)
	}
	if got := resp.Header.Get("Content-Type"); got != d.MediaType {
		return fmt.Errorf("HEAD %s: Content-Type %q, want %s", u, got, d.MediaType)
	}
	if got := resp.Header.Get("Content-Length"); got != strconv.FormatInt(d.Size, 10) {
		return fmt.Errorf("HEAD %s: Content-Length %q, want %d", u, got, d.Size)
	}
	return nil
}

// referrer is an artifact manifest of type loadArtifactType on subject.
func referrer(subject ocispec.Descriptor, layer ocispec.Descriptor, annotations map[string]string) ([]byte, ocispec.Descriptor) {
	layer.MediaType = "application/vnd.example.load.layer"
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: loadArtifactType,
		Config:       emptyDescriptor(),
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:  annotations,
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // a Manifest always marshals
	}
	return b, ocispec.Descriptor{MediaType: m.MediaType, ArtifactType: m.ArtifactType, Digest: digest.FromBytes(b), Size: int64(len(b)), Annotations: annotations}
}

// ---- latencies ----

type latencies struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

func (l *latencies) add(kind string, ds ...time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.d == nil {
		l.d = map[string][]time.Duration{}
	}
	l.d[kind] = append(l.d[kind], ds...)
}

// summary is "N KIND p50 X p99 Y max Z" (nearest-rank percentiles).
func (l *latencies) summary(kind string) string {
	l.mu.Lock()
	ds := slices.Clone(l.d[kind])
	l.mu.Unlock()
	if len(ds) == 0 {
		return "0 " + kind
	}
	slices.Sort(ds)
	pct := func(p float64) time.Duration {
		i := int(float64(len(ds))*p+0.999999) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	}
	return fmt.Sprintf("%d %s p50 %s p99 %s max %s", len(ds), kind, ms(pct(0.50)), ms(pct(0.99)), ms(ds[len(ds)-1]))
}

// report logs line and appends it to $REFERRERS_LOAD_REPORT when set.
func report(t testing.TB, line string) {
	t.Helper()
	t.Log(line)
	p := os.Getenv("REFERRERS_LOAD_REPORT")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("REFERRERS_LOAD_REPORT: %v", err)
		return
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Errorf("REFERRERS_LOAD_REPORT: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("REFERRERS_LOAD_REPORT: %v", err)
	}
}

// ---- the load test ----

const (
	loadClients = 32
	loadRepo    = "load/app"
)

// loadPerClient is how many referrers each client pushes:
// $REFERRERS_LOAD_PER_CLIENT, default 4. The server stores manifest pushes to
// one repository one at a time (the tree's lock, several fsyncs each: about
// 20 ms a push on a VM disk), so 32 x 4 keeps the test at a few seconds, and
// under -race well inside its 60 s deadline; set 8 or more for the figures.
func loadPerClient(t testing.TB) int {
	t.Helper()
	v := os.Getenv("REFERRERS_LOAD_PER_CLIENT")
	if v == "" {
		return 4
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		t.Fatalf("REFERRERS_LOAD_PER_CLIENT=%q: want a count from 1 to 1000", v)
	}
	return n
}

// failures collects errors from the client goroutines; the first few are
// reported in full, all are counted.
type failures struct {
	mu   sync.Mutex
	msgs []string
	n    int
}

func (f *failures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.msgs) < 20 {
		f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	}
}

func (f *failures) report(t *testing.T) {
	t.Helper()
	for _, m := range f.msgs {
		t.Error(m)
	}
	if f.n > len(f.msgs) {
		t.Errorf("... and %d more failures", f.n-len(f.msgs))
	}
}

// TestServeLoad: 32 clients push K referrers each (loadPerClient) to one
// subject at once, listing the subject's referrers after each push. Every
// push is a 201 with OCI-Subject; every list holds the client's own pushes so
// far, once each, and nothing that was never pushed; the final list (all
// pages) and the tree read offline by core/static hold exactly the 32 x K
// pushed. Run with the default page size and with 10, so
// that lists follow Link pages while other clients push. Latencies are
// logged, not asserted.
func TestServeLoad(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pageSize int // 0: the server's default
	}{
		{"default-page-size", 0},
		{"page-size-10", 10},
	} {
		t.Run(tc.name, func(t *testing.T) { runLoad(t, tc.pageSize) })
	}
}

func runLoad(t *testing.T, pageSize int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := []server.Option{server.WithAllowPush(true)}
	maxPage := server.DefaultPageSize
	if pageSize > 0 {
		opts = append(opts, server.WithPageSize(pageSize))
		maxPage = pageSize
	}
	perClient := loadPerClient(t)
	dir := t.TempDir()
	s := startServer(t, dir, opts...)
	c := newRawClient(t, s.base)
	subject, err := c.pushSubject(ctx, loadRepo, "v1")
	if err != nil {
		t.Fatalf("push subject: %v", err)
	}

	var (
		fails   failures
		lat     latencies
		mu      sync.Mutex
		pushed  = map[digest.Digest]ocispec.Descriptor{} // PUT answered 201
		tried   = map[digest.Digest]bool{}               // PUT sent
		seenAny = map[digest.Digest]bool{}               // in any intermediate list
		dupes   int
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for w := 0; w < loadClients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var mine []digest.Digest
			for i := 0; i < perClient; i++ {
				if _, err := c.pushBlobSingle(ctx, loadRepo, emptyJSON); err != nil {
					fails.add("client %d push %d: empty config blob: %v", w, i, err)
					return
				}
				layer, err := c.pushBlob(ctx, loadRepo, []byte(fmt.Sprintf("load client %d artifact %d\n", w, i)))
				if err != nil {
					fails.add("client %d push %d: layer blob: %v", w, i, err)
					return
				}
				b, d := referrer(subject, layer, map[string]string{
					"org.example.load.client": strconv.Itoa(w),
					"org.example.load.seq":    strconv.Itoa(i),
				})
				mu.Lock()
				tried[d.Digest] = true
				mu.Unlock()
				t0 := time.Now()
				h, err := c.putManifest(ctx, loadRepo, d.Digest.String(), d.MediaType, b)
				lat.add("pushes", time.Since(t0))
				if err != nil {
					fails.add("client %d push %d: manifest: %v", w, i, err)
					return
				}
				if got := h.Get("OCI-Subject"); got != subject.Digest.String() {
					fails.add("client %d push %d: PUT /v2/%s/manifests/%s: OCI-Subject %q, want %s", w, i, loadRepo, d.Digest, got, subject.Digest)
				}
				mu.Lock()
				pushed[d.Digest] = d
				mu.Unlock()
				mine = append(mine, d.Digest)

				t0 = time.Now()
				l, err := c.listReferrers(ctx, loadRepo, subject.Digest, "", maxPage)
				lat.add("lists", time.Since(t0))
				lat.add("list pages", l.pages...)
				if err != nil {
					fails.add("client %d list after push %d: %v", w, i+1, err)
					return
				}
				count := map[digest.Digest]int{}
				for _, m := range l.manifests {
					count[m.Digest]++
				}
				for _, own := range mine {
					if count[own] == 0 {
						fails.add("client %d: list after its push %d (%d entries, %d pages) lacks its own referrer %s: read-your-writes broken", w, i+1, len(l.manifests), len(l.pages), own)
					}
				}
				mu.Lock()
				for dg, n := range count {
					seenAny[dg] = true
					if n > 1 {
						dupes++
						fails.add("client %d: list after its push %d (%d pages) holds %s %d times", w, i+1, len(l.pages), dg, n)
					}
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	fails.report(t)
	if ctx.Err() != nil {
		t.Fatalf("load did not finish within its deadline: %v", ctx.Err())
	}
	if want := loadClients * perClient; len(pushed) != want {
		t.Errorf("%d pushes answered 201, want %d", len(pushed), want)
	}
	for dg := range seenAny {
		if !tried[dg] {
			t.Errorf("an intermediate list held %s, which no client pushed", dg)
		}
	}

	// The final list, all pages.
	t0 := time.Now()
	final, err := c.listReferrers(ctx, loadRepo, subject.Digest, "", maxPage)
	if err != nil {
		t.Fatalf("final list: %v", err)
	}
	if minPages := (len(pushed) + maxPage - 1) / maxPage; len(final.pages) < minPages {
		t.Errorf("final list of %d came in %d pages, want at least %d with page size %d", len(final.manifests), len(final.pages), minPages, maxPage)
	}
	checkSame(t, "final list through the server", final.manifests, pushed)
	for _, m := range final.manifests {
		want, ok := pushed[m.Digest]
		if !ok {
			continue // reported by checkSame
		}
		if m.MediaType != want.MediaType || m.ArtifactType != want.ArtifactType || m.Size != want.Size {
			t.Errorf("final list: %s is {mediaType %q artifactType %q size %d}, want {%q %q %d}",
				m.Digest, m.MediaType, m.ArtifactType, m.Size, want.MediaType, want.ArtifactType, want.Size)
		}
		for k, v := range want.Annotations {
			if m.Annotations[k] != v {
				t.Errorf("final list: %s annotation %s = %q, want %q (the manifest's annotations)", m.Digest, k, m.Annotations[k], v)
			}
		}
	}
	report(t, fmt.Sprintf("load (page size %d, %d clients x %d): %s; %s; %s (final list %d entries in %d pages, %s)",
		maxPage, loadClients, perClient, lat.summary("pushes"), lat.summary("lists"), lat.summary("list pages"),
		len(final.manifests), len(final.pages), time.Since(t0).Round(10*time.Microsecond)))

	// The tree on disk, offline.
	s.stop()
	tree, err := static.Open(dir, loadRepo)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	res, err := tree.Referrers(ctx, subject.Digest, "")
	if err != nil {
		t.Fatalf("static tree %s: Referrers: %v", dir, err)
	}
	t.Logf("static tree read offline: %d referrers (source %s)", len(res.Manifests), res.Source)
	checkSame(t, "static tree read offline (core/static)", res.Manifests, pushed)
}

// checkSame reports unless got holds each digest of want exactly once and
// nothing else.
func checkSame(t *testing.T, what string, got []ocispec.Descriptor, want map[digest.Digest]ocispec.Descriptor) {
	t.Helper()
	count := map[digest.Digest]int{}
	for _, m := range got {
		count[m.Digest]++
	}
	var missing, extra, dup []string
	for d := range want {
		if count[d] == 0 {
			missing = append(missing, d.String())
		}
	}
	for d, n := range count {
		if _, ok := want[d]; !ok {
			extra = append(extra, d.String())
		} else if n > 1 {
			dup = append(dup, fmt.Sprintf("%s x%d", d, n))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(dup)
	if len(missing)+len(extra)+len(dup) > 0 {
		t.Errorf("%s: %d entries for %d pushed: %d missing %v, %d unexpected %v, %d duplicated %v",
			what, len(got), len(want), len(missing), head(missing), len(extra), head(extra), len(dup), head(dup))
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return append(s[:5:5], "...")
	}
	return s
}

// ---- benchmarks ----

// BenchmarkServePushList is one push+list cycle per op, from parallel
// clients: a fresh subject manifest, one referrer of it, and the list of that
// subject's referrers (one entry), so an op costs the same at any b.N.
func BenchmarkServePushList(b *testing.B) {
	ctx := context.Background()
	s := startServer(b, b.TempDir(), server.WithAllowPush(true))
	c := newRawClient(b, s.base)
	empty, err := c.pushBlobSingle(ctx, loadRepo, emptyJSON)
	if err != nil {
		b.Fatal(err)
	}
	empty.MediaType = ocispec.MediaTypeEmptyJSON
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := strconv.FormatInt(seq.Add(1), 10)
			sb, err := json.Marshal(ocispec.Manifest{
				Versioned:    specs.Versioned{SchemaVersion: 2},
				MediaType:    ocispec.MediaTypeImageManifest,
				ArtifactType: "application/vnd.example.subject",
				Config:       empty,
				Layers:       []ocispec.Descriptor{empty},
				Annotations:  map[string]string{"org.example.seq": n},
			})
			if err != nil {
				b.Error(err)
				return
			}
			subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(sb), Size: int64(len(sb))}
			if _, err := c.putManifest(ctx, loadRepo, subject.Digest.String(), subject.MediaType, sb); err != nil {
				b.Error(err)
				return
			}
			rb, r := referrer(subject, empty, map[string]string{"org.example.seq": n})
			if _, err := c.putManifest(ctx, loadRepo, r.Digest.String(), r.MediaType, rb); err != nil {
				b.Error(err)
				return
			}
			l, err := c.listReferrers(ctx, loadRepo, subject.Digest, "", 0)
			if err != nil {
				b.Error(err)
				return
			}
			if len(l.manifests) != 1 || l.manifests[0].Digest != r.Digest {
				b.Errorf("referrers of a fresh subject: %v, want only %s", l.manifests, r.Digest)
				return
			}
		}
	})
}

// BenchmarkServeList lists a subject with 256 referrers (all pages) from
// parallel clients, with the default page size and with 10.
func BenchmarkServeList(b *testing.B) {
	for _, pageSize := range []int{server.DefaultPageSize, 10} {
		b.Run("page-size-"+strconv.Itoa(pageSize), func(b *testing.B) {
			ctx := context.Background()
			s := startServer(b, b.TempDir(), server.WithAllowPush(true), server.WithPageSize(pageSize))
			c := newRawClient(b, s.base)
			subject, err := c.pushSubject(ctx, loadRepo, "v1")
			if err != nil {
				b.Fatal(err)
			}
			const n = 256
			for i := 0; i < n; i++ {
				layer, err := c.pushBlob(ctx, loadRepo, []byte("bench layer "+strconv.Itoa(i)))
				if err == nil {
					_, err = c.pushBlobSingle(ctx, loadRepo, emptyJSON)
				}
				if err != nil {
					b.Fatal(err)
				}
				rb, r := referrer(subject, layer, nil)
				if _, err := c.putManifest(ctx, loadRepo, r.Digest.String(), r.MediaType, rb); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l, err := c.listReferrers(ctx, loadRepo, subject.Digest, "", pageSize)
					if err != nil {
						b.Error(err)
						return
					}
					if len(l.manifests) != n {
						b.Errorf("listed %d referrers, want %d", len(l.manifests), n)
						return
					}
				}
			})
		})
	}
}
