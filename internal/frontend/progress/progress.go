// Package progress reports the progress of large transfers for the front
// ends: on a terminal one status line redrawn in place (bytes, rate, time
// left), in a CI log one line per quarter. It counts bytes as a reader
// hands them over; it never changes them.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/referrers"
)

// Threshold is the size under which a transfer shows no progress: it is over
// before a reader could read the line.
const Threshold = 4 << 20

// Style is how a Meter reports.
type Style int

const (
	// Line redraws one line ("\r" and erase), at most ten times a second:
	// for a terminal.
	Line Style = iota
	// Quarters writes one line at 25, 50, 75 and 100 %: for a log.
	Quarters
)

// Meter reports one transfer of Total bytes under Name.
type Meter struct {
	name  string
	total int64
	w     io.Writer
	style Style
	now   func() time.Time

	mu      sync.Mutex
	done    int64
	start   time.Time
	last    time.Time
	quarter int
	// finished: the line has been ended (at the total or at EOF).
	finished bool
}

// New returns a Meter that writes to w; now is the clock (time.Now when nil).
func New(w io.Writer, style Style, name string, total int64, now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	return &Meter{name: display.Text(name), total: total, w: w, style: style, now: now}
}

// Reader counts what r hands over. A new Reader starts the count again (a
// transfer sent again after a failure).
func (m *Meter) Reader(r io.Reader) io.Reader {
	m.mu.Lock()
	m.done, m.quarter, m.start, m.finished = 0, 0, m.now(), false
	m.mu.Unlock()
	return &reader{r: r, m: m}
}

type reader struct {
	r io.Reader
	m *Meter
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.m.add(int64(n), err == io.EOF)
	return n, err
}

func (m *Meter) add(n int64, eof bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done += n
	t := m.now()
	switch m.style {
	case Line:
		if m.finished {
			return
		}
		if eof || m.done >= m.total || t.Sub(m.last) >= 100*time.Millisecond {
			m.last = t
			fmt.Fprintf(m.w, "\r\x1b[K%s", m.status(t))
			if m.done >= m.total || eof {
				fmt.Fprintln(m.w)
				m.finished = true
			}
		}
	case Quarters:
		for m.total > 0 && m.quarter < 4 && m.done*4 >= m.total*int64(m.quarter+1) {
			m.quarter++
			fmt.Fprintf(m.w, "%s\n", m.status(t))
		}
	}
}

// status is "NAME  3.0 MiB / 12.0 MiB (25%)  1.5 MiB/s  6s left".
func (m *Meter) status(t time.Time) string {
	s := fmt.Sprintf("%s  %s / %s", m.name, Size(m.done), Size(m.total))
	if m.total > 0 {
		s += fmt.Sprintf(" (%d%%)", m.done*100/m.total)
	}
	el := t.Sub(m.start)
	if el <= 0 || m.done == 0 {
		return s
	}
	rate := float64(m.done) / el.Seconds()
	s += fmt.Sprintf("  %s/s", Size(int64(rate)))
	if left := m.total - m.done; left > 0 && rate > 0 {
		s += fmt.Sprintf("  %s left", (time.Duration(float64(left) / rate * float64(time.Second))).Round(time.Second))
	}
	return s
}

// Size renders n bytes with a binary unit.
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Artifact makes each blob of art of at least Threshold bytes report its
// upload through a Meter (named by its title annotation, else its digest)
// made by newMeter.
func Artifact(art *referrers.Artifact, newMeter func(name string, total int64) *Meter) {
	wrap := func(b *referrers.Blob) {
		if b == nil || b.Descriptor.Size < Threshold || b.Open == nil {
			return
		}
		name := b.Descriptor.Annotations["org.opencontainers.image.title"]
		if name == "" {
			name = b.Descriptor.Digest.String()
		}
		m := newMeter(name, b.Descriptor.Size)
		open := b.Open
		b.Open = func() (io.ReadCloser, error) {
			rc, err := open()
			if err != nil {
				return nil, err
			}
			r := readCloser{m.Reader(rc), rc}
			if s, ok := rc.(io.Seeker); ok {
				return seekReadCloser{r, s, m}, nil
			}
			return r, nil
		}
	}
	wrap(art.Config)
	for i := range art.Layers {
		wrap(&art.Layers[i])
	}
}

type readCloser struct {
	io.Reader
	c io.ReadCloser
}

func (r readCloser) Close() error { return r.c.Close() }

// seekReadCloser keeps the Seek of the wrapped file: a failed upload is
// resent from the start, and counted again from zero.
type seekReadCloser struct {
	readCloser
	s io.Seeker
	m *Meter
}

func (r seekReadCloser) Seek(off int64, whence int) (int64, error) {
	n, err := r.s.Seek(off, whence)
	if err == nil {
		r.m.mu.Lock()
		r.m.done, r.m.quarter, r.m.start, r.m.finished = n, 0, r.m.now(), false
		r.m.mu.Unlock()
	}
	return n, err
}
