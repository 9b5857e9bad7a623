package request

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode feeds Decode arbitrary bytes, seeded from
// testdata/fuzz/FuzzDecode (valid List, IndexFor and Check requests over
// each kind of source, and malformed ones). Properties: Decode never panics;
// every error is ErrMalformed; a request it accepts passes Validate, and
// encoding it and decoding the result gives it back: the second decode
// succeeds and both encode to the same bytes (what the host sends to the
// module is what was meant).
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := Decode(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode: %v, not ErrMalformed", err)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("Decode accepted a request that Validate refuses: %v", err)
		}
		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("encode the decoded request: %v", err)
		}
		again, err := Decode(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("the re-encoded request does not decode: %v\ninput:      %q\nre-encoded: %s", err, in, enc)
		}
		enc2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("the request changed through encode and decode:\nfirst:  %s\nsecond: %s", enc, enc2)
		}
	})
}

// TestFuzzDecodeSeeds keeps the seed corpus honest: the valid-* seeds decode
// and the malformed-* seeds do not, so the fuzzer starts from both sides.
func TestFuzzDecodeSeeds(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, e := range ents {
		valid := strings.HasPrefix(e.Name(), "valid-")
		if !valid && !strings.HasPrefix(e.Name(), "malformed-") {
			continue // an input the fuzzer found: FuzzDecode runs it
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		in, err := corpusBytes(b)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		req, err := Decode(bytes.NewReader(in))
		if valid && err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
		if !valid && err == nil {
			t.Errorf("%s: decoded", e.Name())
		}
		if err == nil {
			kinds[req.Kind+" "+sourceKind(req.Source)] = true
		}
	}
	for _, kind := range []string{KindList, KindIndexFor, KindCheck} {
		for _, src := range []string{"layout", "static", "documents"} {
			if !kinds[kind+" "+src] {
				t.Errorf("no valid seed for %s over %s", kind, src)
			}
		}
	}
}

// corpusBytes is the one []byte value of a corpus file ("go test fuzz v1").
func corpusBytes(file []byte) ([]byte, error) {
	header, rest, _ := strings.Cut(string(file), "\n")
	lit, ok := strings.CutPrefix(strings.TrimSpace(rest), "[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")")
	if header != "go test fuzz v1" || !ok || !ok2 {
		return nil, errors.New("not a corpus file of one []byte")
	}
	s, err := strconv.Unquote(lit)
	return []byte(s), err
}

func sourceKind(s Source) string {
	switch {
	case s.Layout != "":
		return "layout"
	case s.Static != "":
		return "static"
	}
	return "documents"
}
