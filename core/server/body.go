package server

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// errStalled is the error of a request body read that waited longer than the
// body idle limit (WithBodyIdleTimeout) for a byte, or whose upload session
// the janitor ended for the same reason.
var errStalled = errors.New("the request body stalled")

// idleBody is a request body with an idle limit: before each read the
// connection's read deadline (http.ResponseController.SetReadDeadline) is
// moved to the limit from now, so a body that keeps flowing is never cut,
// however long it takes, and one that stops for the limit ends its request
// (the read fails with errStalled). Where the connection takes no deadlines
// (an http.ResponseWriter that does not support them, as in tests through
// httptest.ResponseRecorder) reads are not limited here; the janitor still
// ends upload sessions that stall (Server.expire).
type idleBody struct {
	body io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration

	mu        sync.Mutex // orders abort against the deadline of a read
	deadlines bool       // the connection takes read deadlines
	aborted   bool
}

func (s *Server) watchBody(w http.ResponseWriter, body io.ReadCloser) *idleBody {
	return &idleBody{body: body, rc: http.NewResponseController(w), idle: s.cfg.bodyIdle, deadlines: true}
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.aborted {
		b.mu.Unlock()
		return 0, errStalled
	}
	if b.deadlines && b.rc.SetReadDeadline(time.Now().Add(b.idle)) != nil {
		b.deadlines = false
	}
	b.mu.Unlock()
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		// The body is over: no deadline for the rest of the request (the
		// server's background read of the connection would cancel the
		// request's context at it).
		b.mu.Lock()
		if b.deadlines && !b.aborted {
			_ = b.rc.SetReadDeadline(time.Time{})
		}
		b.mu.Unlock()
	case err != nil && isTimeout(err):
		err = errStalled
	}
	return n, err
}

func (b *idleBody) Close() error { return b.body.Close() }

// abort ends a read in progress (and every later one) with errStalled, from
// any goroutine, where the connection takes deadlines.
func (b *idleBody) abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.aborted = true
	if b.deadlines {
		_ = b.rc.SetReadDeadline(time.Now())
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// progressReader notes in its session when a read of the body began to
// wait, for the janitor (Server.expire): only the client's silence counts,
// not the time the server spends between reads (writing to disk); and it
// stops once the session has ended.
type progressReader struct {
	r   io.Reader
	u   *upload
	now func() time.Time
	err error // the last read error, io.EOF aside
}

func (p *progressReader) Read(b []byte) (int, error) {
	if p.u.ended.Load() { // expired meanwhile: read no more into it
		p.err = errStalled
		return 0, errStalled
	}
	p.u.waitSince.Store(p.now().UnixNano())
	n, err := p.r.Read(b)
	p.u.waitSince.Store(0)
	if err != nil && err != io.EOF {
		p.err = err
	}
	return n, err
}
