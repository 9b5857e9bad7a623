package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/sys"

	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/wasm/host"
)

// cacheDir is a compilation cache the tests share, filled once by TestMain:
// each New then costs a load, not a compile (20 s under -race).
var cacheDir string

// shared is a Host that the tests share (each call is a fresh instance;
// sharing it is what a server does). Its per-call timeout is long: the tests
// of timeouts use hosts of their own, and under the race detector, with
// parallel tests, a normal call can take seconds.
var shared *host.Host

// sharedPool is a Pool the tests share: two reused instances of the reactor.
var sharedPool *host.Pool

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "referrers-wasm-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cacheDir = dir
	ctx := context.Background()
	shared, err = host.New(ctx, host.WithCompilationCache(dir), host.WithTimeout(10*time.Minute))
	if err != nil {
		fmt.Fprintln(os.Stderr, "compiling the module:", err)
		return 1
	}
	sharedPool, err = host.NewPool(ctx, host.WithCompilationCache(dir), host.WithTimeout(10*time.Minute), host.WithPoolSize(2))
	if err != nil {
		fmt.Fprintln(os.Stderr, "compiling the reactor:", err)
		return 1
	}
	code := m.Run()
	if err := sharedPool.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "closing the pool:", err)
		return 1
	}
	if err := shared.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "closing the host:", err)
		return 1
	}
	return code
}

// newHost is a Host on the shared cache, closed when the test ends.
func newHost(t testing.TB, opts ...host.Option) *host.Host {
	t.Helper()
	ctx := context.Background()
	h, err := host.New(ctx, append([]host.Option{host.WithCompilationCache(cacheDir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return h
}

// goldenLayout is the golden layout tree of the repository.
var goldenLayout = filepath.Join("..", "..", "testdata", "trees", "layout")

// checkV1 is a Check of tag v1 in a mounted layout: its SBOM is there, a
// provenance is not.
func checkV1() request.Request {
	return request.Request{
		APIVersion: request.APIVersion,
		Kind:       request.KindCheck,
		Source:     request.Source{Layout: host.Mount},
		Subject:    "v1",
		Policy: &policy.Policy{Require: []policy.Requirement{
			{ArtifactType: "application/spdx+json"},
			{ArtifactType: "application/vnd.example.provenance"},
		}},
	}
}

// assertHealthy fails unless h still answers a normal request as the
// library does natively: what each hostile case ends with.
func assertHealthy(t *testing.T, h *host.Host) {
	t.Helper()
	req := checkV1()
	got, err := h.Do(context.Background(), goldenLayout, req)
	if err != nil {
		t.Fatalf("the host no longer answers a normal request: %v", err)
	}
	req.Source.Layout = goldenLayout
	want, err := request.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("after the hostile call:\ngot  %s\nwant %s", got, want)
	}
}

func marshal(t testing.TB, req request.Request) []byte {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sentinels are the error classes; each failed call reaches exactly one.
var sentinels = map[string]error{
	"ErrMalformedRequest": host.ErrMalformedRequest,
	"ErrSourceUnreadable": host.ErrSourceUnreadable,
	"ErrInternal":         host.ErrInternal,
	"ErrTimeout":          host.ErrTimeout,
	"ErrCanceled":         host.ErrCanceled,
	"ErrClosed":           host.ErrClosed,
	"ErrBusy":             host.ErrBusy,
	"ErrOutputTooLarge":   host.ErrOutputTooLarge,
	"ErrMemoryLimit":      host.ErrMemoryLimit,
}

// assertClass fails unless err reaches want and no other class.
func assertClass(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v (%T) is not %v", err, err, want)
	}
	for name, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("error %v is also %s", err, name)
		}
	}
}

func TestDo(t *testing.T) {
	t.Parallel()
	assertHealthy(t, shared)
}

// TestErrorClasses runs our module and stand-in modules through each exit
// class: the error, its *ExitError fields and the stdout Run returns.
func TestErrorClasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	malformed := `{"apiVersion":"referrers/v1","kind":"Error","error":{"code":"MalformedRequest","message":"bad"}}` + "\n"
	tests := []struct {
		name     string
		module   []byte // nil: ours
		tree     string
		req      string
		want     error
		code     uint32
		respCode string // the Error response's code, "" for none
		stdout   string // a substring of stdout
		msg      string // a substring of the error's message
	}{
		{name: "ours/not JSON", req: "{", want: host.ErrMalformedRequest, code: 2, respCode: "MalformedRequest", msg: "unexpected EOF"},
		{name: "ours/unknown field", req: `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v1","extra":1}`, tree: goldenLayout,
			want: host.ErrMalformedRequest, code: 2, respCode: "MalformedRequest", msg: `unknown field "extra"`},
		{name: "ours/wrong version", req: `{"apiVersion":"referrers/v0","kind":"List","source":{"layout":"/tree"},"subject":"v1"}`,
			want: host.ErrMalformedRequest, code: 2, respCode: "MalformedRequest", msg: "apiVersion"},
		{name: "ours/no tree mounted", req: `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v1"}`,
			want: host.ErrSourceUnreadable, code: 3, respCode: "SourceUnreadable"},
		{name: "ours/unknown tag", req: `{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"},"subject":"v9"}`, tree: goldenLayout,
			want: host.ErrSourceUnreadable, code: 3, respCode: "SourceUnreadable", msg: "v9"},
		{name: "ours/tree missing on the host", req: `{}`, tree: filepath.Join(t.TempDir(), "absent"), want: host.ErrSourceUnreadable, msg: "mount"},
		{name: "exit 2 without a response is a crash", module: exitModule("panic: boom\n", 2), want: host.ErrInternal, code: 2, stdout: "panic: boom"},
		{name: "exit 2 with an Error response", module: exitModule(malformed, 2), want: host.ErrMalformedRequest, code: 2, respCode: "MalformedRequest", msg: "bad"},
		{name: "exit 1", module: exitModule("", 1), want: host.ErrInternal, code: 1},
		{name: "exit 3", module: exitModule("", 3), want: host.ErrSourceUnreadable, code: 3},
		{name: "exit 42", module: exitModule("", 42), want: host.ErrInternal, code: 42},
		{name: "a trap", module: trapModule(), want: host.ErrInternal, msg: "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := shared
			if tt.module != nil {
				h = newHost(t, host.WithModule(tt.module))
			}
			out, err := h.Run(ctx, tt.tree, []byte(tt.req))
			assertClass(t, err, tt.want)
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if !strings.Contains(string(out), tt.stdout) {
				t.Errorf("stdout %q does not hold %q", out, tt.stdout)
			}
			var ee *host.ExitError
			if !errors.As(err, &ee) {
				if tt.code != 0 {
					t.Fatalf("error %v is not an *ExitError", err)
				}
				return
			}
			if ee.Code != tt.code {
				t.Errorf("exit code %d, want %d", ee.Code, tt.code)
			}
			got := ""
			if ee.Response != nil {
				got = ee.Response.Code
			}
			if got != tt.respCode {
				t.Errorf("Error response code %q, want %q", got, tt.respCode)
			}
		})
	}
}

// TestDoError: Do returns the module's Error response with the error.
func TestDoError(t *testing.T) {
	t.Parallel()
	h := shared
	req := checkV1()
	req.Subject = "absent"
	resp, err := h.Do(context.Background(), goldenLayout, req)
	assertClass(t, err, host.ErrSourceUnreadable)
	if resp.Kind != request.KindError || resp.Error == nil || resp.Error.Code != "SourceUnreadable" {
		t.Fatalf("response %s", resp)
	}
	// The same class as natively.
	req.Source.Layout = goldenLayout
	if _, err := request.Handle(context.Background(), req); !errors.Is(err, host.ErrSourceUnreadable) {
		t.Fatalf("natively: %v", err)
	}
}

// TestNew: options a bad module or cache surface as New's error.
func TestNew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts []host.Option
		msg  string
	}{
		{name: "not wasm", opts: []host.Option{host.WithModule([]byte("#!/bin/sh\n"))}, msg: "compile the module"},
		{name: "memory minimum over the limit", opts: []host.Option{host.WithModule(bigMemoryModule(300)), host.WithMemoryLimit(16 << 20)}, msg: "over limit"},
		{name: "cache is a file", opts: []host.Option{host.WithCompilationCache(file)}, msg: "compilation cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := host.New(ctx, tt.opts...)
			if err == nil {
				h.Close(ctx)
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not say %q", err, tt.msg)
			}
		})
	}
	// The limit is rounded up to pages: 300 pages fit in 300×64 KiB - 1.
	h, err := host.New(ctx, host.WithModule(bigMemoryModule(300)), host.WithMemoryLimit(300<<16-1))
	if err != nil {
		t.Fatal(err)
	}
	h.Close(ctx)
}

// TestConcurrent hammers one Host from 16 goroutines with normal, malformed
// and unreadable requests; each answer must be the one it gets alone.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := shared
	good := checkV1()
	bad := good
	bad.Subject = "absent"
	want := map[string]string{}
	for _, r := range []request.Request{good, bad} {
		out, _ := h.Run(ctx, goldenLayout, marshal(t, r))
		want[r.Subject] = string(out)
	}
	const workers, runs = 16, 3
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range runs {
				r := good
				if (w+i)%3 == 0 {
					r = bad
				}
				out, err := h.Run(ctx, goldenLayout, marshal(t, r))
				if (err != nil) != (r.Subject == "absent") {
					t.Errorf("worker %d run %d: %v", w, i, err)
				}
				if string(out) != want[r.Subject] {
					t.Errorf("worker %d run %d: %s, want %s", w, i, out, want[r.Subject])
				}
			}
		})
	}
	wg.Wait()
}

// TestClose: Close stops a running call, and later calls fail at once.
func TestClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, err := host.New(ctx, host.WithModule(loopModule()), host.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := h.Run(ctx, "", nil)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("running call: %v, want fs.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the running call")
	}
	if _, err := h.Run(ctx, "", nil); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("call after Close: %v, want fs.ErrClosed", err)
	}
}

// TestExitErrorMessage: the message names the code and the best reason.
func TestExitErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		module []byte
		want   string
	}{
		{exitModule("", 7), "wasm module exited with code 7: internal error in the module"},
		{exitModule(`{"apiVersion":"referrers/v1","kind":"Error","error":{"code":"SourceUnreadable","message":"source unreadable: x"}}`, 3),
			"wasm module exited with code 3: SourceUnreadable: source unreadable: x"},
	}
	for _, tt := range tests {
		h := newHost(t, host.WithModule(tt.module))
		_, err := h.Run(context.Background(), "", nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
	_ = sys.ExitCodeContextCanceled
}
