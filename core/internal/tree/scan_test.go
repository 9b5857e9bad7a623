package tree

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// blobPath is the layout of the scanner tests' trees: blobs/<alg>/<encoded>.
func blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	return "blobs/" + string(d.Algorithm()) + "/" + d.Encoded(), nil
}

// memTree is a MapFS of content-addressed blobs.
type memTree struct{ fs fstest.MapFS }

func newMemTree() *memTree { return &memTree{fs: fstest.MapFS{}} }

// put stores b under its digest and returns its descriptor.
func (m *memTree) put(mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	p, _ := blobPath(d)
	m.fs[p] = &fstest.MapFile{Data: b}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// image stores an image manifest without a subject.
func (m *memTree) image(t testing.TB, name string) ocispec.Descriptor {
	cfg := m.put(ocispec.MediaTypeImageConfig, []byte(`{"os":"`+name+`"}`))
	return m.put(ocispec.MediaTypeImageManifest, mustMarshal(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg,
	}))
}

// artifact stores an artifact manifest referring to subject.
func (m *memTree) artifact(t testing.TB, subject ocispec.Descriptor, artifactType, note string) ocispec.Descriptor {
	empty := m.put(ocispec.MediaTypeEmptyJSON, []byte("{}"))
	return m.put(ocispec.MediaTypeImageManifest, mustMarshal(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: empty, Layers: []ocispec.Descriptor{empty},
		Subject: &subject, Annotations: map[string]string{"note": note},
	}))
}

// index stores an image index of children.
func (m *memTree) index(t testing.TB, subject *ocispec.Descriptor, children ...ocispec.Descriptor) ocispec.Descriptor {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: children, Subject: subject}
	return m.put(ocispec.MediaTypeImageIndex, mustMarshal(t, idx))
}

func digests(ds []ocispec.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(ds))
	for i, d := range ds {
		out[i] = d.Digest
	}
	return out
}

func sameDigests(got []ocispec.Descriptor, want ...ocispec.Descriptor) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[digest.Digest]int{}
	for _, d := range want {
		seen[d.Digest]++
	}
	for _, d := range got {
		if seen[d.Digest] != 1 {
			return false
		}
		seen[d.Digest] = 0
	}
	return true
}

// TestScan proves the scanner on in-memory trees: referrers are grouped by
// subject, each listed once and sorted by digest, with artifactType and
// annotations; children of indexes are followed only with Follow and only
// when they are manifests; a cycle of indexes ends; `only` keeps one
// subject; every unreadable manifest (missing, mismatching, oversized, not
// JSON, a bad subject or child digest) is an error naming it, never an empty
// answer.
func TestScan(t *testing.T) {
	t.Parallel()
	m := newMemTree()
	img := m.image(t, "linux")
	img2 := m.image(t, "windows")
	sbom := m.artifact(t, img, "application/vnd.example.sbom", "a")
	sig := m.artifact(t, img, "application/vnd.example.sig", "b")
	sigOfSbom := m.artifact(t, sbom, "application/vnd.example.sig", "c")
	other := m.artifact(t, img2, "application/vnd.example.sbom", "d")
	// an index that lists artifacts and a layer-typed child (not a manifest: not read)
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString("not stored"), Size: 10}
	inner := m.index(t, nil, sig, sigOfSbom, layer)
	outer := m.index(t, nil, img, inner, other)
	idxReferrer := m.index(t, &img2) // an index can be a referrer too

	scan := func(fsys fstest.MapFS, follow bool, only digest.Digest, roots ...ocispec.Descriptor) (Found, Stats, error) {
		s := &Scanner{FS: fsys, Path: blobPath, Follow: follow, Workers: 2}
		return s.Scan(context.Background(), roots, only)
	}

	t.Run("flat", func(t *testing.T) {
		found, st, err := scan(m.fs, false, "", img, sbom, sig, sigOfSbom, sig /* twice */)
		if err != nil {
			t.Fatal(err)
		}
		if st.Files != 4 {
			t.Errorf("read %d files, want 4 (each manifest once)", st.Files)
		}
		if !sameDigests(found[img.Digest], sbom, sig) || !sameDigests(found[sbom.Digest], sigOfSbom) || len(found) != 2 {
			t.Fatalf("found %v", found)
		}
		got := found[img.Digest]
		if got[0].Digest > got[1].Digest {
			t.Errorf("not sorted by digest: %v", digests(got))
		}
		for _, e := range got {
			if e.ArtifactType == "" || e.Annotations["note"] == "" || e.MediaType != ocispec.MediaTypeImageManifest || e.Size == 0 {
				t.Errorf("entry %+v lacks artifactType, annotations, mediaType or size", e)
			}
		}
	})
	t.Run("follow", func(t *testing.T) {
		found, _, err := scan(m.fs, true, "", outer, idxReferrer)
		if err != nil {
			t.Fatal(err)
		}
		if !sameDigests(found[img.Digest], sig) || !sameDigests(found[sbom.Digest], sigOfSbom) ||
			!sameDigests(found[img2.Digest], other, idxReferrer) {
			t.Fatalf("found %v", found)
		}
		for _, e := range found[img2.Digest] {
			if e.Digest == idxReferrer.Digest && e.MediaType != ocispec.MediaTypeImageIndex {
				t.Errorf("index referrer listed as %q", e.MediaType)
			}
		}
	})
	t.Run("no follow", func(t *testing.T) {
		found, st, err := scan(m.fs, false, "", outer)
		if err != nil || len(found) != 0 || st.Files != 1 {
			t.Fatalf("found %v, %+v, %v; want nothing from one file", found, st, err)
		}
	})
	t.Run("only", func(t *testing.T) {
		found, _, err := scan(m.fs, true, sbom.Digest, outer)
		if err != nil || len(found) != 1 || !sameDigests(found[sbom.Digest], sigOfSbom) {
			t.Fatalf("found %v, %v", found, err)
		}
	})
	t.Run("each manifest once", func(t *testing.T) {
		// content addressing makes a true cycle impossible; what the visited
		// set must handle is the same manifest reached from several places
		a := m.index(t, nil, img)
		b := m.index(t, nil, a, img, a)
		found, st, err := scan(m.fs, true, "", b, a, img)
		if err != nil || len(found) != 0 || st.Files != 3 {
			t.Fatalf("found %v, %+v, %v; want 3 files read once", found, st, err)
		}
	})

	bad := func(mut func(c *memTree) ocispec.Descriptor, want error, names string) func(t *testing.T) {
		return func(t *testing.T) {
			c := newMemTree()
			for k, v := range m.fs {
				c.fs[k] = v
			}
			root := mut(c)
			found, _, err := scan(c.fs, true, "", img, root)
			if !errors.Is(err, want) {
				t.Fatalf("Scan = %v, %v; want %v", found, err, want)
			}
			if found != nil {
				t.Fatalf("Scan returned %v with its error", found)
			}
			if names != "" && !strings.Contains(err.Error(), names) {
				t.Fatalf("error %q does not name %s", err, names)
			}
		}
	}
	missing := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("missing"), Size: 5}
	t.Run("missing", bad(func(*memTree) ocispec.Descriptor { return missing }, target.ErrNotFound, missing.Digest.Encoded()))
	t.Run("missing child", bad(func(c *memTree) ocispec.Descriptor { return c.index(t, nil, missing) }, target.ErrNotFound, missing.Digest.Encoded()))
	t.Run("mismatch", bad(func(c *memTree) ocispec.Descriptor {
		p, _ := blobPath(sbom.Digest)
		c.fs[p] = &fstest.MapFile{Data: []byte(`{"subject":{}}`)}
		return sbom
	}, target.ErrDigestMismatch, sbom.Digest.Encoded()))
	t.Run("too large", bad(func(c *memTree) ocispec.Descriptor {
		return c.put(ocispec.MediaTypeImageManifest, make([]byte, target.MaxManifestBytes+1))
	}, target.ErrTooLarge, ""))
	t.Run("not json", bad(func(c *memTree) ocispec.Descriptor {
		return c.put(ocispec.MediaTypeImageManifest, []byte(`{"subject": {"digest": "sha256:`))
	}, target.ErrInvalidManifest, ""))
	t.Run("bad subject digest", bad(func(c *memTree) ocispec.Descriptor {
		return c.put(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"subject":{"mediaType":"x","digest":"sha256:nothex","size":1}}`))
	}, target.ErrInvalidManifest, ""))
	t.Run("bad index JSON", bad(func(c *memTree) ocispec.Descriptor {
		return c.put(ocispec.MediaTypeImageIndex, []byte(`{"manifests": 7}`))
	}, target.ErrInvalidManifest, ""))
	t.Run("bad child digest", bad(func(c *memTree) ocispec.Descriptor {
		return c.put(ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../etc/passwd","size":1}]}`))
	}, target.ErrInvalidManifest, "child 0"))

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s := &Scanner{FS: m.fs, Path: blobPath}
		if _, _, err := s.Scan(ctx, []ocispec.Descriptor{img, sbom}, ""); !errors.Is(err, context.Canceled) {
			t.Fatalf("Scan with a cancelled context = %v", err)
		}
	})
}

// TestScanEscapedSubjectKey: a manifest whose "subject" key is spelled with
// JSON escapes is still a referrer (encoding/json reads the key), so the
// cheap skip must not drop it.
func TestScanEscapedSubjectKey(t *testing.T) {
	t.Parallel()
	m := newMemTree()
	img := m.image(t, "linux")
	plain := string(mustMarshal(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.hidden", Config: ocispec.DescriptorEmptyJSON, Subject: &img,
	}))
	escaped := strings.Replace(plain, `"subject"`, `"\u0073ubject"`, 1)
	if escaped == plain {
		t.Fatal("no subject key to escape")
	}
	art := m.put(ocispec.MediaTypeImageManifest, []byte(escaped))
	sc := &Scanner{FS: m.fs, Path: blobPath}
	found, _, err := sc.Scan(context.Background(), []ocispec.Descriptor{img, art}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := found[img.Digest]; len(got) != 1 || got[0].Digest != art.Digest {
		t.Errorf("referrers of the image: %v, want the manifest with the escaped key", got)
	}
}
