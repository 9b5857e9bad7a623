package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// sharedCache is a CDN in a few lines, the subset of RFC 9111 ("HTTP
// Caching") the server's headers speak to: it stores 200 answers marked
// public with a max-age (or no-cache: max-age 0), answers fresh ones itself
// (4.2 Freshness), revalidates stale ones with If-None-Match (4.3.1
// Sending a Validation Request) and takes a 304's headers (4.3.4 Freshening
// Stored Responses upon Validation); it stores nothing marked no-store or
// private, or without Cache-Control (no heuristic freshness). Its clock is
// now, moved by the caller. Requests are keyed by method and URL.
type sharedCache struct {
	origin http.Handler
	now    time.Time
	store  map[string]*storedAnswer

	client, origin200, origin304, originOther, cacheable int
}

type storedAnswer struct {
	header http.Header
	body   []byte
	date   time.Time     // when the origin last gave or confirmed it
	life   time.Duration // its max-age
}

// freshFor reads Cache-Control: whether a shared cache may store the answer
// and how long it is fresh.
func freshFor(h http.Header) (time.Duration, bool) {
	var public, ok bool
	var life time.Duration
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "public":
			public = true
		case "no-store", "private":
			return 0, false
		case "no-cache":
			life, ok = 0, true
		case "max-age":
			n, err := strconv.Atoi(value)
			if err != nil {
				return 0, false
			}
			life, ok = time.Duration(n)*time.Second, true
		}
	}
	return life, public && ok
}

func (c *sharedCache) do(method, path string) (int, []byte) {
	c.client++
	key := method + " " + path
	e := c.store[key]
	if e != nil && c.now.Sub(e.date) < e.life {
		return http.StatusOK, e.body
	}
	req := httptest.NewRequest(method, path, nil)
	if e != nil && e.header.Get("ETag") != "" {
		req.Header.Set("If-None-Match", e.header.Get("ETag"))
	}
	rec := httptest.NewRecorder()
	c.origin.ServeHTTP(rec, req)
	switch rec.Code {
	case http.StatusOK:
		c.origin200++
	case http.StatusNotModified:
		c.origin304++
		if e != nil {
			for _, k := range []string{"Cache-Control", "ETag", "Vary"} {
				if v := rec.Header().Values(k); len(v) > 0 {
					e.header[k] = v
				}
			}
			e.date = c.now
			e.life, _ = freshFor(e.header)
			return http.StatusOK, e.body
		}
		return rec.Code, nil
	default:
		c.originOther++
	}
	delete(c.store, key)
	if life, ok := freshFor(rec.Header()); ok && rec.Code == http.StatusOK {
		c.cacheable++
		c.store[key] = &storedAnswer{header: rec.Header().Clone(), body: rec.Body.Bytes(), date: c.now, life: life}
	}
	return rec.Code, rec.Body.Bytes()
}

// pullTree is a tree with one image (manifest tagged v1, config, two
// layers) and three referrers of it; it returns the paths one pull asks
// for, in order.
func pullTree(b *testing.B, dir string) []string {
	b.Helper()
	w, err := New(dir, WithAllowPush(true))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	send := func(method, path, contentType string, body []byte) {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
	blob := func(data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		send("POST", "/v2/app/blobs/uploads/?digest="+d.String(), "", data)
		return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: int64(len(data))}
	}
	manifest := func(ref string, m ocispec.Manifest) ocispec.Descriptor {
		m.SchemaVersion, m.MediaType = 2, ocispec.MediaTypeImageManifest
		data, _ := json.Marshal(m)
		d := digest.FromBytes(data)
		if ref == "" {
			ref = d.String()
		}
		send("PUT", "/v2/app/manifests/"+ref, ocispec.MediaTypeImageManifest, data)
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(data))}
	}
	cfg := blob([]byte(`{"architecture":"amd64","os":"linux"}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	layers := []ocispec.Descriptor{blob(bytes.Repeat([]byte("a"), 4096)), blob(bytes.Repeat([]byte("b"), 8192))}
	img := manifest("v1", ocispec.Manifest{Config: cfg, Layers: layers})
	paths := []string{"HEAD /v2/app/manifests/v1", "GET /v2/app/manifests/" + img.Digest.String()}
	for _, d := range append([]ocispec.Descriptor{cfg}, layers...) {
		paths = append(paths, "GET /v2/app/blobs/"+d.Digest.String())
	}
	paths = append(paths, "GET /v2/app/referrers/"+img.Digest.String())
	empty := blob([]byte("{}"))
	empty.MediaType = ocispec.MediaTypeEmptyJSON
	for i := range 3 {
		r := manifest("", ocispec.Manifest{
			ArtifactType: fmt.Sprintf("application/vnd.example.%d", i),
			Config:       empty, Layers: []ocispec.Descriptor{empty}, Subject: &img,
		})
		paths = append(paths, "GET /v2/app/manifests/"+r.Digest.String())
	}
	return paths
}

// BenchmarkCDN counts what a CDN in front of the server forwards to it for
// 1,000 pulls of one image with its referrers, one pull a second: each pull
// is HEAD of the tag, GET of the manifest by digest, of its config and two
// layers, of the referrers list and of the three referrers' manifests. One
// op is the 1,000 pulls; the metrics are per op: origin-200, origin-304,
// origin-requests (all the CDN forwarded), origin-cacheable (200s the CDN
// could keep) and client-requests.
func BenchmarkCDN(b *testing.B) {
	dir := b.TempDir()
	paths := pullTree(b, dir)
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("headers=%s", map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
			s, err := New(dir, WithCacheHeaders(on))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var c *sharedCache
			for b.Loop() {
				c = &sharedCache{origin: s, now: time.Unix(1_700_000_000, 0), store: map[string]*storedAnswer{}}
				for range 1000 {
					for _, p := range paths {
						method, path, _ := strings.Cut(p, " ")
						if code, _ := c.do(method, path); code != http.StatusOK {
							b.Fatalf("%s: %d", p, code)
						}
					}
					c.now = c.now.Add(time.Second)
				}
			}
			b.ReportMetric(float64(c.origin200), "origin-200/op")
			b.ReportMetric(float64(c.origin304), "origin-304/op")
			b.ReportMetric(float64(c.origin200+c.origin304+c.originOther), "origin-requests/op")
			b.ReportMetric(float64(c.cacheable), "origin-cacheable/op")
			b.ReportMetric(float64(c.client), "client-requests/op")
		})
	}
}

// The simulated cache does what the benchmark counts on: headers on, one
// pull a second, the tag and the referrers list are revalidated once per
// max-age and everything by digest is asked for once.
func TestSharedCache(t *testing.T) {
	t.Parallel()
	f := newPulled(t)
	c := &sharedCache{origin: f.s, now: time.Unix(0, 0), store: map[string]*storedAnswer{}}
	paths := []string{"HEAD /v2/app/manifests/v1", "GET /v2/app/referrers/" + f.subject.String(), "GET /v2/app/blobs/" + f.layer.String()}
	for range 100 {
		for _, p := range paths {
			method, path, _ := strings.Cut(p, " ")
			if code, _ := c.do(method, path); code != http.StatusOK {
				t.Fatalf("%s: %d", p, code)
			}
		}
		c.now = c.now.Add(time.Second)
	}
	// 100 s at max-age=10: the first answer, then a 304 every 10 s
	if got, want := [3]int{c.origin200, c.origin304, c.client}, [3]int{3, 2 * 9, 300}; got != want {
		t.Errorf("origin 200s, 304s, client requests: %v, want %v", got, want)
	}
}
