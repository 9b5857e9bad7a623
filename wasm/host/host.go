// Package host runs the referrers WASI module inside wazero: one JSON
// request (package request) in, one JSON response out. It embeds the module
// twice, built from the same code by scripts/wasm.sh:
//
//   - Host runs the command module (./wasm, referrers.wasm), which any WASI
//     runtime can run: the request on stdin, the response on stdout, a fresh
//     instance per call (about 20 ms of Go runtime start-up each).
//   - Pool runs the reactor module (./wasm/reactor,
//     referrers-reactor.wasm): instances are created once and reused, one
//     call at a time each, so a call costs what the question costs. This is
//     the mode for policy engines that ask on every admission.
//
// Both answer every request with the same bytes as request.Handle natively
// (the differential tests check it).
//
// # Protocol and exit codes
//
// The command module reads one request on stdin and writes one response line
// on stdout; diagnostics go to stderr. Its exit code says how the call ended
// (the reactor returns the same code from referrers_handle):
//
//   - 0: handled; stdout holds the response.
//   - 2: malformed request; stdout holds an Error response
//     (ErrMalformedRequest).
//   - 3: source unreadable; stdout holds an Error response
//     (ErrSourceUnreadable).
//   - anything else: an internal error (ErrInternal).
//
// A Go runtime crash (a panic, running out of memory) also exits with 2, but
// without an Error response on stdout: Run reports it as ErrInternal, or as
// ErrMemoryLimit when the Go runtime said "fatal error: out of memory". Run
// returns the module's stdout in every case and, for a non-zero exit, an
// *ExitError with the code, stderr and the Error response. A call the host
// stops is an *ExitError too, of class ErrTimeout (a deadline), ErrCanceled
// (the caller's cancellation) or ErrOutputTooLarge, with Code 0.
//
// # The reactor ABI (version 1)
//
// The reactor exports _initialize (WASI preview1 reactor start-up, called
// once) and four functions, in the spirit of OPA's opa_eval ABI: a version,
// an allocator for the input, a handler and the output's location:
//
//   - referrers_abi_version() -> i32: 1.
//   - referrers_alloc(size i32) -> i32: the address of size bytes for the
//     input; 0 when size is over 2 × request.MaxRequestBytes.
//   - referrers_handle(request i32, documents i32) -> i32: answers the JSON
//     request in the input's first request bytes; documents, when not 0, is
//     the length of the inline documents' data after it (each a 4-byte
//     little-endian length and the bytes, in the order of the request's
//     documents, which then have no "data"). It returns the exit code above.
//   - referrers_output() -> i64: the response's address (high 32 bits) and
//     length (low 32), valid until the next call.
//
// Between calls an instance keeps its Go runtime and heap, and the capacity
// of its input and output buffers (up to 1 MiB each; larger ones are dropped
// after the call). It keeps no cache and nothing of a request: each call
// decodes its own request and opens its own source; the tree mounted at
// Mount is switched per call and is an empty directory between calls.
// RATIONALE.md ("Reused instances of the WASI module") says why that
// suffices; the tests check that a hostile request followed by a normal one
// gives the normal one's fresh-instance answer.
//
// # Sandbox
//
// What a call can reach, and what bounds it:
//
//   - Files: only the tree given to the call, read-only, at Mount ("/tree").
//     The host opens a directory with os.OpenRoot and mounts the root's
//     fs.FS (wazero FSConfig.WithFSMount), so neither ".." nor a symlink
//     inside the tree reaches a file outside it, and an fs.FS has no write
//     methods; CallFS mounts the embedder's fs.FS instead. The module also
//     refuses symlinks that leave the tree by itself (package tree's
//     ReadFS), for runtimes whose mounts follow them: wazero's
//     WithDirMount and WithReadOnlyDirMount, which this package does not
//     use, and node's WASI. Without a tree, Mount is an empty directory.
//   - Network: none. WASI preview1 cannot create sockets, and the host
//     passes no listeners.
//   - Clock and randomness: wazero's defaults, a fake clock and a
//     deterministic random source (wazero RATIONALE.md, "Why default to
//     fake time?"); no environment variables; the arguments are just
//     "referrers.wasm". The same request gives the same bytes.
//   - Time: each call is bounded by WithTimeout, CallTimeout and the
//     caller's context; the runtime is built with wazero's
//     WithCloseOnContextDone(true), so even a guest loop without calls is
//     stopped (ErrTimeout). WithInterruptible(false) trades that for speed
//     in a Pool of the embedded module (its doc says how).
//   - Memory: the module's linear memory is bounded by WithMemoryLimit
//     (WithMemoryLimitPages); memory.grow past it fails inside the guest.
//     A Pool discards an instance whose memory grew past WithMaxIdleMemory.
//   - Output: stdout is bounded by WithMaxOutput and CallMaxOutput
//     (ErrOutputTooLarge; the command is stopped when it overflows, the
//     reactor's response is measured when it returns), stderr to MaxStderr
//     (the rest is dropped); WithStderr copies it to the embedder.
//   - State: a Host instantiates the compiled module anew, anonymously
//     (ModuleConfig.WithName("")), for each call; a Pool reuses instances as
//     above. Both are safe for concurrent use.
//
// # Cost
//
// New and NewPool compile the module once: 1 to 2 seconds with wazero's
// compiler on amd64 or arm64, well under 100 ms from WithCompilationCache
// (or the embedder's WithCache). A Host call then instantiates the command
// and runs it: about 20 ms for a small request. A Pool call on a reused
// instance costs what the question costs in the guest: Go compiled to
// WebAssembly runs several times slower than natively, and
// WithCloseOnContextDone's checks at every function entry and loop add a
// factor of three to five on Go code. docs/bench-wasm.md has the figures and
// docs/policy-hosts.md where the time goes.
package host

import (
	"bytes"
	"context"
	_ "embed" // referrers.wasm
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/oci-referrers/referrers/core/request"
)

// referrersWasm is the command module scripts/wasm.sh builds from ./wasm.
//
//go:embed referrers.wasm
var referrersWasm []byte

// Mount is where a call's tree is mounted in the guest: requests for a
// mounted tree name it as their layout or static root.
const Mount = "/tree"

// exitClosed is the exit code Close gives calls still running.
const exitClosed = sys.ExitCodeContextCanceled

// Host runs the command module, a fresh instance per call. It is safe for
// concurrent use.
type Host struct {
	cfg      config
	rt       wazero.Runtime
	cache    wazero.CompilationCache // ours to close; nil without WithCompilationCache
	compiled wazero.CompiledModule
	closed   atomic.Bool
}

// New creates a wazero runtime (the compiler where wazero supports it, else
// the interpreter: wazero.NewRuntimeConfig, or WithRuntimeConfig's),
// instantiates WASI preview1 in it and compiles the command module once. The
// caller closes the Host.
func New(ctx context.Context, opts ...Option) (*Host, error) {
	cfg := defaults(referrersWasm)
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	cfg.uninterrupted = false
	h := &Host{cfg: cfg}
	var err error
	h.rt, h.cache, h.compiled, err = compile(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// cacheMu serializes wazero.NewCompilationCacheWithDir: in wazero v1.12.0
// its first calls fill a package-level version string without
// synchronization, a data race when two Hosts or Pools start at once.
var cacheMu sync.Mutex

// compile creates the runtime of cfg, instantiates WASI preview1 in it and
// compiles cfg.module. The cache is returned when the runtime owns it.
func compile(ctx context.Context, cfg *config) (wazero.Runtime, wazero.CompilationCache, wazero.CompiledModule, error) {
	rc := cfg.runtimeConfig
	if rc == nil {
		rc = wazero.NewRuntimeConfig()
	}
	rc = rc.WithCloseOnContextDone(!cfg.uninterrupted).WithMemoryLimitPages(cfg.pages())
	var owned wazero.CompilationCache
	switch {
	case cfg.cache != nil:
		rc = rc.WithCompilationCache(cfg.cache)
	case cfg.cacheDir != "":
		cacheMu.Lock()
		c, err := wazero.NewCompilationCacheWithDir(cfg.cacheDir)
		cacheMu.Unlock()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("wasm host: compilation cache %s: %w", cfg.cacheDir, err)
		}
		owned = c
		rc = rc.WithCompilationCache(c)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(err error) (wazero.Runtime, wazero.CompilationCache, wazero.CompiledModule, error) {
		_ = rt.Close(ctx)
		if owned != nil {
			_ = owned.Close(ctx)
		}
		return nil, nil, nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("wasm host: instantiate WASI: %w", err))
	}
	compiled, err := rt.CompileModule(ctx, cfg.module)
	if err != nil {
		return fail(fmt.Errorf("wasm host: compile the module: %w", err))
	}
	return rt, owned, compiled, nil
}

// Run runs the module once with req on stdin and returns its stdout. When
// tree is not empty, the directory tree is mounted read-only at Mount for
// the call (see the package doc); CallFS mounts an fs.FS instead. A non-zero
// exit returns stdout and an *ExitError; a trap returns an error wrapping
// ErrInternal; a tree that cannot be opened, one wrapping
// ErrSourceUnreadable; a call on a closed Host (or one Close stopped), one
// wrapping ErrClosed.
func (h *Host) Run(ctx context.Context, tree string, req []byte, opts ...CallOption) ([]byte, error) {
	if h.closed.Load() {
		return nil, fmt.Errorf("wasm host: %w", ErrClosed)
	}
	cl := h.cfg.newCall(opts)
	fsys, closeTree, err := mount(tree, cl.fsys)
	if err != nil {
		return nil, err
	}
	defer closeTree()
	stdout := &capped{limit: cl.maxOutput}
	stderr := &headTail{half: MaxStderr / 2}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithArgs("referrers.wasm").
		WithStdin(bytes.NewReader(req)).
		WithStdout(stdout).
		WithStderr(tee(stderr, h.cfg.stderr))
	if fsys == nil {
		fsys = &switchFS{} // an empty directory, as a Pool's instance between calls
	}
	mc = mc.WithFSConfig(wazero.NewFSConfig().WithFSMount(fsys, Mount))

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	stdout.full = func() { stop(ErrOutputTooLarge) }
	ctx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()

	mod, err := h.rt.InstantiateModule(ctx, h.compiled, mc)
	if mod != nil { // a _start that returns leaves the module open
		_ = mod.Close(context.WithoutCancel(ctx))
	}
	out := stdout.buf.Bytes()
	if stdout.over {
		return out, &ExitError{Stderr: stderr.String(), class: ErrOutputTooLarge}
	}
	if err == nil {
		return out, nil
	}
	if h.closed.Load() {
		return out, fmt.Errorf("wasm host: closed during the call: %w", ErrClosed)
	}
	var se *sys.ExitError
	if !errors.As(err, &se) {
		if ctx.Err() != nil {
			return out, stopped(ctx, stderr.String())
		}
		return out, fmt.Errorf("%w: %w", ErrInternal, err)
	}
	code := se.ExitCode()
	if (code == sys.ExitCodeDeadlineExceeded || code == sys.ExitCodeContextCanceled) && ctx.Err() != nil {
		return out, stopped(ctx, stderr.String())
	}
	return out, exited(code, out, stderr.String())
}

// stopped is the error of a call whose context ended: ErrTimeout for a
// deadline, ErrCanceled for a cancellation.
func stopped(ctx context.Context, stderr string) error {
	class := ErrCanceled
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		class = ErrTimeout
	}
	return &ExitError{Stderr: stderr, class: class, cause: ctx.Err()}
}

// exited is the error of a module that ended with code (not 0) and wrote out
// as its response.
func exited(code uint32, out []byte, stderr string) error {
	resp := errorResponse(out)
	return &ExitError{Code: code, Stderr: stderr, Response: resp, class: classify(code, resp, stderr)}
}

// mount is the file system of a call: fsys, or the directory tree opened
// with os.OpenRoot, or none.
func mount(tree string, fsys fs.FS) (fs.FS, func(), error) {
	switch {
	case fsys != nil && tree != "":
		return nil, nil, fmt.Errorf("%w: both a tree and CallFS", ErrMalformedRequest)
	case fsys != nil:
		return fsys, func() {}, nil
	case tree == "":
		return nil, func() {}, nil
	}
	root, err := os.OpenRoot(tree)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: mount %s: %w", ErrSourceUnreadable, tree, err)
	}
	return root.FS(), func() { root.Close() }, nil
}

// tee is w, and also hook when not nil (whose errors are ignored).
func tee(w io.Writer, hook io.Writer) io.Writer {
	if hook == nil {
		return w
	}
	return io.MultiWriter(w, ignoreErrors{hook})
}

type ignoreErrors struct{ w io.Writer }

func (i ignoreErrors) Write(p []byte) (int, error) {
	_, _ = i.w.Write(p)
	return len(p), nil
}

// Do encodes req, runs it (Run) and decodes the response strictly: one
// object with no unknown fields and this protocol's apiVersion. When the
// module answered with an Error response, Do returns it with the error.
func (h *Host) Do(ctx context.Context, tree string, req request.Request, opts ...CallOption) (request.Response, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return request.Response{}, fmt.Errorf("%w: encode: %v", ErrMalformedRequest, err)
	}
	out, err := h.Run(ctx, tree, in, opts...)
	return response(out, err)
}

// response is Do's answer for a call's output and error.
func response(out []byte, err error) (request.Response, error) {
	if err != nil {
		var ee *ExitError
		if errors.As(err, &ee) && ee.Response != nil {
			return request.Response{APIVersion: request.APIVersion, Kind: request.KindError, Error: ee.Response}, err
		}
		return request.Response{}, err
	}
	resp, err := decodeResponse(out)
	if err != nil {
		return request.Response{}, fmt.Errorf("%w: the module's response: %v", ErrInternal, err)
	}
	return resp, nil
}

// Close stops calls still running (they return an error wrapping
// ErrClosed) and releases the runtime and the compilation cache's engine.
func (h *Host) Close(ctx context.Context) error {
	h.closed.Store(true)
	err := h.rt.CloseWithExitCode(ctx, exitClosed)
	if h.cache != nil {
		err = errors.Join(err, h.cache.Close(ctx))
	}
	return err
}

// errorResponse is the body of the Error response in stdout, nil if stdout
// holds none.
func errorResponse(stdout []byte) *request.Error {
	var r request.Response
	if json.Unmarshal(stdout, &r) != nil || r.Kind != request.KindError || r.Error == nil {
		return nil
	}
	return r.Error
}

// decodeResponse decodes a successful call's stdout strictly.
func decodeResponse(b []byte) (request.Response, error) {
	var r request.Response
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return r, errors.New("data after the response object")
	}
	switch {
	case r.APIVersion != request.APIVersion:
		return r, fmt.Errorf("apiVersion %q, want %q", r.APIVersion, request.APIVersion)
	case r.Kind == request.KindError:
		return r, errors.New("an Error response with exit code 0")
	}
	return r, nil
}

// capped keeps at most limit bytes; the write that would pass the limit
// fails and calls full, once. Only the guest's goroutine writes.
type capped struct {
	buf   bytes.Buffer
	limit int
	over  bool
	full  func()
}

func (w *capped) Write(p []byte) (int, error) {
	if w.over {
		return 0, ErrOutputTooLarge
	}
	if room := w.limit - w.buf.Len(); len(p) > room {
		w.buf.Write(p[:room])
		w.over = true
		w.full()
		return room, ErrOutputTooLarge
	}
	return w.buf.Write(p)
}

// headTail keeps the first and the last half bytes of what is written and
// counts what it drops between them; writes never fail.
type headTail struct {
	half       int
	head, tail []byte
	dropped    int64
}

func (w *headTail) Write(p []byte) (int, error) {
	n := len(p)
	if room := w.half - len(w.head); room > 0 {
		k := min(room, len(p))
		w.head = append(w.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if len(p) >= w.half {
		w.dropped += int64(len(w.tail) + len(p) - w.half)
		w.tail = append(w.tail[:0], p[len(p)-w.half:]...)
		return n, nil
	}
	if keep := w.half - len(p); len(w.tail) > keep {
		w.dropped += int64(len(w.tail) - keep)
		w.tail = w.tail[:copy(w.tail, w.tail[len(w.tail)-keep:])]
	}
	w.tail = append(w.tail, p...)
	return n, nil
}

func (w *headTail) String() string {
	if w.dropped == 0 {
		return string(w.head) + string(w.tail)
	}
	return fmt.Sprintf("%s\n[... %d bytes of stderr dropped ...]\n%s", w.head, w.dropped, w.tail)
}
