package host

import (
	"io"
	"io/fs"
	"time"

	"github.com/tetratelabs/wazero"
)

// Defaults of the options.
const (
	// DefaultMemoryLimit bounds the module's linear memory.
	DefaultMemoryLimit = 256 << 20
	// DefaultTimeout bounds one call.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxOutput bounds what one call may write to stdout.
	DefaultMaxOutput = 64 << 20
	// MaxStderr bounds the stderr a call keeps (the first and the last
	// half); the rest is dropped, not an error.
	MaxStderr = 64 << 10
	// DefaultMaxIdleMemory: a Pool discards an instance whose linear memory
	// grew past it rather than keep it for the next call.
	DefaultMaxIdleMemory = 64 << 20
)

// pageSize is a WebAssembly memory page.
const pageSize = 64 << 10

// maxPages is wazero's largest memory limit (4 GiB).
const maxPages = 65536

type config struct {
	cacheDir      string
	cache         wazero.CompilationCache
	runtimeConfig wazero.RuntimeConfig
	memoryLimit   uint64
	timeout       time.Duration
	module        []byte
	maxOutput     int
	stderr        io.Writer
	poolSize      int
	maxWaiting    int
	maxIdleMemory uint64
	uninterrupted bool
}

// Option configures New and NewPool. Options never fail; a bad value keeps
// the default or is clamped, as each says, and a cache directory that cannot
// be used is New's error.
type Option func(*config)

// WithCompilationCache keeps the compiled module in dir across processes
// (wazero.NewCompilationCacheWithDir): New then costs tens of milliseconds
// instead of about a second. Entries are per wazero version, architecture and
// module, and are trusted as they are: the directory must be writable only by
// its owner ("The embedder must safeguard this directory", wazero cache.go).
// Empty: no cache. WithCache, when also given, wins.
func WithCompilationCache(dir string) Option {
	return func(c *config) { c.cacheDir = dir }
}

// WithCache uses the embedder's wazero compilation cache (shared with its
// other runtimes, in memory or on disk). The Host does not close it.
func WithCache(cache wazero.CompilationCache) Option {
	return func(c *config) { c.cache = cache }
}

// WithRuntimeConfig starts from the embedder's wazero runtime configuration
// (its engine, debug info, custom sections) instead of
// wazero.NewRuntimeConfig(). The host still sets what its guarantees rest
// on: WithCloseOnContextDone(true), the memory limit of WithMemoryLimit, and
// the compilation cache when WithCompilationCache or WithCache is given.
func WithRuntimeConfig(rc wazero.RuntimeConfig) Option {
	return func(c *config) { c.runtimeConfig = rc }
}

// WithMemoryLimit bounds the module's linear memory to bytes, rounded up to
// 64 KiB pages (wazero RuntimeConfig.WithMemoryLimitPages); 0 keeps
// DefaultMemoryLimit and more than 4 GiB is 4 GiB. A Go module that needs
// more crashes with ErrMemoryLimit; a module whose declared minimum is over
// the limit fails New.
func WithMemoryLimit(bytes uint64) Option {
	return func(c *config) {
		if bytes > 0 {
			c.memoryLimit = bytes
		}
	}
}

// WithTimeout bounds each call to d (ErrTimeout); d <= 0 keeps
// DefaultTimeout. The caller's context and CallTimeout bound it too.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithModule hosts wasm instead of the embedded module: for New a WASI
// command exporting _start, for NewPool a reactor exporting _initialize and
// the functions of the reactor ABI (package doc). The bytes must not change
// while the Host or Pool lives.
func WithModule(wasm []byte) Option {
	return func(c *config) { c.module = wasm }
}

// WithMaxOutput bounds what one call may write to stdout to n bytes
// (ErrOutputTooLarge); n <= 0 keeps DefaultMaxOutput. CallMaxOutput bounds
// one call further.
func WithMaxOutput(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxOutput = n
		}
	}
}

// WithStderr copies what the module writes to stderr, in every call, to w
// (log it, count it); ExitError.Stderr keeps a bounded copy either way. w is
// written from the calling goroutines, so it must be safe for concurrent use;
// its errors are ignored. nil: none.
func WithStderr(w io.Writer) Option {
	return func(c *config) { c.stderr = w }
}

// WithPoolSize bounds a Pool's instances, and so its concurrent calls, to n;
// n <= 0 keeps runtime.GOMAXPROCS(0). New ignores it.
func WithPoolSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.poolSize = n
		}
	}
}

// WithMaxWaiting bounds the calls that wait for a busy Pool's instance to n;
// the next call fails at once with ErrBusy. n = 0: no call waits; n < 0 (the
// default): any number wait, each until its context ends. New ignores it.
func WithMaxWaiting(n int) Option {
	return func(c *config) { c.maxWaiting = n }
}

// WithMaxIdleMemory: after a call, a Pool discards an instance whose linear
// memory grew past bytes (WebAssembly memory never shrinks), instead of
// keeping it for the next call; 0 keeps DefaultMaxIdleMemory. New ignores
// it.
func WithMaxIdleMemory(bytes uint64) Option {
	return func(c *config) {
		if bytes > 0 {
			c.maxIdleMemory = bytes
		}
	}
}

// WithInterruptible(false) trades how a Pool enforces deadlines for speed:
// the runtime is built without wazero's WithCloseOnContextDone, whose checks
// at every function entry and loop make Go guest code three to five times
// slower. A call past its deadline (or cancelled) still returns at once with
// ErrTimeout (or ErrCanceled), but its guest runs on until it returns by
// itself; its instance is then discarded, and its pool slot is held until
// then. Only the embedded module is fit for it: each of its loops is bounded
// by its input, which is bounded by request.MaxRequestBytes, so every call
// ends. New, and a Pool with WithModule, ignore it. Default true: a deadline
// stops the guest.
func WithInterruptible(on bool) Option {
	return func(c *config) { c.uninterrupted = !on }
}

// pages is the memory limit in pages: rounded up, at least 1, at most 65536.
func (c *config) pages() uint32 {
	if c.memoryLimit >= maxPages*pageSize {
		return maxPages
	}
	return uint32(max(1, (c.memoryLimit+pageSize-1)/pageSize))
}

// CallOption sets a limit or an input of one call; the host-wide limits
// still apply (the smaller wins).
type CallOption func(*call)

type call struct {
	timeout   time.Duration
	maxOutput int
	fsys      fs.FS
}

// CallTimeout bounds this call to d as well (ErrTimeout); d <= 0: no
// further bound.
func CallTimeout(d time.Duration) CallOption {
	return func(c *call) {
		if d > 0 {
			c.timeout = min(c.timeout, d)
		}
	}
}

// CallMaxOutput bounds this call's response to n bytes as well
// (ErrOutputTooLarge); n <= 0: no further bound.
func CallMaxOutput(n int) CallOption {
	return func(c *call) {
		if n > 0 {
			c.maxOutput = min(c.maxOutput, n)
		}
	}
}

// CallFS mounts fsys read-only at Mount for this call instead of a
// directory: a tree the embedder holds in memory (fstest.MapFS, an
// embed.FS) or opened itself. The tree argument must then be empty. The
// host does not add a symlink defence to fsys: give an os.Root's FS for a
// directory.
func CallFS(fsys fs.FS) CallOption {
	return func(c *call) { c.fsys = fsys }
}

// newCall is the call's settings: the host's limits, then opts.
func (c *config) newCall(opts []CallOption) call {
	cl := call{timeout: c.timeout, maxOutput: c.maxOutput}
	for _, o := range opts {
		if o != nil {
			o(&cl)
		}
	}
	return cl
}

// defaults is the configuration before the options.
func defaults(module []byte) config {
	return config{
		memoryLimit:   DefaultMemoryLimit,
		timeout:       DefaultTimeout,
		module:        module,
		maxOutput:     DefaultMaxOutput,
		maxWaiting:    -1,
		maxIdleMemory: DefaultMaxIdleMemory,
	}
}
