package request

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestAnswer: Answer gives what Decode then Handle give, response and error
// alike, for every seed of the fuzz corpus (valid and malformed requests).
func TestAnswer(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			file, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			in, err := corpusBytes(file)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var want Response
			req, werr := Decode(bytes.NewReader(in))
			if werr == nil {
				want, werr = Handle(ctx, req)
			}
			got, gerr := Answer(ctx, bytes.NewReader(in))
			if got.String() != want.String() || (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
				t.Errorf("Answer: %s, %v\nDecode+Handle: %s, %v", got, gerr, want, werr)
			}
		})
	}
}

// TestAnswerData: documents sent without their data answer as with it, and
// a mismatch of documents and data is malformed.
func TestAnswerData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	img := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	dg := digest.FromBytes(img)
	full := Request{APIVersion: APIVersion, Kind: KindList, Subject: dg.String(),
		Source: Source{Documents: []Document{{MediaType: ocispec.MediaTypeImageManifest, Digest: dg, Data: img}}}}
	want, err := Handle(ctx, full)
	if err != nil {
		t.Fatal(err)
	}
	bare := full
	bare.Source.Documents = []Document{{MediaType: ocispec.MediaTypeImageManifest, Digest: dg}}
	in, err := json.Marshal(bare)
	if err != nil {
		t.Fatal(err)
	}
	withData, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		data [][]byte
		err  string
	}{
		{"data apart", in, [][]byte{img}, ""},
		{"wrong data", in, [][]byte{[]byte("{}")}, "does not match"},
		{"too few data", in, nil, "1 documents and 0 data"},
		{"data twice", withData, [][]byte{img}, "data given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := AnswerData(ctx, bytes.NewReader(tt.in), tt.data)
			if tt.err == "" {
				if err != nil || got.String() != want.String() {
					t.Fatalf("got %s, %v; want %s", got, err, want)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want ErrMalformed saying %q", err, tt.err)
			}
		})
	}
}
