package display

import (
	"bytes"
	"io"
	"sync"
)

// maxPending bounds the incomplete line a Writer keeps: a longer one is
// written out, rendered, and ended with a newline of the Writer's own.
const maxPending = 64 << 10

// Writer renders what is written to it line by line, each line as [Text]
// renders it, and writes the result to an underlying writer: for a trace or a
// log that carries outside data. A complete line ("\n"-terminated) is written
// at once; an incomplete last line is kept until a later Write completes it,
// or [Writer.Flush]. Writes from several goroutines are serialised, so one
// Writer may be shared by writers that each write whole lines.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	pending []byte
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write renders the complete lines of p (with what an earlier Write left
// incomplete) to the underlying writer. It returns len(p) unless the
// underlying writer failed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, p...)
	var out []byte
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			break
		}
		out = append(out, Text(string(w.pending[:i]))...)
		out = append(out, '\n')
		w.pending = w.pending[i+1:]
	}
	if len(w.pending) > maxPending {
		out = append(out, Text(string(w.pending))...)
		out = append(out, '\n')
		w.pending = w.pending[:0]
	}
	if len(w.pending) == 0 {
		w.pending = nil // do not keep a large buffer alive
	} else {
		w.pending = bytes.Clone(w.pending)
	}
	if len(out) > 0 {
		if _, err := w.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes an incomplete last line, rendered, without a newline.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	_, err := io.WriteString(w.w, Text(string(w.pending)))
	w.pending = nil
	return err
}
