package host

import "time"

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
)

// pageSize is a WebAssembly memory page.
const pageSize = 64 << 10

// maxPages is wazero's largest memory limit (4 GiB).
const maxPages = 65536

type config struct {
	cacheDir    string
	memoryLimit uint64
	timeout     time.Duration
	module      []byte
	maxOutput   int
}

// Option configures New. Options never fail; a bad value keeps the default
// or is clamped, as each says, and a cache directory that cannot be used is
// New's error.
type Option func(*config)

// WithCompilationCache keeps the compiled module in dir across processes
// (wazero.NewCompilationCacheWithDir): New then costs tens of milliseconds
// instead of about a second. Entries are per wazero version, architecture and
// module, and are trusted as they are: the directory must be writable only by
// its owner ("The embedder must safeguard this directory", wazero cache.go).
// Empty: no cache.
func WithCompilationCache(dir string) Option {
	return func(c *config) { c.cacheDir = dir }
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
// DefaultTimeout. The caller's context bounds it too.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithModule hosts wasm (a WASI command exporting _start) instead of the
// embedded referrers.wasm. The bytes must not change while the Host lives.
func WithModule(wasm []byte) Option {
	return func(c *config) { c.module = wasm }
}

// WithMaxOutput bounds what one call may write to stdout to n bytes
// (ErrOutputTooLarge); n <= 0 keeps DefaultMaxOutput.
func WithMaxOutput(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxOutput = n
		}
	}
}

// pages is the memory limit in pages: rounded up, at least 1, at most 65536.
func (c *config) pages() uint32 {
	if c.memoryLimit >= maxPages*pageSize {
		return maxPages
	}
	return uint32(max(1, (c.memoryLimit+pageSize-1)/pageSize))
}
