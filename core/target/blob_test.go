package target

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func blobDesc(b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// seekCloser is a seekable blob (a file); plain hides the Seek.
type seekCloser struct{ *bytes.Reader }

func (seekCloser) Close() error { return nil }

type plain struct{ io.Reader }

func (plain) Close() error { return nil }

// TestVerifyBlob: the whole content is verified, a wrong one fails at the
// end, a longer one as soon as it is longer.
func TestVerifyBlob(t *testing.T) {
	content := []byte("the blob's content")
	for _, tc := range []struct {
		name   string
		stored []byte
		ok     bool
	}{
		{"same", content, true},
		{"other content, same size", []byte("the blob's CONTENT"), false},
		{"shorter", content[:5], false},
		{"longer", append(append([]byte(nil), content...), '!'), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rc := range []io.ReadCloser{plain{bytes.NewReader(tc.stored)}, seekCloser{bytes.NewReader(tc.stored)}} {
				got, err := io.ReadAll(VerifyBlob(rc, blobDesc(content)))
				if tc.ok && (err != nil || !bytes.Equal(got, content)) {
					t.Errorf("%T: read %q, %v; want the content", rc, got, err)
				}
				if !tc.ok && !errors.Is(err, ErrDigestMismatch) {
					t.Errorf("%T: read %q, %v; want ErrDigestMismatch", rc, got, err)
				}
			}
		})
	}
}

// TestVerifyBlobSeek: over a seekable reader the result seeks (a server's
// Range requests); back at the start it verifies anew, a part read after a
// seek elsewhere is not verified, and a seek to where the reading is keeps
// verifying.
func TestVerifyBlobSeek(t *testing.T) {
	content := []byte("0123456789")
	if _, ok := VerifyBlob(plain{bytes.NewReader(content)}, blobDesc(content)).(io.Seeker); ok {
		t.Fatal("a reader that cannot seek became an io.Seeker")
	}
	stored := []byte("0123456789x") // longer than the descriptor says
	rs, ok := VerifyBlob(seekCloser{bytes.NewReader(stored)}, blobDesc(content)).(io.ReadSeeker)
	if !ok {
		t.Fatal("not an io.ReadSeeker over a seekable reader")
	}
	// what http.ServeContent does: the size, then back to the start
	if n, err := rs.Seek(0, io.SeekEnd); err != nil || n != int64(len(stored)) {
		t.Fatalf("Seek(end) = %d, %v", n, err)
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rs); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("whole read after seeks = %q, %v; want ErrDigestMismatch", got, err)
	}
	// a part: read as it is
	if _, err := rs.Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rs); err != nil || string(got) != "456789x" {
		t.Errorf("part = %q, %v; want 456789x", got, err)
	}
	// back at the start: verified again
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(rs, buf); err != nil {
		t.Fatal(err)
	}
	if n, err := rs.Seek(0, io.SeekCurrent); err != nil || n != 3 {
		t.Fatalf("Seek(current) = %d, %v", n, err)
	}
	if got, err := io.ReadAll(rs); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("rest after a seek to where the reading is = %q, %v; want ErrDigestMismatch", got, err)
	}
}
