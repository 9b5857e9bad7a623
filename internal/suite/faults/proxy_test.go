package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// kind is what the proxy does to one request.
type kind int

const (
	pass        kind = iota // forward and answer
	unavailable             // answer 503 without forwarding (sometimes with Retry-After)
	resetBefore             // reset the connection without forwarding
	resetAfter              // forward (the registry applies it), then reset instead of answering
	delay                   // wait 20-200 ms before forwarding (before answering, for a tag write)
	numKinds
)

func (k kind) String() string {
	return [...]string{"pass", "503", "reset-before", "reset-after", "delay"}[k]
}

// mix is the share of requests, in percent, that get each kind; pass gets the
// rest.
type mix [numKinds]int

// defaultMix: 70% pass, 10% 503, 5% reset before, 5% reset after, 10% delay.
var defaultMix = mix{unavailable: 10, resetBefore: 5, resetAfter: 5, delay: 10}

// defaultSeed is used when FAULT_SEED is not set.
const defaultSeed uint64 = 20250601

// pcgStream is the PCG's second seed word, fixed: FAULT_SEED alone picks the
// sequence.
const pcgStream uint64 = 0x6661756c7473 // "faults"

// faultSeed returns FAULT_SEED, or defaultSeed, and logs it so that a failure
// can be replayed with FAULT_SEED=<seed>.
func faultSeed(t testing.TB) uint64 {
	t.Helper()
	seed := defaultSeed
	if s := os.Getenv("FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("FAULT_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("fault seed %d (replay with FAULT_SEED=%d)", seed, seed)
	return seed
}

// decision is what the proxy does to one request, drawn in arrival order.
type decision struct {
	seq        int
	kind       kind
	retryAfter string        // for unavailable: "" (8/16), "0" (7/16) or "1" (1/16)
	wait       time.Duration // for delay
}

// event records one request that went through the proxy.
type event struct {
	seq    int
	kind   kind
	who    string // the client's User-Agent: which attach sent it
	method string
	path   string
	status int // the registry's answer (0: not forwarded, or no answer)
	err    string
	// start and end are when the request arrived and was done with, from the
	// proxy's start
	start, end time.Duration
	// answerDelayed: a delay fault held the answer, not the request
	answerDelayed bool
	// ids are the org.example.id annotations of the entries of an image
	// index the request carried (a tag schema index push), else nil
	ids []string
}

func (e event) String() string {
	s := fmt.Sprintf("%9.1fms +%6.1fms #%d %-12s %-6s %s [%s]", ms(e.start), ms(e.end-e.start),
		e.seq, e.kind, e.method, shortPath(e.path), e.who)
	if e.answerDelayed {
		s += " (answer delayed)"
	}
	if e.ids != nil {
		s += fmt.Sprintf(" index of %d: %v", len(e.ids), e.ids)
	}
	switch {
	case e.err != "":
		s += " upstream error: " + e.err
	case e.status != 0:
		s += fmt.Sprintf(" -> registry %d", e.status)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// proxy is a loopback HTTP proxy in front of one registry that injects faults
// into a share of the requests, decided by a seeded PCG. Decisions are drawn
// under a mutex in the order requests arrive, so one seed gives one sequence
// of decisions (which request gets which depends on scheduling).
type proxy struct {
	host     string // 127.0.0.1:PORT of the proxy
	upstream string // 127.0.0.1:PORT of the registry
	mix      mix
	tr       *http.Transport
	srv      *http.Server
	began    time.Time

	mu     sync.Mutex
	rng    *rand.Rand
	seq    int
	counts [numKinds]int
	events []event
}

// startProxy listens on 127.0.0.1:0 and forwards to upstream. It stops when
// the test ends.
func startProxy(t testing.TB, upstream string, seed uint64, m mix) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{
		host:     ln.Addr().String(),
		upstream: upstream,
		mix:      m,
		began:    time.Now(),
		rng:      rand.New(rand.NewPCG(seed, pcgStream)),
		// a transport of its own; no compression, so bodies pass unchanged
		tr: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	t.Cleanup(func() {
		p.srv.Close()
		p.tr.CloseIdleConnections()
	})
	return p
}

// decide draws the fate of the next request.
func (p *proxy) decide() decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := decision{seq: p.seq}
	p.seq++
	n := p.rng.IntN(100)
	for k := unavailable; k < numKinds; k++ {
		if n < p.mix[k] {
			d.kind = k
			break
		}
		n -= p.mix[k]
	}
	// draw the parameters whatever the kind, so that the sequence of draws
	// does not depend on it
	ra := p.rng.IntN(16)
	wait := time.Duration(20+p.rng.IntN(181)) * time.Millisecond
	switch d.kind {
	case unavailable:
		switch {
		case ra < 8:
		case ra < 15:
			d.retryAfter = "0"
		default:
			d.retryAfter = "1"
		}
	case delay:
		d.wait = wait
	}
	p.counts[d.kind]++
	return d
}

func (p *proxy) record(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

// Counts returns how many requests got each kind so far.
func (p *proxy) Counts() (total int, counts [numKinds]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq, p.counts
}

// Events returns the requests so far, in the order they completed, that
// match keep.
func (p *proxy) Events(keep func(event) bool) []event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []event
	for _, e := range p.events {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := p.decide()
	ev := event{seq: d.seq, kind: d.kind, who: r.Header.Get("User-Agent"), method: r.Method, path: r.URL.Path,
		start: time.Since(p.began)}
	defer func() {
		ev.end = time.Since(p.began)
		p.record(ev)
	}()

	switch d.kind {
	case unavailable:
		if d.retryAfter != "" {
			w.Header().Set("Retry-After", d.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected fault: service unavailable"}]}`)
		return
	case resetBefore:
		reset(w)
		return
	case delay:
		if isTagWrite(r) {
			ev.answerDelayed = true
			break
		}
		if !sleep(r, d.wait) {
			return
		}
	}

	resp, body, err := p.forward(r, &ev)
	if err != nil {
		ev.err = err.Error()
		http.Error(w, "fault proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	ev.status = resp.StatusCode
	if d.kind == resetAfter {
		// the registry has applied the request; the client never hears of it
		reset(w)
		return
	}
	if ev.answerDelayed && !sleep(r, d.wait) {
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	if r.Method == http.MethodHead {
		// no body, but the length the registry announced (a descriptor's size)
		w.Header().Del("Content-Length")
		if resp.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		}
		w.WriteHeader(resp.StatusCode)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

// isTagWrite reports whether r pushes a manifest under a tag (not a digest):
// for us, the referrers tag schema index.
//
// A delay fault holds such a push after the registry applied it, not before:
// a tag push held in flight for longer than the other writers' settling wait
// (40-60 ms here) lands after they verified their entries and drops them.
// Without conditional requests (distribution ignores If-Match) no client can
// prevent that; it is the documented limit of the fallback (RATIONALE.md, "No
// lost entries in the tag schema", point 5 and "Limits"), not a fault this
// test can hold the library to.
func isTagWrite(r *http.Request) bool {
	if r.Method != http.MethodPut {
		return false
	}
	_, ref, ok := strings.Cut(r.URL.Path, "/manifests/")
	return ok && !strings.Contains(ref, ":")
}

// sleep waits d, or until the client goes away (false).
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// hopByHop are the headers a proxy does not pass on (RFC 9110 §7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forward sends r to the registry with the client's Host (so the registry's
// Location headers name the proxy) and reads the whole answer.
func (p *proxy) forward(r *http.Request, ev *event) (*http.Response, []byte, error) {
	var body io.Reader
	if r.ContentLength != 0 {
		b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			return nil, nil, fmt.Errorf("read request body: %w", err)
		}
		if r.Header.Get("Content-Type") == ocispec.MediaTypeImageIndex {
			ev.ids = indexIDs(b)
		}
		body = bytes.NewReader(b)
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.upstream+r.URL.RequestURI(), body)
	if err != nil {
		return nil, nil, err
	}
	out.Header = r.Header.Clone()
	for _, h := range hopByHop {
		out.Header.Del(h)
	}
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(resp.Body, 16<<20)); err != nil {
		return nil, nil, err
	}
	for _, h := range hopByHop {
		resp.Header.Del(h)
	}
	return resp, buf.Bytes(), nil
}

// indexIDs returns the org.example.id annotations of an index's entries.
func indexIDs(b []byte) []string {
	var idx ocispec.Index
	if json.Unmarshal(b, &idx) != nil {
		return nil
	}
	ids := make([]string, 0, len(idx.Manifests))
	for _, m := range idx.Manifests {
		ids = append(ids, m.Annotations[idKey])
	}
	sort.Slice(ids, func(i, j int) bool { return numLess(ids[i], ids[j]) })
	return ids
}

// numLess orders decimal strings by value (others after, by text).
func numLess(a, b string) bool {
	x, errx := strconv.Atoi(a)
	y, erry := strconv.Atoi(b)
	switch {
	case errx == nil && erry == nil:
		return x < y
	case errx == nil:
		return true
	case erry == nil:
		return false
	}
	return a < b
}

// reset aborts the client's connection with a TCP RST: SO_LINGER 0, then close.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // closes the connection, if not with a RST
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// hex64 matches the encoded part of a sha256 digest (in digests and tags).
var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)

// shortPath drops the /v2/ prefix and shortens digests, for logs.
func shortPath(s string) string {
	return hex64.ReplaceAllStringFunc(strings.TrimPrefix(s, "/v2/"), func(h string) string { return h[:12] })
}
