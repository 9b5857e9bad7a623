//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// openPTY opens a pseudo-terminal pair (Linux /dev/ptmx): what the command
// writes to tty, the test reads from pty.
func openPTY(t *testing.T) (pty, tty *os.File) {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, pty.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, pty.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close(); pty.Close() })
	return pty, tty
}

// TestProgressOnTerminal: with stderr a terminal, attach shows the upload's
// status line by default (--progress auto), and nothing with --no-progress.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fakeregistry.Mode{})
	big := filepath.Join(f.dir, "big.bin")
	if err := os.WriteFile(big, make([]byte, 5<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  bool
	}{
		{"auto", nil, true},
		{"no-progress", []string{"--no-progress"}, false},
	} {
		pty, tty := openPTY(t)
		var mu sync.Mutex
		var seen bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 4096)
			for {
				n, err := pty.Read(buf)
				mu.Lock()
				seen.Write(buf[:n])
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		args := append([]string{"attach", "--plain-http", f.reg.Host() + "/app:v1", big,
			"--artifact-type", "application/vnd.example.tty-" + tc.name}, tc.flags...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var stdout bytes.Buffer
		code := run(ctx, args, fakeGetenv(t, nil), strings.NewReader(""), &stdout, tty)
		cancel()
		// The status line ends with the upload; the attach's own lines go to
		// stdout. Give the reader what the terminal holds, then stop it.
		fmt.Fprint(tty, "END\n")
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			s := seen.String()
			mu.Unlock()
			if strings.Contains(s, "END") || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Closing the terminal's side ends the reader (EIO on the master);
		// a Read on the master is not interrupted by closing the master.
		tty.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the terminal reader did not stop")
		}
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s", tc.name, code, seen.String())
		}
		got := strings.Contains(seen.String(), "\x1b[Kbig.bin  ")
		if got != tc.want || tc.want && !strings.Contains(seen.String(), "5.0 MiB / 5.0 MiB (100%)") {
			t.Errorf("%s: progress on the terminal %v, want %v: %.400q", tc.name, got, tc.want, seen.String())
		}
	}
}
