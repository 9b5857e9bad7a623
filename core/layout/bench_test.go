package layout_test

// Scale benchmarks of listing referrers in an OCI image layout: trees of 1k,
// 10k and 100k manifests, 100 of them referrers of one subject (see
// internal/tools/gentree/treegen), each built once per size in a temporary
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
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/layout"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
	"github.com/oci-referrers/referrers/internal/tools/gentree/treegen"
)

// The trees, the counting of reads and the checked list are the shared
// harness's (treetest.BenchTrees, treetest.CountingFS, treetest.BenchList);
// a list with mode "" is checked whole, whatever mode answered.

func BenchmarkLayoutList(b *testing.B) {
	treetest.BenchTrees(b, treegen.Layout, func(b *testing.B, bt *treetest.BenchTree) {
		dir, root, want := bt.Dir, bt.Root, bt.Gen.Referrers
		benchLayoutAge(b, dir)
		counting := func() *treetest.CountingFS { return &treetest.CountingFS{FS: root.FS()} }

		b.Run("cold", func(b *testing.B) {
			cfs := counting()
			treetest.BenchList(b, layout.New(cfs, nil, dir), want, "", true)
			treetest.Measure(b, cfs, func() {
				treetest.BenchList(b, layout.New(cfs, nil, dir), want, referrers.ModeScan, false)
			})
		})

		b.Run("warm-disk", func(b *testing.B) {
			cache := b.TempDir()
			cfs := counting()
			treetest.BenchList(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), want, "", true) // primes the cache
			treetest.BenchList(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), want, "", true) // answers from it
			treetest.Measure(b, cfs, func() {
				treetest.BenchList(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), want, referrers.ModeIndex, false)
			})
			b.ReportMetric(float64(benchLayoutCacheSize(b, cache)), "cache-B")
		})

		// What a cold list costs, in parts, and what a change to the
		// scanner would save (see benchLayoutScan).
		b.Run("part=index.json", func(b *testing.B) {
			cfs := counting()
			treetest.Measure(b, cfs, func() { benchLayoutIndex(b, cfs) })
		})
		b.Run("part=scan-root", func(b *testing.B) {
			cfs := counting()
			benchLayoutScan(b, cfs, layout.BlobPath, benchLayoutIndex(b, cfs), bt.Gen)
		})
		b.Run("part=scan-subroot", func(b *testing.B) {
			sub, err := root.OpenRoot("blobs/sha256")
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			idx := benchLayoutIndex(b, root.FS())
			cfs := &treetest.CountingFS{FS: sub.FS()}
			benchLayoutScan(b, cfs, func(d digest.Digest) (string, error) { return d.Encoded(), nil }, idx, bt.Gen)
		})

		b.Run("warm-mem", func(b *testing.B) {
			cfs := counting()
			l := layout.New(cfs, nil, dir)
			treetest.BenchList(b, l, want, "", true) // scans, keeps the snapshot
			treetest.Measure(b, cfs, func() { treetest.BenchList(b, l, want, referrers.ModeIndex, false) })
		})

		// Last, as it adds a manifest to the tree: `referrers attach` to
		// another image (which keeps the cache fresh), then, more than
		// racy-window seconds later, lists as in warm-disk.
		b.Run("warm-after-attach", func(b *testing.B) {
			cache := b.TempDir()
			cfs := counting()
			treetest.BenchList(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), want, "", true) // primes the cache
			w, err := layout.Open(dir, layout.WithCacheDir(cache))
			if err != nil {
				b.Fatal(err)
			}
			benchLayoutAttach(b, w)
			w.Close()
			time.Sleep(2500 * time.Millisecond) // index.json is no longer "just modified"
			treetest.BenchList(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), want, "", true)
			treetest.Measure(b, cfs, func() {
				treetest.BenchList(b, layout.New(cfs, nil, dir, layout.WithCacheDir(cache)), want, referrers.ModeIndex, false)
			})
		})

		// The same for one long-lived, writable Layout that attached.
		b.Run("warm-mem-after-attach", func(b *testing.B) {
			cfs := counting()
			l := layout.New(cfs, root, dir)
			treetest.BenchList(b, l, want, "", true) // scans, keeps the snapshot
			benchLayoutAttach(b, l)
			time.Sleep(2500 * time.Millisecond)
			treetest.Measure(b, cfs, func() { treetest.BenchList(b, l, want, referrers.ModeIndex, false) })
		})
	})
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
func benchLayoutScan(b *testing.B, cfs *treetest.CountingFS, path func(digest.Digest) (string, error), idx ocispec.Index, gen treegen.Result) {
	sc := &tree.Scanner{FS: cfs, Path: path, Follow: true}
	treetest.BenchScan(b, cfs, gen, func() (int, int, error) {
		found, st, err := sc.Scan(context.Background(), idx.Manifests, "")
		return len(found[gen.Subject.Digest]), st.Files, err
	})
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
