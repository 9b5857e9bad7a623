package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/referrers"
)

// TestWriteIndexJSON: writeIndexJSON writes byte for byte what a json.Encoder
// with SetIndent("", "  ") writes through display.NewJSONWriter, for the shapes
// a list prints and for strings every escaping rule touches.
func TestWriteIndexJSON(t *testing.T) {
	many, withRare, random := indexEntries()
	subject := many[7]
	for _, tc := range []struct {
		name string
		idx  ocispec.Index
	}{
		{"empty", ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}},
		{"nil manifests", ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}}},
		{"one", ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: many[:1]}},
		{"many", ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: many}},
		{"rare fields", ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: withRare}},
		{"everything", ocispec.Index{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: `odd "manifests": [] type`, ArtifactType: "x/y",
			Manifests: append(append([]ocispec.Descriptor{}, withRare...), many...), Subject: &subject,
			Annotations: map[string]string{"manifests": "[]", "<": "&"},
		}},
		{"random", ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: random}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(display.NewJSONWriter(&want))
			enc.SetIndent("", "  ")
			if err := enc.Encode(tc.idx); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := writeIndexJSON(&got, tc.idx); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				g, w := got.String(), want.String()
				i := 0
				for i < len(g) && i < len(w) && g[i] == w[i] {
					i++
				}
				t.Fatalf("differs at byte %d of %d/%d:\ngot  …%q\nwant …%q", i, len(g), len(w), g[max(0, i-40):min(len(g), i+40)], w[max(0, i-40):min(len(w), i+40)])
			}
		})
	}
}

// indexEntries are descriptors a list prints: many with strings every
// escaping rule touches, some with the rare fields, and random ones.
func indexEntries() (many, withRare, random []ocispec.Descriptor) {
	d := digest.FromString
	strs := []string{
		"", "plain", `quote " and \ backslash`, "<html> & co", "tab\tnewline\nnul\x00",
		"é and 雪", "bad utf-8 \xff\xfe", "line sep \u2028 para \u2029", "del \x7f c1 \u0085 bidi \u202e",
		"##[group]marker", "::error::x", "##", "emoji 🐳",
	}
	desc := func(i int) ocispec.Descriptor {
		return ocispec.Descriptor{
			MediaType:    ocispec.MediaTypeImageManifest,
			Digest:       d(strs[i%len(strs)]),
			Size:         int64(i * 1000),
			ArtifactType: strs[(i+3)%len(strs)],
			Annotations:  map[string]string{strs[i%len(strs)]: strs[(i+1)%len(strs)], "z": "last", "a": strs[(i+2)%len(strs)]},
		}
	}

	for i := range 40 {
		many = append(many, desc(i))
	}
	withRare = []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: d("u"), Size: 1, URLs: []string{"https://example.test/a<b"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: d("p"), Size: 2, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: d("d"), Size: 3, Data: []byte("inline")},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: d("e"), Size: 0, Annotations: map[string]string{}},
		{MediaType: "", Digest: "", Size: -1},
	}
	rng := rand.New(rand.NewPCG(1, 2))

	for range 200 {
		ann := map[string]string{}
		for range rng.IntN(4) {
			ann[strs[rng.IntN(len(strs))]] = strs[rng.IntN(len(strs))]
		}
		random = append(random, ocispec.Descriptor{
			MediaType: strs[rng.IntN(len(strs))], Digest: digest.Digest(strs[rng.IntN(len(strs))]),
			Size: rng.Int64() - rng.Int64(), Annotations: ann, ArtifactType: strs[rng.IntN(len(strs))],
		})
	}
	return many, withRare, random
}

// TestWriteListJSON: a listing's nodes are written as the index
// ListResult.Index() builds from them (with no referrers, with many and with
// rare fields).
func TestWriteListJSON(t *testing.T) {
	many, withRare, _ := indexEntries()
	for _, entries := range [][]ocispec.Descriptor{nil, many[:1], many, withRare} {
		var res referrers.ListResult
		for i := range entries {
			res.Referrers = append(res.Referrers, &referrers.Node{Descriptor: entries[i]})
		}
		var want, got bytes.Buffer
		if err := writeIndexJSON(&want, res.Index()); err != nil {
			t.Fatal(err)
		}
		if err := writeListJSON(&got, res); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%d entries: writeListJSON wrote\n%s\nwant\n%s", len(entries), got.Bytes(), want.Bytes())
		}
	}
}

// BenchmarkWriteIndexJSON: writing a list of 2,000 referrers, against the
// encoder it replaces.
func BenchmarkWriteIndexJSON(b *testing.B) {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for i := range 2000 {
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(string(rune(i))), Size: 656,
			Annotations: map[string]string{"bench.seq": "1234"}, ArtifactType: "application/vnd.example.bench.seed",
		})
	}
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := writeIndexJSON(discard{}, idx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			enc := json.NewEncoder(display.NewJSONWriter(discard{}))
			enc.SetIndent("", "  ")
			if err := enc.Encode(idx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
