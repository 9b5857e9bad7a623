package request

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
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
