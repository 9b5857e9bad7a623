package host_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/wasm/host"
)

// newPool is a Pool on the shared cache, closed when the test ends.
func newPool(t testing.TB, opts ...host.Option) *host.Pool {
	t.Helper()
	ctx := context.Background()
	p, err := host.NewPool(ctx, append([]host.Option{host.WithCompilationCache(cacheDir), host.WithTimeout(2 * time.Minute)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return p
}

// normal is the pair of requests every hostile case is followed by, with
// the answers of a fresh instance.
type normal struct {
	tree string
	req  []byte
	want []byte
}

func normals(t *testing.T) []normal {
	t.Helper()
	var ns []normal
	for _, n := range []normal{
		{tree: goldenLayout, req: marshal(t, checkV1())},
		{req: marshal(t, tinyRequest())},
	} {
		out, err := shared.Run(context.Background(), n.tree, n.req)
		if err != nil {
			t.Fatal(err)
		}
		n.want = out
		ns = append(ns, n)
	}
	return ns
}

// TestPoolHostileThenNormal: on a pool of one instance, each hostile
// request, whatever it does to the instance, is followed by normal requests
// that get the bytes a fresh instance gives.
func TestPoolHostileThenNormal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := normals(t)
	dir := twoLayouts(t)
	escaping := filepath.Join(dir, "tree")
	symlink(t, escaping, "index.json", filepath.Join(dir, "outside", "index.json"))
	tests := []struct {
		name string
		tree string
		req  []byte
		opts []host.CallOption
		want error
		mem  uint64 // the memory limit, 32 MiB if 0
	}{
		{"not JSON", "", []byte("{"), nil, host.ErrMalformedRequest, 0},
		{"nested 100k deep", "", []byte(strings.Repeat(`{"a":`, 100_000)), nil, host.ErrMalformedRequest, 0},
		{"unknown field", goldenLayout, []byte(`{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v1","policy":{}}`), nil, host.ErrMalformedRequest, 0},
		{"symlink out of the tree", escaping, marshal(t, checkV1()), nil, host.ErrSourceUnreadable, 0},
		{"30 MiB of documents in 32 MiB", "", bigRequest(t, 30, 1<<20), nil, host.ErrMemoryLimit, 0},
		// A reused instance answers a Check on the golden layout in about
		// a millisecond on an idle machine, so the deadline is given to a
		// request that takes the guest hundreds of milliseconds (5 MiB of
		// documents to decode and hash).
		{"deadline in the middle", "", bigRequest(t, 5, 1<<20), []host.CallOption{host.CallTimeout(time.Millisecond)}, host.ErrTimeout, 256 << 20},
		{"output over the cap", goldenLayout, marshal(t, checkV1()), []host.CallOption{host.CallMaxOutput(10)}, host.ErrOutputTooLarge, 0},
		{"5 MiB of documents", "", bigRequest(t, 5, 1<<20), nil, nil, 256 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := tt.mem
			if mem == 0 {
				mem = 32 << 20
			}
			p := newPool(t, host.WithPoolSize(1), host.WithMemoryLimit(mem))
			for _, n := range ns { // the instance has answered before
				if out, err := p.Run(ctx, n.tree, n.req); err != nil || !bytes.Equal(out, n.want) {
					t.Fatalf("before: %v\n%s", err, out)
				}
			}
			_, err := p.Run(ctx, tt.tree, tt.req, tt.opts...)
			if tt.want == nil && err != nil {
				t.Fatalf("hostile call: %v", err)
			}
			if tt.want != nil {
				var ee *host.ExitError
				if errors.As(err, &ee) && tt.want == host.ErrMemoryLimit {
					t.Logf("stderr: %.300s", ee.Stderr)
				}
				assertClass(t, err, tt.want)
			}
			for range 2 {
				for _, n := range ns {
					out, err := p.Run(ctx, n.tree, n.req)
					if err != nil || !bytes.Equal(out, n.want) {
						t.Fatalf("after %q: %v\ngot  %s\nwant %s", tt.name, err, out, n.want)
					}
				}
			}
			t.Logf("%v; %+v", err, p.Stats())
		})
	}
}

// TestPoolHammer: one reused instance answers 10,000 mixed requests, normal
// and hostile, each with the bytes a fresh instance gives, without being
// replaced and with its memory stable.
func TestPoolHammer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPool(t, host.WithPoolSize(1), host.WithInterruptible(false))
	type item struct {
		tree string
		req  []byte
		want []byte
	}
	var items []item
	for _, r := range []struct {
		tree string
		req  []byte
	}{
		{"", marshal(t, tinyRequest())},
		{"", []byte("{")},
		{"", []byte(strings.Repeat("[", 5000))},
		{"", []byte(`{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v1"}`)},
		{"", bigRequest(t, 1, 64<<10)},
		{goldenLayout, []byte(`{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v9"}`)},
		{goldenLayout, marshal(t, checkV1())},
	} {
		out, _ := shared.Run(ctx, r.tree, r.req)
		items = append(items, item{r.tree, r.req, out})
	}
	const calls, warm = 10_000, 500
	var warmMemory uint64
	for i := range calls {
		k := i % 6 // the golden layout's Check one call in 50
		if i%50 == 49 {
			k = 6
		}
		it := items[k]
		out, _ := p.Run(ctx, it.tree, it.req)
		if !bytes.Equal(out, it.want) {
			t.Fatalf("call %d (%d): got %s\nwant %s", i, k, out, it.want)
		}
		if i == warm {
			warmMemory = memoryOf(t, p)
		}
	}
	s := p.Stats()
	if s.Created != 1 || s.Discarded != 0 || s.Calls != calls {
		t.Errorf("stats %+v: want one instance for all %d calls", s, calls)
	}
	final := memoryOf(t, p)
	if final > warmMemory+16<<20 {
		t.Errorf("memory grew from %d MiB after %d calls to %d MiB after %d", warmMemory>>20, warm, final>>20, calls)
	}
	t.Logf("%+v; memory %d MiB after %d calls, %d MiB after %d", s, warmMemory>>20, warm, final>>20, calls)
}

// memoryOf is the linear memory of p's idle instances.
func memoryOf(t *testing.T, p *host.Pool) uint64 {
	t.Helper()
	return p.Stats().Memory
}

// blockingFS is a tree whose every Open waits until release is closed.
type blockingFS struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlockingFS() *blockingFS {
	return &blockingFS{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingFS) Open(name string) (fs.File, error) {
	if name != "." {
		b.once.Do(func() { close(b.entered) })
		<-b.release
	}
	return fstest.MapFS{}.Open(name)
}

// TestPoolLimits: a full pool waits or says ErrBusy; a waiting call ends
// with its context; per-call limits; Close.
func TestPoolLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	req := marshal(t, checkV1())

	// hold runs a call that blocks in its tree until the returned function
	// is called, and returns the call's error then.
	hold := func(p *host.Pool) func() error {
		b := newBlockingFS()
		done := make(chan error, 1)
		go func() {
			_, err := p.Run(ctx, "", req, host.CallFS(b))
			done <- err
		}()
		<-b.entered
		return func() error { close(b.release); return <-done }
	}

	t.Run("busy", func(t *testing.T) {
		t.Parallel()
		p := newPool(t, host.WithPoolSize(1), host.WithMaxWaiting(0))
		release := hold(p)
		_, err := p.Run(ctx, goldenLayout, req)
		assertClass(t, err, host.ErrBusy)
		assertClass(t, release(), host.ErrSourceUnreadable) // an empty tree
		if _, err := p.Run(ctx, goldenLayout, req); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wait", func(t *testing.T) {
		t.Parallel()
		p := newPool(t, host.WithPoolSize(1), host.WithMaxWaiting(1))
		release := hold(p)
		waited := make(chan error, 1)
		go func() {
			_, err := p.Run(ctx, goldenLayout, req)
			waited <- err
		}()
		for p.Stats().Waiting == 0 {
			time.Sleep(time.Millisecond)
		}
		_, err := p.Run(ctx, goldenLayout, req) // the second waiter
		assertClass(t, err, host.ErrBusy)
		release()
		if err := <-waited; err != nil {
			t.Fatalf("the waiting call: %v", err)
		}
	})
	t.Run("deadline while waiting", func(t *testing.T) {
		t.Parallel()
		p := newPool(t, host.WithPoolSize(1))
		release := hold(p)
		defer release()
		_, err := p.Run(ctx, goldenLayout, req, host.CallTimeout(50*time.Millisecond))
		assertClass(t, err, host.ErrTimeout)
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err = p.Run(cctx, goldenLayout, req)
		assertClass(t, err, host.ErrCanceled)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%v is not context.Canceled", err)
		}
	})
	t.Run("loop: deadline and cancellation stop the guest", func(t *testing.T) {
		t.Parallel()
		p := newPool(t, host.WithModule(reactorLoop()), host.WithPoolSize(1))
		start := time.Now()
		_, err := p.Run(ctx, "", []byte("{}"), host.CallTimeout(100*time.Millisecond))
		assertClass(t, err, host.ErrTimeout)
		var ee *host.ExitError
		if !errors.As(err, &ee) || ee.Code != 0 {
			t.Errorf("%v: want an *ExitError with code 0 (no runtime code)", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err = p.Run(cctx, "", []byte("{}"))
		assertClass(t, err, host.ErrCanceled)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("stopped after %v", d)
		}
		if s := p.Stats(); s.Created != 2 || s.Instances != 0 {
			t.Errorf("stats %+v: each stopped instance is discarded", s)
		}
	})
	t.Run("uninterruptible: the caller returns at its deadline", func(t *testing.T) {
		t.Parallel()
		p := newPool(t, host.WithPoolSize(1), host.WithInterruptible(false))
		b := newBlockingFS()
		start := time.Now()
		_, err := p.Run(ctx, "", req, host.CallFS(b), host.CallTimeout(100*time.Millisecond))
		assertClass(t, err, host.ErrTimeout)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("returned after %v", d)
		}
		close(b.release)
		// The late guest returns; its instance is discarded and the slot
		// freed.
		if _, err := p.Run(ctx, goldenLayout, req); err != nil {
			t.Fatal(err)
		}
		if s := p.Stats(); s.Created != 2 || s.Discarded != 1 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("close", func(t *testing.T) {
		t.Parallel()
		p, err := host.NewPool(ctx, host.WithModule(reactorLoop()), host.WithCompilationCache(cacheDir))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := p.Run(ctx, "", []byte("{}"))
			done <- err
		}()
		for p.Stats().Calls == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
		assertClass(t, <-done, host.ErrClosed)
		_, err = p.Run(ctx, "", []byte("{}"))
		assertClass(t, err, host.ErrClosed)
	})
}

// TestPoolModules: stand-in reactors through each class, and modules that
// are not reactors.
func TestPoolModules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	malformed := `{"apiVersion":"referrers/v1","kind":"Error","error":{"code":"MalformedRequest","message":"bad"}}` + "\n"
	tests := []struct {
		name    string
		module  []byte
		want    error
		code    uint32
		discard bool
	}{
		{"handled, malformed", reactorExit(malformed, 2), host.ErrMalformedRequest, 2, false},
		{"source unreadable", reactorExit("", 3), host.ErrSourceUnreadable, 3, false},
		{"internal", reactorExit("", 1), host.ErrInternal, 1, true},
		{"trap", reactorTrap(), host.ErrInternal, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPool(t, host.WithModule(tt.module))
			_, err := p.Run(ctx, "", []byte("{}"))
			assertClass(t, err, tt.want)
			var ee *host.ExitError
			if errors.As(err, &ee) && ee.Code != tt.code {
				t.Errorf("code %d, want %d", ee.Code, tt.code)
			}
			if s := p.Stats(); (s.Discarded == 1) != tt.discard {
				t.Errorf("stats %+v, discard %v", s, tt.discard)
			}
		})
	}
	for name, m := range map[string][]byte{"a command": exitModule("", 0), "not wasm": []byte("nope")} {
		if p, err := host.NewPool(ctx, host.WithModule(m)); err == nil {
			p.Close(ctx)
			t.Errorf("%s: NewPool succeeded", name)
		}
	}
}

// TestPoolStderr: WithStderr sees the module's diagnostics.
func TestPoolStderr(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var b strings.Builder
	p := newPool(t, host.WithStderr(writerFunc(func(p []byte) {
		mu.Lock()
		defer mu.Unlock()
		b.Write(p)
	})))
	_, err := p.Run(context.Background(), "", []byte("{"))
	assertClass(t, err, host.ErrMalformedRequest)
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(b.String(), "referrers.wasm: malformed request") {
		t.Fatalf("stderr hook saw %q", b.String())
	}
}

func osDirFS(dir string) fs.FS { return os.DirFS(dir) }

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// TestPoolFS: a tree in memory (CallFS) answers as the same tree on disk.
func TestPoolFS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := fstest.MapFS{}
	if err := fs.WalkDir(osDirFS(goldenLayout), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(osDirFS(goldenLayout), p)
		mem[p] = &fstest.MapFile{Data: b, Mode: 0o444}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	req := marshal(t, checkV1())
	want, err := shared.Run(ctx, goldenLayout, req)
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func(context.Context, string, []byte, ...host.CallOption) ([]byte, error){
		"fresh": shared.Run, "reused": sharedPool.Run,
	} {
		got, err := run(ctx, "", req, host.CallFS(mem))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v\ngot  %s\nwant %s", name, err, got, want)
		}
		_, err = run(ctx, goldenLayout, req, host.CallFS(mem))
		assertClass(t, err, host.ErrMalformedRequest)
	}
	_ = request.APIVersion
}
