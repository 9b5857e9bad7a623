package interop

// Interop on disk: an OCI image layout written and read by several tools
// (producer → consumer on one layout directory), and a registry-v2 static
// tree whose pre-rendered referrers indexes are rebuilt by index-for --all.
//
// The tools record a referrer in a layout differently: oras adds the
// artifact manifest as an untagged entry of index.json; regctl (ocidir://)
// stores a tag-schema index under the tag sha256-<hex> and adds nothing
// else; our attach does both by default (so both peers list it), and with
// --oci-referrers index only what oras does. regctl reads only the tag, so
// it does not see untagged-only entries: those cells are recorded under a
// case of their own and assert that regctl sees nothing, so that a change in
// the pinned regctl is noticed.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

const layoutColumn = "oci-layout"

// ---- a subject written by hand (no tool under test writes it) ----

// writeLayoutBlob stores data under blobs/sha256/ of the layout in dir.
func writeLayoutBlob(t testing.TB, dir, mt string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(data)
	p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(data))}
}

// subjectManifest returns a one-layer image manifest (and its config and
// layer) whose content depends on seed.
func subjectManifest(t testing.TB, seed string) (manifest, config, layer []byte) {
	t.Helper()
	config = []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"seed":"` + seed + `"}}}`)
	layer = []byte("layer " + seed)
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, config, layer
}

// plainTempDir is a temporary directory whose path does not contain the
// test's name: regctl v0.11.7 refuses an ocidir:// path with any of
// "(,=%#@" ("invalid path for scheme"), and t.TempDir keeps "(" of a
// subtest named "referrers(tag)".
func plainTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "referrers-layout-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// newOCILayout writes an OCI image layout holding one image manifest tagged
// v1 and returns its directory and the image's descriptor.
func newOCILayout(t testing.TB) (string, ocispec.Descriptor) {
	t.Helper()
	dir := filepath.Join(plainTempDir(t), "layout")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	m, cfg, layer := subjectManifest(t, dir)
	writeLayoutBlob(t, dir, ocispec.MediaTypeImageConfig, cfg)
	writeLayoutBlob(t, dir, ocispec.MediaTypeImageLayer, layer)
	subject := writeLayoutBlob(t, dir, ocispec.MediaTypeImageManifest, m)
	entry := subject
	entry.Annotations = map[string]string{ocispec.AnnotationRefName: "v1"}
	idx, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{entry},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageIndexFile), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, subject
}

func readLayoutIndex(t testing.TB, dir string) ocispec.Index {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	return idx
}

func writeLayoutIndex(t testing.TB, dir string, idx ocispec.Index) {
	t.Helper()
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageIndexFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fallbackTagOf is the referrers tag of subject (distribution-spec v1.1.1).
func fallbackTagOf(subject digest.Digest) string {
	return string(subject.Algorithm()) + "-" + subject.Encoded()
}

// ---- the tools on a layout ----

// onLayout is one tool working on a layout: its adapter, and how it names
// DIR followed by ":TAG" or "@DIGEST".
type onLayout struct {
	client
	ref func(dir, suffix string) string
}

// layoutTool returns the named tool, run with t: "referrers" (default mode),
// "referrers(tag)" (attach with --referrers-mode tag), "oras" or "regctl".
func layoutTool(t *testing.T, name string) onLayout {
	t.Helper()
	oci := func(dir, suffix string) string { return "oci:" + dir + suffix }
	switch name {
	case "referrers":
		return onLayout{&ours{oracle.NewReferrers(t)}, oci}
	case "referrers(tag)":
		return onLayout{&oursTagMode{ours{oracle.NewReferrers(t)}}, oci}
	case "referrers(index)":
		return onLayout{&oursIndexStyle{ours{oracle.NewReferrers(t)}}, oci}
	case "oras":
		return onLayout{&orasLayout{oracle.NewOras(t)}, func(dir, suffix string) string { return dir + suffix }}
	case "regctl":
		return onLayout{&regctl{oracle.NewRegctl(t)}, func(dir, suffix string) string { return "ocidir://" + dir + suffix }}
	}
	panic(name)
}

// oursTagMode is our CLI attaching with --referrers-mode tag.
type oursTagMode struct{ ours }

func (c *oursTagMode) name() string { return "referrers(tag)" }

func (c *oursTagMode) attach(t *testing.T, subject string, a artifact) string {
	t.Helper()
	return attachFiles(t, c.x, "referrers", a, false, "attach", "--format", "json", "--referrers-mode", "tag", subject, "--artifact-type", a.artifactType)
}

// oursIndexStyle is our CLI attaching with --oci-referrers index: only the
// untagged index.json entry, as oras records it.
type oursIndexStyle struct{ ours }

func (c *oursIndexStyle) name() string { return "referrers(index)" }

func (c *oursIndexStyle) attach(t *testing.T, subject string, a artifact) string {
	t.Helper()
	return attachFiles(t, c.x, "referrers", a, false, "attach", "--format", "json", "--oci-referrers", "index", subject, "--artifact-type", a.artifactType)
}

// orasLayout is oras with --oci-layout: the subject is DIR:TAG or DIR@DIGEST.
type orasLayout struct{ x *oracle.Tool }

func (c *orasLayout) name() string                    { return "oras" }
func (c *orasLayout) cannotProduce(a artifact) string { return "" }

func (c *orasLayout) attach(t *testing.T, subject string, a artifact) string {
	t.Helper()
	// an absolute layout directory is fine; the files are relative (attachFiles)
	return attachFiles(t, c.x, "oras", a, false, "attach", "--oci-layout", "--format", "json", "--artifact-type", a.artifactType, subject)
}

func (c *orasLayout) list(t *testing.T, subject string, depth int, platform string) []seen {
	t.Helper()
	out := c.x.Must("discover", "--oci-layout", "--format", "json", "--depth", strconv.Itoa(depth), subject)
	var n orasNode
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		t.Fatalf("oras discover output: %v", err)
	}
	return n.seen().Children
}

// writesTag reports whether the producer records its referrer in the
// referrers tag (the only thing regctl reads): regctl, and our attach unless
// told to keep oras's style only.
func writesTag(producer string) bool {
	return producer == "regctl" || producer == "referrers" || producer == "referrers(tag)"
}

// checkLayoutShape asserts how producer recorded artifact art in the layout:
// an untagged index.json entry, the referrers tag, or both. For peers it
// documents their behaviour; a change in a pinned tool shows here.
func checkLayoutShape(t *testing.T, dir string, subject ocispec.Descriptor, producer, art string) {
	t.Helper()
	tag := fallbackTagOf(subject.Digest)
	entries, tags := 0, 0
	var tagDesc ocispec.Descriptor
	for _, m := range readLayoutIndex(t, dir).Manifests {
		name := m.Annotations[ocispec.AnnotationRefName]
		if m.Digest.String() == art {
			entries++
			if name != "" {
				t.Errorf("%s tagged the artifact's index.json entry %q", producer, name)
			}
		}
		if name == tag {
			tags++
			tagDesc = m
		}
	}
	wantEntries := 1
	if producer == "regctl" {
		wantEntries = 0 // regctl reaches the artifact through the tag's index only
	}
	wantTags := 0
	if writesTag(producer) {
		wantTags = 1
	}
	if entries != wantEntries || tags != wantTags {
		t.Errorf("%s recorded its referrer as %d untagged entr(ies) and %d referrers tag(s) in index.json, want %d and %d",
			producer, entries, tags, wantEntries, wantTags)
	}
	if tags == 1 {
		var idx ocispec.Index
		b, err := os.ReadFile(filepath.Join(dir, "blobs", string(tagDesc.Digest.Algorithm()), tagDesc.Digest.Encoded()))
		if err == nil {
			err = json.Unmarshal(b, &idx)
		}
		if err != nil {
			t.Fatalf("referrers tag %s: %v", tag, err)
		}
		n := 0
		for _, m := range idx.Manifests {
			if m.Digest.String() == art {
				n++
			}
		}
		if n != 1 {
			t.Errorf("referrers tag %s lists the artifact %d times", tag, n)
		}
	}
	t.Logf("%s on a layout: %d untagged index.json entry, %d referrers tag", producer, entries, tags)
}

func matrixCaseNamed(name string) matrixCase {
	for _, c := range matrixCases {
		if c.name == name {
			return c
		}
	}
	panic(name)
}

// TestLayoutMatrix is producer × consumer on one OCI image layout for each of
// three kinds of artifact: the consumer lists the producer's artifact exactly
// once with its digest, artifactType and annotations; in particular regctl
// (`regctl artifact list ocidir://...`) lists what our default attach wrote.
// regctl, which reads only the referrers tag, must see nothing of producers
// that write untagged entries only (oras, our --oci-referrers index; recorded
// as a case of its own).
func TestLayoutMatrix(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"one-file", "several-files", "no-files"} {
		kase := matrixCaseNamed(name)
		for _, p := range []string{"referrers", "referrers(tag)", "referrers(index)", "oras", "regctl"} {
			t.Run(name+"/"+p, func(t *testing.T) {
				t.Parallel()
				dir, subject := newOCILayout(t)
				producer := layoutTool(t, p)
				art := kase.art
				art.annotations = withProducer(art.annotations, p)
				produced := producer.attach(t, producer.ref(dir, ":v1"), art)
				checkLayoutShape(t, dir, subject, p, produced)
				for _, cn := range []string{"referrers", "oras", "regctl"} {
					t.Run("to-"+cn, func(t *testing.T) {
						limited := cn == "regctl" && !writesTag(p)
						if limited {
							record(t, layoutColumn, name+" [regctl reads only the tag: sees 0]", p, cn)
						} else {
							record(t, layoutColumn, name, p, cn)
						}
						consumer := layoutTool(t, cn)
						if limited {
							got := consumer.list(t, consumer.ref(dir, ":v1"), 1, "")
							t.Logf("regctl lists %d referrer(s) of a layout whose only record is an untagged index.json entry (expected limitation: our default attach, without --oci-referrers index, writes the tag too)", len(got))
							if len(got) != 0 {
								t.Errorf("regctl now lists %v: it reads untagged entries; move this cell to the plain case and update the README's advice", digests(got))
							}
							return
						}
						got := consumer.list(t, consumer.ref(dir, ":v1"), 1, "")
						expectOnce(t, got, produced, art)
						if len(got) != 1 {
							t.Errorf("%s lists %d referrers, want 1: %v", cn, len(got), digests(got))
						}
					})
				}
			})
		}
	}
}

// TestLayoutRegctlTag reads regctl's referrers tag: our auto list finds the
// artifact (through the tag's index, which index.json reaches), tag mode reads
// the tag alone; with the tag's entry removed from index.json by hand, only
// --scan-blobs still finds the orphaned artifact.
func TestLayoutRegctlTag(t *testing.T) {
	t.Parallel()
	dir, subject := newOCILayout(t)
	rc := layoutTool(t, "regctl")
	art := matrixCaseNamed("one-file").art
	art.annotations = withProducer(art.annotations, "regctl")
	produced := rc.attach(t, rc.ref(dir, ":v1"), art)
	at := "oci:" + dir + ":v1"

	t.Run("tag-mode", func(t *testing.T) {
		record(t, layoutColumn, "one-file [list --referrers-mode tag]", "regctl", "referrers")
		c := &ours{oracle.NewReferrers(t)}
		got := c.listArgs(t, "list", "--format", "json", "--referrers-mode", "tag", at)
		expectOnce(t, got, produced, art)
		if len(got) != 1 {
			t.Errorf("listed %v, want only regctl's", digests(got))
		}
	})

	t.Run("orphan", func(t *testing.T) {
		record(t, layoutColumn, "one-file [tag removed from index.json, --scan-blobs]", "regctl", "referrers")
		idx := readLayoutIndex(t, dir)
		kept := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if m.Annotations[ocispec.AnnotationRefName] != fallbackTagOf(subject.Digest) {
				kept = append(kept, m)
			}
		}
		if len(kept) != len(idx.Manifests)-1 {
			t.Fatalf("index.json has no referrers tag to remove: %+v", idx.Manifests)
		}
		idx.Manifests = kept
		writeLayoutIndex(t, dir, idx)
		c := &ours{oracle.NewReferrers(t)}
		if got := c.list(t, at, 1, ""); len(got) != 0 {
			t.Errorf("without --scan-blobs, listed %v; index.json no longer reaches regctl's artifact", digests(got))
		}
		got := c.listArgs(t, "list", "--format", "json", "--scan-blobs", at)
		expectOnce(t, got, produced, art)
		if len(got) != 1 {
			t.Errorf("--scan-blobs listed %v, want only regctl's", digests(got))
		}
	})
}

// TestLayoutSharedTag alternates regctl and our tag-mode attach on one
// subject: each merges the other's referrers tag, so both (and oras) list all
// four once, and index.json keeps one referrers tag.
func TestLayoutSharedTag(t *testing.T) {
	t.Parallel()
	dir, subject := newOCILayout(t)
	want := map[string]artifact{}
	for i, p := range []string{"regctl", "referrers(tag)", "regctl", "referrers(tag)"} {
		l := layoutTool(t, p)
		a := artifact{
			artifactType: "application/vnd.example.shared",
			files:        []file{{"s.json", "application/json", `{"n":` + strconv.Itoa(i) + `}`}},
			annotations:  map[string]string{"org.example.producer": p, "org.example.n": strconv.Itoa(i)},
		}
		want[l.attach(t, l.ref(dir, ":v1"), a)] = a
	}
	tags := 0
	for _, m := range readLayoutIndex(t, dir).Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == fallbackTagOf(subject.Digest) {
			tags++
		}
	}
	if tags != 1 {
		t.Errorf("index.json names the referrers tag %d times, want 1", tags)
	}
	for _, cn := range []string{"referrers", "oras", "regctl"} {
		t.Run("to-"+cn, func(t *testing.T) {
			record(t, layoutColumn, "shared referrers tag", "regctl+referrers(tag)", cn)
			c := layoutTool(t, cn)
			got := c.list(t, c.ref(dir, ":v1"), 1, "")
			for d, a := range want {
				expectOnce(t, got, d, a)
			}
			if len(got) != len(want) {
				t.Errorf("listed %d, want %d: %v", len(got), len(want), digests(got))
			}
		})
	}
}

// TestLayoutMixed builds a layout holding an untagged entry (oras), a
// referrers tag (regctl) and our default attach, then signatures of the SBOM
// from all three. Our list shows each referrer once at both levels; one CLI
// instance lists after every step, so its scan cache must follow the peers'
// rewrites of index.json.
func TestLayoutMixed(t *testing.T) {
	t.Parallel()
	dir, _ := newOCILayout(t)
	our := &ours{oracle.NewReferrers(t)} // one HOME: one scan cache across the steps
	tools := map[string]onLayout{
		"referrers": {our, func(d, s string) string { return "oci:" + d + s }},
		"oras":      layoutTool(t, "oras"),
		"regctl":    layoutTool(t, "regctl"),
	}
	at := "oci:" + dir + ":v1"
	top := map[string]artifact{}
	var sbom, regctlTop, oursTop string
	for _, step := range []struct {
		producer string
		art      artifact
	}{
		{"oras", artifact{
			artifactType: "application/spdx+json",
			files:        []file{{"sbom.spdx.json", "application/spdx+json", `{"spdxVersion":"SPDX-2.3"}`}},
			annotations:  map[string]string{"org.example.producer": "oras", "org.example.kind": "sbom"},
		}},
		{"regctl", artifact{
			artifactType: "application/vnd.example.attestation",
			annotations:  map[string]string{"org.example.producer": "regctl", "org.example.kind": "attestation"},
		}},
		{"referrers", artifact{
			artifactType: "application/vnd.example.scan+json",
			files:        []file{{"scan.json", "application/vnd.example.scan+json", `{"ok":true}`}},
			annotations:  map[string]string{"org.example.producer": "referrers", "org.example.kind": "scan"},
		}},
	} {
		l := tools[step.producer]
		d := l.attach(t, l.ref(dir, ":v1"), step.art)
		top[d] = step.art
		switch step.producer {
		case "oras":
			sbom = d
		case "regctl":
			regctlTop = d
		case "referrers":
			oursTop = d
		}
		got := our.list(t, at, 1, "")
		for d, a := range top {
			expectOnce(t, got, d, a)
		}
		if len(got) != len(top) {
			t.Fatalf("after %s's attach our (cached) list shows %d referrers, want %d: %v", step.producer, len(got), len(top), digests(got))
		}
	}
	sigs := map[string]artifact{}
	var regctlSig, oursSig string
	for _, p := range []string{"referrers", "oras", "regctl"} {
		l := tools[p]
		a := signature
		a.annotations = withProducer(signature.annotations, p)
		d := l.attach(t, l.ref(dir, "@"+sbom), a)
		sigs[d] = a
		switch p {
		case "regctl":
			regctlSig = d
		case "referrers":
			oursSig = d
		}
	}

	checkTree := func(t *testing.T, got []seen) {
		t.Helper()
		for d, a := range top {
			s := expectOnce(t, got, d, a)
			if d != sbom && len(s.Children) != 0 {
				t.Errorf("%s has referrers %v, want none", d, digests(s.Children))
			}
		}
		if len(got) != len(top) {
			t.Errorf("listed %d referrers, want %d: %v", len(got), len(top), digests(got))
		}
		s, _ := find(got, sbom)
		for d, a := range sigs {
			expectOnce(t, s.Children, d, a)
		}
		if len(s.Children) != len(sigs) {
			t.Errorf("the SBOM has %d referrers, want %d: %v", len(s.Children), len(sigs), digests(s.Children))
		}
	}
	cached := our.list(t, at, 2, "")
	checkTree(t, cached)

	const kase = "untagged+tag+ours, depth 2"
	t.Run("to-referrers", func(t *testing.T) {
		record(t, layoutColumn, kase, "oras+regctl+referrers", "referrers")
		got := (&ours{oracle.NewReferrers(t)}).list(t, at, 2, "") // a cold cache
		checkTree(t, got)
		if strings.Join(digests(got), ",") != strings.Join(digests(cached), ",") {
			t.Errorf("cold list %v differs from the cached one %v", digests(got), digests(cached))
		}
	})
	t.Run("to-oras", func(t *testing.T) {
		record(t, layoutColumn, kase, "oras+regctl+referrers", "oras")
		c := layoutTool(t, "oras")
		checkTree(t, c.list(t, c.ref(dir, ":v1"), 2, ""))
	})
	t.Run("to-regctl", func(t *testing.T) {
		record(t, layoutColumn, kase+" [regctl reads only the tag]", "oras+regctl+referrers", "regctl")
		c := layoutTool(t, "regctl")
		got := c.list(t, c.ref(dir, ":v1"), 1, "")
		t.Logf("regctl lists %v of the image, %d referrers in all (only what the referrers tag holds)", digests(got), len(top))
		// the tag holds regctl's and ours (our attach merged regctl's
		// entry), not oras's untagged-only SBOM
		expectOnce(t, got, regctlTop, top[regctlTop])
		expectOnce(t, got, oursTop, top[oursTop])
		if len(got) != 2 {
			t.Errorf("regctl lists %v, want its own and ours", digests(got))
		}
		got = c.list(t, c.ref(dir, "@"+sbom), 1, "")
		expectOnce(t, got, regctlSig, sigs[regctlSig])
		expectOnce(t, got, oursSig, sigs[oursSig])
		if len(got) != 2 {
			t.Errorf("regctl lists %v on the SBOM, want its own signature and ours", digests(got))
		}
	})
}

// ---- static tree ----

// newStaticTree writes repository app of a static tree with one image
// manifest, stored under its digest and the tag v1.
func newStaticTree(t testing.TB) (string, ocispec.Descriptor) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "static")
	base := filepath.Join(dir, "v2", "app")
	for _, d := range []string{"manifests", "blobs"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m, cfg, layer := subjectManifest(t, dir)
	for _, b := range [][]byte{cfg, layer} {
		writeStaticFile(t, dir, "blobs/"+digest.FromBytes(b).String(), b)
	}
	d := digest.FromBytes(m)
	writeStaticFile(t, dir, "manifests/v1", m)
	writeStaticFile(t, dir, "manifests/"+d.String(), m)
	return dir, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(m))}
}

func writeStaticFile(t testing.TB, dir, rel string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "v2", "app", filepath.FromSlash(rel)), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// staticListing is our depth-2 JSON with the modes.
type staticListing struct {
	Mode      string `json:"mode"`
	Referrers []struct {
		ourNode
		Mode string `json:"mode"`
	} `json:"referrers"`
}

func (l staticListing) seen() []seen {
	var out []seen
	for _, n := range l.Referrers {
		out = append(out, n.ourNode.seen())
	}
	return out
}

// treeDigests renders a two-level listing as sorted "parent>child" lines.
func treeDigests(ss []seen) string {
	var lines []string
	for _, s := range ss {
		lines = append(lines, s.Digest)
		for _, c := range s.Children {
			lines = append(lines, s.Digest+">"+c.Digest)
		}
	}
	return strings.Join(lines, "\n")
}

// TestLayoutStaticIndexFor attaches to a static tree with our CLI, adds a
// referrer the way another tool (or a copy) would, without touching the
// pre-rendered indexes, and checks that `index-for --all` rebuilds them to
// exactly what the list showed before (which had to scan), that the list
// afterwards answers from the indexes with the same digests, and that the
// file a web server would serve as the Referrers API answer is that index.
// No peer reads static trees, so our CLI is both sides.
func TestLayoutStaticIndexFor(t *testing.T) {
	t.Parallel()
	record(t, "static-tree", "index-for --all keeps the listing", "referrers+copy", "referrers")
	dir, subject := newStaticTree(t)
	our := &ours{oracle.NewReferrers(t)}
	at := "static:" + dir + ":app:v1"

	sbomArt := matrixCaseNamed("one-file").art
	sbom := our.attach(t, at, sbomArt)
	bundleArt := matrixCaseNamed("several-files").art
	bundle := our.attach(t, at, bundleArt)
	sig := our.attach(t, "static:"+dir+":app@"+sbom, signature)

	// A referrer written by hand: the manifest file only, no .mediatype
	// sidecar, no update of the subject's referrers file.
	foreignArt := artifact{
		artifactType: "application/vnd.example.copied",
		annotations:  map[string]string{"org.example.producer": "copy"},
	}
	empty := []byte("{}")
	writeStaticFile(t, dir, "blobs/"+digest.FromBytes(empty).String(), empty)
	subj := subject
	fm, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: foreignArt.artifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{ocispec.DescriptorEmptyJSON},
		Subject:      &subj,
		Annotations:  foreignArt.annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	foreign := digest.FromBytes(fm).String()
	writeStaticFile(t, dir, "manifests/"+foreign, fm)
	// Make the manifests directory visibly newer than the subject's
	// referrers file, whatever the file system's timestamp granularity.
	manifests := filepath.Join(dir, "v2", "app", "manifests")
	fi, err := os.Stat(filepath.Join(dir, "v2", "app", "referrers", subject.Digest.String()))
	if err != nil {
		t.Fatalf("our attach left no referrers file for the subject: %v", err)
	}
	newer := fi.ModTime().Add(10 * time.Millisecond)
	if err := os.Chtimes(manifests, newer, newer); err != nil {
		t.Fatal(err)
	}

	listJSON := func() staticListing {
		t.Helper()
		var l staticListing
		out := our.x.Must("list", "--format", "json", "--depth", "2", at)
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("referrers list output: %v\n%s", err, out)
		}
		return l
	}
	check := func(when string, l staticListing) {
		t.Helper()
		got := l.seen()
		s := expectOnce(t, got, sbom, sbomArt)
		expectOnce(t, s.Children, sig, signature)
		expectOnce(t, got, bundle, bundleArt)
		expectOnce(t, got, foreign, foreignArt)
		if len(got) != 3 || len(s.Children) != 1 {
			t.Errorf("%s: listed %d referrers and %d of the SBOM, want 3 and 1:\n%s", when, len(got), len(s.Children), treeDigests(got))
		}
	}
	before := listJSON()
	check("before index-for", before)
	if before.Mode != "scan" {
		t.Errorf("before index-for, with a manifest newer than the referrers file, mode = %q, want scan", before.Mode)
	}

	var all struct {
		Subjects map[string]ocispec.Index `json:"subjects"`
		Written  bool                     `json:"written"`
	}
	if err := json.Unmarshal([]byte(our.x.Must("index-for", "--all", "--format", "json", "static:"+dir+":app")), &all); err != nil {
		t.Fatalf("index-for --all output: %v", err)
	}
	if !all.Written || len(all.Subjects) != 2 {
		t.Errorf("index-for --all: written %v, %d subjects, want true and 2 (the image and the SBOM)", all.Written, len(all.Subjects))
	}
	byDigest := func(ds []ocispec.Descriptor) string {
		var s []string
		for _, d := range ds {
			s = append(s, d.Digest.String())
		}
		sort.Strings(s)
		return strings.Join(s, ",")
	}
	var top []string
	for _, s := range before.seen() {
		top = append(top, s.Digest)
	}
	sort.Strings(top)
	if got, want := byDigest(all.Subjects[subject.Digest.String()].Manifests), strings.Join(top, ","); got != want {
		t.Errorf("index-for --all, the image: %s, want what list showed: %s", got, want)
	}
	if got := byDigest(all.Subjects[sbom].Manifests); got != sig {
		t.Errorf("index-for --all, the SBOM: %s, want %s", got, sig)
	}

	after := listJSON()
	check("after index-for", after)
	if treeDigests(after.seen()) != treeDigests(before.seen()) {
		t.Errorf("listing changed across index-for --all:\nbefore:\n%s\nafter:\n%s", treeDigests(before.seen()), treeDigests(after.seen()))
	}
	if after.Mode != "index" {
		t.Errorf("after index-for --all, mode = %q, want index (the pre-rendered file)", after.Mode)
	}

	// What a web server mapping URL paths to files serves for
	// GET /v2/app/referrers/<subject>.
	p := filepath.Join(dir, "v2", "app", "referrers", subject.Digest.String())
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var served ocispec.Index
	if err := json.Unmarshal(b, &served); err != nil || served.MediaType != ocispec.MediaTypeImageIndex || served.SchemaVersion != 2 {
		t.Errorf("referrers file is not an image index (%v): %s", err, b)
	}
	if got, want := byDigest(served.Manifests), strings.Join(top, ","); got != want {
		t.Errorf("served referrers index: %s, want %s", got, want)
	}
	for _, m := range served.Manifests {
		a := map[string]artifact{sbom: sbomArt, bundle: bundleArt, foreign: foreignArt}[m.Digest.String()]
		if m.ArtifactType != a.artifactType {
			t.Errorf("served entry %s: artifactType %q, want %q", m.Digest, m.ArtifactType, a.artifactType)
		}
	}
	if mt, err := os.ReadFile(p + ".mediatype"); err != nil || strings.TrimSpace(string(mt)) != ocispec.MediaTypeImageIndex {
		t.Errorf("referrers file's .mediatype: %q %v", mt, err)
	}
}
