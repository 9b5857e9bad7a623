package host

import (
	"bytes"
	"context"
	_ "embed" // referrers-reactor.wasm
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/oci-referrers/referrers/core/request"
)

// reactorWasm is the reactor module scripts/wasm.sh builds from
// ./wasm/reactor.
//
//go:embed referrers-reactor.wasm
var reactorWasm []byte

// abiVersion is the reactor ABI the Pool speaks (package doc).
const abiVersion = 1

// Pool runs the reactor module in reused instances: each is instantiated
// once and answers one call at a time, many calls in its life. At most
// WithPoolSize instances exist and run at once; further calls wait (up to
// WithMaxWaiting of them, until their context ends) or fail with ErrBusy.
// An instance whose call failed other than by a handled Error response, or
// whose memory grew past WithMaxIdleMemory, is discarded. A Pool is safe for
// concurrent use.
type Pool struct {
	cfg      config
	rt       wazero.Runtime
	cache    wazero.CompilationCache
	compiled wazero.CompiledModule

	slots   chan struct{} // one per instance that may exist
	waiting atomic.Int64
	done    chan struct{} // closed by Close
	mu      sync.Mutex
	idle    []*instance
	closed  bool

	created, discarded, calls atomic.Int64
}

// PoolStats counts a Pool's instances and calls, for an embedder's metrics.
type PoolStats struct {
	// Instances is how many exist now, Idle how many of them wait for a
	// call, Waiting how many calls wait for an instance.
	Instances, Idle, Waiting int
	// Memory is the linear memory of the idle instances, in bytes.
	Memory uint64
	// Created and Discarded count instances over the Pool's life; Calls
	// the calls that reached an instance.
	Created, Discarded, Calls int64
}

// Stats is a snapshot of the Pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	idle := len(p.idle)
	var mem uint64
	for _, in := range p.idle {
		mem += uint64(in.mod.Memory().Size())
	}
	p.mu.Unlock()
	c, d := p.created.Load(), p.discarded.Load()
	return PoolStats{Instances: int(c - d), Idle: idle, Waiting: int(p.waiting.Load()), Memory: mem,
		Created: c, Discarded: d, Calls: p.calls.Load()}
}

// NewPool compiles the reactor module (as New compiles the command) and
// returns a Pool without instances: the first calls instantiate them. The
// caller closes the Pool.
func NewPool(ctx context.Context, opts ...Option) (*Pool, error) {
	cfg := defaults(reactorWasm)
	cfg.poolSize = runtime.GOMAXPROCS(0)
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if !bytes.Equal(cfg.module, reactorWasm) {
		cfg.uninterrupted = false // only our module's calls are known to end
	}
	p := &Pool{cfg: cfg, slots: make(chan struct{}, cfg.poolSize), done: make(chan struct{})}
	var err error
	p.rt, p.cache, p.compiled, err = compile(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"_initialize", "referrers_abi_version", "referrers_alloc", "referrers_handle", "referrers_output"} {
		if _, ok := p.compiled.ExportedFunctions()[name]; !ok {
			_ = p.Close(ctx)
			return nil, fmt.Errorf("wasm host: the module does not export %s: not a referrers reactor", name)
		}
	}
	return p, nil
}

// Run answers req (the JSON of a request) in an instance of the pool and
// returns the response's bytes, as Host.Run does with the command module: the
// same bytes, errors and classes. tree or CallFS is mounted read-only at
// Mount for the call.
func (p *Pool) Run(ctx context.Context, tree string, req []byte, opts ...CallOption) ([]byte, error) {
	return p.run(ctx, tree, req, nil, opts)
}

// Do answers req in an instance of the pool, as Host.Do does. Inline
// documents go to the module as bytes beside the request (no base64); the
// module verifies their digests, as it does in JSON.
func (p *Pool) Do(ctx context.Context, tree string, req request.Request, opts ...CallOption) (request.Response, error) {
	docs := req.Source.Documents
	var frame []byte
	if len(docs) > 0 {
		bare := make([]request.Document, len(docs))
		n := 0
		for i, d := range docs {
			bare[i] = request.Document{MediaType: d.MediaType, Digest: d.Digest}
			n += 4 + len(d.Data)
		}
		frame = make([]byte, 0, n)
		for _, d := range docs {
			frame = binary.LittleEndian.AppendUint32(frame, uint32(len(d.Data)))
			frame = append(frame, d.Data...)
		}
		req.Source.Documents = bare
	}
	in, err := json.Marshal(req)
	if err != nil {
		return request.Response{}, fmt.Errorf("%w: encode: %v", ErrMalformedRequest, err)
	}
	if len(docs) > 0 && len(frame) == 4*len(docs) {
		// Every document is empty: JSON says so as well as a frame.
		frame = nil
	}
	out, err := p.run(ctx, tree, in, frame, opts)
	return response(out, err)
}

// Close stops calls still running (they return an error wrapping
// ErrClosed), fails the calls waiting, and releases the instances, the
// runtime and the compilation cache's engine.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, in := range idle {
		_ = in.mod.Close(ctx)
		p.discarded.Add(1)
	}
	err := p.rt.CloseWithExitCode(ctx, exitClosed)
	if p.cache != nil {
		err = errors.Join(err, p.cache.Close(ctx))
	}
	return err
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Pool) run(ctx context.Context, tree string, req, frame []byte, opts []CallOption) ([]byte, error) {
	if p.isClosed() {
		return nil, fmt.Errorf("wasm host: %w", ErrClosed)
	}
	cl := p.cfg.newCall(opts)
	if len(req) == 0 || uint64(len(req))+uint64(len(frame)) > 2*request.MaxRequestBytes || len(req) > request.MaxRequestBytes {
		// The module would refuse it; say so as the command does, without
		// an instance.
		return p.refuse(ctx, req)
	}
	fsys, closeTree, err := mount(tree, cl.fsys)
	if err != nil {
		return nil, err
	}
	keepTree := false // a late guest closes it
	defer func() {
		if !keepTree {
			closeTree()
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()
	in, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	p.calls.Add(1)
	stderr := &headTail{half: MaxStderr / 2}
	in.stderr.set(tee(stderr, p.cfg.stderr))
	in.tree.set(fsys)
	finish := func(code uint32, err error) {
		in.tree.set(nil)
		in.stderr.set(nil)
		// A handled answer (0, 2, 3) leaves the instance as it was; an
		// internal error (1) may not have.
		reuse := err == nil && code != 1 && uint64(in.mod.Memory().Size()) <= p.cfg.maxIdleMemory
		p.release(in, reuse)
	}
	var (
		out  []byte
		code uint32
	)
	if p.cfg.uninterrupted {
		// The guest cannot be stopped: wait for it or for the deadline,
		// whichever comes first; a late guest finishes on its own.
		type result struct {
			out  []byte
			code uint32
			err  error
		}
		done := make(chan result, 1)
		var handoff atomic.Int32 // 1: the caller left first; 2: the guest returned first
		go func() {
			out, code, err := in.call(context.WithoutCancel(ctx), req, frame)
			if ctx.Err() != nil && err == nil {
				err = ctx.Err() // late: discard the instance
			}
			finish(code, err)
			done <- result{out, code, err}
			if !handoff.CompareAndSwap(0, 2) {
				closeTree()
			}
		}()
		select {
		case r := <-done:
			out, code, err = r.out, r.code, r.err
		case <-ctx.Done():
			keepTree = handoff.CompareAndSwap(0, 1)
			return nil, stopped(ctx, "") // the guest may still write its stderr

		}
	} else {
		out, code, err = in.call(ctx, req, frame)
		finish(code, err)
	}

	switch {
	case err == nil && len(out) > cl.maxOutput:
		return out[:cl.maxOutput], &ExitError{Stderr: stderr.String(), class: ErrOutputTooLarge}
	case err == nil && code == 0:
		return out, nil
	case err == nil:
		return out, exited(code, out, stderr.String())
	case p.isClosed():
		return nil, fmt.Errorf("wasm host: closed during the call: %w", ErrClosed)
	}
	var se *sys.ExitError
	if errors.As(err, &se) {
		code := se.ExitCode()
		if (code == sys.ExitCodeDeadlineExceeded || code == sys.ExitCodeContextCanceled) && ctx.Err() != nil {
			return nil, stopped(ctx, stderr.String())
		}
		return nil, exited(code, nil, stderr.String()) // a crash: no response
	}
	if ctx.Err() != nil {
		return nil, stopped(ctx, stderr.String())
	}
	if outOfMemory(stderr.String()) {
		// The Go runtime's throw traps in a reactor where the command
		// exits with 2: report it as the command's crash.
		return nil, exited(2, nil, stderr.String())
	}
	return nil, fmt.Errorf("%w: %w", ErrInternal, err)
}

// refuse answers a request the reactor cannot take (empty, or over the
// size limit) as the command module answers it: natively, the same bytes.
func (p *Pool) refuse(ctx context.Context, req []byte) ([]byte, error) {
	_, err := request.Answer(ctx, io.LimitReader(bytes.NewReader(req), request.MaxRequestBytes+1))
	if err == nil {
		err = fmt.Errorf("%w: larger than %d bytes with its documents", request.ErrMalformed, 2*request.MaxRequestBytes)
	}
	var b bytes.Buffer
	_ = request.ErrorResponse(err).Encode(&b)
	return b.Bytes(), exited(uint32(request.ExitCode(err)), b.Bytes(), "referrers.wasm: "+err.Error()+"\n")
}

// acquire waits for a slot and returns an idle instance or a new one.
func (p *Pool) acquire(ctx context.Context) (*instance, error) {
	select {
	case p.slots <- struct{}{}:
	default:
		if max := p.cfg.maxWaiting; max >= 0 && p.waiting.Add(1) > int64(max) {
			p.waiting.Add(-1)
			return nil, fmt.Errorf("wasm host: %d instances busy, %d calls waiting: %w", p.cfg.poolSize, max, ErrBusy)
		} else if max < 0 {
			p.waiting.Add(1)
		}
		defer p.waiting.Add(-1)
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("wasm host: waiting for an instance: %w", stopped(ctx, ""))
		case <-p.done:
			return nil, fmt.Errorf("wasm host: %w", ErrClosed)
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, fmt.Errorf("wasm host: %w", ErrClosed)
	}
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return in, nil
	}
	p.mu.Unlock()
	in, err := p.instantiate(ctx)
	if err != nil {
		<-p.slots
		if p.isClosed() {
			return nil, fmt.Errorf("wasm host: %w", ErrClosed)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wasm host: instantiating: %w", stopped(ctx, ""))
		}
		return nil, err
	}
	return in, nil
}

// release returns in to the idle instances, or discards it.
func (p *Pool) release(in *instance, reuse bool) {
	p.mu.Lock()
	if reuse && !p.closed {
		p.idle = append(p.idle, in)
		reuse = true
	} else {
		reuse = false
	}
	p.mu.Unlock()
	if !reuse {
		_ = in.mod.Close(context.Background())
		p.discarded.Add(1)
	}
	<-p.slots
}

// instance is one instantiated reactor with its per-call tree and stderr.
type instance struct {
	mod                   api.Module
	alloc, handle, output api.Function
	tree                  *switchFS
	stderr                *switchWriter
}

func (p *Pool) instantiate(ctx context.Context) (*instance, error) {
	in := &instance{tree: &switchFS{}, stderr: &switchWriter{}}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithArgs("referrers.wasm").
		WithStartFunctions("_initialize").
		WithStdout(in.stderr). // the reactor answers in memory; stray output is a diagnostic
		WithStderr(in.stderr).
		WithFSConfig(wazero.NewFSConfig().WithFSMount(in.tree, Mount))
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, mc)
	if err != nil {
		return nil, fmt.Errorf("%w: instantiate the reactor: %w", ErrInternal, err)
	}
	p.created.Add(1)
	in.mod = mod
	in.alloc = mod.ExportedFunction("referrers_alloc")
	in.handle = mod.ExportedFunction("referrers_handle")
	in.output = mod.ExportedFunction("referrers_output")
	v, err := mod.ExportedFunction("referrers_abi_version").Call(ctx)
	if err != nil || len(v) != 1 || v[0] != abiVersion {
		_ = mod.Close(ctx)
		p.discarded.Add(1)
		return nil, fmt.Errorf("%w: the reactor speaks ABI %v, want %d (%v)", ErrInternal, v, abiVersion, err)
	}
	return in, nil
}

// call writes req and frame into the instance's memory, handles them and
// returns a copy of the response with the module's code. An error means
// the instance is no longer usable.
func (in *instance) call(ctx context.Context, req, frame []byte) ([]byte, uint32, error) {
	n := uint64(len(req) + len(frame))
	r, err := in.alloc.Call(ctx, n)
	if err != nil {
		return nil, 0, err
	}
	ptr := uint32(r[0])
	mem := in.mod.Memory()
	if ptr == 0 || !mem.Write(ptr, req) || !mem.Write(ptr+uint32(len(req)), frame) {
		return nil, 0, fmt.Errorf("the reactor gave no room for %d bytes of input", n)
	}
	r, err = in.handle.Call(ctx, uint64(len(req)), uint64(len(frame)))
	if err != nil {
		return nil, 0, err
	}
	code := uint32(r[0])
	r, err = in.output.Call(ctx)
	if err != nil {
		return nil, 0, err
	}
	optr, olen := uint32(r[0]>>32), uint32(r[0])
	b, ok := mem.Read(optr, olen)
	if !ok {
		return nil, 0, fmt.Errorf("the reactor's response (%d bytes at %d) is outside its memory", olen, optr)
	}
	return bytes.Clone(b), code, nil
}

// switchFS is the tree of an instance's current call; between calls, and
// in a call without a tree, it is an empty directory (wazero opens the
// mount's root when it instantiates the module).
type switchFS struct{ cur atomic.Pointer[fs.FS] }

func (s *switchFS) set(fsys fs.FS) {
	if fsys == nil {
		s.cur.Store(nil)
		return
	}
	s.cur.Store(&fsys)
}

func (s *switchFS) Open(name string) (fs.File, error) {
	cur := s.cur.Load()
	switch {
	case cur != nil:
		return (*cur).Open(name)
	case name == ".":
		return emptyDir{}, nil
	default:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
}

// emptyDir is an empty, read-only directory.
type emptyDir struct{}

func (emptyDir) Stat() (fs.FileInfo, error) { return emptyDir{}, nil }
func (emptyDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: errIsDir}
}
func (emptyDir) Close() error                         { return nil }
func (emptyDir) ReadDir(n int) ([]fs.DirEntry, error) { return readDirEnd(n) }
func (emptyDir) Name() string                         { return "." }
func (emptyDir) Size() int64                          { return 0 }
func (emptyDir) Mode() fs.FileMode                    { return fs.ModeDir | 0o555 }
func (emptyDir) ModTime() time.Time                   { return time.Time{} }
func (emptyDir) IsDir() bool                          { return true }
func (emptyDir) Sys() any                             { return nil }

var errIsDir = errors.New("is a directory")

// readDirEnd is ReadDir's answer for a directory with nothing left.
func readDirEnd(n int) ([]fs.DirEntry, error) {
	if n > 0 {
		return nil, io.EOF
	}
	return nil, nil
}

// switchWriter is the stderr of an instance's current call (nil between
// calls: dropped).
type switchWriter struct{ cur atomic.Pointer[io.Writer] }

func (s *switchWriter) set(w io.Writer) {
	if w == nil {
		s.cur.Store(nil)
		return
	}
	s.cur.Store(&w)
}

func (s *switchWriter) Write(p []byte) (int, error) {
	if cur := s.cur.Load(); cur != nil {
		return (*cur).Write(p)
	}
	return len(p), nil
}
