package referrers

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzParseAnnotationFile: the oras annotation file parser never panics, and what
// it accepts keeps every key in exactly one place.
func FuzzParseAnnotationFile(f *testing.F) {
	f.Add([]byte(`{"$manifest":{"a":"b"},"$config":{"c":"d"},"sbom.json":{"e":"f"}}`))
	f.Add([]byte(`{"$manifest":{"a":1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		af, err := ParseAnnotationFile(b)
		if err != nil {
			return
		}
		for k := range af.Files {
			if k == "$manifest" || k == "$config" {
				t.Fatalf("reserved key %q listed as a file", k)
			}
		}
	})
}

// FuzzEntryFor: deriving a referrers entry from untrusted manifest bytes never
// panics, and an accepted entry keeps the descriptor's digest and size.
func FuzzEntryFor(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"a/b","config":{"mediaType":"application/vnd.oci.empty.v1+json"},"annotations":{"k":"v"}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	f.Add([]byte(`{"config":{"mediaType":7}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}
		e, err := EntryFor(desc, b)
		if err != nil {
			return
		}
		if e.Digest != desc.Digest || e.Size != desc.Size {
			t.Fatalf("entry %v does not keep digest and size of %v", e, desc)
		}
	})
}
