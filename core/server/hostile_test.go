package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/displaytest"
	"github.com/oci-referrers/referrers/internal/testing/syncbuf"
)

// lockCount is the size of the per-repository lock table.
func (s *Server) lockCount() int {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	return len(s.locks)
}

// sessionCount is the number of open upload sessions.
func (s *Server) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.uploads)
}

// counted serves s on loopback and counts its requests in flight (a
// handler's goroutine returned when the count is back).
func counted(t *testing.T, opts ...Option) (*fixture, *atomic.Int64) {
	t.Helper()
	dir := t.TempDir()
	s, err := New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var inflight atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ts.Close()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return &fixture{t: t, dir: dir, s: s, url: ts.URL}, &inflight
}

// eventually waits (generously) for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStalledBody: a request whose body stops (the client sends a few bytes
// of it, then nothing, keeping the connection open) ends within the body
// idle limit: answered 408, its handler's goroutine returned, the upload
// session it fed ended with its data removed, so with one upload slot a new
// upload succeeds right after. Each way a body reaches the server is tried.
func TestStalledBody(t *testing.T) {
	t.Parallel()
	const idle = 200 * time.Millisecond
	m := image("stalled", nil, "")
	cases := []struct {
		name    string
		session bool // the request continues a session opened first
		request func(loc string) string
		code    string
	}{
		{"PATCH with Content-Length", true, func(loc string) string {
			return "PATCH " + loc + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"
		}, codeBlobUploadInvalid},
		{"PATCH chunked", true, func(loc string) string {
			return "PATCH " + loc + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
		}, codeBlobUploadInvalid},
		{"PUT closing a session", true, func(loc string) string {
			return "PUT " + loc + "?digest=" + digest.FromString("x").String() + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"
		}, codeBlobUploadInvalid},
		{"POST monolithic", false, func(string) string {
			return "POST /v2/app/blobs/uploads/?digest=" + digest.FromString("x").String() + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"
		}, codeBlobUploadInvalid},
		{"PUT manifest", false, func(string) string {
			return "PUT /v2/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: " + ocispec.MediaTypeImageManifest + "\r\nContent-Length: 1000\r\n\r\n" + string(m[:10])
		}, codeManifestInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// a long TTL: only the idle limit may end the session
			f, inflight := counted(t, WithAllowPush(true), WithMaxUploads(1), WithBodyIdleTimeout(idle), WithUploadTTL(time.Hour))
			loc := ""
			if c.session {
				a := f.do("POST", "/v2/app/blobs/uploads/", nil)
				f.want(a, http.StatusAccepted, "")
				loc = a.header.Get("Location")
				f.want(f.do("PATCH", loc, []byte("0123")), http.StatusAccepted, "")
			}
			conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, c.request(loc)); err != nil {
				t.Fatal(err)
			}
			// the client now sends nothing, and keeps the connection
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a stalled body: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			elapsed := time.Since(start)
			if a := (answer{status: resp.StatusCode, body: body}); a.status != http.StatusRequestTimeout || a.code() != c.code {
				t.Fatalf("got %d %s, want 408 %s", a.status, body, c.code)
			}
			if elapsed < idle-50*time.Millisecond || elapsed > 5*time.Second {
				t.Errorf("answered after %v; the idle limit is %v", elapsed, idle)
			}
			eventually(t, "the handler returns", func() bool { return inflight.Load() == 0 })
			if n := f.s.sessionCount(); n != 0 {
				t.Errorf("%d sessions left", n)
			}
			f.noUploads()
			if loc != "" {
				f.want(f.do("GET", loc, nil), http.StatusNotFound, codeBlobUploadUnknown)
			}
			// the one slot is free again
			f.pushBlob("app", []byte("after the stall"))
			f.want(f.do("HEAD", "/v2/app/manifests/v1", nil), http.StatusNotFound, "")
		})
	}
}

// trickle is a request body that sends data in n pieces, gap apart; its
// slowest notes the longest time the sender itself took between two pieces
// (a loaded machine's scheduling delay shows there).
type trickle struct {
	n       int
	gap     time.Duration
	slowest atomic.Int64 // nanoseconds
}

func (tr *trickle) body(data []byte) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		last := time.Now()
		for i := range tr.n {
			time.Sleep(tr.gap)
			if _, err := pw.Write(data[i*len(data)/tr.n : (i+1)*len(data)/tr.n]); err != nil {
				return
			}
			now := time.Now()
			if d := int64(now.Sub(last)); d > tr.slowest.Load() {
				tr.slowest.Store(d)
			}
			last = now
		}
		pw.Close()
	}()
	return pr
}

// TestSlowBodySucceeds: bodies that keep flowing, a piece every 100 ms for
// longer than the idle limit in all, are not cut: a streamed chunk, the
// closing PUT of the session and a manifest all land, while the janitor
// runs (every second at this limit). The limit is 4 s, 40 times the gap, so
// that a loaded machine's scheduling delays do not look like a stall (with
// a 1 s limit a CI run saw the closing PUT cut); a failure says how long the
// sender itself paused.
func TestSlowBodySucceeds(t *testing.T) {
	t.Parallel()
	const idle, gap, n = 4 * time.Second, 100 * time.Millisecond, 45
	tr := &trickle{n: n, gap: gap}
	f, _ := counted(t, WithAllowPush(true), WithMaxUploads(1), WithBodyIdleTimeout(idle))
	want := func(a answer, status int) {
		t.Helper()
		if a.status != status {
			t.Fatalf("got %d %s, want %d (the sender's longest pause between two pieces: %v)", a.status, a.body, status, time.Duration(tr.slowest.Load()))
		}
	}
	send := func(method, path string, body io.Reader, hdr ...string) answer {
		req, err := http.NewRequest(method, f.url+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{status: resp.StatusCode, header: resp.Header, body: b}
	}
	var bytesSent []byte
	for i := range n {
		bytesSent = append(bytesSent, byte('a'+i%26))
	}
	a := f.do("POST", "/v2/app/blobs/uploads/", nil)
	f.want(a, http.StatusAccepted, "")
	loc := a.header.Get("Location")
	start := time.Now()
	a = send("PATCH", loc, tr.body(bytesSent))
	want(a, http.StatusAccepted)
	if got := a.header.Get("Range"); got != fmt.Sprintf("0-%d", n-1) {
		t.Fatalf("Range %q after a slow chunk", got)
	}
	if elapsed := time.Since(start); elapsed <= idle {
		t.Errorf("the slow chunk took %v: not longer than the idle limit", elapsed)
	}
	all := append(append([]byte{}, bytesSent...), bytesSent...)
	d := digest.FromBytes(all)
	a = send("PUT", loc+"?digest="+d.String(), tr.body(bytesSent))
	want(a, http.StatusCreated)
	if got := f.do("GET", "/v2/app/blobs/"+d.String(), nil); !bytes.Equal(got.body, all) {
		t.Errorf("blob %q, want %q", got.body, all)
	}
	// a manifest sent slowly: n pieces, gap apart
	m := image("slow", nil, "")
	want(send("PUT", "/v2/app/manifests/v1", tr.body(m), "Content-Type", ocispec.MediaTypeImageManifest), http.StatusCreated)
	if elapsed := time.Since(start); elapsed < 3*idle {
		t.Errorf("the slow bodies took %v: not slower than the idle limit", elapsed)
	}
	f.noUploads()
}

// TestStalledSessionExpires: the janitor ends a session whose request has
// waited in one read of its body for the idle limit, also where the
// connection takes no read deadlines (here: in-process, through a
// ResponseRecorder, with the server's clock moved by hand): its slot and
// data are freed at once, and what the client sends later is not taken.
func TestStalledSessionExpires(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dir := t.TempDir()
	s, err := New(dir, WithAllowPush(true), WithMaxUploads(1), WithBodyIdleTimeout(time.Minute), WithUploadTTL(time.Hour), withClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := &fixture{t: t, dir: dir, s: s}
	serve := func(method, path string, body io.Reader) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(method, path, body))
		return w
	}
	w := serve("POST", "/v2/app/blobs/uploads/", nil)
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	loc := w.Header().Get("Location")
	pr, pw := io.Pipe()
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- serve("PATCH", loc, pr) }()
	if _, err := pw.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	waiting := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, u := range s.uploads {
			return u.waitSince.Load() != 0
		}
		return false
	}
	eventually(t, "the PATCH waits for more", waiting)
	mu.Lock()
	now = now.Add(59 * time.Second)
	mu.Unlock()
	s.expire()
	if s.sessionCount() != 1 {
		t.Fatal("a session that sent a byte within the limit expired")
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	s.expire()
	if n := s.sessionCount(); n != 0 {
		t.Fatalf("%d sessions after a stall of 61 s", n)
	}
	f.noUploads()
	if w := serve("POST", "/v2/app/blobs/uploads/", nil); w.Code != http.StatusAccepted {
		t.Errorf("the slot is not free: %d %s", w.Code, w.Body)
	}
	// the client wakes up: its bytes are not taken, its request ends
	defer pr.Close()
	go func() {
		_, _ = pw.Write([]byte("more"))
		pw.Close()
	}()
	select {
	case w := <-done:
		if w.Code != http.StatusRequestTimeout {
			t.Errorf("PATCH after expiry: %d %s", w.Code, w.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the PATCH did not end")
	}
	if w := serve("GET", loc, nil); w.Code != http.StatusNotFound {
		t.Errorf("expired session: %d", w.Code)
	}
}

// TestLockTable: reads of 200k made-up repositories (20k under the race
// detector), half of them referrers lists, the rest every other read
// endpoint, leave the per-repository lock table empty and create nothing in
// the tree; the heap grows by less than 20 MB (when every name kept an
// entry, 200k referrers lists grew it by 36 MB). Writes and reads of a real
// repository, and deletes in made-up ones, leave it empty too. Not
// parallel: the heap is measured, and parallel tests (a 32 MiB download
// among them) would add their own allocations.
func TestLockTable(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, WithAllowPush(true), WithAllowDelete(true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	serve := func(method, path string, body []byte, ctype string) int {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req := httptest.NewRequest(method, path, r)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w.Code
	}
	subject := image("subject", nil, "")
	sd := digest.FromBytes(subject)
	ref := image("ref", subjectOf(subject), "application/x")
	if c := serve("PUT", "/v2/real/manifests/v1", subject, ocispec.MediaTypeImageManifest); c != http.StatusCreated {
		t.Fatalf("push: %d", c)
	}
	if c := serve("PUT", "/v2/real/manifests/"+digest.FromBytes(ref).String(), ref, ocispec.MediaTypeImageManifest); c != http.StatusCreated {
		t.Fatalf("push: %d", c)
	}
	if c := serve("GET", "/v2/real/referrers/"+sd.String(), nil, ""); c != http.StatusOK {
		t.Fatalf("referrers: %d", c)
	}
	if n := s.lockCount(); n != 0 {
		t.Fatalf("%d locks after writes and reads of a real repository", n)
	}
	names := 200_000
	if raceEnabled {
		names = 20_000
	}
	// half of them list referrers (which take the repository's lock)
	refs := "/referrers/" + sd.String()
	paths := []string{refs, "/manifests/v1", refs, "/manifests/" + sd.String(), refs, "/tags/list", refs, "/blobs/" + sd.String()}
	want := []int{http.StatusOK, http.StatusNotFound, http.StatusOK, http.StatusNotFound, http.StatusOK, http.StatusNotFound, http.StatusOK, http.StatusNotFound}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range names {
		k := i % len(paths)
		name := fmt.Sprintf("made/up-%d/name-%08d", i, i)
		if c := serve("GET", "/v2/"+name+paths[k], nil, ""); c != want[k] {
			t.Fatalf("GET %s%s: %d, want %d", name, paths[k], c, want[k])
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap after %d made-up names: %.1f MB -> %.1f MB (%+.1f MB)", names, mb(before.HeapAlloc), mb(after.HeapAlloc), float64(grew)/(1<<20))
	if n := s.lockCount(); n != 0 {
		t.Errorf("%d locks after reads of made-up repositories", n)
	}
	if grew > 20<<20 {
		t.Errorf("the heap grew by %d bytes", grew)
	}
	if _, err := os.Stat(filepath.Join(dir, "v2", "made")); !os.IsNotExist(err) {
		t.Errorf("a read created a directory: %v", err)
	}
	// deletes in made-up repositories find nothing and keep nothing
	for _, p := range []string{"/manifests/v1", "/manifests/" + sd.String(), "/blobs/" + sd.String()} {
		if c := serve("DELETE", "/v2/made/up"+p, nil, ""); c != http.StatusNotFound {
			t.Errorf("DELETE %s: %d", p, c)
		}
	}
	if n := s.lockCount(); n != 0 {
		t.Errorf("%d locks after deletes", n)
	}
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

// TestLockTableConcurrent: while readers and writers of a few repositories
// run at once, the table never holds more entries than there are requests
// in flight, and it is empty when they are done.
func TestLockTableConcurrent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true))
	subject := image("subject", nil, "")
	sd := digest.FromBytes(subject)
	const workers = 8
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for j := range 5 {
				repo := fmt.Sprintf("r%d", (i+j)%3)
				m := image(fmt.Sprint("w", i, "-", j), subjectOf(subject), "application/x")
				f.pushManifest(repo, digest.FromBytes(m).String(), m)
				f.referrers(repo, sd, "")
				if n := f.s.lockCount(); n > workers {
					t.Errorf("%d locks with %d clients", n, workers)
				}
			}
		})
	}
	wg.Wait()
	if n := f.s.lockCount(); n != 0 {
		t.Errorf("%d locks left", n)
	}
}

// TestSidecarTags: a tag that names a .mediatype sidecar (in any case) is
// refused with 400 MANIFEST_INVALID and stores nothing, by reference or by
// ?tag=; reads and deletes of one answer 404 MANIFEST_UNKNOWN even where the
// sidecar exists, and touch nothing; the tags list shows the real tags.
func TestSidecarTags(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithAllowPush(true), WithAllowDelete(true))
	m := image("x", nil, "")
	md := digest.FromBytes(m)
	for _, c := range []struct{ ref, query string }{
		{"x.mediatype", ""},
		{"x.MEDIATYPE", ""},
		{md.String(), "?tag=x.mediatype"},
		{md.String(), "?tag=ok&tag=v1.mediatype"},
	} {
		a := f.do("PUT", "/v2/app/manifests/"+c.ref+c.query, m, "Content-Type", ocispec.MediaTypeImageManifest)
		f.want(a, http.StatusBadRequest, codeManifestInvalid)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "v2")); !os.IsNotExist(err) {
		t.Fatalf("a refused push stored something: %v", err)
	}
	f.pushManifest("app", "x", m)
	manifests := filepath.Join(f.dir, "v2", "app", "manifests")
	files := func() string {
		ents, err := os.ReadDir(manifests)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return strings.Join(names, ",")
	}
	stored := files()
	for _, method := range []string{"GET", "HEAD", "DELETE"} {
		for _, tag := range []string{"x.mediatype", "X.Mediatype", md.String() + ".mediatype"} {
			a := f.do(method, "/v2/app/manifests/"+tag, nil)
			want := http.StatusNotFound
			if strings.Contains(tag, ":") {
				want = http.StatusBadRequest // not a digest, not a tag
			}
			if a.status != want || (method != "HEAD" && want == http.StatusNotFound && a.code() != codeManifestUnknown) {
				t.Errorf("%s %s: %d %s", method, tag, a.status, a.body)
			}
		}
	}
	if got := files(); got != stored {
		t.Errorf("files %s, want %s", got, stored)
	}
	a := f.do("GET", "/v2/app/tags/list", nil)
	f.want(a, http.StatusOK, "")
	if string(a.body) != `{"name":"app","tags":["x"]}` {
		t.Errorf("tags %s", a.body)
	}
	// deleting tag x removes x and its own sidecar only
	f.want(f.do("DELETE", "/v2/app/manifests/x", nil), http.StatusAccepted, "")
	if got, want := files(), md.String()+","+md.String()+".mediatype"; got != want {
		t.Errorf("after deleting x: %s, want %s", got, want)
	}
	f.want(f.do("GET", "/v2/app/manifests/"+md.String(), nil), http.StatusOK, "")
}

// TestErrorsHideTree: no answer, body or header, names the server's
// directory, whatever goes wrong in the tree: missing and unreadable files,
// symbolic links out of it, bad manifests, directories where files belong,
// failed preconditions, upload data gone, permissions. The detail of the
// server's own failures is logged.
func TestErrorsHideTree(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	f := newFixture(t, WithAllowPush(true), WithAllowDelete(true), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	subject := image("subject", nil, "")
	sd := digest.FromBytes(subject)
	f.pushManifest("app", "v1", subject)
	f.pushManifest("clean", "v1", subject)
	repo := filepath.Join(f.dir, "v2", "app")
	write := func(rel string, b []byte) {
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(target, rel string) {
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Skip("no symlinks here:", err)
		}
	}
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte(`{"schemaVersion":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []byte("not a manifest")
	badDigest := digest.FromString("claimed")
	write("manifests/garbage", bad) // a tag without sidecar or mediaType
	write("manifests/"+badDigest.String(), bad)
	write("manifests/"+badDigest.String()+".mediatype", []byte(ocispec.MediaTypeImageManifest))
	write("manifests/huge", bytes.Repeat([]byte(" "), 4<<20+1))
	if err := os.MkdirAll(filepath.Join(repo, "manifests", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	linkBlob := digest.FromString("link")
	loopBlob := digest.FromString("loop")
	symlink(outside, "blobs/"+linkBlob.String())
	symlink(outside, "manifests/escape")
	symlink("loop2", "blobs/"+loopBlob.String())
	symlink(loopBlob.String(), "blobs/loop2")
	symlink(outside, "referrers/"+digest.FromString("s").String())
	dirBlob := digest.FromString("dir")
	if err := os.MkdirAll(filepath.Join(repo, "blobs", dirBlob.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	// a repository whose manifests "directory" is a file
	write("../flat/manifests", []byte("x"))
	// an upload whose data was removed behind the server's back
	loc := f.do("POST", "/v2/app/blobs/uploads/", nil).header.Get("Location")
	if err := os.RemoveAll(filepath.Join(f.dir, uploadsDir)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
	}{
		{"missing blob", "GET", "/v2/app/blobs/" + digest.FromString("none").String(), nil, nil, 404},
		{"missing manifest", "GET", "/v2/app/manifests/none", nil, nil, 404},
		{"missing repository", "GET", "/v2/none/tags/list", nil, nil, 404},
		{"blob linked out of the tree", "GET", "/v2/app/blobs/" + linkBlob.String(), nil, nil, 500},
		{"blob in a symlink loop", "GET", "/v2/app/blobs/" + loopBlob.String(), nil, nil, 500},
		{"blob is a directory", "GET", "/v2/app/blobs/" + dirBlob.String(), nil, nil, 500},
		{"delete of a blob linked out", "DELETE", "/v2/app/blobs/" + linkBlob.String(), nil, nil, 500},
		{"tag linked out of the tree", "GET", "/v2/app/manifests/escape", nil, nil, 500},
		{"tag is a directory", "GET", "/v2/app/manifests/dir", nil, nil, 500},
		{"manifest without media type", "GET", "/v2/app/manifests/garbage", nil, nil, 400},
		{"manifest not of its digest", "GET", "/v2/app/manifests/" + badDigest.String(), nil, nil, 400},
		{"manifest over the cap", "GET", "/v2/app/manifests/huge", nil, nil, 413},
		{"referrers file linked out", "GET", "/v2/app/referrers/" + digest.FromString("s").String(), nil, nil, 500},
		{"manifests is a file", "GET", "/v2/flat/tags/list", nil, nil, 500},
		{"precondition failed", "PUT", "/v2/clean/manifests/v1", subject, []string{"Content-Type", ocispec.MediaTypeImageManifest, "If-None-Match", "*"}, 412},
		{"upload data gone", "PATCH", loc, []byte("abc"), nil, 500},
		{"bad manifest pushed", "PUT", "/v2/app/manifests/v2", []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `"}`), []string{"Content-Type", ocispec.MediaTypeImageManifest}, 400},
		{"push needing a scan of a bad tree", "PUT", "/v2/app/manifests/" + digest.FromBytes(image("r", subjectOf(subject), "a/b")).String(), image("r", subjectOf(subject), "a/b"), []string{"Content-Type", ocispec.MediaTypeImageManifest}, 0},
		{"referrers by scan of a bad tree", "GET", "/v2/app/referrers/" + sd.String(), nil, nil, 0},
	}
	if os.Geteuid() != 0 { // root reads whatever the mode says
		if err := os.MkdirAll(filepath.Join(f.dir, "v2", "locked", "manifests"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(f.dir, "v2", "locked", "manifests"), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(filepath.Join(f.dir, "v2", "locked", "manifests"), 0o755) })
		cases = append(cases, struct {
			name, method, path string
			body               []byte
			hdr                []string
			status             int
		}{"permission denied", "GET", "/v2/locked/tags/list", nil, nil, 500})
	}
	names := absNames(f.dir)
	for _, c := range cases {
		a := f.do(c.method, c.path, c.body, c.hdr...)
		if c.status != 0 && a.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, a.status, a.body, c.status)
		}
		if a.status < 400 {
			t.Errorf("%s: %d, want an error", c.name, a.status)
		}
		for _, d := range names {
			if bytes.Contains(a.body, []byte(d)) {
				t.Errorf("%s: the body names the tree: %s", c.name, a.body)
			}
			for k, vs := range a.header {
				if strings.Contains(strings.Join(vs, " "), d) {
					t.Errorf("%s: header %s names the tree: %q", c.name, k, vs)
				}
			}
		}
	}
	if !strings.Contains(logs.String(), f.dir) {
		t.Errorf("the log has no detail of the failures:\n%s", logs.String())
	}
}

// TestScrub: a message that names the tree's directory is replaced, keeping
// status and code; others pass.
func TestScrub(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.s.scrub(&apiError{status: 500, code: codeUnsupported, message: "open " + filepath.Join(f.dir, "v2/x") + ": denied"})
	if strings.Contains(e.message, f.dir) || e.status != 500 || e.code != codeUnsupported {
		t.Errorf("scrubbed %+v", e)
	}
	if e := f.s.scrub(&apiError{status: 404, code: codeBlobUnknown, message: "blob unknown"}); e.message != "blob unknown" {
		t.Errorf("changed %+v", e)
	}
}

// TestStalledReader: a client that asks for a blob and stops reading loses
// its connection after the idle limit and its request ends (no goroutine and
// open file held); one that keeps reading, slowly, for longer than the limit
// in all gets every byte. The second half runs on its own server with a 2 s
// limit, 50 times its reader's pause, so that a loaded machine's scheduling
// delays do not look like a stalled reader.
func TestStalledReader(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	f, inflight := counted(t, WithAllowPush(true), WithBodyIdleTimeout(idle))
	big := bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MiB: more than the socket buffers hold
	bigD := f.pushBlob("app", big)

	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /v2/app/blobs/"+bigD.String()+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// the client reads nothing
	eventually(t, "the download starts", func() bool { return inflight.Load() == 1 })
	eventually(t, "the handler of a download nobody reads returns", func() bool { return inflight.Load() == 0 })
	t.Logf("the unread download ended after %v (limit %v)", time.Since(start).Round(time.Millisecond), idle)

	// 4 KiB every 40 ms: 256 KiB in about 2.6 s, longer than the limit
	const slowIdle = 2 * time.Second
	f2, _ := counted(t, WithAllowPush(true), WithBodyIdleTimeout(slowIdle))
	small := bytes.Repeat([]byte("x"), 256<<10)
	smallD := f2.pushBlob("app", small)
	conn2, err := net.Dial("tcp", strings.TrimPrefix(f2.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	_ = conn2.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, err := io.WriteString(conn2, "GET /v2/app/blobs/"+smallD.String()+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(slowReader{conn2, 40 * time.Millisecond}), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("slow reader: %d of %d bytes, %v", len(got), len(small), err)
	}
	if elapsed := time.Since(start); elapsed <= slowIdle {
		t.Errorf("the slow read took %v: not longer than the idle limit %v", elapsed, slowIdle)
	}
}

// slowReader reads at most 4 KiB, gap after each read.
type slowReader struct {
	r   io.Reader
	gap time.Duration
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.gap)
	return s.r.Read(p[:min(len(p), 4<<10)])
}

// TestLogEscapes: what a client sends (the decoded path, and error texts
// that quote it) reaches the server's logger rendered by core/display, also
// for a library's own logger: no control, bidi character or command marker.
func TestLogEscapes(t *testing.T) {
	t.Parallel()
	var log syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, WithLogger(logger))
	for _, p := range []string{
		"/v2/app/manifests/%1b]0;title%07",
		"/v2/app%E2%80%AE/tags/list",
		"/v2/app/blobs/%23%23[error]x",
		"/v2/app/manifests/x%0A::error::pwned",
	} {
		f.do("GET", p, nil)
	}
	out := log.String()
	if !strings.Contains(out, "request") {
		t.Fatalf("nothing logged:\n%s", out)
	}
	for _, p := range displaytest.Problems(out, displaytest.Options{}) {
		t.Errorf("log: %s", p)
	}
}
