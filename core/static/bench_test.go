package static_test

// Scale benchmarks of listing referrers in a static tree: trees of 1k, 10k
// and 100k manifests, 100 of them referrers of one subject (see
// internal/tools/gentree/treegen), each built once per size in a temporary
// directory before its timers start. They run only with -bench:
//
//	go test -run='^$' -bench=. -benchmem ./core/static/
//	go test -run='^$' -bench='StaticList/manifests=10k' ./core/static/
//
// Operations:
//
//	cold           a new Tree, no pre-rendered index: resolve the tag, list (a scan)
//	index-for-all  IndexForAll(write): the one pass of `index-for --all`
//	warm           a new Tree after IndexForAll: resolve the tag, list (the fresh file)
//
// and, to size a change to the scan, the scanner alone opening each manifest
// by its path through the tree's root (part=scan-root) or through a root
// opened at v2/<name>/manifests (part=scan-subroot).
//
// Besides ns/op they report what the tree's fs.FS gave: read-B/op (bytes
// read), opens/op (files and directories opened) and stats/op. Writes go
// through the *os.Root and are not counted.

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/internal/testing/treetest"
	"github.com/oci-referrers/referrers/internal/tools/gentree/treegen"
)

// The trees, the counting of reads and the checked list are the shared
// harness's (treetest.BenchTrees, treetest.CountingFS, treetest.BenchList).

const benchStaticRepo = "bench/app"

func benchStaticOpen(b *testing.B, fsys fs.FS, root *os.Root, dir string) *static.Tree {
	t, err := static.New(fsys, root, dir, benchStaticRepo)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// benchStaticIndexAll runs IndexForAll(write) and checks what it found.
func benchStaticIndexAll(b *testing.B, t *static.Tree, gen treegen.Result) {
	res, err := t.IndexForAll(context.Background(), true)
	if err != nil {
		b.Fatal(err)
	}
	idx, ok := res.Subjects[gen.Subject.Digest]
	if len(res.Subjects) != 1 || !ok || len(idx.Manifests) != len(gen.Referrers) || res.Manifests != gen.Manifests {
		b.Fatalf("IndexForAll read %d manifests and found %d subjects (%d referrers of ours), want %d, 1 and %d",
			res.Manifests, len(res.Subjects), len(idx.Manifests), gen.Manifests, len(gen.Referrers))
	}
}

// benchStaticScan lists the manifests stored by digest in dir of cfs, then
// times the scanner alone over them.
func benchStaticScan(b *testing.B, cfs *treetest.CountingFS, path func(digest.Digest) (string, error), dir string, gen treegen.Result) {
	ents, err := fs.ReadDir(cfs, dir)
	if err != nil {
		b.Fatal(err)
	}
	var items []ocispec.Descriptor
	for _, e := range ents {
		if d, err := digest.Parse(e.Name()); err == nil {
			items = append(items, ocispec.Descriptor{Digest: d})
		}
	}
	sc := &tree.Scanner{FS: cfs, Path: path}
	treetest.BenchScan(b, cfs, gen, func() (int, int, error) {
		found, st, err := sc.Scan(context.Background(), items, "")
		return len(found[gen.Subject.Digest]), st.Files, err
	})
}

func BenchmarkStaticList(b *testing.B) {
	generate := func(dir string, spec treegen.Spec) (treegen.Result, error) {
		return treegen.Static(dir, benchStaticRepo, spec)
	}
	treetest.BenchTrees(b, generate, func(b *testing.B, bt *treetest.BenchTree) {
		dir, root, want := bt.Dir, bt.Root, bt.Gen.Referrers
		counting := func() *treetest.CountingFS { return &treetest.CountingFS{FS: root.FS()} }
		prerendered := filepath.Join(dir, "v2", filepath.FromSlash(benchStaticRepo), "referrers")

		b.Run("cold", func(b *testing.B) {
			if err := os.RemoveAll(prerendered); err != nil {
				b.Fatal(err)
			}
			cfs := counting()
			treetest.BenchList(b, benchStaticOpen(b, cfs, nil, dir), want, referrers.ModeScan, true)
			treetest.Measure(b, cfs, func() {
				treetest.BenchList(b, benchStaticOpen(b, cfs, nil, dir), want, referrers.ModeScan, false)
			})
		})

		b.Run("index-for-all", func(b *testing.B) {
			cfs := counting()
			t := benchStaticOpen(b, cfs, root, dir)
			treetest.Measure(b, cfs, func() { benchStaticIndexAll(b, t, bt.Gen) })
		})

		// The scan alone, and what opening the manifests directory once
		// would save: each open by path walks v2/, bench/, app/,
		// manifests/ and the file (five openat and five close on Linux).
		manifests := "v2/" + benchStaticRepo + "/manifests"
		b.Run("part=scan-root", func(b *testing.B) {
			benchStaticScan(b, counting(), func(d digest.Digest) (string, error) { return manifests + "/" + d.String(), nil }, manifests, bt.Gen)
		})
		b.Run("part=scan-subroot", func(b *testing.B) {
			sub, err := root.OpenRoot(manifests)
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			cfs := &treetest.CountingFS{FS: sub.FS()}
			benchStaticScan(b, cfs, func(d digest.Digest) (string, error) { return d.String(), nil }, ".", bt.Gen)
		})

		b.Run("warm", func(b *testing.B) {
			cfs := counting()
			benchStaticIndexAll(b, benchStaticOpen(b, cfs, root, dir), bt.Gen)
			treetest.BenchList(b, benchStaticOpen(b, cfs, nil, dir), want, referrers.ModeIndex, true)
			treetest.Measure(b, cfs, func() {
				treetest.BenchList(b, benchStaticOpen(b, cfs, nil, dir), want, referrers.ModeIndex, false)
			})
		})
	})
}
