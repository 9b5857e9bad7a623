package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/wasm/host"
)

// The hostile cases: each must end with a clear error within the limits, and
// a Host running our module must then still answer a normal request.

// v1Manifest is the blob of the golden layout's tag v1.
const v1Manifest = "blobs/sha256/43570db463657b2a0cc9cc722676a188f8f376602996f3fcaa80cfb5407206ac"

// twoLayouts copies the golden layout to dir/tree (to mount) and to
// dir/outside (beside it, never to be read), and returns dir.
func twoLayouts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"tree", "outside"} {
		if err := os.CopyFS(filepath.Join(dir, name), os.DirFS(goldenLayout)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// symlink replaces dir/name with a symlink to target.
func symlink(t *testing.T, dir, name, target string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Skipf("no symlinks here: %v", err) // Windows without the privilege
	}
}

// TestSandboxSymlinks: a symlink in the tree to a file or directory outside
// it is refused (SourceUnreadable), although the outside holds a valid
// layout that would answer; an Error response, not a crash.
func TestSandboxSymlinks(t *testing.T) {
	t.Parallel()
	h := shared
	tests := []struct {
		name, link string
		target     func(dir string) string
	}{
		{"index.json relative", "index.json", func(string) string { return "../outside/index.json" }},
		{"index.json absolute", "index.json", func(dir string) string { return filepath.Join(dir, "outside", "index.json") }},
		{"subject blob", v1Manifest, func(string) string { return "../../../outside/" + v1Manifest }},
		{"blobs directory", "blobs", func(dir string) string { return filepath.Join(dir, "outside", "blobs") }},
		{"oci-layout", "oci-layout", func(string) string { return "../outside/oci-layout" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := twoLayouts(t)
			tree := filepath.Join(dir, "tree")
			symlink(t, tree, tt.link, tt.target(dir))
			// The link does reach a valid layout file on the host.
			if _, err := os.Stat(filepath.Join(tree, tt.link)); err != nil {
				t.Fatal(err)
			}
			resp, err := h.Do(context.Background(), tree, checkV1())
			assertClass(t, err, host.ErrSourceUnreadable)
			if resp.Error == nil {
				t.Fatalf("no Error response: %v", err)
			}
			t.Logf("%v", err)
			assertHealthy(t, h)
		})
	}
}

// TestSandboxPaths: a request naming "..", an absolute path outside the
// mount or the guest's root reads nothing of the host: dir/outside is a
// valid layout beside the mounted dir/tree.
func TestSandboxPaths(t *testing.T) {
	t.Parallel()
	h := shared
	dir := twoLayouts(t)
	tree := filepath.Join(dir, "tree")
	sources := []request.Source{
		{Layout: "/tree/../outside"},
		{Layout: "/tree/../../"},
		{Layout: "/tree/../../" + strings.TrimPrefix(filepath.ToSlash(filepath.Join(dir, "outside")), "/")},
		{Layout: filepath.ToSlash(filepath.Join(dir, "outside"))},
		{Layout: "../outside"},
		{Layout: "/etc"},
		{Layout: "/"},
		{Static: "/tree/..", Name: "outside"},
		{Static: "/tree", Name: "../outside"},
		{Static: "/tree", Name: "../../etc"},
	}
	for _, src := range sources {
		t.Run(fmt.Sprintf("%+v", src), func(t *testing.T) {
			req := checkV1()
			req.Source = src
			out, err := h.Run(context.Background(), tree, marshal(t, req))
			if err == nil {
				t.Fatalf("read outside the mount: %s", out)
			}
			var ee *host.ExitError
			if !errors.As(err, &ee) || ee.Response == nil {
				t.Fatalf("not a handled error: %v", err)
			}
			if !errors.Is(err, host.ErrSourceUnreadable) && !errors.Is(err, host.ErrMalformedRequest) {
				t.Fatalf("error %v is neither SourceUnreadable nor MalformedRequest", err)
			}
			t.Logf("%v", err)
		})
	}
	assertHealthy(t, h)

	// The guest's working directory is the mount (Go's wasip1 runtime starts
	// in the first preopen), so "." is the tree itself.
	req := checkV1()
	req.Source.Layout = "."
	if _, err := h.Do(context.Background(), tree, req); err != nil {
		t.Fatalf("layout \".\": %v", err)
	}
}

// TestSandboxSparse: a 1 GiB index.json or manifest blob (sparse: no disk)
// is refused by its size before it is read, quickly, and the host's memory
// does not grow by anything like it. Not parallel: it measures the heap.
func TestSandboxSparse(t *testing.T) {
	h := shared
	assertHealthy(t, h) // warm
	for _, name := range []string{"index.json", v1Manifest} {
		t.Run(name, func(t *testing.T) {
			dir := twoLayouts(t)
			tree := filepath.Join(dir, "tree")
			if err := os.Truncate(filepath.Join(tree, filepath.FromSlash(name)), 1<<30); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := h.Do(context.Background(), tree, checkV1())
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			assertClass(t, err, host.ErrSourceUnreadable)
			if !strings.Contains(err.Error(), "limit") {
				t.Errorf("error %q does not name the limit", err)
			}
			if elapsed > 5*time.Second {
				t.Errorf("took %v", elapsed)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 128<<20 {
				t.Errorf("the host allocated %d MiB", grew>>20)
			}
			t.Logf("%v (%v, host allocated %d MiB)", err, elapsed.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20)
			assertHealthy(t, h)
		})
	}
}

// TestSandboxTimeout: a guest loop without calls is stopped by the per-call
// timeout, and by a caller's context that is (nearly) done. Not parallel:
// it times the stop.
func TestSandboxTimeout(t *testing.T) {
	ctx := context.Background()
	t.Run("loop", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, host.WithModule(loopModule()), host.WithTimeout(200*time.Millisecond))
		for range 2 { // the same Host, a fresh instance each time
			start := time.Now()
			_, err := h.Run(ctx, "", nil)
			elapsed := time.Since(start)
			assertClass(t, err, host.ErrTimeout)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is not context.DeadlineExceeded", err)
			}
			if elapsed > 3*time.Second { // 15 times the timeout: a loaded CI machine has stalled a goroutine for over a second
				t.Errorf("stopped after %v", elapsed)
			}
			t.Logf("%v (after %v)", err, elapsed.Round(time.Millisecond))
		}
	})
	t.Run("loop, caller's deadline", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, host.WithModule(loopModule()))
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := h.Run(cctx, "", nil)
		assertClass(t, err, host.ErrTimeout)
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("stopped after %v", elapsed)
		}
	})
	h := shared
	for _, tt := range []struct {
		name  string
		ctx   func() (context.Context, context.CancelFunc)
		cause error
	}{
		{"ours, deadline in 1ms", func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, time.Millisecond) }, context.DeadlineExceeded},
		{"ours, deadline passed", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(ctx, time.Now().Add(-time.Second))
		}, context.DeadlineExceeded},
		{"ours, cancelled", func() (context.Context, context.CancelFunc) {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return c, cancel
		}, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cctx, cancel := tt.ctx()
			defer cancel()
			_, err := h.Do(cctx, goldenLayout, checkV1())
			want := host.ErrTimeout
			if tt.cause == context.Canceled {
				want = host.ErrCanceled
			}
			assertClass(t, err, want)
			if !errors.Is(err, tt.cause) {
				t.Errorf("error %v is not %v", err, tt.cause)
			}
			t.Logf("%v", err)
		})
	}
	assertHealthy(t, h)
}

// TestSandboxMemory: memory.grow fails at the limit, and a Go module that
// needs more than the limit crashes with ErrMemoryLimit; the host is fine.
func TestSandboxMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("memory.grow loop", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, host.WithModule(growModule()), host.WithMemoryLimit(16<<20))
		_, err := h.Run(ctx, "", nil)
		assertClass(t, err, host.ErrInternal)
		var ee *host.ExitError
		if !errors.As(err, &ee) || ee.Code != 256 {
			t.Fatalf("error %v: want the module to exit with its size, 256 pages", err)
		}
		t.Logf("%v", err)
	})
	t.Run("ours, 40 MB of documents in 32 MiB", func(t *testing.T) {
		t.Parallel()
		// The deadline is not under test here: reading 40 MB takes the
		// guest seconds, more on a loaded machine, and the default 10 s
		// fired first in CI with other work beside it.
		h := newHost(t, host.WithMemoryLimit(32<<20), host.WithTimeout(2*time.Minute))
		in := bigRequest(t, 30, 1<<20) // 30 MiB of documents, 40 MiB in base64
		out, err := h.Run(ctx, "", in)
		assertClass(t, err, host.ErrMemoryLimit)
		var ee *host.ExitError
		if !errors.As(err, &ee) || ee.Code != 2 || ee.Response != nil || len(out) != 0 {
			t.Fatalf("error %v: want exit 2 and no response", err)
		}
		t.Logf("%v (%d bytes in; stderr starts %q)", err, len(in), firstLine(ee.Stderr))
		assertHealthy(t, h)
	})
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// bigRequest is a valid List of inline documents: n copies of one image
// manifest of about size bytes (Validate allows repeats). It is assembled
// from one encoded document, which keeps it cheap under -race.
func bigRequest(t testing.TB, n, size int) []byte {
	t.Helper()
	data := []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
		`"layers":[],"annotations":{"pad":"` + strings.Repeat("x", size) + `"}}`)
	req := request.Request{
		APIVersion: request.APIVersion,
		Kind:       request.KindList,
		Source:     request.Source{Documents: []request.Document{{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Data: data}}},
		Subject:    digest.FromBytes(data).String(),
	}
	if err := req.Validate(); err != nil {
		t.Fatalf("the request is not valid: %v", err)
	}
	one := marshal(t, req)
	// {..."documents":[DOC]...}: repeat DOC n times.
	i, j := bytes.Index(one, []byte(`"documents":[`)), bytes.Index(one, []byte(`}]`))
	if i < 0 || j < i {
		t.Fatalf("no documents in %.200s", one)
	}
	i += len(`"documents":[`)
	doc := one[i : j+1]
	b := make([]byte, 0, len(one)+(n-1)*(len(doc)+1))
	b = append(b, one[:i]...)
	for k := range n {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, doc...)
	}
	return append(b, one[j+1:]...)
}

// TestSandboxOutput: a module flooding stdout is stopped at the cap; one
// flooding stderr keeps only the cap's worth and is stopped by its timeout.
func TestSandboxOutput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("stdout", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, host.WithModule(floodModule(1)), host.WithMaxOutput(1<<20))
		start := time.Now()
		out, err := h.Run(ctx, "", nil)
		elapsed := time.Since(start)
		assertClass(t, err, host.ErrOutputTooLarge)
		if len(out) != 1<<20 {
			t.Errorf("stdout of %d bytes, want the cap", len(out))
		}
		if elapsed > 5*time.Second {
			t.Errorf("stopped after %v", elapsed)
		}
		t.Logf("%v (after %v)", err, elapsed.Round(time.Millisecond))
	})
	t.Run("stderr", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, host.WithModule(floodModule(2)), host.WithTimeout(300*time.Millisecond))
		_, err := h.Run(ctx, "", nil)
		assertClass(t, err, host.ErrTimeout)
		var ee *host.ExitError
		if !errors.As(err, &ee) || len(ee.Stderr) > host.MaxStderr+100 || !strings.Contains(ee.Stderr, "bytes of stderr dropped") {
			t.Fatalf("error %v: stderr of %d bytes", err, len(ee.Stderr))
		}
	})
	t.Run("ours, over a small cap", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, host.WithMaxOutput(100))
		out, err := h.Do(ctx, goldenLayout, checkV1())
		assertClass(t, err, host.ErrOutputTooLarge)
		t.Logf("%v (%+v)", err, out)
	})
}
