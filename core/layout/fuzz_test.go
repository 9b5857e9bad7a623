package layout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
)

// The fixed blobs of the fuzzed layout, as literal bytes so that their
// digests (which the seed corpus names) never change:
//
//	fuzzSubject   an image manifest
//	fuzzReferrer  a referrer of fuzzSubject
//
// and, built from them, an index that lists the referrer.
const (
	fuzzSubject  = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`
	fuzzReferrer = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sbom.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:SUBJECT","size":SIZE}}`
)

// fuzzBlobs returns the fuzzed layout's fixed files and the subject's and
// referrer's descriptors.
func fuzzBlobs() (fstest.MapFS, ocispec.Descriptor, ocispec.Descriptor, ocispec.Descriptor) {
	fsys := fstest.MapFS{
		"oci-layout": {Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		"blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a": {Data: []byte("{}")},
	}
	put := func(mt string, b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		fsys["blobs/sha256/"+d.Encoded()] = &fstest.MapFile{Data: b}
		return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
	}
	subject := put(ocispec.MediaTypeImageManifest, []byte(fuzzSubject))
	r := strings.NewReplacer("SUBJECT", subject.Digest.Encoded(), "SIZE", fmt.Sprint(subject.Size)).Replace(fuzzReferrer)
	referrer := put(ocispec.MediaTypeImageManifest, []byte(r))
	nb, _ := json.Marshal(target.NewIndex([]ocispec.Descriptor{referrer}))
	nested := put(ocispec.MediaTypeImageIndex, nb)
	return fsys, subject, referrer, nested
}

// FuzzLayoutIndex feeds arbitrary index.json content to a layout over a
// MapFS that holds a subject, a referrer and an index listing the referrer,
// then resolves tags and digests and lists referrers (directly, through the
// verbs, and by IndexFor). It proves that nothing panics, that a failure is an
// error (never a partial answer), that what is resolved or listed has a valid
// digest, that the kept scan answers as the first scan did, and that the
// referrer is found whenever index.json reaches it and listing succeeds.
func FuzzLayoutIndex(f *testing.F) {
	_, subject, referrer, nested := fuzzBlobs()
	entry := func(d ocispec.Descriptor, tag string) string {
		if tag != "" {
			d.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
		}
		b, _ := json.Marshal(d)
		return string(b)
	}
	f.Add([]byte(`{"schemaVersion":2,"manifests":[` + entry(subject, "v1") + `,` + entry(referrer, "") + `]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[` + entry(subject, "v1") + `,` + entry(nested, referrers.FallbackTag(subject.Digest)) + `]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[` + entry(subject, "v1") + `,` + entry(referrer, "v1") + `]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../etc/passwd","size":1}]}`))
	f.Add([]byte(`{"manifests":[{"digest":"` + subject.Digest.String() + `","annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, index []byte) {
		fsys, subject, referrer, _ := fuzzBlobs()
		fsys["index.json"] = &fstest.MapFile{Data: index}
		l := New(fsys, nil, "fuzz")
		ctx := context.Background()
		for _, r := range []string{"v1", subject.Digest.String(), referrer.Digest.String(), referrers.FallbackTag(subject.Digest)} {
			desc, err := l.Resolve(ctx, r)
			if err == nil && (desc.Digest.Validate() != nil || desc.MediaType == "") {
				t.Fatalf("Resolve(%q) = %+v: invalid descriptor", r, desc)
			}
		}
		first, err := l.Referrers(ctx, subject.Digest, "")
		if err != nil {
			if first.Manifests != nil {
				t.Fatalf("Referrers returned %v with error %v", first.Manifests, err)
			}
		}
		for _, d := range first.Manifests {
			if d.Digest.Validate() != nil {
				t.Fatalf("listed an invalid digest %q", d.Digest)
			}
		}
		again, err2 := l.Referrers(ctx, subject.Digest, "")
		if (err == nil) != (err2 == nil) || fmt.Sprint(digestsOf(first.Manifests)) != fmt.Sprint(digestsOf(again.Manifests)) {
			t.Fatalf("the kept scan answers %v, %v; the first scan %v, %v", again.Manifests, err2, first.Manifests, err)
		}
		if err == nil && !contains(first.Manifests, referrer.Digest) {
			// a scan that succeeded read every manifest index.json names
			var idx ocispec.Index
			if json.Unmarshal(index, &idx) == nil && named(idx, referrer.Digest) {
				t.Fatalf("index.json names the referrer but the scan did not find it: %v", first.Manifests)
			}
		}
		res, err := referrers.New().List(ctx, l, subject, referrers.ListOptions{Depth: 2})
		if err == nil {
			for _, n := range res.Referrers {
				if n.Descriptor.Digest.Validate() != nil {
					t.Fatalf("List: invalid digest %q", n.Descriptor.Digest)
				}
			}
		}
		if idx, err := l.IndexFor(ctx, subject.Digest); err == nil && idx.SchemaVersion != 2 {
			t.Fatalf("IndexFor: %+v", idx)
		} else if err != nil && errors.Is(err, target.ErrUnsupported) {
			t.Fatalf("IndexFor on a layout: %v", err)
		}
	})
}

func digestsOf(ds []ocispec.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(ds))
	for i, d := range ds {
		out[i] = d.Digest
	}
	return out
}

func contains(ds []ocispec.Descriptor, d digest.Digest) bool {
	for _, x := range ds {
		if x.Digest == d {
			return true
		}
	}
	return false
}

// named reports whether idx lists d itself (so that a scan reads it).
func named(idx ocispec.Index, d digest.Digest) bool {
	for _, m := range idx.Manifests {
		if m.Digest == d {
			return true
		}
	}
	return false
}
