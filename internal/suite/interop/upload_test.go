package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// TestChunkedUpload: the one-pass upload (POST, one PATCH with the whole
// content, the closing PUT with the digest computed while sending) is taken
// by olareg, distribution and `referrers serve`, and the stored blob has the
// digest we computed (read back by it). Sizes cover an empty blob (no PATCH)
// and one larger than a transport buffer.
func TestChunkedUpload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) string // the registry's host
	}{
		{"olareg", func(t *testing.T) string { return oracle.StartOlareg(t).Host }},
		{"distribution", func(t *testing.T) string { return oracle.StartDistribution(t).Host }},
		{"referrers serve", func(t *testing.T) string {
			return oracle.StartServe(t, t.TempDir(), "--allow-push", "--allow-delete").Host
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := repository(t, tc.start(t), "chunked/app")
			for _, size := range []int{0, 1, 3<<20 + 17} {
				data := make([]byte, size)
				rand.Read(data)
				got, err := repo.PushBlobStream(context.Background(), bytes.NewReader(data), int64(size), digest.Canonical)
				if err != nil {
					t.Fatalf("%d bytes: %v", size, err)
				}
				want := digest.FromBytes(data)
				if got != want {
					t.Fatalf("%d bytes: digest %s, want %s", size, got, want)
				}
				rc, err := repo.OpenBlob(context.Background(), ocispec.Descriptor{Digest: want, Size: int64(size)})
				if err != nil {
					t.Fatalf("%d bytes: fetch: %v", size, err)
				}
				back, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(back, data) {
					t.Fatalf("%d bytes: read back %d bytes, err %v", size, len(back), err)
				}
			}
		})
	}
}
