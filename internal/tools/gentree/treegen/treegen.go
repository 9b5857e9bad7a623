// Package treegen writes large, deterministic on-disk trees for the scale
// benchmarks: an OCI image layout (what `oci:DIR` reads and `oras discover
// --oci-layout` reads) or a registry-v2 static tree (`static:DIR:NAME`), each
// holding N manifests: K referrers of one subject (the first image) and N-K
// images.
//
// The files are written directly (not through the library's attach, whose
// index.json rewrite per push would make a 100k tree quadratic), in parallel
// and without fsync: a benchmark tree does not need to survive a crash. The
// same Spec always gives the same bytes, so the same digests.
//
// Each image has its own small config and three layers shared by all images
// (about 800 bytes of manifest, like a real single-platform image). Each
// referrer is an artifact manifest (artifactType, the empty config, one empty
// layer, an annotation that numbers it) whose subject is image 0. In the
// layout every image is tagged (img-<i>, image 0 is SubjectTag) and the
// referrers are untagged index.json entries spread among the images, as an
// attach by oras or by us records them. In the static tree only the subject is
// tagged, and no referrers index is pre-rendered: the tree is cold until
// `index-for --all` (or IndexForAll) runs.
package treegen

import (
	"archive/tar"
	"bytes"
	_ "crypto/sha256" // the sha256 digests of go-digest
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SubjectTag is the tag of image 0, the subject of every referrer.
const SubjectTag = "subject"

// DefaultArtifactType is the referrers' artifactType unless Spec says.
const DefaultArtifactType = "application/vnd.example.bench"

// Spec says what to generate.
type Spec struct {
	// Manifests is the number of manifests in all: Referrers artifacts and
	// the rest images (at least one: image 0 is the subject).
	Manifests int
	// Referrers is the number of artifact manifests whose subject is image 0.
	Referrers int
	// ArtifactType of the referrers (DefaultArtifactType when empty).
	ArtifactType string
	// Workers bounds the parallel file writes (default 8 × GOMAXPROCS).
	Workers int
}

// Result describes what was written.
type Result struct {
	// Subject is image 0's descriptor; SubjectTag names it.
	Subject ocispec.Descriptor
	// Referrers are the referrers' digests, sorted.
	Referrers []digest.Digest
	// Manifests and Images count what the tree holds.
	Manifests, Images int
	// Files and Bytes count what was written.
	Files int64
	Bytes int64
	// Elapsed is the time the generation took.
	Elapsed time.Duration
}

// item is one manifest to store and the blob it alone needs.
type item struct {
	desc     ocispec.Descriptor
	data     []byte
	tag      string
	config   []byte // image config, nil for a referrer
	referrer bool
}

type content struct {
	spec    Spec
	layers  []ocispec.Descriptor
	layerB  [][]byte
	subject ocispec.Descriptor
}

var emptyJSON = []byte("{}")

func newContent(s Spec) (*content, error) {
	if s.Referrers < 0 || s.Manifests-s.Referrers < 1 {
		return nil, fmt.Errorf("treegen: %d manifests cannot hold %d referrers and their subject", s.Manifests, s.Referrers)
	}
	if s.ArtifactType == "" {
		s.ArtifactType = DefaultArtifactType
	}
	if s.Workers <= 0 {
		s.Workers = 8 * runtime.GOMAXPROCS(0)
	}
	c := &content{spec: s}
	for j := range 3 {
		b, err := layerTar(j)
		if err != nil {
			return nil, err
		}
		c.layerB = append(c.layerB, b)
		c.layers = append(c.layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: int64(len(b))})
	}
	c.subject = c.image(0).desc
	return c, nil
}

// layerTar is a small valid tar holding one file, fixed times: deterministic.
func layerTar(j int) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte(fmt.Sprintf("layer %d of every benchmark image\n", j))
	hdr := &tar.Header{Name: fmt.Sprintf("layer%d.txt", j), Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(body); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed shapes of strings and numbers are marshalled
	}
	return b
}

func (c *content) image(i int) item {
	diffIDs := make([]digest.Digest, len(c.layers))
	for j, l := range c.layers {
		diffIDs[j] = l.Digest // the layers are uncompressed tars
	}
	cfg := mustJSON(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   ocispec.ImageConfig{Labels: map[string]string{"org.example.bench.image": strconv.Itoa(i)}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:    c.layers,
		Annotations: map[string]string{
			ocispec.AnnotationVersion: strconv.Itoa(i),
		},
	}
	m.SchemaVersion = 2
	b := mustJSON(m)
	tag := "img-" + strconv.Itoa(i)
	if i == 0 {
		tag = SubjectTag
	}
	return item{desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}, data: b, tag: tag, config: cfg}
}

func (c *content) referrer(k int) item {
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: c.spec.ArtifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{ocispec.DescriptorEmptyJSON},
		Subject:      &c.subject,
		Annotations:  map[string]string{"org.example.bench.referrer": strconv.Itoa(k)},
	}
	m.SchemaVersion = 2
	b := mustJSON(m)
	return item{desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b)), ArtifactType: c.spec.ArtifactType}, data: b, referrer: true}
}

// order is the index.json order: referrer k follows image (k+1)·N/(K+1), so
// referrers are spread among the images as attaches over time leave them.
func (c *content) order() []func() item {
	n, k := c.spec.Manifests-c.spec.Referrers, c.spec.Referrers
	out := make([]func() item, 0, n+k)
	next := 0
	for i := range n {
		out = append(out, func() item { return c.image(i) })
		for next < k && (next+1)*n/(k+1) <= i {
			r := next
			out = append(out, func() item { return c.referrer(r) })
			next++
		}
	}
	for ; next < k; next++ {
		r := next
		out = append(out, func() item { return c.referrer(r) })
	}
	return out
}

// writer writes files in parallel and counts them.
type writer struct {
	files, bytes atomic.Int64
}

func (w *writer) write(p string, b []byte) error {
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return err
	}
	w.files.Add(1)
	w.bytes.Add(int64(len(b)))
	return nil
}

// each computes every item (in index.json order) with workers in parallel,
// calling store for each, and returns the items' descriptors and tags.
func (c *content) each(store func(it item) error) ([]item, error) {
	gens := c.order()
	items := make([]item, len(gens))
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(c.spec.Workers, len(gens)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(gens) {
					return
				}
				it := gens[i]()
				if err := store(it); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				it.data, it.config = nil, nil // keep only the descriptor
				items[i] = it
			}
		}()
	}
	wg.Wait()
	return items, first
}

func (c *content) result(items []item, w *writer, start time.Time) Result {
	r := Result{Subject: c.subject, Manifests: len(items), Images: c.spec.Manifests - c.spec.Referrers, Files: w.files.Load(), Bytes: w.bytes.Load()}
	for _, it := range items {
		if it.referrer {
			r.Referrers = append(r.Referrers, it.desc.Digest)
		}
	}
	sort.Slice(r.Referrers, func(i, j int) bool { return r.Referrers[i] < r.Referrers[j] })
	r.Elapsed = time.Since(start)
	return r
}

func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("treegen: %s is not empty", dir)
	}
	return os.MkdirAll(dir, 0o755)
}

// Layout writes an OCI image layout into dir, which must be empty or absent.
func Layout(dir string, s Spec) (Result, error) {
	start := time.Now()
	c, err := newContent(s)
	if err != nil {
		return Result{}, err
	}
	if err := emptyDir(dir); err != nil {
		return Result{}, err
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return Result{}, err
	}
	w := &writer{}
	blob := func(d digest.Digest, b []byte) error { return w.write(filepath.Join(blobs, d.Encoded()), b) }
	if err := c.commonBlobs(blob, s.Referrers > 0); err != nil {
		return Result{}, err
	}
	items, err := c.each(func(it item) error {
		if it.config != nil {
			if err := blob(digest.FromBytes(it.config), it.config); err != nil {
				return err
			}
		}
		return blob(it.desc.Digest, it.data)
	})
	if err != nil {
		return Result{}, err
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: make([]ocispec.Descriptor, len(items))}
	idx.SchemaVersion = 2
	for i, it := range items {
		d := it.desc
		if it.tag != "" {
			d.Annotations = map[string]string{ocispec.AnnotationRefName: it.tag}
		}
		idx.Manifests[i] = d
	}
	if err := w.write(filepath.Join(dir, ocispec.ImageIndexFile), mustJSON(idx)); err != nil {
		return Result{}, err
	}
	if err := w.write(filepath.Join(dir, ocispec.ImageLayoutFile), mustJSON(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})); err != nil {
		return Result{}, err
	}
	return c.result(items, w, start), nil
}

// commonBlobs writes, through blob, the blobs every tree of the content
// shares: the layers, and the empty config when there are referrers.
func (c *content) commonBlobs(blob func(digest.Digest, []byte) error, referrers bool) error {
	for j, l := range c.layers {
		if err := blob(l.Digest, c.layerB[j]); err != nil {
			return err
		}
	}
	if referrers {
		return blob(ocispec.DescriptorEmptyJSON.Digest, emptyJSON)
	}
	return nil
}

// Static writes repository name of a static tree into dir (v2/<name>/...),
// which must not hold that repository yet.
func Static(dir, name string, s Spec) (Result, error) {
	start := time.Now()
	c, err := newContent(s)
	if err != nil {
		return Result{}, err
	}
	base := filepath.Join(dir, "v2", filepath.FromSlash(name))
	if err := emptyDir(base); err != nil {
		return Result{}, err
	}
	manifests, blobs := filepath.Join(base, "manifests"), filepath.Join(base, "blobs")
	for _, d := range []string{manifests, blobs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Result{}, err
		}
	}
	w := &writer{}
	blob := func(d digest.Digest, b []byte) error { return w.write(filepath.Join(blobs, d.String()), b) }
	if err := c.commonBlobs(blob, s.Referrers > 0); err != nil {
		return Result{}, err
	}
	manifest := func(name string, it item) error {
		p := filepath.Join(manifests, name)
		if err := w.write(p+".mediatype", []byte(it.desc.MediaType)); err != nil {
			return err
		}
		return w.write(p, it.data)
	}
	items, err := c.each(func(it item) error {
		if it.config != nil {
			if err := blob(digest.FromBytes(it.config), it.config); err != nil {
				return err
			}
		}
		if it.tag == SubjectTag {
			if err := manifest(it.tag, it); err != nil {
				return err
			}
		}
		return manifest(it.desc.Digest.String(), it)
	})
	if err != nil {
		return Result{}, err
	}
	return c.result(items, w, start), nil
}
