package referrers

import (
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestAttachStreamsLargeFile: a large file (see StreamMin) is read once,
// hashed while it is sent (POST, PATCH, PUT with the digest), and never
// HEADed first; a registry that refuses chunks gets it whole (the file is
// then hashed and sent: two more reads), and the manifest lists the same
// digest either way.
func TestAttachStreamsLargeFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		mode  fakeregistry.Mode
		opens int32
		seq   []string // the requests that stream the file's blob, in order
		whole []string // and those that send it whole, beside the config's
	}{
		{"chunks", fakeregistry.Mode{}, 1, []string{
			"POST /v2/repo/blobs/uploads/ 202", "PATCH /v2/repo/blobs/uploads/<upload> 202", "PUT /v2/repo/blobs/uploads/<upload>?digest 201"}, nil},
		{"chunks refused", fakeregistry.Mode{NoChunkedUploads: true}, 3, []string{
			"POST /v2/repo/blobs/uploads/ 202", "PATCH /v2/repo/blobs/uploads/<upload> 405"}, []string{
			"HEAD /v2/repo/blobs/<digest> 404", "POST /v2/repo/blobs/uploads/ 202", "PUT /v2/repo/blobs/uploads/<upload>?digest 201"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.mode)
			data := make([]byte, 1<<20+3)
			rand.Read(data)
			path := filepath.Join(t.TempDir(), "big.bin")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			b := lazyFileBlob(path, "application/octet-stream", int64(len(data)))
			var opens atomic.Int32
			open := b.Open
			b.Open = func() (io.ReadCloser, error) { opens.Add(1); return open() }
			a := Artifact{ArtifactType: typeSBOM, Layers: []Blob{b}}
			res, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), w.subject, a, AttachOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := opens.Load(); got != tc.opens {
				t.Errorf("the file was opened %d times, want %d", got, tc.opens)
			}
			var m ocispec.Manifest
			if err := jsonUnmarshal(res.Manifest, &m); err != nil {
				t.Fatal(err)
			}
			if want := digest.FromBytes(data); len(m.Layers) != 1 || m.Layers[0].Digest != want || m.Layers[0].Size != int64(len(data)) {
				t.Fatalf("layers %+v, want %s", m.Layers, want)
			}
			if a.Layers[0].Descriptor.Digest != "" {
				t.Error("Attach changed the caller's artifact")
			}
			var got []string
			for _, q := range w.fake.Requests() {
				if line := reqLine(q, w.subject.Digest); strings.Contains(line, "/blobs/") {
					got = append(got, line)
				}
			}
			// then the empty config, at the same time as the file sent whole
			want := slices.Concat(tc.seq, tc.whole, []string{"HEAD /v2/repo/blobs/<digest> 404", "POST /v2/repo/blobs/uploads/ 202", "PUT /v2/repo/blobs/uploads/<upload>?digest 201"})
			n := min(len(tc.seq), len(got))
			if !slices.Equal(got[:n], tc.seq) || !slices.Equal(sortBlobRuns(got[n:]), sortBlobRuns(want[len(tc.seq):])) {
				t.Errorf("blob requests\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}
