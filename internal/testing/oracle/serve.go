package oracle

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ServeStartTimeout bounds how long StartServe waits for the server's
// "serving ... on http://HOST:PORT" line.
const ServeStartTimeout = 30 * time.Second

// serveStopTimeout bounds how long Stop waits after SIGTERM before it kills.
const serveStopTimeout = 10 * time.Second

// Serve is a running `referrers serve` process (our own registry server, built
// by ReferrersBinary), started by StartServe.
type Serve struct {
	// Host is HOST:PORT from the server's "serving" line (127.0.0.1:PORT).
	Host string
	// URL is http://HOST:PORT.
	URL string
	// Line is the server's "serving ..." line as printed.
	Line string
	// LogPath is the file receiving the server's stdout and stderr.
	LogPath string

	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// Log returns the server's output so far.
func (s *Serve) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// servingLine matches the one line `referrers serve` prints to stderr once it
// listens: "serving static:DIR on http://HOST:PORT (...)".
var servingLine = regexp.MustCompile(`^serving (.+) on (https?://[^\s()]+)`)

// StartServe runs `referrers serve static:DIR ARGS...` with a private HOME
// and waits (ServeStartTimeout) for its "serving ... on http://HOST:PORT"
// line on stderr, which gives the port. Unless args have an --addr,
// "--addr 127.0.0.1:0" is added, so the server picks a free loopback port.
// The server is stopped when the test ends (SIGTERM, then a kill); call Stop
// to stop it earlier and see how it exited. On a failed test the end of its
// log is printed.
func StartServe(t testing.TB, dir string, args ...string) *Serve {
	t.Helper()
	bin := ReferrersBinary(t)
	all := []string{"serve", "static:" + dir}
	hasAddr := false
	for _, a := range args {
		if a == "--addr" || a == "-addr" || strings.HasPrefix(a, "--addr=") || strings.HasPrefix(a, "-addr=") {
			hasAddr = true
		}
	}
	if !hasAddr {
		all = append(all, "--addr", "127.0.0.1:0")
	}
	all = append(all, args...)

	tool := newTool(t, "referrers", bin)
	s := &Serve{LogPath: filepath.Join(t.TempDir(), "serve.log"), exited: make(chan struct{})}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	w := &lineWatcher{out: logf, match: servingLine, found: make(chan []string, 1)}
	cmd := exec.Command(bin, all...)
	cmd.Dir = tool.Dir
	// The token comes from --token-file only, never from the developer's
	// environment.
	cmd.Env = slices.DeleteFunc(tool.Env(), func(kv string) bool { return strings.HasPrefix(kv, "REFERRERS_SERVE_TOKEN=") })
	cmd.Stdout = logf
	cmd.Stderr = w
	cmd.WaitDelay = serveStopTimeout
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start referrers %s: %v", strings.Join(all, " "), err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = s.Stop()
		if t.Failed() {
			t.Logf("referrers serve log (last lines):\n%s", tail(s.Log(), 60))
		}
	})

	timer := time.NewTimer(ServeStartTimeout)
	defer timer.Stop()
	select {
	case m := <-w.found:
		u, err := url.Parse(m[2])
		if err != nil || u.Host == "" {
			t.Fatalf("referrers serve printed %q: no http://HOST:PORT in it", m[0])
		}
		s.Line, s.URL, s.Host = m[0], "http://"+u.Host, u.Host
		return s
	case <-s.exited:
		t.Fatalf("referrers %s exited before serving: %v", strings.Join(all, " "), s.waitErr)
	case <-timer.C:
		t.Fatalf("referrers %s: no \"serving ... on http://HOST:PORT\" line on stderr within %s",
			strings.Join(all, " "), ServeStartTimeout)
	}
	return nil
}

// Stop sends SIGTERM and waits for the server to exit (killing it after 10 s).
// It returns nil when the server exited with status 0, as it should on
// SIGTERM. Later calls return the first call's answer.
func (s *Serve) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			s.stopErr = fmt.Errorf("referrers serve had already exited: %v", s.waitErr)
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("SIGTERM: %v", err)
		}
		select {
		case <-s.exited:
			if s.waitErr != nil && s.stopErr == nil {
				s.stopErr = fmt.Errorf("referrers serve on SIGTERM: %v", s.waitErr)
			}
		case <-time.After(serveStopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = fmt.Errorf("referrers serve did not exit within %s of SIGTERM; killed", serveStopTimeout)
		}
	})
	return s.stopErr
}

// lineWatcher copies a process's output to out and sends the submatches of
// the first line matching match on found. exec.Cmd calls Write from one
// goroutine.
type lineWatcher struct {
	out   *os.File
	match *regexp.Regexp
	found chan []string
	buf   []byte
	done  bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	if _, err := w.out.Write(p); err != nil {
		return 0, err
	}
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		if m := w.match.FindStringSubmatch(line); m != nil {
			w.done, w.buf = true, nil
			w.found <- m
			break
		}
	}
	return len(p), nil
}
