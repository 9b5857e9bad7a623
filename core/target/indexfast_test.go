//go:build !wasip1

package target

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzDecodeIndexFast: what decodeIndexFast accepts, encoding/json accepts
// too and decodes to the same value (the fast path never changes what a
// document means; the rest goes to encoding/json). Seeds:
// testdata/fuzz/FuzzDecodeIndexFast.
func FuzzDecodeIndexFast(f *testing.F) {
	for _, s := range fastCases {
		f.Add([]byte(s.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareFast(t, data)
	})
}

func compareFast(t *testing.T, data []byte) (accepted bool) {
	t.Helper()
	got, ok := decodeIndexFast(data)
	if !ok {
		return false
	}
	var want ocispec.Index
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nfast path     %#v\nencoding/json %#v", data, got, want)
	}
	return true
}

// fastCase is a document and whether a fast path takes it (all others go
// to encoding/json).
type fastCase struct {
	doc    string
	accept bool
}

// runFastCases runs compare on each case and checks what the fast path took.
func runFastCases(t *testing.T, cases []fastCase, compare func(*testing.T, []byte) bool) {
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := compare(t, []byte(c.doc)); got != c.accept {
				t.Errorf("fast path accepted = %v, want %v for %s", got, c.accept, c.doc)
			}
		})
	}
}

var fastCases = []fastCase{
	{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, true},
	{` {"schemaVersion": 2, "manifests": [ {"mediaType": "m", "digest": "sha256:` + strings.Repeat("a", 64) + `", "size": 0,
	   "annotations": {"k": "v", "é": "雪"}, "artifactType": "t"} ], "annotations": {}, "subject": {"mediaType":"m","digest":"d","size":-0}} ` + "\n", true},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":9223372036854775807}]}`, true},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":9223372036854775808}]}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":1.0}]}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":1e3}]}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":01}]}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":-}]}`, false},
	{`{"schemaVersion":2,"mediaType":"a","mediaType":"b"}`, false},
	{`{"schemaVersion":2,"MediaType":"a"}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":1,"urls":["u"]}]}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":1,"platform":{"os":"linux"}}]}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":1,"annotations":{"k":"a","k":"b"}}]}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m\u0041","digest":"d","size":1}]}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"\xff","digest":"d","size":1}]}`, false},
	{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":1},]}`, false},
	{`{"schemaVersion":2,"subject":null}`, false},
	{`{"schemaVersion":2}x`, false},
	{`{"schemaVersion":2,}`, false},
	{`{"schemaVersion":2`, false},
	{`{"schemaVersion":2,"annotations":{"a":"b"},"artifactType":"t","manifests":[{}]}`, true},
	{`[]`, false},
	{``, false},
}

// TestDecodeIndexFast: the shapes the fast path takes and those it leaves to
// encoding/json, each compared with encoding/json.
func TestDecodeIndexFast(t *testing.T) { runFastCases(t, fastCases, compareFast) }

// BenchmarkDecodeIndex: a referrers list of 2,000 entries, through
// DecodeIndex (the fast path) and through encoding/json alone.
func BenchmarkDecodeIndex(b *testing.B) {
	doc := benchIndex()
	b.Run("DecodeIndex", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeIndex(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v ocispec.Index
			if err := json.Unmarshal(doc, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchIndex is a referrers list of 2,000 entries as a registry writes it.
func benchIndex() []byte {
	var sb strings.Builder
	sb.WriteString(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`)
	for i := range 2000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%064x","size":656,"annotations":{"bench.seq":"%d"},"artifactType":"application/vnd.example.bench.seed"}`, i, i)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

// FuzzMediaTypeOf: what mediaTypeFast answers, json.Unmarshal into a struct
// with the one mediaType field answers too (an error there is ""). Seeds:
// testdata/fuzz/FuzzMediaTypeOf and the index cases above.
func FuzzMediaTypeOf(f *testing.F) {
	for _, s := range fastCases {
		f.Add([]byte(s.doc))
	}
	for _, s := range mediaTypeCases {
		f.Add([]byte(s.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareMediaType(t, data)
	})
}

func compareMediaType(t *testing.T, data []byte) (accepted bool) {
	t.Helper()
	var m struct {
		MediaType string `json:"mediaType"`
	}
	want := ""
	if json.Unmarshal(data, &m) == nil {
		want = m.MediaType
	}
	if got := MediaTypeOf(data); got != want {
		t.Fatalf("MediaTypeOf(%q) = %q, encoding/json says %q", data, got, want)
	}
	got, ok := mediaTypeFast(data)
	if ok && got != want {
		t.Fatalf("fast path: mediaType of %q is %q, encoding/json says %q", data, got, want)
	}
	return ok
}

var mediaTypeCases = []fastCase{
	{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"c","digest":"d","size":2,"data":"e30="},"layers":[],"annotations":{"a":"b"},"x":[true,false,null,-1,[{}]]}`, true},
	{` {"config":{"mediaType":"nested"}} `, true},
	{`{}`, true},
	{`{"mediaType":"a","mediaType":"b"}`, false},
	{`{"MEDIATYPE":"a"}`, false},
	{`{"mediatype":"a","x":1}`, false},
	{`{"mediaType":null}`, false},
	{`{"mediaType":1}`, false},
	{`{"mediaType":"a","x":1.5}`, false},
	{`{"mediaType":"a","x":"\n"}`, false},
	{`{"mediaType":"a","x":"\u0041"}`, false},
	{`{"mediaType":"a","x":tru}`, false},
	{`{"mediaType":"a","x":[1,]}`, false},
	{`{"mediaType":"a"} {}`, false},
	{`{"mediaType":"a",}`, false},
	{`{"mediaType":"a","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, false},
	{`null`, false},
	{`"mediaType"`, false},
	{`<html>`, false},
}

// TestMediaTypeOf: the shapes the fast path takes and those it leaves to
// encoding/json, each compared with encoding/json.
func TestMediaTypeOf(t *testing.T) { runFastCases(t, mediaTypeCases, compareMediaType) }

// BenchmarkMediaTypeOf: the media type of a referrers list of 2,000
// entries, the fast path against encoding/json.
func BenchmarkMediaTypeOf(b *testing.B) {
	doc := benchIndex()
	b.Run("MediaTypeOf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if MediaTypeOf(doc) != ocispec.MediaTypeImageIndex {
				b.Fatal("wrong media type")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m struct {
				MediaType string `json:"mediaType"`
			}
			if json.Unmarshal(doc, &m) != nil || m.MediaType != ocispec.MediaTypeImageIndex {
				b.Fatal("wrong media type")
			}
		}
	})
}
