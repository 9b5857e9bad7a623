package tree

import (
	"context"
	"encoding/json"
	"testing"
	"testing/fstest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzScan feeds arbitrary bytes to the scanner as stored manifests: manifest
// is stored under its digest and listed (with mediaType) by an index the test
// builds; extra is stored too and given as a root without a media type (so it
// is sniffed as an index or not) and listed by the index as an index. It
// proves that the scanner never panics, that an error comes without a result,
// and that every referrer found is a stored manifest with a valid digest,
// listed once under a valid subject digest, in digest order.
func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"a/b","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":7}}`),
		[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), ocispec.MediaTypeImageManifest)
	f.Add([]byte(`{"subject":{"digest":"sha256:zz"}}`), []byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:x"}]}`), "")
	f.Add([]byte(`{"subject":null}`), []byte(`[]`), ocispec.MediaTypeImageIndex)
	f.Fuzz(func(t *testing.T, manifest, extra []byte, mediaType string) {
		fsys := fstest.MapFS{}
		put := func(b []byte) digest.Digest {
			d := digest.FromBytes(b)
			p, _ := blobPath(d)
			fsys[p] = &fstest.MapFile{Data: b}
			return d
		}
		md, ed := put(manifest), put(extra)
		idx, err := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
			{MediaType: mediaType, Digest: md, Size: int64(len(manifest))},
			{MediaType: ocispec.MediaTypeImageIndex, Digest: ed, Size: int64(len(extra))},
		}})
		if err != nil {
			t.Fatal(err)
		}
		id := put(idx)
		stored := map[digest.Digest]bool{md: true, ed: true, id: true}
		roots := []ocispec.Descriptor{
			{MediaType: ocispec.MediaTypeImageIndex, Digest: id, Size: int64(len(idx))},
			{Digest: ed, Size: int64(len(extra))},
			{MediaType: mediaType, Digest: md, Size: int64(len(manifest))},
		}
		for _, follow := range []bool{false, true} {
			s := &Scanner{FS: fsys, Path: blobPath, Follow: follow, Workers: 2}
			found, st, err := s.Scan(context.Background(), roots, "")
			if err != nil {
				if found != nil {
					t.Fatalf("Scan returned %v with error %v", found, err)
				}
				continue
			}
			if st.Files < len(stored) { // manifest and extra may be the same bytes: one file
				t.Fatalf("read %d files of %d distinct roots", st.Files, len(stored))
			}
			for subj, es := range found {
				if subj.Validate() != nil {
					t.Fatalf("subject %q is not a valid digest", subj)
				}
				for i, e := range es {
					if e.Digest.Validate() != nil || !stored[e.Digest] {
						t.Fatalf("referrer %q is not a stored manifest", e.Digest)
					}
					if i > 0 && es[i-1].Digest >= e.Digest {
						t.Fatalf("referrers of %s not sorted or repeated: %v", subj, digests(es))
					}
				}
			}
		}
	})
}
