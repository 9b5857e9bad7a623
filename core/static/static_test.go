package static

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
)

// TestAttachList proves attach-then-list on a static tree through the verbs,
// for each way of recording: every attach stores the manifest under its
// digest with a .mediatype sidecar and keeps the subject's pre-rendered
// referrers/<digest> (and its sidecar) current, so that listing answers from
// it (Mode "index") on this and on a new instance; tag mode also writes the
// referrers tag schema index under the tag sha256-<hex>; every referrer is
// listed once, with artifactType and annotations, however it was recorded;
// listing in tag mode reads only the tag schema index.
//
// The tag schema index is a manifest without a subject: storing it makes the
// manifests directory newer than every referrers file, so that, in a tree
// without the .complete marker, listing scans again after a tag-mode attach
// (Mode "scan", the same answer); with the marker (after index-for --all) it
// stays "index".
func TestAttachList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		attaches []referrers.Mode
		wantTag  int
		complete bool // run IndexForAll first: the marker
		wantMode referrers.Mode
	}{
		{"auto", []referrers.Mode{referrers.ModeAuto, referrers.ModeAuto}, 0, false, referrers.ModeIndex},
		{"tag", []referrers.Mode{referrers.ModeTag, referrers.ModeTag}, 2, false, referrers.ModeScan},
		{"mixed", []referrers.Mode{referrers.ModeTag, referrers.ModeAuto, referrers.ModeTag}, 2, false, referrers.ModeScan},
		{"auto complete", []referrers.Mode{referrers.ModeAuto, referrers.ModeAuto}, 0, true, referrers.ModeIndex},
		{"tag complete", []referrers.Mode{referrers.ModeTag, referrers.ModeTag}, 2, true, referrers.ModeIndex},
		{"mixed complete", []referrers.Mode{referrers.ModeTag, referrers.ModeAuto, referrers.ModeTag}, 2, true, referrers.ModeIndex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tr := f.open(t)
			if tc.complete {
				if _, err := tr.IndexForAll(context.Background(), true); err != nil {
					t.Fatal(err)
				}
			}
			var all []digest.Digest
			for i, mode := range tc.attaches {
				res := treetest.Attach(t, tr, f.Subject, tc.name+string(rune('a'+i)), mode)
				all = append(all, res.Descriptor.Digest)
				want := referrers.ModeIndex
				if mode == referrers.ModeTag {
					want = referrers.ModeTag
				}
				if res.Mode != want {
					t.Fatalf("attach in %s mode: used %q, want %q", mode, res.Mode, want)
				}
				b, err := os.ReadFile(f.repo("manifests", res.Descriptor.Digest.String()))
				if err != nil || digest.FromBytes(b) != res.Descriptor.Digest {
					t.Fatalf("manifest file of %s: %v", res.Descriptor.Digest, err)
				}
				if mt, _ := os.ReadFile(f.repo("manifests", res.Descriptor.Digest.String()+".mediatype")); string(mt) != ocispec.MediaTypeImageManifest {
					t.Fatalf("sidecar of %s: %q", res.Descriptor.Digest, mt)
				}
			}
			idx, ok := f.readReferrersFile(t, f.Subject.Digest)
			if !ok {
				t.Fatal("no pre-rendered referrers file")
			}
			treetest.WantEntries(t, "pre-rendered referrers file", idx.Manifests, all...)
			for _, tr := range []*Tree{tr, f.open(t)} {
				r := treetest.List(t, tr, f.Subject, referrers.ModeAuto)
				if r.Mode != tc.wantMode {
					t.Errorf("list: mode %q, want %q", r.Mode, tc.wantMode)
				}
				treetest.WantListed(t, r, all...)
				for _, n := range r.Referrers {
					if n.Descriptor.ArtifactType != treetest.TypeSBOM || n.Descriptor.Annotations["note"] == "" {
						t.Errorf("listed %+v: want artifactType and annotations", n.Descriptor)
					}
				}
			}
			tagList := treetest.List(t, tr, f.Subject, referrers.ModeTag)
			if len(tagList.Referrers) != tc.wantTag {
				t.Errorf("list in tag mode: %d referrers, want %d", len(tagList.Referrers), tc.wantTag)
			}
			if tc.wantTag > 0 {
				if _, err := os.Stat(f.repo("manifests", "sha256-"+f.Subject.Digest.Encoded())); err != nil {
					t.Errorf("no tag schema file: %v", err)
				}
			}
		})
	}
}

// TestResolve proves Resolve by tag and digest and its errors: a missing tag
// or digest is target.ErrNotFound, a reference that is neither (../../x,
// empty, a path) is ref.ErrInvalid, a tag without a sidecar takes the
// mediaType field, a manifest with neither is target.ErrInvalidManifest, and
// a file whose content does not match its digest name is
// target.ErrDigestMismatch naming it.
func TestResolve(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b, _ := os.ReadFile(f.repo("manifests", "v1"))
	treetest.WriteFile(t, f.repo("manifests", "nosidecar"), b)
	treetest.WriteFile(t, f.repo("manifests", "notype"), []byte(`{"schemaVersion":2}`))
	bad := digest.FromString("elsewhere")
	treetest.WriteFile(t, f.repo("manifests", bad.String()), b)
	tr := f.open(t)
	for _, tc := range []struct {
		ref  string
		want digest.Digest
		err  error
	}{
		{ref: "v1", want: f.Subject.Digest},
		{ref: f.Subject.Digest.String(), want: f.Subject.Digest},
		{ref: "nosidecar", want: f.Subject.Digest},
		{ref: "v2", err: target.ErrNotFound},
		{ref: digest.FromString("none").String(), err: target.ErrNotFound},
		{ref: "notype", err: target.ErrInvalidManifest},
		{ref: bad.String(), err: target.ErrDigestMismatch},
		{ref: "../../x", err: ref.ErrInvalid},
		{ref: "a/b", err: ref.ErrInvalid},
		{ref: "", err: ref.ErrInvalid},
	} {
		got, err := tr.Resolve(context.Background(), tc.ref)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Resolve(%q) = %+v, %v; want %v", tc.ref, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.Digest != tc.want || got.MediaType != ocispec.MediaTypeImageManifest || got.Size != f.Subject.Size {
			t.Errorf("Resolve(%q) = %+v, %v; want %s", tc.ref, got, err, tc.want)
		}
	}
	if _, err := tr.Resolve(context.Background(), bad.String()); err == nil || !strings.Contains(err.Error(), bad.String()) {
		t.Errorf("mismatch error %v does not name the file", err)
	}
}

// TestConditionalPush proves FetchTagged and the conditional PushManifest on
// a static tree: the ETag is the digest the tag holds; IfNoneMatch fails with
// target.ErrPreconditionFailed once the tag exists; IfMatch fails unless it
// names what the tag holds now; a failed push leaves every tag file as it
// was.
func TestConditionalPush(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.open(t)
	ctx := context.Background()
	index := func(note string) (ocispec.Descriptor, []byte) {
		b := treetest.MustJSON(t, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
			Manifests: []ocispec.Descriptor{}, Annotations: map[string]string{"note": note}})
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}, b
	}
	if _, err := tr.FetchTagged(ctx, "t"); !errors.Is(err, target.ErrNotFound) {
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
		now  digest.Digest
	}{
		{"if-match on a missing tag", d1, b1, target.PushOptions{Tag: "t", IfMatch: d1.Digest.String()}, target.ErrPreconditionFailed, ""},
		{"create", d1, b1, target.PushOptions{Tag: "t", IfNoneMatch: true}, nil, d1.Digest},
		{"create again", d2, b2, target.PushOptions{Tag: "t", IfNoneMatch: true}, target.ErrPreconditionFailed, d1.Digest},
		{"stale if-match", d2, b2, target.PushOptions{Tag: "t", IfMatch: d3.Digest.String()}, target.ErrPreconditionFailed, d1.Digest},
		{"probe etag", d2, b2, target.PushOptions{Tag: "t", IfMatch: `"referrers-condition-probe"`}, target.ErrPreconditionFailed, d1.Digest},
		{"current if-match", d2, b2, target.PushOptions{Tag: "t", IfMatch: d1.Digest.String()}, nil, d2.Digest},
		{"plain", d3, b3, target.PushOptions{Tag: "t"}, nil, d3.Digest},
		{"bad tag", d3, b3, target.PushOptions{Tag: "../../t"}, ref.ErrInvalid, d3.Digest},
		{"wrong bytes", d1, b2, target.PushOptions{Tag: "t"}, target.ErrDigestMismatch, d3.Digest},
	} {
		before := treetest.Hash(t, f.Dir)
		_, err := tr.PushManifest(ctx, tc.desc, tc.data, tc.opts)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Fatalf("%s: PushManifest = %v, want %v", tc.name, err, tc.err)
		}
		if err != nil {
			after := treetest.Hash(t, f.Dir)
			delete(after, "v2/library/app/.referrers.lock")
			delete(before, "v2/library/app/.referrers.lock")
			treetest.Same(t, tc.name+": a failed push", before, after)
		}
		tg, err := tr.FetchTagged(ctx, "t")
		if tc.now == "" {
			if !errors.Is(err, target.ErrNotFound) {
				t.Fatalf("%s: FetchTagged = %v, want ErrNotFound", tc.name, err)
			}
			continue
		}
		if err != nil || tg.Descriptor.Digest != tc.now || tg.ETag != tc.now.String() || tg.Descriptor.MediaType != ocispec.MediaTypeImageIndex {
			t.Fatalf("%s: FetchTagged = %+v, %v; want %s with it as the ETag", tc.name, tg.Descriptor, err, tc.now)
		}
	}
	if _, err := tr.FetchTagged(ctx, "../../t"); !errors.Is(err, ref.ErrInvalid) {
		t.Fatalf("FetchTagged(../../t) = %v, want ref.ErrInvalid", err)
	}
}

// TestDeleteManifest proves that deleting a referrer removes its manifest
// file and sidecar and its entry of the subject's referrers file, so that it
// is no longer listed (still from the file: Mode "index"); that deleting an
// unknown digest is target.ErrNotFound; and that a tree without a root
// (read-only) refuses writes with target.ErrUnsupported.
func TestDeleteManifest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.open(t)
	a := treetest.Attach(t, tr, f.Subject, "a", referrers.ModeAuto)
	b := treetest.Attach(t, tr, f.Subject, "b", referrers.ModeAuto)
	ctx := context.Background()
	if err := tr.DeleteManifest(ctx, a.Descriptor.Digest); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a.Descriptor.Digest.String(), a.Descriptor.Digest.String() + ".mediatype"} {
		if _, err := os.Stat(f.repo("manifests", p)); !os.IsNotExist(err) {
			t.Fatalf("manifests/%s still there: %v", p, err)
		}
	}
	idx, _ := f.readReferrersFile(t, f.Subject.Digest)
	treetest.WantEntries(t, "referrers file after delete", idx.Manifests, b.Descriptor.Digest)
	r := treetest.List(t, f.open(t), f.Subject, referrers.ModeAuto)
	if r.Mode != referrers.ModeIndex {
		t.Errorf("list after delete: mode %q, want index", r.Mode)
	}
	treetest.WantListed(t, r, b.Descriptor.Digest)
	if err := tr.DeleteManifest(ctx, a.Descriptor.Digest); !errors.Is(err, target.ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrNotFound", err)
	}
	ro, err := New(os.DirFS(f.Dir), nil, f.Dir, repoName)
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.DeleteManifest(ctx, b.Descriptor.Digest); !errors.Is(err, target.ErrUnsupported) {
		t.Fatalf("delete on a read-only tree = %v, want ErrUnsupported", err)
	}
	if _, err := referrers.New().Attach(ctx, ro, f.Subject, treetest.Artifact(treetest.TypeSBOM, "ro"), referrers.AttachOptions{}); !errors.Is(err, target.ErrUnsupported) {
		t.Fatalf("attach to a read-only tree = %v, want ErrUnsupported", err)
	}
	if _, err := ro.IndexForAll(ctx, true); !errors.Is(err, target.ErrUnsupported) {
		t.Fatalf("IndexForAll(write) on a read-only tree = %v, want ErrUnsupported", err)
	}
	treetest.WantListed(t, treetest.List(t, ro, f.Subject, referrers.ModeAuto), b.Descriptor.Digest)
}

// TestFreshness proves how the pre-rendered files stay right: our attach
// keeps referrers/<digest> fresh (Source "index"); a foreign write of a
// manifest file (a referrer stored by another tool) makes it stale, so
// listing scans (Source "scan") and finds the foreign referrer too; our next
// attach rebuilds the file from a scan, so that it is fresh and complete
// again; a foreign removal of a manifest file makes it stale as well; a
// subject without a file is scanned while the tree is not marked complete.
func TestFreshness(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.open(t)
	a := treetest.Attach(t, tr, f.Subject, "a", referrers.ModeAuto)
	r := referrersOf(t, tr, f.Subject.Digest)
	if r.Source != "index" {
		t.Fatalf("after our attach: source %q, want index", r.Source)
	}
	treetest.WantEntries(t, "after our attach", r.Manifests, a.Descriptor.Digest)

	f.backdate(t)
	foreign := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "foreign")
	r = referrersOf(t, tr, f.Subject.Digest)
	if r.Source != "scan" {
		t.Fatalf("after a foreign write: source %q, want scan", r.Source)
	}
	treetest.WantEntries(t, "after a foreign write", r.Manifests, a.Descriptor.Digest, foreign.Digest)
	treetest.WantListed(t, treetest.List(t, f.open(t), f.Subject, referrers.ModeAuto), a.Descriptor.Digest, foreign.Digest)

	c := treetest.Attach(t, tr, f.Subject, "c", referrers.ModeAuto)
	r = referrersOf(t, tr, f.Subject.Digest)
	if r.Source != "index" {
		t.Fatalf("after our next attach: source %q, want index", r.Source)
	}
	treetest.WantEntries(t, "after our next attach", r.Manifests, a.Descriptor.Digest, foreign.Digest, c.Descriptor.Digest)

	f.backdate(t)
	for _, p := range []string{a.Descriptor.Digest.String(), a.Descriptor.Digest.String() + ".mediatype"} {
		if err := os.Remove(f.repo("manifests", p)); err != nil {
			t.Fatal(err)
		}
	}
	r = referrersOf(t, tr, f.Subject.Digest)
	if r.Source != "scan" {
		t.Fatalf("after a foreign removal: source %q, want scan", r.Source)
	}
	treetest.WantEntries(t, "after a foreign removal", r.Manifests, foreign.Digest, c.Descriptor.Digest)

	other := f.image(t, "v2", "windows")
	if r := referrersOf(t, tr, other.Digest); r.Source != "scan" || len(r.Manifests) != 0 {
		t.Fatalf("a subject without a file: %+v, want an empty scan", r)
	}
}

// TestIndexForAll proves the one-pass rebuild: a dry run reports every
// subject's index and the stale files to remove and writes nothing; the
// rebuild writes each subject's file (with its sidecar), empties the file of
// a stored subject that lost its referrers, removes the file of a subject no
// longer stored, and writes the .complete marker, after which every subject
// answers from its file or, without one, as having none (Source "index" for
// both); our attach keeps the marker valid; a foreign write makes the tree
// incomplete again (Source "scan").
func TestIndexForAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.open(t)
	ctx := context.Background()
	s2 := f.image(t, "v2", "windows")
	s3 := f.image(t, "v3", "plan9")
	s4 := f.image(t, "v4", "darwin")
	a := treetest.Attach(t, tr, f.Subject, "a", referrers.ModeAuto)
	b := treetest.Attach(t, tr, f.Subject, "b", referrers.ModeAuto)
	foreign := f.ForeignReferrer(t, s2, treetest.TypeSig, "no file yet") // S2 has no referrers file
	gone := treetest.Attach(t, tr, s3, "gone", referrers.ModeAuto)       // S3's referrer is removed by another tool
	for _, p := range []string{gone.Descriptor.Digest.String(), gone.Descriptor.Digest.String() + ".mediatype"} {
		if err := os.Remove(f.repo("manifests", p)); err != nil {
			t.Fatal(err)
		}
	}
	// S5 and its referrer are removed by another tool: its file goes
	s5 := f.image(t, "v5", "aix")
	gone5 := treetest.Attach(t, tr, s5, "gone5", referrers.ModeAuto)
	for _, d := range []digest.Digest{s5.Digest, gone5.Descriptor.Digest} {
		for _, p := range []string{d.String(), d.String() + ".mediatype"} {
			if err := os.Remove(f.repo("manifests", p)); err != nil {
				t.Fatal(err)
			}
		}
	}

	before := treetest.Hash(t, f.Dir)
	dry, err := tr.IndexForAll(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	treetest.Same(t, "a dry run", before, treetest.Hash(t, f.Dir))
	if len(dry.Subjects) != 2 || len(dry.Removed) != 1 || dry.Removed[0] != s5.Digest || len(dry.Empty) != 1 || dry.Empty[0] != s3.Digest || dry.Manifests < 6 || dry.Bytes == 0 {
		t.Fatalf("dry run: %d subjects, removed %v, emptied %v, %d manifests, %d bytes; want 2, [S5], [S3], at least 6",
			len(dry.Subjects), dry.Removed, dry.Empty, dry.Manifests, dry.Bytes)
	}
	treetest.WantEntries(t, "dry run S1", dry.Subjects[f.Subject.Digest].Manifests, a.Descriptor.Digest, b.Descriptor.Digest)
	treetest.WantEntries(t, "dry run S2", dry.Subjects[s2.Digest].Manifests, foreign.Digest)

	res, err := tr.IndexForAll(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Subjects) != 2 || len(res.Removed) != 1 || len(res.Empty) != 1 {
		t.Fatalf("rebuild: %+v", res)
	}
	idx, _ := f.readReferrersFile(t, s2.Digest)
	treetest.WantEntries(t, "S2's file", idx.Manifests, foreign.Digest)
	if idx, ok := f.readReferrersFile(t, s3.Digest); !ok || idx.Manifests == nil || len(idx.Manifests) != 0 {
		t.Fatalf("S3's file: %+v, %v; want an empty index", idx, ok)
	}
	if _, ok := f.readReferrersFile(t, s4.Digest); ok {
		t.Fatal("S4, which never had referrers, has a file without AllOptions.Empty")
	}
	for _, p := range []string{s5.Digest.String(), s5.Digest.String() + ".mediatype"} {
		if _, err := os.Stat(f.repo("referrers", p)); !os.IsNotExist(err) {
			t.Fatalf("stale referrers/%s still there: %v", p, err)
		}
	}
	if _, err := os.Stat(f.repo("referrers", ".complete")); err != nil {
		t.Fatalf("no marker: %v", err)
	}
	for _, s := range []struct {
		d    digest.Digest
		want []digest.Digest
	}{{f.Subject.Digest, []digest.Digest{a.Descriptor.Digest, b.Descriptor.Digest}}, {s2.Digest, []digest.Digest{foreign.Digest}}, {s3.Digest, nil}, {s4.Digest, nil}} {
		r := referrersOf(t, tr, s.d)
		if r.Source != "index" {
			t.Fatalf("after the rebuild, %s: source %q, want index", s.d, r.Source)
		}
		treetest.WantEntries(t, "after the rebuild", r.Manifests, s.want...)
	}

	// our attach keeps the tree complete
	c := treetest.Attach(t, tr, s4, "c", referrers.ModeAuto)
	for _, s := range []digest.Digest{s3.Digest, s4.Digest} {
		if r := referrersOf(t, tr, s); r.Source != "index" {
			t.Fatalf("after our attach, %s: source %q, want index", s, r.Source)
		}
	}
	treetest.WantEntries(t, "S4", referrersOf(t, tr, s4.Digest).Manifests, c.Descriptor.Digest)

	// a foreign write: S3 (its empty file is stale) must be scanned again
	f.backdate(t)
	late := f.ForeignReferrer(t, s3, treetest.TypeSig, "late")
	r := referrersOf(t, tr, s3.Digest)
	if r.Source != "scan" {
		t.Fatalf("after a foreign write, S3: source %q, want scan", r.Source)
	}
	treetest.WantEntries(t, "S3 after a foreign write", r.Manifests, late.Digest)

	// WriteIndexFor stores one subject's file from a scan
	idx3, err := tr.WriteIndexFor(ctx, s3.Digest)
	if err != nil {
		t.Fatal(err)
	}
	treetest.WantEntries(t, "WriteIndexFor", idx3.Manifests, late.Digest)
	if got, ok := f.readReferrersFile(t, s3.Digest); !ok || len(got.Manifests) != 1 {
		t.Fatalf("WriteIndexFor stored %v, %v", got, ok)
	}
	if r := referrersOf(t, tr, s3.Digest); r.Source != "index" {
		t.Fatalf("after WriteIndexFor: source %q, want index", r.Source)
	}
}

// TestNames proves Name and the repository grammar: static:DIR:NAME, and a
// name outside the grammar (a path out of v2/, upper case, empty components)
// is ref.ErrInvalid from New and Open, before anything is read.
func TestNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if got := f.open(t).Name(); got != "static:"+f.Dir+":"+repoName {
		t.Errorf("Name = %q", got)
	}
	for _, name := range []string{"../etc", "../../../../etc", "Library/App", "UPPER", "a//b", "", "/abs", "a/../b", "a/./b", "a/", "a b", "a:b"} {
		if _, err := New(os.DirFS(f.Dir), nil, f.Dir, name); !errors.Is(err, ref.ErrInvalid) {
			t.Errorf("New(%q) = %v, want ref.ErrInvalid", name, err)
		}
		if tr, err := Open(f.Dir, name); !errors.Is(err, ref.ErrInvalid) {
			if err == nil {
				tr.Close()
			}
			t.Errorf("Open(%q) = %v, want ref.ErrInvalid", name, err)
		}
	}
	// a repository that does not exist: listing is not found, not empty
	tr, err := Open(f.Dir, "library/other")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Referrers(context.Background(), f.Subject.Digest, ""); !errors.Is(err, target.ErrNotFound) {
		t.Fatalf("Referrers in a missing repository = %v, want ErrNotFound", err)
	}
}

// TestCrashMidWrite is a push of ours killed between its manifest write and
// its index write, with the worst timestamps: every remaining file and the
// manifests directory get the same time (one tick of a coarse clock). What
// vouched for the old state was removed before the manifest was written, so
// the tree answers by a scan that finds the new referrer, and EnsureComplete
// rebuilds the indexes.
func TestCrashMidWrite(t *testing.T) {
	t.Parallel()
	for _, complete := range []bool{false, true} {
		t.Run(fmt.Sprint("complete=", complete), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tr := f.open(t)
			a := treetest.Attach(t, tr, f.Subject, "a", referrers.ModeAuto)
			if complete {
				if _, err := tr.IndexForAll(context.Background(), true); err != nil {
					t.Fatal(err)
				}
			}
			// the killed push: dirty, then the manifest, then nothing
			if err := tr.dirty(tr.freshness(), &f.Subject); err != nil {
				t.Fatal(err)
			}
			b := f.ForeignReferrer(t, f.Subject, treetest.TypeSig, "b")
			tick := time.Now().Add(-10 * time.Second)
			f.backdate(t)
			ents, _ := os.ReadDir(f.repo("referrers"))
			for _, e := range ents {
				_ = os.Chtimes(f.repo("referrers", e.Name()), tick, tick)
			}
			if err := os.Chtimes(f.repo("manifests"), tick, tick); err != nil {
				t.Fatal(err)
			}
			r := referrersOf(t, tr, f.Subject.Digest)
			if r.Source != "scan" {
				t.Errorf("source %q, want scan", r.Source)
			}
			treetest.WantEntries(t, "after the crash", r.Manifests, a.Descriptor.Digest, b.Digest)
			if err := tr.EnsureComplete(context.Background()); err != nil {
				t.Fatal(err)
			}
			r = referrersOf(t, tr, f.Subject.Digest)
			if r.Source != "index" {
				t.Errorf("after EnsureComplete: source %q, want index", r.Source)
			}
			treetest.WantEntries(t, "after EnsureComplete", r.Manifests, a.Descriptor.Digest, b.Digest)
		})
	}
}

// TestIndexForAllEmpty proves AllOptions.Empty: every manifest stored by
// digest gets a referrers file, an empty image index ("manifests": [], not
// null) for those without referrers, with its sidecar; the tree is complete
// and answers from the files (Source "index"); a second run rewrites no
// file; a later rebuild without Empty keeps the empty files of stored
// manifests.
func TestIndexForAllEmpty(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tr := f.open(t)
	ctx := context.Background()
	bare := f.image(t, "v2", "windows")
	a := treetest.Attach(t, tr, f.Subject, "a", referrers.ModeAuto)

	dry, err := tr.IndexForAllWith(ctx, AllOptions{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	// the stored manifests without referrers: the image v2 and the artifact
	wantDigests := []digest.Digest{bare.Digest, a.Descriptor.Digest}
	sort.Slice(wantDigests, func(i, j int) bool { return wantDigests[i] < wantDigests[j] })
	if fmt.Sprint(dry.Empty) != fmt.Sprint(wantDigests) || len(dry.Subjects) != 1 || len(dry.Removed) != 0 {
		t.Fatalf("dry run: empty %v, %d subjects, removed %v; want %v, 1, none", dry.Empty, len(dry.Subjects), dry.Removed, wantDigests)
	}
	if _, ok := f.readReferrersFile(t, bare.Digest); ok {
		t.Fatal("a dry run wrote a file")
	}
	if _, err := tr.IndexForAllWith(ctx, AllOptions{Write: true, Empty: true}); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(f.repo("manifests"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		d, err := digest.Parse(e.Name())
		if err != nil {
			continue // tags, sidecars
		}
		idx, ok := f.readReferrersFile(t, d)
		if !ok {
			t.Fatalf("manifest %s has no referrers file", d)
		}
		if d == f.Subject.Digest {
			treetest.WantEntries(t, "the subject's file", idx.Manifests, a.Descriptor.Digest)
			continue
		}
		b, err := os.ReadFile(f.repo("referrers", d.String()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"manifests":[]`) || len(idx.Manifests) != 0 {
			t.Fatalf("referrers/%s = %s, want an empty index", d, b)
		}
		if r := referrersOf(t, tr, d); r.Source != "index" || len(r.Manifests) != 0 {
			t.Fatalf("%s: source %q, %d referrers; want index, none", d, r.Source, len(r.Manifests))
		}
	}

	before := treetest.Hash(t, f.Dir)
	stat := func() time.Time {
		fi, err := os.Stat(f.repo("referrers", bare.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	was := stat()
	f.backdate(t) // a rewrite would show in the time
	backdated := stat()
	if _, err := tr.IndexForAllWith(ctx, AllOptions{Write: true, Empty: true}); err != nil {
		t.Fatal(err)
	}
	treetest.Same(t, "a second run", before, treetest.Hash(t, f.Dir))
	if got := stat(); !got.Equal(backdated) {
		t.Fatalf("a second run rewrote an unchanged file (time %v, was %v, backdated %v)", got, was, backdated)
	}
	res, err := tr.IndexForAll(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Empty) != fmt.Sprint(wantDigests) || len(res.Removed) != 0 {
		t.Fatalf("a rebuild without Empty: empty %v, removed %v; want %v, none", res.Empty, res.Removed, wantDigests)
	}
}
