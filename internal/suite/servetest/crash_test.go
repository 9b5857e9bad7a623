package servetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// What TestServeCrash pushes and how hard.
const (
	crashRepo         = "crash/app"
	crashTag          = "v1"
	crashArtifactType = "application/vnd.example.crash"
	crashWorkers      = 16
	// crashRounds is the default number of kills; REFERRERS_CRASH_ROUNDS
	// sets another (a soak run).
	crashRounds    = 3
	crashRoundsEnv = "REFERRERS_CRASH_ROUNDS"
	// crashStartTimeout bounds the wait for the "serving ..." line.
	crashStartTimeout = 30 * time.Second
	// crashBuildTimeout bounds the build of the CLI (longer with cold caches).
	crashBuildTimeout = 3 * time.Minute
	// crashDeadline bounds the rest, the rounds and the checks (~3 s), with
	// crashRoundDeadline more for each round beyond crashRounds.
	crashDeadline      = 30 * time.Second
	crashRoundDeadline = 2 * time.Second
	crashMaxBody       = 8 << 20
	// crashSeedEnv replays a run's kill delays and blob contents.
	crashSeedEnv = "REFERRERS_CRASH_SEED"
)

// crashServingLine is the line `referrers serve` prints on stderr once it
// listens: "serving static:DIR on http://HOST:PORT (...)".
var crashServingLine = regexp.MustCompile(`^serving static:(.+) on http://([^\s()]+) \(`)

// TestServeCrash proves the crash safety `referrers serve` promises (package
// server): writes are atomic (a kill -9 leaves each file old or new, never
// half), concurrent pushes of referrers to one subject keep every entry, and
// a restart removes orphaned upload data (DIR/_uploads).
//
// The CLI is built (without -race) and run as a child process on one tree.
// A subject image is pushed over raw HTTP, then 16 goroutines push referrers
// to it in a loop (a chunked blob upload, POST+PATCH+PUT, then the manifest
// with its subject), and after a random 200-600 ms the server is killed with
// SIGKILL. That is repeated for 3 rounds on the same tree, then the server
// is started a last time and the tree is checked through it and offline:
// every acknowledged (201) manifest and blob reads back byte-identical; the
// subject's referrers as served equal a scan of the stored manifests
// (static.Tree.IndexFor, as `referrers index-for` builds it); the pre-rendered index holds
// every acknowledged push and nothing that is not stored; every blob and
// manifest file hashes to its name; DIR/_uploads is gone. Leftover temporary
// files of the atomic writer (.tmp-*) are counted and must not be visible
// under a name a reader would use. A last push through the restarted server
// must leave the pre-rendered index equal to the scan.
//
// REFERRERS_CRASH_SEED=N replays the kill delays and blob contents of a run
// (the interleaving of the pushes is the scheduler's);
// REFERRERS_CRASH_ROUNDS=N kills N times instead of 3.
func TestServeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI and kills it")
	}
	start := time.Now()

	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(crashSeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, v, err)
		}
		seed = n
	}
	rounds := crashRounds
	if v := os.Getenv(crashRoundsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a count of at least 1", crashRoundsEnv, v)
		}
		rounds = n
	}
	t.Logf("seed %d (replay the delays with %s=%d), %d rounds", seed, crashSeedEnv, seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	bin := crashBuild(t)
	t.Logf("built the CLI in %s", time.Since(start).Round(time.Millisecond))
	deadline := crashDeadline + time.Duration(max(rounds-crashRounds, 0))*crashRoundDeadline
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "tree")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	led := &crashLedger{blobs: map[digest.Digest][]byte{}, acked: map[digest.Digest][]byte{}, attempted: map[digest.Digest][]byte{}}
	var subject ocispec.Descriptor
	var subjectBytes []byte
	kills, cutUploads, cutManifests, orphans := 0, 0, 0, 0
	for round := range rounds {
		p := crashStart(t, ctx, bin, dir)
		crashNoUploads(t, dir, fmt.Sprintf("start of round %d", round))
		hc := crashHTTPClient()
		if round == 0 {
			var err error
			subject, subjectBytes, err = crashPushSubject(ctx, hc, p.base, seed)
			if err != nil {
				t.Fatalf("push the subject: %v", err)
			}
			t.Logf("subject %s (tag %s)", subject.Digest, crashTag)
		}
		before := led.ackedCount()
		var killed atomic.Bool
		rctx, rcancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for w := range crashWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				crashWorkerLoop(rctx, hc, p.base, subject, seed, round, w, led, &killed)
			}()
		}
		delay := time.Duration(200+rng.IntN(401)) * time.Millisecond
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		select {
		case <-p.exited:
			rcancel()
			wg.Wait()
			t.Fatalf("round %d: the server exited on its own before the kill: %v\n%s", round, p.waitErr, p.stderr())
		default:
		}
		killed.Store(true)
		p.kill9(t)
		kills++
		rcancel()
		wg.Wait()
		hc.CloseIdleConnections()
		if ctx.Err() != nil {
			t.Fatalf("round %d: out of time (%s)", round, deadline)
		}
		up := crashListDir(t, filepath.Join(dir, "_uploads"))
		tmps := crashTempFiles(t, dir)
		orphans += len(up)
		cu, cm := led.takeCut()
		cutUploads += cu
		cutManifests += cm
		t.Logf("round %d: killed after %s; %d manifest pushes acknowledged (%d in all); the kill cut %d blob uploads and %d manifest PUTs, left %d upload files in _uploads and %d temporary files in the tree",
			round, delay, led.ackedCount()-before, led.ackedCount(), cu, cm, len(up), len(tmps))
		if msgs := led.takeFailures(); len(msgs) > 0 {
			t.Fatalf("round %d: %d pushes failed while the server ran (not by the kill):\n%s\nserver stderr:\n%s",
				round, len(msgs), strings.Join(crashHead(msgs, 20), "\n"), p.stderr())
		}
		if s := p.stderr(); s != "" {
			t.Logf("round %d: server stderr:\n%s", round, s)
		}
	}

	if led.ackedCount() == 0 {
		t.Fatalf("no referrer push was acknowledged in %d rounds", rounds)
	}

	// The last start: nothing is pushed until the tree is checked.
	p := crashStart(t, ctx, bin, dir)
	crashNoUploads(t, dir, "the restart after the last kill")
	hc := crashHTTPClient()
	defer hc.CloseIdleConnections()
	acked, attempted, blobs := led.snapshot()

	// Through the server: the subject, every acknowledged manifest and blob.
	if err := crashGetManifest(ctx, hc, p.base, crashTag, subject.Digest, subjectBytes); err != nil {
		t.Errorf("subject by tag: %v", err)
	}
	for d, b := range acked {
		if err := crashGetManifest(ctx, hc, p.base, d.String(), d, b); err != nil {
			t.Errorf("acknowledged manifest: %v", err)
		}
	}
	for d, b := range blobs {
		if err := crashGetBlob(ctx, hc, p.base, d, b); err != nil {
			t.Errorf("acknowledged blob: %v", err)
		}
	}
	served, err := crashListReferrers(ctx, hc, p.base, subject.Digest)
	if err != nil {
		t.Fatalf("list referrers through the server: %v", err)
	}

	// Offline, with the library and at the tree level.
	scan, lib, source := crashOffline(t, ctx, dir, subject.Digest, acked)
	crashSameSet(t, "referrers served after the restart", served, "a scan of the stored manifests (IndexFor)", scan)
	crashSameSet(t, "static.Tree.Referrers (source "+source+")", lib, "a scan of the stored manifests (IndexFor)", scan)
	for d := range acked {
		if _, ok := scan[d]; !ok {
			t.Errorf("acknowledged push %s is not among the subject's referrers found by a scan", d)
		}
	}
	for d := range scan {
		if _, ok := attempted[d]; !ok {
			t.Errorf("the scan finds referrer %s, which no client pushed", d)
		}
	}
	unacked := 0
	for d := range scan {
		if _, ok := acked[d]; !ok {
			unacked++
		}
	}
	pre, complete, stamps := crashPrerendered(t, dir, subject.Digest)
	for d := range acked {
		if _, ok := pre[d]; !ok && pre != nil {
			t.Errorf("the pre-rendered index misses acknowledged push %s", d)
		}
	}
	for d := range pre {
		if _, ok := scan[d]; !ok {
			t.Errorf("the pre-rendered index lists %s, which is not stored", d)
		}
	}
	if complete {
		crashSameSet(t, "the pre-rendered index (the tree is marked complete and fresh: "+stamps+")", pre, "a scan of the stored manifests (IndexFor)", scan)
	}
	tmps := crashCheckTree(t, dir, subject.Digest, subjectBytes)
	crashTempsInvisible(t, ctx, hc, p.base, tmps)
	// Every writer of a temporary file holds the repository's lock (manifest
	// and index writes; blob uploads are renamed from _uploads), so a kill
	// interrupts at most one: more would be temporary files that a write
	// which did not crash left behind. Nothing removes them today.
	if len(tmps) > kills {
		t.Errorf("%d temporary files after %d kills: more than one per kill: %v", len(tmps), kills, tmps)
	}
	t.Logf("after %d kills: %d manifest pushes acknowledged, %d stored but never acknowledged (cut by a kill), %d blobs acknowledged; the kills cut %d blob uploads and %d manifest PUTs and left %d upload files (removed by the restarts); served %d referrers, scan %d, pre-rendered %d (tree marked complete: %v, %s; Referrers source %q); %d temporary files left: %v",
		kills, len(acked), unacked, len(blobs), cutUploads, cutManifests, orphans, len(served), len(scan), len(pre), complete, stamps, source, len(tmps), tmps)

	// A push through the restarted server brings the pre-rendered index up
	// to date (EnsureComplete), whatever the kills left.
	if _, err := crashPushReferrer(ctx, hc, p.base, subject, seed, rounds, 0, 0, led); err != nil {
		t.Fatalf("a push after the restart: %v", err)
	}
	acked, _, _ = led.snapshot()
	served, err = crashListReferrers(ctx, hc, p.base, subject.Digest)
	if err != nil {
		t.Fatalf("list referrers after a push: %v", err)
	}
	scan, _, _ = crashOffline(t, ctx, dir, subject.Digest, acked)
	pre, complete, stamps = crashPrerendered(t, dir, subject.Digest)
	crashSameSet(t, "referrers served after a push on the restarted server", served, "a scan of the stored manifests (IndexFor)", scan)
	crashSameSet(t, "the pre-rendered index after a push on the restarted server ("+stamps+")", pre, "a scan of the stored manifests (IndexFor)", scan)
	if !complete {
		t.Errorf("after a push on the restarted server the tree is not marked complete and fresh: %s", stamps)
	}
	if s := p.stderr(); s != "" {
		t.Logf("final server stderr:\n%s", s)
	}
	t.Logf("TestServeCrash took %s", time.Since(start).Round(time.Millisecond))
}

// ---- the server process ----

// crashBuild builds the CLI (without -race, as a user would) into a
// temporary directory.
func crashBuild(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), crashBuildTimeout)
	defer cancel()
	root, err := oracle.Root()
	if err != nil {
		t.Fatalf("module root: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "referrers")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/referrers")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/referrers: %v\n%s", err, out)
	}
	return bin
}

// crashProc is one `referrers serve` child process.
type crashProc struct {
	cmd  *exec.Cmd
	base string // http://HOST:PORT

	mu  sync.Mutex
	log []string // stderr lines other than the serving line

	exited  chan struct{} // closed once the process is reaped
	waitErr error
}

func (p *crashProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n")
}

// crashStart runs `referrers serve static:DIR --addr 127.0.0.1:0
// --allow-push --allow-delete` and reads its stderr until the serving line.
func crashStart(t *testing.T, ctx context.Context, bin, dir string) *crashProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "static:"+dir, "--addr", "127.0.0.1:0", "--allow-push", "--allow-delete")
	cmd.Dir = t.TempDir()
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "REFERRERS_SERVE_TOKEN=") })
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start referrers serve: %v", err)
	}
	p := &crashProc{cmd: cmd, exited: make(chan struct{})}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			if m := crashServingLine.FindStringSubmatch(line); m != nil && !seen {
				seen = true
				found <- m
				continue
			}
			p.mu.Lock()
			p.log = append(p.log, line)
			p.mu.Unlock()
		}
		p.waitErr = cmd.Wait() // after the reads, as StderrPipe requires
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill9(t) })
	timer := time.NewTimer(crashStartTimeout)
	defer timer.Stop()
	select {
	case m := <-found:
		if m[1] != dir {
			t.Fatalf("referrers serve serves static:%s, want static:%s", m[1], dir)
		}
		u, err := url.Parse("http://" + m[2])
		if err != nil || u.Host == "" {
			t.Fatalf("referrers serve printed %q: no HOST:PORT in it", m[0])
		}
		p.base = "http://" + u.Host
		return p
	case <-p.exited:
		t.Fatalf("referrers serve exited before serving: %v\n%s", p.waitErr, p.stderr())
	case <-timer.C:
		t.Fatalf("referrers serve: no serving line on stderr within %s\n%s", crashStartTimeout, p.stderr())
	case <-ctx.Done():
		t.Fatalf("referrers serve: out of time waiting for the serving line\n%s", p.stderr())
	}
	return nil
}

// kill9 sends SIGKILL (if the process still runs) and reaps it; it fails the
// test if the process had ended otherwise.
func (p *crashProc) kill9(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill referrers serve: %v", err)
	}
	<-p.exited
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && !(ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
		t.Errorf("referrers serve ended with %v before it was killed\n%s", p.cmd.ProcessState, p.stderr())
	}
}

func crashHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: crashWorkers * 2, IdleConnTimeout: 10 * time.Second}}
}

// ---- what the clients were told ----

// crashLedger records the outcome of every push.
type crashLedger struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte // blob uploads answered 201
	acked     map[digest.Digest][]byte // manifest PUTs answered 201
	attempted map[digest.Digest][]byte // manifest PUTs sent (acknowledged or not)
	cut       [2]int                   // pushes the kill cut: in the blob upload, in the manifest PUT
	failures  []string                 // requests that failed while the server ran
}

func (l *crashLedger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *crashLedger) record(m map[digest.Digest][]byte, d digest.Digest, b []byte) {
	l.mu.Lock()
	m[d] = b
	l.mu.Unlock()
}

// takeCut returns and resets the pushes the kill cut: in the blob upload
// (an upload session was open) and in the manifest PUT.
func (l *crashLedger) takeCut() (uploads, manifests int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	uploads, manifests = l.cut[0], l.cut[1]
	l.cut = [2]int{}
	return uploads, manifests
}

func (l *crashLedger) takeFailures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures
	l.failures = nil
	return f
}

func (l *crashLedger) snapshot() (acked, attempted, blobs map[digest.Digest][]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp := func(m map[digest.Digest][]byte) map[digest.Digest][]byte {
		out := make(map[digest.Digest][]byte, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(l.acked), cp(l.attempted), cp(l.blobs)
}

// ---- raw distribution-spec requests ----

// crashCutError is a request that got no answer (the connection failed).
type crashCutError struct{ err error }

func (e *crashCutError) Error() string { return "no answer: " + e.err.Error() }
func (e *crashCutError) Unwrap() error { return e.err }

// crashDo sends one request and reads the answer (capped). A request that
// gets no answer is a *crashCutError.
func crashDo(ctx context.Context, hc *http.Client, method, u string, hdr http.Header, body []byte) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, &crashCutError{err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, crashMaxBody))
	if err != nil {
		return resp, nil, &crashCutError{fmt.Errorf("%s %s: read body: %w", method, u, err)}
	}
	return resp, b, nil
}

// crashPushMonolithic uploads a blob in the POST (?digest=).
func crashPushMonolithic(ctx context.Context, hc *http.Client, base string, data []byte) (digest.Digest, error) {
	d := digest.FromBytes(data)
	u := base + "/v2/" + crashRepo + "/blobs/uploads/?digest=" + url.QueryEscape(d.String())
	resp, body, err := crashDo(ctx, hc, http.MethodPost, u, http.Header{"Content-Type": {"application/octet-stream"}}, data)
	if err != nil {
		return d, err
	}
	return d, wantStatus("POST", u, resp, body, http.StatusCreated)
}

// crashPushChunked uploads a blob in a session: POST, a PATCH per chunk
// (with Content-Range), and the closing PUT ?digest=. pause runs between
// requests, so that sessions are open when the server is killed.
func crashPushChunked(ctx context.Context, hc *http.Client, base string, data []byte, cuts []int, pause func()) (digest.Digest, error) {
	d := digest.FromBytes(data)
	u := base + "/v2/" + crashRepo + "/blobs/uploads/"
	resp, body, err := crashDo(ctx, hc, http.MethodPost, u, nil, nil)
	if err != nil {
		return d, err
	}
	if err := wantStatus("POST", u, resp, body, http.StatusAccepted); err != nil {
		return d, err
	}
	loc, err := location(resp)
	if err != nil {
		return d, err
	}
	from := 0
	for _, to := range append(cuts, len(data)) {
		pause()
		h := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", from, to-1)},
		}
		resp, body, err := crashDo(ctx, hc, http.MethodPatch, loc.String(), h, data[from:to])
		if err != nil {
			return d, err
		}
		if err := wantStatus("PATCH", loc.String(), resp, body, http.StatusAccepted); err != nil {
			return d, err
		}
		if got, want := resp.Header.Get("Range"), fmt.Sprintf("0-%d", to-1); got != want {
			return d, fmt.Errorf("PATCH %s: Range %q, want %q", loc, got, want)
		}
		if loc, err = location(resp); err != nil {
			return d, err
		}
		from = to
	}
	pause()
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	resp, body, err = crashDo(ctx, hc, http.MethodPut, loc.String(), nil, nil)
	if err != nil {
		return d, err
	}
	if err := wantStatus("PUT", loc.String(), resp, body, http.StatusCreated); err != nil {
		return d, err
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != d.String() {
		return d, fmt.Errorf("PUT %s: Docker-Content-Digest %q, want %s", loc, got, d)
	}
	return d, nil
}

// crashPutManifest pushes a manifest by reference and checks the 201.
func crashPutManifest(ctx context.Context, hc *http.Client, base, reference string, data []byte, subject digest.Digest) error {
	u := base + "/v2/" + crashRepo + "/manifests/" + reference
	resp, body, err := crashDo(ctx, hc, http.MethodPut, u, http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}, data)
	if err != nil {
		return err
	}
	if err := wantStatus("PUT", u, resp, body, http.StatusCreated); err != nil {
		return err
	}
	if got, want := resp.Header.Get("Docker-Content-Digest"), digest.FromBytes(data).String(); got != want {
		return fmt.Errorf("PUT %s: Docker-Content-Digest %q, want %s", u, got, want)
	}
	if subject != "" && resp.Header.Get("OCI-Subject") != subject.String() {
		return fmt.Errorf("PUT %s: OCI-Subject %q, want %s", u, resp.Header.Get("OCI-Subject"), subject)
	}
	return nil
}

// crashPushSubject pushes the subject image (its config blob and the empty
// blob, monolithic; the manifest by tag).
func crashPushSubject(ctx context.Context, hc *http.Client, base string, seed uint64) (ocispec.Descriptor, []byte, error) {
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"seed":"%d"}}}`, seed))
	cd, err := crashPushMonolithic(ctx, hc, base, cfg)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if _, err := crashPushMonolithic(ctx, hc, base, ocispec.DescriptorEmptyJSON.Data); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{},
	}
	b, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if err := crashPutManifest(ctx, hc, base, crashTag, b, ""); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}, b, nil
}

// crashWorkerLoop pushes referrers until ctx ends or a push fails. A
// request the kill cut is counted; any other failure is recorded.
func crashWorkerLoop(ctx context.Context, hc *http.Client, base string, subject ocispec.Descriptor, seed uint64, round, w int, led *crashLedger, killed *atomic.Bool) {
	for i := 0; ctx.Err() == nil; i++ {
		inManifest, err := crashPushReferrer(ctx, hc, base, subject, seed, round, w, i, led)
		if err == nil {
			continue
		}
		var c *crashCutError
		led.mu.Lock()
		if errors.As(err, &c) && (killed.Load() || ctx.Err() != nil) {
			if inManifest {
				led.cut[1]++
			} else {
				led.cut[0]++
			}
		} else {
			led.failures = append(led.failures, fmt.Sprintf("round %d worker %d push %d: %v", round, w, i, err))
		}
		led.mu.Unlock()
		return
	}
}

// crashPushReferrer pushes one referrer of subject: a small distinct blob in
// two or three chunks, then the manifest (by digest) naming it and subject.
// inManifest says whether an error came from the manifest PUT.
func crashPushReferrer(ctx context.Context, hc *http.Client, base string, subject ocispec.Descriptor, seed uint64, round, w, i int, led *crashLedger) (inManifest bool, err error) {
	r := rand.New(rand.NewPCG(seed, uint64(round)<<40|uint64(w)<<24|uint64(i)))
	data := []byte(fmt.Sprintf("crash blob seed=%d round=%d worker=%d push=%d ", seed, round, w, i))
	for n := 16 + r.IntN(200); n > 0; n-- {
		data = append(data, byte('a'+r.IntN(26)))
	}
	cuts := []int{1 + r.IntN(len(data)-2)}
	if r.IntN(2) == 0 && cuts[0] < len(data)-1 {
		cuts = append(cuts, cuts[0]+1+r.IntN(len(data)-1-cuts[0]))
	}
	pause := func() {
		if n := r.IntN(8); n > 0 {
			time.Sleep(time.Duration(n) * time.Millisecond)
		}
	}
	d, err := crashPushChunked(ctx, hc, base, data, cuts, pause)
	if err != nil {
		return false, err
	}
	led.record(led.blobs, d, data)
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: crashArtifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{{MediaType: "application/octet-stream", Digest: d, Size: int64(len(data))}},
		Subject:      &subject,
		Annotations:  map[string]string{"org.example.crash": fmt.Sprintf("round=%d worker=%d push=%d", round, w, i)},
	}
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	md := digest.FromBytes(b)
	led.record(led.attempted, md, b)
	if err := crashPutManifest(ctx, hc, base, md.String(), b, subject.Digest); err != nil {
		return true, err
	}
	led.record(led.acked, md, b)
	return true, nil
}

// crashGetManifest checks that reference reads back as data, of digest d.
func crashGetManifest(ctx context.Context, hc *http.Client, base, reference string, d digest.Digest, data []byte) error {
	u := base + "/v2/" + crashRepo + "/manifests/" + reference
	resp, body, err := crashDo(ctx, hc, http.MethodGet, u, http.Header{"Accept": {ocispec.MediaTypeImageManifest}}, nil)
	if err != nil {
		return err
	}
	if err := wantStatus("GET", u, resp, body, http.StatusOK); err != nil {
		return err
	}
	switch {
	case digest.FromBytes(body) != d:
		return fmt.Errorf("GET %s: the body has digest %s, want %s", u, digest.FromBytes(body), d)
	case !bytes.Equal(body, data):
		return fmt.Errorf("GET %s: the body differs from what was pushed", u)
	case resp.Header.Get("Docker-Content-Digest") != d.String():
		return fmt.Errorf("GET %s: Docker-Content-Digest %q, want %s", u, resp.Header.Get("Docker-Content-Digest"), d)
	case resp.Header.Get("Content-Type") != ocispec.MediaTypeImageManifest:
		return fmt.Errorf("GET %s: Content-Type %q", u, resp.Header.Get("Content-Type"))
	}
	return nil
}

// crashGetBlob checks that blob d reads back as data.
func crashGetBlob(ctx context.Context, hc *http.Client, base string, d digest.Digest, data []byte) error {
	u := base + "/v2/" + crashRepo + "/blobs/" + d.String()
	resp, body, err := crashDo(ctx, hc, http.MethodGet, u, nil, nil)
	if err != nil {
		return err
	}
	if err := wantStatus("GET", u, resp, body, http.StatusOK); err != nil {
		return err
	}
	if digest.FromBytes(body) != d || !bytes.Equal(body, data) {
		return fmt.Errorf("GET %s: the body (digest %s) differs from what was pushed", u, digest.FromBytes(body))
	}
	return nil
}

// crashListReferrers lists subject's referrers through the server, following
// Link pages; an entry listed twice is an error.
func crashListReferrers(ctx context.Context, hc *http.Client, base string, subject digest.Digest) (map[digest.Digest]ocispec.Descriptor, error) {
	out := map[digest.Digest]ocispec.Descriptor{}
	u := base + "/v2/" + crashRepo + "/referrers/" + subject.String()
	for pages := 0; u != ""; pages++ {
		if pages > 1000 {
			return nil, fmt.Errorf("more than 1000 pages")
		}
		resp, body, err := crashDo(ctx, hc, http.MethodGet, u, nil, nil)
		if err != nil {
			return nil, err
		}
		if err := wantStatus("GET", u, resp, body, http.StatusOK); err != nil {
			return nil, err
		}
		if ct := resp.Header.Get("Content-Type"); ct != ocispec.MediaTypeImageIndex {
			return nil, fmt.Errorf("GET %s: Content-Type %q", u, ct)
		}
		idx, err := target.DecodeIndex(body)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", u, err)
		}
		for _, e := range idx.Manifests {
			if _, dup := out[e.Digest]; dup {
				return nil, fmt.Errorf("GET %s: %s listed twice", u, e.Digest)
			}
			out[e.Digest] = e
		}
		cur := u
		u = ""
		if l := resp.Header.Get("Link"); l != "" {
			s, _, _ := strings.Cut(l, ";")
			s = strings.Trim(strings.TrimSpace(s), "<>")
			next, err := resp.Request.URL.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("GET %s: Link %q: %v", cur, l, err)
			}
			u = next.String()
		}
	}
	return out, nil
}

// ---- offline checks ----

// crashOffline opens the tree with the library: the scan (IndexFor) and
// Referrers of subject, and every acknowledged manifest read back verified.
func crashOffline(t *testing.T, ctx context.Context, dir string, subject digest.Digest, acked map[digest.Digest][]byte) (scan, lib map[digest.Digest]ocispec.Descriptor, source string) {
	t.Helper()
	tr, err := static.Open(dir, crashRepo)
	if err != nil {
		t.Fatalf("static.Open: %v", err)
	}
	defer tr.Close()
	idx, err := tr.IndexFor(ctx, subject)
	if err != nil {
		t.Fatalf("IndexFor: %v", err)
	}
	scan = crashSet(t, "IndexFor", idx.Manifests)
	res, err := tr.Referrers(ctx, subject, "")
	if err != nil {
		t.Fatalf("Referrers: %v", err)
	}
	lib = crashSet(t, "Referrers", res.Manifests)
	for d, b := range acked {
		got, err := tr.FetchManifest(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(b))})
		if err != nil {
			t.Errorf("FetchManifest(%s) of an acknowledged push: %v", d, err)
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("FetchManifest(%s): differs from what was pushed", d)
		}
	}
	for d, e := range scan {
		if e.ArtifactType != crashArtifactType || e.MediaType != ocispec.MediaTypeImageManifest {
			t.Errorf("scan entry %s: artifactType %q, mediaType %q", d, e.ArtifactType, e.MediaType)
		}
	}
	return scan, lib, string(res.Source)
}

func crashSet(t *testing.T, what string, ds []ocispec.Descriptor) map[digest.Digest]ocispec.Descriptor {
	t.Helper()
	out := make(map[digest.Digest]ocispec.Descriptor, len(ds))
	for _, d := range ds {
		if _, dup := out[d.Digest]; dup {
			t.Errorf("%s lists %s twice", what, d.Digest)
		}
		out[d.Digest] = d
	}
	return out
}

// crashSameSet compares two lists of referrers as sets of digests (and the
// sizes and artifact types of the entries both hold).
func crashSameSet(t *testing.T, gotName string, got map[digest.Digest]ocispec.Descriptor, wantName string, want map[digest.Digest]ocispec.Descriptor) {
	t.Helper()
	var missing, extra []string
	for d, w := range want {
		g, ok := got[d]
		switch {
		case !ok:
			missing = append(missing, d.String())
		case g.Size != w.Size || g.ArtifactType != w.ArtifactType:
			t.Errorf("%s: entry %s is %d bytes of %q, %s says %d bytes of %q", gotName, d, g.Size, g.ArtifactType, wantName, w.Size, w.ArtifactType)
		}
	}
	for d := range got {
		if _, ok := want[d]; !ok {
			extra = append(extra, d.String())
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		t.Errorf("%s (%d entries) differs from %s (%d entries): %d missing %v, %d extra %v",
			gotName, len(got), wantName, len(want), len(missing), crashHead(missing, 5), len(extra), crashHead(extra, 5))
	}
}

// crashPrerendered reads subject's pre-rendered referrers index and says
// whether the tree is marked complete and fresh (the .complete marker at
// least as new as the manifests directory: then every index is trusted),
// with the two modification times.
func crashPrerendered(t *testing.T, dir string, subject digest.Digest) (map[digest.Digest]ocispec.Descriptor, bool, string) {
	t.Helper()
	base := filepath.Join(dir, "v2", filepath.FromSlash(crashRepo))
	b, err := readFile(os.DirFS(dir), "v2/"+crashRepo+"/referrers/"+subject.String(), target.MaxManifestBytes)
	if errors.Is(err, target.ErrNotFound) {
		// A push killed mid-way removes the subject's index (and the
		// marker) before it writes the manifest: readers then scan. There
		// is nothing pre-rendered to check.
		return nil, false, "no pre-rendered index (a killed push removed it; readers scan)"
	}
	if err != nil {
		t.Fatalf("the pre-rendered referrers index: %v", err)
	}
	idx, err := target.DecodeIndex(b)
	if err != nil {
		t.Fatalf("the pre-rendered referrers index: %v", err)
	}
	complete, stamps := false, "no .complete marker"
	mk, err1 := os.Stat(filepath.Join(base, "referrers", ".complete"))
	md, err2 := os.Stat(filepath.Join(base, "manifests"))
	if err1 == nil && err2 == nil {
		complete = !mk.ModTime().Before(md.ModTime())
		stamps = fmt.Sprintf(".complete modified %s, manifests/ %s", mk.ModTime().Format(time.RFC3339Nano), md.ModTime().Format(time.RFC3339Nano))
	}
	return crashSet(t, "the pre-rendered index", idx.Manifests), complete, stamps
}

// crashCheckTree walks the repository: every blob and manifest file hashes
// to its name, sidecars and referrers indexes are whole, the tag holds the
// subject. It returns the temporary files (.tmp-*) it met, relative to dir.
func crashCheckTree(t *testing.T, dir string, subject digest.Digest, subjectBytes []byte) []string {
	t.Helper()
	fsys := os.DirFS(dir)
	base := "v2/" + crashRepo
	var tmps []string
	files := map[string]int{}
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			tmps = append(tmps, p)
			return nil
		}
		if !e.Type().IsRegular() {
			t.Errorf("%s is not a regular file (%s)", p, e.Type())
			return nil
		}
		parent := path.Dir(p)
		files[path.Base(parent)]++
		switch {
		case p == base+"/.referrers.lock":
		case parent == base+"/blobs":
			d, err := digest.Parse(name)
			if err != nil {
				t.Errorf("%s is not named by a digest", p)
				return nil
			}
			if _, err := readVerified(fsys, p, d, crashMaxBody); err != nil {
				t.Errorf("blob file: %v", err)
			}
		case parent == base+"/manifests" && strings.HasSuffix(name, ".mediatype"):
			b, err := readFile(fsys, p, 1024)
			if err != nil || string(b) != ocispec.MediaTypeImageManifest {
				t.Errorf("sidecar %s holds %q (%v), want %q", p, b, err, ocispec.MediaTypeImageManifest)
			}
		case parent == base+"/manifests" && name == crashTag:
			b, err := readFile(fsys, p, target.MaxManifestBytes)
			if err != nil || !bytes.Equal(b, subjectBytes) {
				t.Errorf("tag file %s does not hold the subject (%v)", p, err)
			}
		case parent == base+"/manifests":
			d, err := digest.Parse(name)
			if err != nil {
				t.Errorf("%s is named neither by the tag nor by a digest", p)
				return nil
			}
			if _, err := readVerified(fsys, p, d, target.MaxManifestBytes); err != nil {
				t.Errorf("manifest file: %v", err)
			}
		case parent == base+"/referrers" && name == ".complete":
		case parent == base+"/referrers" && strings.HasSuffix(name, ".mediatype"):
			b, err := readFile(fsys, p, 1024)
			if err != nil || string(b) != ocispec.MediaTypeImageIndex {
				t.Errorf("sidecar %s holds %q (%v), want %q", p, b, err, ocispec.MediaTypeImageIndex)
			}
		case parent == base+"/referrers":
			if d, err := digest.Parse(name); err != nil || d != subject {
				t.Errorf("referrers index %s: not of the subject %s", p, subject)
			}
			b, err := readFile(fsys, p, target.MaxManifestBytes)
			if err == nil {
				_, err = target.DecodeIndex(b)
			}
			if err != nil {
				t.Errorf("referrers index %s: %v", p, err)
			}
		default:
			t.Errorf("unexpected file %s in the tree", p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the tree: %v", err)
	}
	t.Logf("tree: %d blob files, %d manifest files (with sidecars and the tag), %d referrers files, all whole; %d temporary files", files["blobs"], files["manifests"], files["referrers"], len(tmps))
	return tmps
}

// crashTempsInvisible checks that no temporary file holds a name a reader
// would use: not a digest, not a tag (so the tags list and the stored
// manifests leave it out), and the server does not serve it.
func crashTempsInvisible(t *testing.T, ctx context.Context, hc *http.Client, base string, tmps []string) {
	t.Helper()
	for _, p := range tmps {
		name := path.Base(p)
		if _, err := digest.Parse(name); err == nil {
			t.Errorf("temporary file %s is named by a digest", p)
		}
		if ref.ValidTag(name) {
			t.Errorf("temporary file %s is named by a valid tag", p)
		}
		kind := path.Base(path.Dir(p))
		if kind != "manifests" && kind != "referrers" && kind != "blobs" {
			continue
		}
		u := base + "/v2/" + crashRepo + "/" + kind + "/" + url.PathEscape(name)
		resp, body, err := crashDo(ctx, hc, http.MethodGet, u, nil, nil)
		if err != nil {
			t.Errorf("GET %s: %v", u, err)
			continue
		}
		if resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s: the server serves temporary file %s (%d bytes)", u, p, len(body))
		}
	}
	u := base + "/v2/" + crashRepo + "/tags/list"
	resp, body, err := crashDo(ctx, hc, http.MethodGet, u, nil, nil)
	if err != nil {
		t.Errorf("GET %s: %v", u, err)
		return
	}
	var tags struct {
		Tags []string `json:"tags"`
	}
	if err := wantStatus("GET", u, resp, body, http.StatusOK); err != nil {
		t.Error(err)
	} else if err := json.Unmarshal(body, &tags); err != nil || !slices.Equal(tags.Tags, []string{crashTag}) {
		t.Errorf("GET %s: tags %q (%v), want [%s]", u, tags.Tags, err, crashTag)
	}
}

// crashNoUploads checks that DIR/_uploads is absent or empty.
func crashNoUploads(t *testing.T, dir, when string) {
	t.Helper()
	if left := crashListDir(t, filepath.Join(dir, "_uploads")); len(left) > 0 {
		t.Errorf("after %s: %d orphaned upload files in _uploads: %v", when, len(left), crashHead(left, 5))
	}
}

func crashListDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// crashTempFiles lists the temporary files (.tmp-*) under dir.
func crashTempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".tmp-") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

func crashHead(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... (%d more)", len(s)-n))
	}
	return s
}

// readFile reads name from fsys, at most limit bytes; a missing file is
// target.ErrNotFound.
func readFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, target.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, err
}

// readVerified is readFile of a file named by its digest d, checked.
func readVerified(fsys fs.FS, name string, d digest.Digest, limit int64) ([]byte, error) {
	b, err := readFile(fsys, name, limit)
	if err == nil && d.Algorithm().FromBytes(b) != d {
		err = fmt.Errorf("%s does not hold the content of %s: %w", name, d, target.ErrDigestMismatch)
	}
	return b, err
}
