package treetest

import (
	"context"
	"io/fs"
	"os"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/tools/gentree/treegen"
)

// BenchReferrers is how many of each benchmark tree's manifests are
// referrers of its subject.
const BenchReferrers = 100

// BenchSizes are the sizes of the benchmark trees, in manifests.
var BenchSizes = []struct {
	Name      string
	Manifests int
}{{"1k", 1_000}, {"10k", 10_000}, {"100k", 100_000}}

// BenchTree is a generated tree the benchmarks of one size run on.
type BenchTree struct {
	Dir  string
	Root *os.Root // opened at Dir
	Gen  treegen.Result
}

// BenchTrees runs run as the sub-benchmark manifests=SIZE for each of
// BenchSizes, on a tree generate writes (once per size, before any timer
// starts) in a temporary directory.
func BenchTrees(b *testing.B, generate func(dir string, spec treegen.Spec) (treegen.Result, error), run func(b *testing.B, bt *BenchTree)) {
	for _, size := range BenchSizes {
		b.Run("manifests="+size.Name, func(b *testing.B) {
			dir := b.TempDir()
			gen, err := generate(dir, treegen.Spec{Manifests: size.Manifests, Referrers: BenchReferrers})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("generated %d manifests (%d files) in %s", gen.Manifests, gen.Files, gen.Elapsed)
			root, err := os.OpenRoot(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer root.Close()
			run(b, &BenchTree{Dir: dir, Root: root, Gen: gen})
		})
	}
}

// Measure times b.N runs of op and reports what cfs gave during them.
func Measure(b *testing.B, cfs *CountingFS, op func()) {
	cfs.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		op()
	}
	b.StopTimer()
	cfs.Report(b)
}

// BenchList resolves the subject's tag and lists its referrers, checking the
// answer's size and (unless mode is "") how it was found; with full, the
// whole answer against what the generator wrote (a benchmark of a wrong
// answer is worthless).
func BenchList(b *testing.B, tg target.Target, want []digest.Digest, mode referrers.Mode, full bool) {
	ctx := context.Background()
	subject, err := referrers.ResolveSubject(ctx, tg, treegen.SubjectTag, "")
	if err != nil {
		b.Fatal(err)
	}
	res, err := referrers.New().List(ctx, tg, subject, referrers.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Referrers) != len(want) || (mode != "" && res.Mode != mode) {
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

// BenchScan times scan alone (a store's scanner over every manifest of the
// tree, through cfs), which returns the referrers it found of the
// generator's subject and how many manifests it read.
func BenchScan(b *testing.B, cfs *CountingFS, gen treegen.Result, scan func() (found, files int, err error)) {
	Measure(b, cfs, func() {
		found, files, err := scan()
		if err != nil {
			b.Fatal(err)
		}
		if found != len(gen.Referrers) || files != gen.Manifests {
			b.Fatalf("scan read %d manifests and found %d referrers, want %d and %d", files, found, gen.Manifests, len(gen.Referrers))
		}
	})
}

// CountingFS counts what is read through an fs.FS. It implements StatFS
// and ReadDirFS so that a stat or a directory listing is not counted as an
// open of a file read to the end.
type CountingFS struct {
	FS                   fs.FS
	opens, stats, nbytes atomic.Int64
}

func (c *CountingFS) Open(name string) (fs.File, error) {
	c.opens.Add(1)
	f, err := c.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, n: &c.nbytes}, nil
}

func (c *CountingFS) Stat(name string) (fs.FileInfo, error) {
	c.stats.Add(1)
	return fs.Stat(c.FS, name)
}

func (c *CountingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	c.opens.Add(1)
	return fs.ReadDir(c.FS, name)
}

// Reset sets the counters to zero.
func (c *CountingFS) Reset() {
	c.opens.Store(0)
	c.stats.Store(0)
	c.nbytes.Store(0)
}

// Report adds the counters, per operation, to the benchmark's result:
// read-B/op, opens/op and stats/op.
func (c *CountingFS) Report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(c.nbytes.Load())/n, "read-B/op")
	b.ReportMetric(float64(c.opens.Load())/n, "opens/op")
	b.ReportMetric(float64(c.stats.Load())/n, "stats/op")
}

type countingFile struct {
	fs.File
	n *atomic.Int64
}

func (f *countingFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.n.Add(int64(n))
	return n, err
}
