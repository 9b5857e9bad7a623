package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/ref"
)

// discardRegistry takes one-pass uploads and keeps only the digest of what it
// was sent, so that what is measured is the client's memory, not the
// server's. It checks the closing PUT's digest against the bytes.
func discardRegistry(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			w.Header().Set("Location", "/v2/repo/blobs/uploads/u1")
			w.WriteHeader(http.StatusAccepted)
		case r.Method == http.MethodPatch:
			h := sha256.New()
			io.Copy(h, r.Body)
			w.Header().Set("Location", "/v2/repo/blobs/uploads/u1?sum="+hex.EncodeToString(h.Sum(nil)))
			w.WriteHeader(http.StatusAccepted)
		case r.Method == http.MethodPut:
			if "sha256:"+r.URL.Query().Get("sum") != r.URL.Query().Get("digest") {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusCreated)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// zeroBytes yields n zero bytes without holding them.
type zeroBytes struct{ n int64 }

func (z *zeroBytes) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n)
	clear(p[:k])
	z.n -= k
	return int(k), nil
}

// TestPushBlobStreamMemory: the one-pass upload streams: what it allocates
// does not grow with the blob (64 MiB sent, well under 1 MiB allocated).
func TestPushBlobStreamMemory(t *testing.T) {
	srv := discardRegistry(t)
	repo := repoAt(t, newClient(), strings.TrimPrefix(srv.URL, "http://"), "repo")
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := repo.PushBlobStream(context.Background(), &zeroBytes{size}, size, digest.Canonical)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := digest.FromReader(&zeroBytes{size}); d != want {
		t.Fatalf("digest %s, want %s", d, want)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("allocated %d bytes to send %d", got, size)
	}
}

// BenchmarkPushBlobStream reports the allocations of a one-pass upload at
// several sizes: B/op and allocs/op stay flat as the blob grows.
func BenchmarkPushBlobStream(b *testing.B) {
	srv := discardRegistry(b)
	host := strings.TrimPrefix(srv.URL, "http://")
	r, err := ref.Parse(host + "/repo")
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int64{1 << 20, 16 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			repo := newClient().Repository(r)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := repo.PushBlobStream(context.Background(), &zeroBytes{size}, size, digest.Canonical); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
