package layout

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// TestAttachList proves attach-then-list on a layout through the verbs, for
// each way of recording: auto records an untagged index.json entry and the
// referrers tag schema index under the fallback tag sha256-<hex> (Mode
// "index": the layout records both itself), or only the entry with
// StyleIndex; tag mode records both through the verbs; and a mix. Listing in auto
// mode scans first (Mode "scan") and answers from the kept scan afterwards
// (Mode "index"); every referrer is listed once, with its artifactType and
// annotations, whether an untagged entry, the tag schema index or both
// record it; listing in tag mode reads only the tag schema index.
func TestAttachList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		style    Style
		attaches []referrers.Mode
		wantTag  int // referrers the tag schema index lists
	}{
		{"auto", StyleBoth, []referrers.Mode{referrers.ModeAuto, referrers.ModeAuto}, 2},
		{"auto, index style", StyleIndex, []referrers.Mode{referrers.ModeAuto, referrers.ModeAuto}, 0},
		{"tag", StyleBoth, []referrers.Mode{referrers.ModeTag, referrers.ModeTag}, 2},
		{"mixed", StyleBoth, []referrers.Mode{referrers.ModeAuto, referrers.ModeTag, referrers.ModeAuto}, 3},
		{"mixed, index style", StyleIndex, []referrers.Mode{referrers.ModeAuto, referrers.ModeTag, referrers.ModeAuto}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			l := f.open(t, WithStyle(tc.style))
			var all []digest.Digest
			for i, mode := range tc.attaches {
				res := treetest.Attach(t, l, f.Subject, tc.name+string(rune('a'+i)), mode)
				all = append(all, res.Descriptor.Digest)
				switch mode {
				case referrers.ModeAuto:
					if res.Mode != referrers.ModeIndex || res.FallbackTag != "" {
						t.Fatalf("auto attach: mode %q, fallback tag %q; want index and none", res.Mode, res.FallbackTag)
					}
				case referrers.ModeTag:
					if want := "sha256-" + f.Subject.Digest.Encoded(); res.Mode != referrers.ModeTag || res.FallbackTag != want {
						t.Fatalf("tag attach: mode %q, fallback tag %q; want tag and %s", res.Mode, res.FallbackTag, want)
					}
				}
			}
			first := treetest.List(t, l, f.Subject, referrers.ModeAuto)
			if first.Mode != referrers.ModeScan {
				t.Errorf("first list: mode %q, want scan", first.Mode)
			}
			treetest.WantListed(t, first, all...)
			for _, n := range first.Referrers {
				if n.Descriptor.ArtifactType != treetest.TypeSBOM || n.Descriptor.Annotations["note"] == "" || n.Descriptor.MediaType != ocispec.MediaTypeImageManifest {
					t.Errorf("listed %+v: want artifactType, annotations and media type", n.Descriptor)
				}
			}
			second := treetest.List(t, l, f.Subject, referrers.ModeAuto)
			if second.Mode != referrers.ModeIndex {
				t.Errorf("second list: mode %q, want index", second.Mode)
			}
			treetest.WantListed(t, second, all...)
			// a new instance scans again and finds the same
			treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeAuto), all...)
			if api := treetest.List(t, l, f.Subject, referrers.ModeAPI); api.Mode != referrers.ModeIndex {
				t.Errorf("list in api mode: mode %q, want index (the tree's own mechanism)", api.Mode)
			}
			tagList := treetest.List(t, l, f.Subject, referrers.ModeTag)
			if len(tagList.Referrers) != tc.wantTag || tagList.Mode != referrers.ModeTag {
				t.Errorf("list in tag mode: %d referrers, mode %q; want %d, tag", len(tagList.Referrers), tagList.Mode, tc.wantTag)
			}
			untagged := 0
			for _, m := range f.readIndex(t).Manifests {
				if m.Annotations[ocispec.AnnotationRefName] == "" {
					untagged++
				}
			}
			if untagged != len(tc.attaches) {
				t.Errorf("index.json has %d untagged entries, want one per attach (%d)", untagged, len(tc.attaches))
			}
		})
	}
}

// TestTagSchemaEntry proves what tag mode writes into index.json: an image
// index tagged sha256-<hex of the subject> (as regctl's ocidir does) that
// lists the artifact, beside the artifact's untagged entry; and that a
// referrer recorded only by such a tag (written by another tool, no untagged
// entry) and one recorded both ways are each listed once.
func TestTagSchemaEntry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.open(t)
	res := treetest.Attach(t, l, f.Subject, "by tag", referrers.ModeTag)
	fallback := "sha256-" + f.Subject.Digest.Encoded()
	var tagged *ocispec.Descriptor
	untagged := false
	for _, m := range f.readIndex(t).Manifests {
		switch {
		case m.Annotations[ocispec.AnnotationRefName] == fallback:
			m := m
			tagged = &m
		case m.Digest == res.Descriptor.Digest:
			untagged = true
		}
	}
	if tagged == nil || tagged.MediaType != ocispec.MediaTypeImageIndex || !untagged {
		t.Fatalf("index.json %+v: want an index tagged %s and the artifact's untagged entry", f.readIndex(t).Manifests, fallback)
	}
	b, err := os.ReadFile(f.blobFile(tagged.Digest))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := target.DecodeIndex(b)
	if err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != res.Descriptor.Digest || idx.Manifests[0].ArtifactType != treetest.TypeSBOM {
		t.Fatalf("tag schema index %s: %v; want the artifact with its artifactType", b, err)
	}

	// another tool adds a referrer to the tag schema index only
	only := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "tag only")
	merged := target.NewIndex(append(idx.Manifests, only))
	mb, _ := json.Marshal(merged)
	newIdx := f.PutBlob(t, ocispec.MediaTypeImageIndex, mb)
	entries := f.readIndex(t).Manifests
	for i := range entries {
		if entries[i].Annotations[ocispec.AnnotationRefName] == fallback {
			entries[i].Digest, entries[i].Size = newIdx.Digest, newIdx.Size
		}
	}
	f.writeIndex(t, entries...)
	auto := treetest.Attach(t, l, f.Subject, "untagged", referrers.ModeAuto)
	for _, l := range []*Layout{l, f.open(t)} {
		treetest.WantListed(t, treetest.List(t, l, f.Subject, referrers.ModeAuto), res.Descriptor.Digest, only.Digest, auto.Descriptor.Digest)
	}
}

// TestResolve proves Resolve by tag and by digest, and its errors: a missing
// tag or digest is target.ErrNotFound, a reference that is neither (../x, an
// empty string) is ref.ErrInvalid, a digest of a blob that is not a manifest
// is target.ErrInvalidManifest, and a tag on two manifests is
// target.ErrInvalidManifest.
func TestResolve(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfgDigest := func() digest.Digest {
		b, _ := os.ReadFile(f.blobFile(f.Subject.Digest))
		var m ocispec.Manifest
		_ = json.Unmarshal(b, &m)
		return m.Config.Digest
	}()
	l := f.open(t)
	for _, tc := range []struct {
		ref  string
		want ocispec.Descriptor
		err  error
	}{
		{ref: "v1", want: f.Subject},
		{ref: f.Subject.Digest.String(), want: f.Subject},
		{ref: "v2", err: target.ErrNotFound},
		{ref: digest.FromString("nothing").String(), err: target.ErrNotFound},
		{ref: cfgDigest.String(), err: target.ErrInvalidManifest},
		{ref: "../x", err: ref.ErrInvalid},
		{ref: "../../etc/passwd", err: ref.ErrInvalid},
		{ref: "", err: ref.ErrInvalid},
		{ref: "sha256:../x", err: ref.ErrInvalid},
	} {
		got, err := l.Resolve(context.Background(), tc.ref)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Resolve(%q) = %v, %v; want %v", tc.ref, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.Digest != tc.want.Digest || got.MediaType != tc.want.MediaType || got.Size != tc.want.Size {
			t.Errorf("Resolve(%q) = %+v, %v; want %+v", tc.ref, got, err, tc.want)
		}
	}
	// the verbs' subject resolution refuses the same
	if _, err := referrers.ResolveSubject(context.Background(), l, "../x", ""); !errors.Is(err, ref.ErrInvalid) {
		t.Errorf("ResolveSubject(../x) = %v, want ref.ErrInvalid", err)
	}

	other := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "x")
	a, b := f.Subject, other
	a.Annotations = map[string]string{ocispec.AnnotationRefName: "v1"}
	b.Annotations = map[string]string{ocispec.AnnotationRefName: "v1"}
	f.writeIndex(t, a, b)
	if _, err := f.open(t).Resolve(context.Background(), "v1"); !errors.Is(err, target.ErrInvalidManifest) || !strings.Contains(err.Error(), "v1") {
		t.Errorf("Resolve of a tag on two manifests = %v, want ErrInvalidManifest naming the tag", err)
	}
}

// TestConditionalPush proves FetchTagged and the conditional PushManifest a
// tag schema update relies on: the ETag is the digest the tag holds;
// IfNoneMatch fails with target.ErrPreconditionFailed once the tag exists,
// IfMatch fails unless it names what the tag holds now; a failed push leaves
// index.json as it was.
func TestConditionalPush(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.open(t)
	ctx := context.Background()
	index := func(note string) (ocispec.Descriptor, []byte) {
		b := treetest.MustJSON(t, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
			Manifests: []ocispec.Descriptor{}, Annotations: map[string]string{"note": note}})
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}, b
	}
	if _, err := l.FetchTagged(ctx, "t"); !errors.Is(err, target.ErrNotFound) {
		t.Fatalf("FetchTagged of a missing tag = %v, want ErrNotFound", err)
	}
	d1, b1 := index("one")
	d2, b2 := index("two")
	d3, b3 := index("three")
	for _, tc := range []struct {
		name string
		desc ocispec.Descriptor
		data []byte
		opts target.PushOptions
		err  error
		now  digest.Digest // what the tag holds after
	}{
		{"if-match on a missing tag", d1, b1, target.PushOptions{Tag: "t", IfMatch: d1.Digest.String()}, target.ErrPreconditionFailed, ""},
		{"create", d1, b1, target.PushOptions{Tag: "t", IfNoneMatch: true}, nil, d1.Digest},
		{"create again", d2, b2, target.PushOptions{Tag: "t", IfNoneMatch: true}, target.ErrPreconditionFailed, d1.Digest},
		{"stale if-match", d2, b2, target.PushOptions{Tag: "t", IfMatch: d3.Digest.String()}, target.ErrPreconditionFailed, d1.Digest},
		{"probe etag", d2, b2, target.PushOptions{Tag: "t", IfMatch: `"referrers-condition-probe"`}, target.ErrPreconditionFailed, d1.Digest},
		{"current if-match", d2, b2, target.PushOptions{Tag: "t", IfMatch: d1.Digest.String()}, nil, d2.Digest},
		{"plain", d3, b3, target.PushOptions{Tag: "t"}, nil, d3.Digest},
		{"bad tag", d3, b3, target.PushOptions{Tag: "../t"}, ref.ErrInvalid, d3.Digest},
		{"wrong bytes", d1, b2, target.PushOptions{Tag: "t"}, target.ErrDigestMismatch, d3.Digest},
	} {
		before := treetest.Hash(t, f.Dir)["index.json"]
		_, err := l.PushManifest(ctx, tc.desc, tc.data, tc.opts)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Fatalf("%s: PushManifest = %v, want %v", tc.name, err, tc.err)
		}
		if err != nil && treetest.Hash(t, f.Dir)["index.json"] != before {
			t.Fatalf("%s: a failed push changed index.json", tc.name)
		}
		tg, err := l.FetchTagged(ctx, "t")
		if tc.now == "" {
			if !errors.Is(err, target.ErrNotFound) {
				t.Fatalf("%s: FetchTagged = %v, want ErrNotFound", tc.name, err)
			}
			continue
		}
		if err != nil || tg.Descriptor.Digest != tc.now || tg.ETag != tc.now.String() || digest.FromBytes(tg.Data) != tc.now {
			t.Fatalf("%s: FetchTagged = %+v, %v; want %s with it as the ETag", tc.name, tg.Descriptor, err, tc.now)
		}
	}
	n := 0
	for _, m := range f.readIndex(t).Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == "t" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("index.json has %d entries tagged t, want 1", n)
	}
}

// TestDeleteManifest proves that deleting a referrer removes its index.json
// entry so that it is no longer listed (by this instance, whose kept scan is
// dropped, and by a new one), that deleting an unknown digest is
// target.ErrNotFound, and that a layout without a root (read-only) refuses
// with target.ErrUnsupported.
func TestDeleteManifest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.open(t)
	a := treetest.Attach(t, l, f.Subject, "a", referrers.ModeAuto)
	b := treetest.Attach(t, l, f.Subject, "b", referrers.ModeAuto)
	treetest.WantListed(t, treetest.List(t, l, f.Subject, referrers.ModeAuto), a.Descriptor.Digest, b.Descriptor.Digest)
	ctx := context.Background()
	if err := l.DeleteManifest(ctx, a.Descriptor.Digest); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.readIndex(t).Manifests {
		if m.Digest == a.Descriptor.Digest {
			t.Fatal("index.json still lists the deleted manifest")
		}
	}
	treetest.WantListed(t, treetest.List(t, l, f.Subject, referrers.ModeAuto), b.Descriptor.Digest)
	treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeAuto), b.Descriptor.Digest)
	if err := l.DeleteManifest(ctx, a.Descriptor.Digest); !errors.Is(err, target.ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrNotFound", err)
	}
	ro := New(os.DirFS(f.Dir), nil, f.Dir)
	if err := ro.DeleteManifest(ctx, b.Descriptor.Digest); !errors.Is(err, target.ErrUnsupported) {
		t.Fatalf("delete on a read-only layout = %v, want ErrUnsupported", err)
	}
	if _, err := referrers.New().Attach(ctx, ro, f.Subject, treetest.Artifact(treetest.TypeSBOM, "ro"), referrers.AttachOptions{}); !errors.Is(err, target.ErrUnsupported) {
		t.Fatalf("attach to a read-only layout = %v, want ErrUnsupported", err)
	}
	treetest.WantListed(t, treetest.List(t, ro, f.Subject, referrers.ModeAuto), b.Descriptor.Digest)
}

// TestIndexFor proves `referrers index-for` on a layout through the verbs'
// referrers.IndexFor: the subject's referrers index (schemaVersion 2, the
// index media type), and a refusal of an invalid subject digest.
func TestIndexFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.open(t)
	a := treetest.Attach(t, l, f.Subject, "a", referrers.ModeAuto)
	idx, err := referrers.IndexFor(context.Background(), l, f.Subject.Digest)
	if err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != a.Descriptor.Digest || idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("IndexFor = %+v, %v", idx, err)
	}
	if _, err := referrers.IndexFor(context.Background(), l, "sha256:nothex"); err == nil {
		t.Fatal("IndexFor accepted an invalid subject digest")
	}
}

// TestOpen proves that Open refuses a directory that is not a layout (no
// oci-layout file, or one without a version) with ErrNotLayout, and that Name
// is oci:DIR.
func TestOpen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if got := f.open(t).Name(); got != "oci:"+f.Dir {
		t.Errorf("Name = %q", got)
	}
	for name, content := range map[string]string{"missing": "", "no version": `{}`, "not json": `imageLayoutVersion`} {
		dir := t.TempDir()
		if content != "" {
			treetest.WriteFile(t, filepath.Join(dir, ocispec.ImageLayoutFile), []byte(content))
		}
		if _, err := Open(dir); !errors.Is(err, ErrNotLayout) {
			t.Errorf("%s: Open = %v, want ErrNotLayout", name, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("Open of a missing directory succeeded")
	}
}

// TestScanBlobs proves WithScanBlobs: the listing finds a referrer that
// index.json does not reach (stored by another tool as blobs only) besides
// the ones it does, and skips every blob that is not a manifest: configs,
// layers, JSON with a "subject" key that is not a manifest (an in-toto
// statement, a manifest-typed document whose subject is not a descriptor, a
// document without a mediaType), a blob over 4 MiB (never opened), a
// temporary file, an unknown algorithm's directory; a symlink that stays in
// the tree is followed; a referrer of another subject is not listed. Without the option
// only what index.json reaches is listed.
func TestScanBlobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	inIndex := treetest.Attach(t, f.open(t), f.Subject, "in index", referrers.ModeAuto)
	blobOnly := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "blob only")
	otherSubject := f.ForeignReferrer(t, inIndex.Descriptor, treetest.TypeSig, "of the sbom")
	hex := f.Subject.Digest.Encoded()
	f.PutBlob(t, "application/vnd.in-toto+json", []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app","digest":{"sha256":"`+hex+`"}}],"predicateType":"https://spdx.dev/Document"}`))
	f.PutBlob(t, "application/json", []byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","subject":"`+f.Subject.Digest.String()+`"}`))
	f.PutBlob(t, "application/json", []byte(`{"schemaVersion":2,"subject":`+string(treetest.MustJSON(t, f.Subject))+`}`))
	f.PutBlob(t, "application/octet-stream", []byte("{\x00\xff binary \"subject\""))
	bigContent := make([]byte, target.MaxManifestBytes+1)
	bigContent[0] = '{'
	big := f.PutBlob(t, "application/octet-stream", bigContent)
	treetest.WriteFile(t, filepath.Join(f.Dir, "blobs", "sha256", ".tmp-"+hex), []byte("{"))
	treetest.WriteFile(t, filepath.Join(f.Dir, "blobs", "md5", "d41d8cd98f00b204e9800998ecf8427e"), []byte("{}"))
	// the blob-only referrer is reached through a symlink that stays in the tree
	treetest.WriteFile(t, filepath.Join(f.Dir, "store", "x"), nil)
	if err := os.Rename(f.blobFile(blobOnly.Digest), filepath.Join(f.Dir, "store", blobOnly.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../store/"+blobOnly.Digest.Encoded(), f.blobFile(blobOnly.Digest)); err != nil {
		t.Fatal(err)
	}

	root, err := os.OpenRoot(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	c := newCountingFS(root.FS())
	l := New(c, root, f.Dir, WithScanBlobs(true))
	r, err := l.Referrers(context.Background(), f.Subject.Digest, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "scan" {
		t.Errorf("source %q, want scan", r.Source)
	}
	if !sameSet(r.Manifests, inIndex.Descriptor.Digest, blobOnly.Digest) {
		t.Fatalf("scan-blobs found %v, want the attached and the blob-only referrer", r.Manifests)
	}
	if n := c.opens["blobs/sha256/"+big.Digest.Encoded()]; n != 0 {
		t.Errorf("the blob over 4 MiB was opened %d times", n)
	}
	treetest.WantListed(t, treetest.List(t, l, f.Subject, referrers.ModeAuto), inIndex.Descriptor.Digest, blobOnly.Digest)
	treetest.WantListed(t, treetest.List(t, l, inIndex.Descriptor, referrers.ModeAuto), otherSubject.Digest)
	treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeAuto), inIndex.Descriptor.Digest)
}

func sameSet(ds []ocispec.Descriptor, want ...digest.Digest) bool {
	if len(ds) != len(want) {
		return false
	}
	m := map[digest.Digest]bool{}
	for _, d := range ds {
		m[d.Digest] = true
	}
	for _, w := range want {
		if !m[w] {
			return false
		}
	}
	return true
}

// TestAttachOverCorruptBlob proves that an attach does not trust a file that
// another tool left at its manifest's blob path with the right size but the
// wrong content: the blob is replaced with the verified bytes, so the
// referrer index.json now names lists and reads back (trusting it on its size
// made every later listing fail with a digest mismatch).
func TestAttachOverCorruptBlob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := treetest.Artifact(treetest.TypeSBOM, "corrupt")
	data, desc, _, err := referrers.Pack(f.Subject, a)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := []byte(strings.Repeat("x", len(data)))
	treetest.WriteFile(t, f.blobFile(desc.Digest), corrupt)
	l := f.open(t)
	res, err := referrers.New().Attach(context.Background(), l, f.Subject, a, referrers.AttachOptions{})
	if err != nil || res.Descriptor.Digest != desc.Digest {
		t.Fatalf("attach = %v, %v", res.Descriptor, err)
	}
	treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeAuto), desc.Digest)
	if _, err := l.FetchManifest(context.Background(), desc); err != nil {
		t.Fatal(err)
	}
}
