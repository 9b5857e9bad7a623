package layout_test

// Scale benchmarks of listing referrers in an OCI image layout: trees of 1k,
// 10k and 100k manifests, 100 of them referrers of one subject (see
// internal/cmd/gentree/treegen), each built once per size in a temporary
// directory before its timers start (index.json dated a minute back: see
// benchLayoutAge). They run only with -bench:
//
//	go test -run='^$' -bench=. -benchmem ./core/layout/
//	go test -run='^$' -bench='LayoutList/manifests=10k' ./core/layout/
//
// Each operation resolves the subject's tag and lists its referrers through
// referrers.List, as `referrers list oci:DIR:subject` does:
//
//	cold       a new Layout without a cache: a full scan of index.json's manifests
//	warm-disk  a new Layout with a primed WithCacheDir: a new process's list
//	warm-mem   one long-lived Layout after a first list: the in-memory snapshot
//
// and, to size changes to a cold list, its parts: part=index.json (read and
// decode index.json once; a cold list does it twice), part=scan-root (the
// scanner alone, opening blobs/sha256/<hex> through the tree's root) and
// part=scan-subroot (the same through a root opened at blobs/sha256).
//
// And last, as each adds a manifest to the tree (an artifact on another image):
//
//	warm-after-attach      warm-disk after an attach that kept the cache fresh
//	                       (`referrers attach`, then lists seconds later)
//	warm-mem-after-attach  warm-mem of a Layout that attached, seconds later
//
// Besides ns/op they report what the tree's fs.FS gave: read-B/op (bytes
// read), opens/op (files and directories opened) and stats/op. The disk
// cache is read with package os, outside that FS: cache-B is the size of its
// file (read once by each warm-disk operation).

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/layout"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/tree"
	"github.com/oci-referrers/referrers/internal/cmd/gentree/treegen"
)

var benchLayoutSizes = []struct {
	name      string
	manifests int
}{{"1k", 1_000}, {"10k", 10_000}, {"100k", 100_000}}

const benchLayoutReferrers = 100

// benchLayoutFS counts what is read through an fs.FS. It implements StatFS
// and ReadDirFS so that a stat or a directory listing is not counted as an
// open of a file read to the end.
type benchLayoutFS struct {
	fsys                 fs.FS
	opens, stats, nbytes atomic.Int64
}

func (c *benchLayoutFS) Open(name string) (fs.File, error) {
	c.opens.Add(1)
	f, err := c.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	return &benchLayoutFile{File: f, n: &c.nbytes}, nil
}

func (c *benchLayoutFS) Stat(name string) (fs.FileInfo, error) {
	c.stats.Add(1)
	return fs.Stat(c.fsys, name)
}

func (c *benchLayoutFS) ReadDir(name string) ([]fs.DirEntry, error) {
	c.opens.Add(1)
	return fs.ReadDir(c.fsys, name)
}

func (c *benchLayoutFS) reset() {
	c.opens.Store(0)
	c.stats.Store(0)
	c.nbytes.Store(0)
}

// report adds the counters, per operation, to the benchmark's result.
func (c *benchLayoutFS) report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(c.nbytes.Load())/n, "read-B/op")
	b.ReportMetric(float64(c.opens.Load())/n, "opens/op")
	b.ReportMetric(float64(c.stats.Load())/n, "stats/op")
}

type benchLayoutFile struct {
	fs.File
	n *atomic.Int64
}

func (f *benchLayoutFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.n.Add(int64(n))
	return n, err
}

// benchLayoutList resolves the subject's tag and lists its referrers, checking
// the answer's size and how it was found.
func benchLayoutList(b *testing.B, l *layout.Layout, want []digest.Digest, mode referrers.Mode) {
	ctx := context.Background()
	subject, err := referrers.ResolveSubject(ctx, l, treegen.SubjectTag, "")
	if err != nil {
		b.Fatal(err)
	}
	res, err := referrers.New().List(ctx, l, subject, referrers.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Referrers) != len(want) || res.Mode != mode {
		b.Fatalf("listed %d referrers (mode %s), want %d (mode %s)", len(res.Referrers), res.Mode, len(want), mode)
	}
}

// benchLayoutCheck compares one full answer with what the generator wrote:
// a benchmark of a wrong answer is worthless.
func benchLayoutCheck(b *testing.B, l *layout.Layout, want []digest.Digest) {
	ctx := context.Background()
	subject, err := referrers.ResolveSubject(ctx, l, treegen.SubjectTag, "")
	if err != nil {
		b.Fatal(err)
	}
	res, err := referrers.New().List(ctx, l, subject, referrers.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var got []digest.Digest
	for _, n := range res.Referrers {
		got = append(got, n.Descriptor.Digest)
	}
	if !slices.Equal(got, want) {
		b.Fatalf("listed %d referrers, not the %d the generator wrote", len(got), len(want))
	}
}

func BenchmarkLayoutList(b *testing.B) {
	for _, size := range benchLayoutSizes {
		b.Run("manifests="+size.name, func(b *testing.B) {
			dir := b.TempDir()
			gen, err := treegen.Layout(dir, treegen.Spec{Manifests: size.manifests, Referrers: benchLayoutReferrers})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("generated %d manifests (%d files) in %s", gen.Manifests, gen.Files, gen.Elapsed)
			benchLayoutAge(b, dir)
			root, err := os.OpenRoot(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer root.Close()

			b.Run("cold", func(b *testing.B) {
				cfs := &benchLayoutFS{fsys: root.FS()}
				benchLayoutCheck(b, layout.New(cfs, nil, dir), gen.Referrers)
				cfs.reset()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					benchLayoutList(b, layout.New(cfs, nil, dir), gen.Referrers, referrers.ModeScan)
				}
				b.StopTimer()
				cfs.report(b)
			})

			b.Run("warm-disk", func(b *testing.B) {
				cache := b.TempDir()
				cfs := &benchLayoutFS{fsys: root.FS()}
				benchLayoutCheck(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), gen.Referrers) // primes the cache
				benchLayoutCheck(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), gen.Referrers) // answers from it
				cfs.reset()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					benchLayoutList(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), gen.Referrers, referrers.ModeIndex)
				}
				b.StopTimer()
				cfs.report(b)
				b.ReportMetric(float64(benchLayoutCacheSize(b, cache)), "cache-B")
			})

			// What a cold list costs, in parts, and what a change to the
			// scanner would save (see benchLayoutScan).
			b.Run("part=index.json", func(b *testing.B) {
				cfs := &benchLayoutFS{fsys: root.FS()}
				b.ReportAllocs()
				for range b.N {
					benchLayoutIndex(b, cfs)
				}
				b.StopTimer()
				cfs.report(b)
			})
			b.Run("part=scan-root", func(b *testing.B) {
				cfs := &benchLayoutFS{fsys: root.FS()}
				benchLayoutScan(b, cfs, layout.BlobPath, benchLayoutIndex(b, cfs), gen)
			})
			b.Run("part=scan-subroot", func(b *testing.B) {
				sub, err := root.OpenRoot("blobs/sha256")
				if err != nil {
					b.Fatal(err)
				}
				defer sub.Close()
				idx := benchLayoutIndex(b, root.FS())
				cfs := &benchLayoutFS{fsys: sub.FS()}
				benchLayoutScan(b, cfs, func(d digest.Digest) (string, error) { return d.Encoded(), nil }, idx, gen)
			})

			b.Run("warm-mem", func(b *testing.B) {
				cfs := &benchLayoutFS{fsys: root.FS()}
				l := layout.New(cfs, nil, dir)
				benchLayoutCheck(b, l, gen.Referrers) // scans, keeps the snapshot
				cfs.reset()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					benchLayoutList(b, l, gen.Referrers, referrers.ModeIndex)
				}
				b.StopTimer()
				cfs.report(b)
			})

			// Last, as it adds a manifest to the tree: `referrers attach` to
			// another image (which keeps the cache fresh), then, more than
			// racy-window seconds later, lists as in warm-disk.
			b.Run("warm-after-attach", func(b *testing.B) {
				cache := b.TempDir()
				cfs := &benchLayoutFS{fsys: root.FS()}
				benchLayoutCheck(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), gen.Referrers) // primes the cache
				w, err := layout.Open(dir, layout.WithCacheDir(cache))
				if err != nil {
					b.Fatal(err)
				}
				benchLayoutAttach(b, w)
				w.Close()
				time.Sleep(2500 * time.Millisecond) // index.json is no longer "just modified"
				benchLayoutCheck(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), gen.Referrers)
				cfs.reset()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					benchLayoutList(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), gen.Referrers, referrers.ModeIndex)
				}
				b.StopTimer()
				cfs.report(b)
			})

			// The same for one long-lived, writable Layout that attached.
			b.Run("warm-mem-after-attach", func(b *testing.B) {
				cfs := &benchLayoutFS{fsys: root.FS()}
				l := layout.New(cfs, root, dir)
				benchLayoutCheck(b, l, gen.Referrers) // scans, keeps the snapshot
				benchLayoutAttach(b, l)
				time.Sleep(2500 * time.Millisecond)
				cfs.reset()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					benchLayoutList(b, l, gen.Referrers, referrers.ModeIndex)
				}
				b.StopTimer()
				cfs.report(b)
			})
		})
	}
}

// benchLayoutAge dates index.json a minute back, as in a layout not written
// in the last seconds: a snapshot of an index.json modified within the racy
// window is checked against its content on every use.
func benchLayoutAge(b *testing.B, dir string) {
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(dir, ocispec.ImageIndexFile), old, old); err != nil {
		b.Fatal(err)
	}
}

// benchLayoutAttaches numbers the attaches, so that each is a new artifact
// (the benchmark function runs again for each b.N).
var benchLayoutAttaches atomic.Int64

// benchLayoutAttach attaches a new artifact to image img-1 of l as
// `referrers attach oci:DIR:img-1` does.
func benchLayoutAttach(b *testing.B, l *layout.Layout) {
	ctx := context.Background()
	img, err := referrers.ResolveSubject(ctx, l, "img-1", "")
	if err != nil {
		b.Fatal(err)
	}
	a := referrers.Artifact{
		ArtifactType: "application/vnd.example.after",
		Annotations:  map[string]string{"org.example.bench.attach": strconv.FormatInt(benchLayoutAttaches.Add(1), 10)},
	}
	if _, err := referrers.New().Attach(ctx, l, img, a, referrers.AttachOptions{}); err != nil {
		b.Fatal(err)
	}
}

// benchLayoutIndex reads and decodes index.json as a cold list does (twice:
// once to resolve the tag, once more to scan).
func benchLayoutIndex(b *testing.B, fsys fs.FS) ocispec.Index {
	data, err := tree.ReadFile(fsys, ocispec.ImageIndexFile, layout.MaxIndexBytes)
	if err != nil {
		b.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		b.Fatal(err)
	}
	return idx
}

// benchLayoutScan times the scanner alone over the manifests of idx: with
// the layout's paths through the tree's root (scan-root: each open walks
// blobs/, sha256/, the file, three openat and three close on Linux), or
// through a root opened at blobs/sha256 once (scan-subroot: one openat).
func benchLayoutScan(b *testing.B, cfs *benchLayoutFS, path func(digest.Digest) (string, error), idx ocispec.Index, gen treegen.Result) {
	sc := &tree.Scanner{FS: cfs, Path: path, Follow: true}
	cfs.reset()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		found, st, err := sc.Scan(context.Background(), idx.Manifests, "")
		if err != nil {
			b.Fatal(err)
		}
		if len(found[gen.Subject.Digest]) != len(gen.Referrers) || st.Files != gen.Manifests {
			b.Fatalf("scan read %d manifests and found %d referrers, want %d and %d", st.Files, len(found[gen.Subject.Digest]), gen.Manifests, len(gen.Referrers))
		}
	}
	b.StopTimer()
	cfs.report(b)
}

// benchLayoutCacheSize is the size of the one cache file in dir.
func benchLayoutCacheSize(b *testing.B, dir string) int64 {
	m, err := filepath.Glob(filepath.Join(dir, "layout-*.json"))
	if err != nil || len(m) != 1 {
		b.Fatalf("want one cache file in %s, found %d (%v)", dir, len(m), err)
	}
	fi, err := os.Stat(m[0])
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}
