package referrers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/registry"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// subjects stores n distinct images in fake, so that each benchmark operation
// attaches the first referrer of its own image (the usual CI step: sign or
// scan a freshly built image).
func subjects(b *testing.B, fake *fakeregistry.Registry, n int) []ocispec.Descriptor {
	b.Helper()
	out := make([]ocispec.Descriptor, n)
	for i := range out {
		out[i] = putImage(b, fake, fmt.Sprintf("img%d", i), fmt.Sprintf("os%d", i))
	}
	return out
}

func BenchmarkAttachAPI(b *testing.B) {
	w := newWorld(b, fakeregistry.Mode{})
	subs := subjects(b, w.fake, b.N)
	c := New(WithSettle(fastSettle))
	repo := w.repo(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		res, err := c.Attach(ctx, repo, subs[i], artifact(typeSig, "sig", nil), AttachOptions{})
		if err != nil || res.Mode != ModeAPI {
			b.Fatalf("%v, mode %q", err, res.Mode)
		}
	}
}

// BenchmarkAttachFallback: where conditions are honoured an update costs no
// wait; where they are ignored (distribution) every update waits the guard.
func BenchmarkAttachFallback(b *testing.B) {
	for _, tc := range []struct {
		name string
		etag fakeregistry.ETagBehavior
	}{{"ETagHonoured", fakeregistry.ETagHonoured}, {"ETagIgnored", fakeregistry.ETagIgnored}} {
		b.Run(tc.name, func(b *testing.B) {
			w := newWorld(b, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, ETag: tc.etag})
			subs := subjects(b, w.fake, b.N)
			c := New(WithSettle(fastSettle))
			repo := w.repo(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				res, err := c.Attach(ctx, repo, subs[i], artifact(typeSig, "sig", nil), AttachOptions{})
				if err != nil || res.Mode != ModeTag {
					b.Fatalf("%v, mode %q", err, res.Mode)
				}
			}
		})
	}
}

const listSize = 100

func BenchmarkList(b *testing.B) {
	w := newWorld(b, fakeregistry.Mode{})
	for i := range listSize {
		putReferrer(b, w.fake, w.subject, typeSig, strconv.Itoa(i), map[string]string{"n": strconv.Itoa(i)})
	}
	benchList(b, w, ModeAPI)
}

func BenchmarkListFallback(b *testing.B) {
	w := newWorld(b, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	entries := make([]ocispec.Descriptor, listSize)
	for i := range entries {
		entries[i] = putReferrer(b, w.fake, w.subject, typeSig, strconv.Itoa(i), map[string]string{"n": strconv.Itoa(i)})
	}
	seedIndex(b, w.fake, w.subject.Digest, entries...)
	benchList(b, w, ModeTag)
}

// benchList lists with one long-lived Client: after the first operation it
// knows whether the API is there (a CLI run pays one more GET, once).
func benchList(b *testing.B, w *world, want Mode) {
	c := New()
	repo := w.repo(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := c.List(ctx, repo, w.subject, ListOptions{})
		if err != nil || res.Mode != want || len(res.Referrers) != listSize {
			b.Fatalf("%v, mode %q, %d referrers", err, res.Mode, len(res.Referrers))
		}
	}
}

// BenchmarkAttachLargeFile attaches a sparse file (no disk space, real bytes
// to hash and send) to a minimal registry that hashes uploads and throws them
// away: the fake keeps blobs in memory, which would hide the client's own
// memory behind a GiB of the server's. Two sizes 64 times apart show whether
// the client's memory grows with the file: B/op and peak-heap-MiB stay flat
// when hashing and upload stream.
func BenchmarkAttachLargeFile(b *testing.B) {
	for _, size := range []int64{16 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "big.bin")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			if err := os.Truncate(path, size); err != nil {
				b.Fatal(err)
			}
			sink := newSinkRegistry(b)
			r, err := ref.Parse(sink.host + "/big:v1")
			if err != nil {
				b.Fatal(err)
			}
			repo := registry.New(registry.WithPlainHTTP(true)).Repository(r)
			subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("a subject that need not exist"), Size: 1234}
			c := New(WithSettle(fastSettle))
			ctx := context.Background()

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			base, peak := heapObjects(), watchHeap()
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				blob, err := FileBlob(path, "application/octet-stream")
				if err != nil {
					b.Fatal(err)
				}
				res, err := c.Attach(ctx, repo, subject, Artifact{ArtifactType: "application/vnd.example.dump", Layers: []Blob{blob}}, AttachOptions{})
				if err != nil || res.Mode != ModeAPI {
					b.Fatalf("%v, mode %q", err, res.Mode)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			if got := sink.received.Load(); got < int64(b.N)*size {
				b.Fatalf("the registry received %d bytes, want at least %d", got, int64(b.N)*size)
			}
			b.ReportMetric(float64(max(peak(), base)-base)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MiB/op")
		})
	}
}

const heapMetric = "/memory/classes/heap/objects:bytes"

// heapObjects is the bytes of heap objects, live or not yet swept.
func heapObjects() uint64 {
	sample := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// watchHeap samples heapObjects every millisecond (runtime/metrics does not
// stop the world) until the returned function is called, which returns the
// highest sample.
func watchHeap() func() uint64 {
	sample := []metrics.Sample{{Name: heapMetric}}
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// sinkRegistry is the smallest registry an API-mode attach needs: blob HEAD
// (always missing), monolithic upload (hashed and discarded), manifest PUT
// (with OCI-Subject) and an empty referrers list.
type sinkRegistry struct {
	host     string
	received atomic.Int64
}

func newSinkRegistry(tb testing.TB) *sinkRegistry {
	s := &sinkRegistry{}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(srv.Close)
	s.host = strings.TrimPrefix(srv.URL, "http://")
	return s
}

func (s *sinkRegistry) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodHead && strings.Contains(p, "/blobs/"):
		w.WriteHeader(http.StatusNotFound)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/blobs/uploads/"):
		w.Header().Set("Location", p+"upload-1")
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPut && strings.Contains(p, "/blobs/uploads/"):
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		s.received.Add(n)
		if err != nil || "sha256:"+hex.EncodeToString(h.Sum(nil)) != r.URL.Query().Get("digest") {
			http.Error(w, `{"errors":[{"code":"DIGEST_INVALID"}]}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodPut && strings.Contains(p, "/manifests/"):
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		var m struct {
			Subject *ocispec.Descriptor `json:"subject"`
		}
		if err != nil || json.Unmarshal(body, &m) != nil {
			http.Error(w, `{"errors":[{"code":"MANIFEST_INVALID"}]}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
		if m.Subject != nil {
			w.Header().Set("OCI-Subject", m.Subject.Digest.String())
		}
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodGet && strings.Contains(p, "/referrers/"):
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		io.WriteString(w, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	default:
		http.Error(w, `{"errors":[{"code":"UNSUPPORTED"}]}`, http.StatusMethodNotAllowed)
	}
}
