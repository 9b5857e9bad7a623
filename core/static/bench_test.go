package static_test

// Scale benchmarks of listing referrers in a static tree: trees of 1k, 10k
// and 100k manifests, 100 of them referrers of one subject (see
// internal/cmd/gentree/treegen), each built once per size in a temporary
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
	"slices"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/core/tree"
	"github.com/oci-referrers/referrers/internal/cmd/gentree/treegen"
)

var benchStaticSizes = []struct {
	name      string
	manifests int
}{{"1k", 1_000}, {"10k", 10_000}, {"100k", 100_000}}

const (
	benchStaticReferrers = 100
	benchStaticRepo      = "bench/app"
)

// benchStaticFS counts what is read through an fs.FS. It implements StatFS
// and ReadDirFS so that a stat or a directory listing is not counted as an
// open of a file read to the end.
type benchStaticFS struct {
	fsys                 fs.FS
	opens, stats, nbytes atomic.Int64
}

func (c *benchStaticFS) Open(name string) (fs.File, error) {
	c.opens.Add(1)
	f, err := c.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	return &benchStaticFile{File: f, n: &c.nbytes}, nil
}

func (c *benchStaticFS) Stat(name string) (fs.FileInfo, error) {
	c.stats.Add(1)
	return fs.Stat(c.fsys, name)
}

func (c *benchStaticFS) ReadDir(name string) ([]fs.DirEntry, error) {
	c.opens.Add(1)
	return fs.ReadDir(c.fsys, name)
}

func (c *benchStaticFS) reset() {
	c.opens.Store(0)
	c.stats.Store(0)
	c.nbytes.Store(0)
}

// report adds the counters, per operation, to the benchmark's result.
func (c *benchStaticFS) report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(c.nbytes.Load())/n, "read-B/op")
	b.ReportMetric(float64(c.opens.Load())/n, "opens/op")
	b.ReportMetric(float64(c.stats.Load())/n, "stats/op")
}

type benchStaticFile struct {
	fs.File
	n *atomic.Int64
}

func (f *benchStaticFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.n.Add(int64(n))
	return n, err
}

func benchStaticOpen(b *testing.B, fsys fs.FS, root *os.Root, dir string) *static.Tree {
	t, err := static.New(fsys, root, dir, benchStaticRepo)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// benchStaticList resolves the subject's tag and lists its referrers; with
// want set it checks the whole answer against what the generator wrote (a
// benchmark of a wrong answer is worthless), else its size.
func benchStaticList(b *testing.B, t *static.Tree, want []digest.Digest, mode referrers.Mode, full bool) {
	ctx := context.Background()
	subject, err := referrers.ResolveSubject(ctx, t, treegen.SubjectTag, "")
	if err != nil {
		b.Fatal(err)
	}
	res, err := referrers.New().List(ctx, t, subject, referrers.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Referrers) != len(want) || res.Mode != mode {
		b.Fatalf("listed %d referrers (mode %s), want %d (mode %s)", len(res.Referrers), res.Mode, len(want), mode)
	}
	if full {
		got := make([]digest.Digest, 0, len(res.Referrers))
		for _, n := range res.Referrers {
			got = append(got, n.Descriptor.Digest)
		}
		if !slices.Equal(got, want) {
			b.Fatalf("listed %d referrers, not the %d the generator wrote", len(got), len(want))
		}
	}
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
func benchStaticScan(b *testing.B, cfs *benchStaticFS, path func(digest.Digest) (string, error), dir string, gen treegen.Result) {
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
	cfs.reset()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		found, st, err := sc.Scan(context.Background(), items, "")
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

func BenchmarkStaticList(b *testing.B) {
	for _, size := range benchStaticSizes {
		b.Run("manifests="+size.name, func(b *testing.B) {
			dir := b.TempDir()
			gen, err := treegen.Static(dir, benchStaticRepo, treegen.Spec{Manifests: size.manifests, Referrers: benchStaticReferrers})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("generated %d manifests (%d files) in %s", gen.Manifests, gen.Files, gen.Elapsed)
			root, err := os.OpenRoot(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer root.Close()
			prerendered := filepath.Join(dir, "v2", filepath.FromSlash(benchStaticRepo), "referrers")

			b.Run("cold", func(b *testing.B) {
				if err := os.RemoveAll(prerendered); err != nil {
					b.Fatal(err)
				}
				cfs := &benchStaticFS{fsys: root.FS()}
				benchStaticList(b, benchStaticOpen(b, cfs, nil, dir), gen.Referrers, referrers.ModeScan, true)
				cfs.reset()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					benchStaticList(b, benchStaticOpen(b, cfs, nil, dir), gen.Referrers, referrers.ModeScan, false)
				}
				b.StopTimer()
				cfs.report(b)
			})

			b.Run("index-for-all", func(b *testing.B) {
				cfs := &benchStaticFS{fsys: root.FS()}
				t := benchStaticOpen(b, cfs, root, dir)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					benchStaticIndexAll(b, t, gen)
				}
				b.StopTimer()
				cfs.report(b)
			})

			// The scan alone, and what opening the manifests directory once
			// would save: each open by path walks v2/, bench/, app/,
			// manifests/ and the file (five openat and five close on Linux).
			manifests := "v2/" + benchStaticRepo + "/manifests"
			b.Run("part=scan-root", func(b *testing.B) {
				cfs := &benchStaticFS{fsys: root.FS()}
				benchStaticScan(b, cfs, func(d digest.Digest) (string, error) { return manifests + "/" + d.String(), nil }, manifests, gen)
			})
			b.Run("part=scan-subroot", func(b *testing.B) {
				sub, err := root.OpenRoot(manifests)
				if err != nil {
					b.Fatal(err)
				}
				defer sub.Close()
				cfs := &benchStaticFS{fsys: sub.FS()}
				benchStaticScan(b, cfs, func(d digest.Digest) (string, error) { return d.String(), nil }, ".", gen)
			})

			b.Run("warm", func(b *testing.B) {
				cfs := &benchStaticFS{fsys: root.FS()}
				benchStaticIndexAll(b, benchStaticOpen(b, cfs, root, dir), gen)
				benchStaticList(b, benchStaticOpen(b, cfs, nil, dir), gen.Referrers, referrers.ModeIndex, true)
				cfs.reset()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					benchStaticList(b, benchStaticOpen(b, cfs, nil, dir), gen.Referrers, referrers.ModeIndex, false)
				}
				b.StopTimer()
				cfs.report(b)
			})
		})
	}
}
