package host

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/oci-referrers/referrers/core/request"
)

// Sentinel errors. Every error Run and Do (of a Host or a Pool) return for a
// call that did not succeed reaches exactly one of them with errors.Is,
// directly or through an *ExitError.
var (
	// ErrMalformedRequest: the module exited with 2 and wrote an Error
	// response (code MalformedRequest). It is request.ErrMalformed, so one
	// errors.Is check covers request.Handle natively and the sandbox.
	ErrMalformedRequest = request.ErrMalformed
	// ErrSourceUnreadable: the module exited with 3 (the source cannot be
	// read or does not hold the subject), or the host could not open the
	// tree to mount. It is request.ErrSource.
	ErrSourceUnreadable = request.ErrSource
	// ErrInternal: any other failure of the module: exit 1 or another
	// code, exit 2 without an Error response on stdout (a Go runtime crash:
	// a panic), a trap, or a response the host cannot decode.
	ErrInternal = errors.New("internal error in the module")
	// ErrTimeout: a deadline ended the call (WithTimeout, CallTimeout or the
	// caller's context's), and the host closed the module. The error also
	// reaches context.DeadlineExceeded.
	ErrTimeout = errors.New("module stopped by its deadline")
	// ErrCanceled: the caller's context was cancelled (without a deadline
	// passing) and the host closed the module. The error also reaches
	// context.Canceled.
	ErrCanceled = errors.New("module stopped: call canceled")
	// ErrClosed: the Host or Pool is closed, or was closed during the call.
	// It is fs.ErrClosed.
	ErrClosed = fs.ErrClosed
	// ErrBusy: every instance of a Pool is busy and WithMaxWaiting callers
	// already wait; the call did not run.
	ErrBusy = errors.New("wasm pool busy")
	// ErrOutputTooLarge: the module wrote more than WithMaxOutput bytes to
	// stdout; the host stopped it at once.
	ErrOutputTooLarge = errors.New("module output too large")
	// ErrMemoryLimit: a Go module crashed because it could not grow its
	// memory past WithMemoryLimit: exit 2, no Error response, and the Go
	// runtime's "fatal error: out of memory" on stderr. A module that is not
	// written in Go and traps or exits when memory.grow fails gives
	// ErrInternal instead: the host cannot tell why it gave up.
	ErrMemoryLimit = errors.New("module out of memory")
)

// ExitError is the error of a call whose module exited with a non-zero code
// (or, in a Pool, returned one), or that the host stopped (a deadline, a
// cancellation, too much output). errors.Is reaches the sentinel of its
// class through it.
type ExitError struct {
	// Code is the module's exit code; 0 when the host stopped the module
	// (ErrTimeout, ErrCanceled, ErrOutputTooLarge). The runtime's own codes
	// for a closed module (wazero's sys.ExitCodeDeadlineExceeded and
	// sys.ExitCodeContextCanceled) never appear here.
	Code uint32
	// Stderr is what the module wrote to stderr: at most 64 KiB, the first
	// and the last 32 KiB of a longer stream with a marker between.
	Stderr string
	// Response is the body of the Error response the module wrote to
	// stdout, nil when stdout held none (a crash or a stopped module).
	Response *request.Error

	class error // one of the sentinels
	cause error // the context's error for ErrTimeout and ErrCanceled, nil otherwise
}

// Error says what ended the module and the best explanation at hand: the
// Error response's message, else the last line of stderr.
func (e *ExitError) Error() string {
	var b strings.Builder
	switch e.class {
	case ErrTimeout, ErrCanceled, ErrOutputTooLarge:
		fmt.Fprintf(&b, "wasm module closed by the host: %v", e.class)
		if e.cause != nil {
			fmt.Fprintf(&b, " (%v)", e.cause)
		}
	default:
		fmt.Fprintf(&b, "wasm module exited with code %d", e.Code)
		switch {
		case e.Response != nil:
			fmt.Fprintf(&b, ": %s: %s", e.Response.Code, e.Response.Message)
		case e.class == ErrMemoryLimit:
			fmt.Fprintf(&b, ": %v", ErrMemoryLimit)
		case lastLine(e.Stderr) != "":
			fmt.Fprintf(&b, ": %v: %s", e.class, lastLine(e.Stderr))
		default:
			fmt.Fprintf(&b, ": %v", e.class)
		}
	}
	return b.String()
}

// Unwrap gives the class sentinel and, for a timeout, the context's error.
func (e *ExitError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.class, e.cause}
	}
	return []error{e.class}
}

// lastLine is the last non-empty line of s, trimmed.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// classify is the sentinel for a module's non-zero exit code, given the
// Error response on stdout (nil if none) and stderr.
func classify(code uint32, resp *request.Error, stderr string) error {
	switch {
	case code == 2 && resp != nil && resp.Code == "MalformedRequest":
		return ErrMalformedRequest
	case code == 3:
		return ErrSourceUnreadable
	case code == 2 && resp == nil && outOfMemory(stderr):
		return ErrMemoryLimit
	default:
		return ErrInternal
	}
}

// outOfMemory reports the Go runtime's message for a failed heap growth
// (runtime.throw("out of memory"), which exits with 2).
func outOfMemory(stderr string) bool {
	for line := range strings.SplitSeq(stderr, "\n") {
		if strings.HasPrefix(line, "fatal error: out of memory") {
			return true
		}
	}
	return false
}
