package treetest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
)

// The child processes of the crash and concurrency tests are the test
// binary run again with -test.run=^TestHelperProcess$, the store's
// HelperEnv ("loop" or "attach") and these variables.
const (
	envDir     = "REFERRERS_HELPER_DIR"
	envSubject = "REFERRERS_HELPER_SUBJECT" // the subject descriptor, JSON
	envPrefix  = "REFERRERS_HELPER_PREFIX"  // makes each artifact distinct
	envCount   = "REFERRERS_HELPER_COUNT"
	envMode    = "REFERRERS_HELPER_MODE" // referrers mode of the attaches
)

// HelperProcess is the body of a package's TestHelperProcess, which is not a
// test: it is the child process of CrashDuringAttach and
// ConcurrentProcesses, and skips unless s.HelperEnv is set. It opens the
// tree, prints "ready" and waits for a line on stdin; then, in "loop", it
// attaches until it is killed, and in "attach" it attaches COUNT artifacts;
// it prints the digest of each.
func HelperProcess(t *testing.T, s *Store) {
	which := os.Getenv(s.HelperEnv)
	if which == "" {
		t.Skip("the child process of the crash and concurrency tests")
	}
	var subject ocispec.Descriptor
	if err := json.Unmarshal([]byte(os.Getenv(envSubject)), &subject); err != nil {
		fmt.Fprintln(os.Stderr, "subject:", err)
		os.Exit(2)
	}
	tg, err := s.Open(os.Getenv(envDir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	mode := referrers.Mode(os.Getenv(envMode))
	c := referrers.New()
	ctx := context.Background()
	prefix := os.Getenv(envPrefix)
	n, _ := strconv.Atoi(os.Getenv(envCount))
	// ready, then wait for the parent's go: the start-up of a process
	// (~100 ms under -race) stays out of the measured window
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(2)
	}
	for i := 0; which == "loop" || i < n; i++ {
		a := Artifact(TypeSBOM, fmt.Sprintf("%s-%d", prefix, i))
		if which == "attach" {
			a.Layers = nil // the empty layer: one blob fewer to write, the manifest still distinct by its annotation
		}
		res, err := c.Attach(ctx, tg, subject, a, referrers.AttachOptions{Mode: mode})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(res.Descriptor.Digest)
	}
	os.Exit(0)
}

// child is a started child process, ready to be told to go.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // what it printed after "ready"; closed when it exits
}

// startChildren starts n child processes at once (prefix-0, prefix-1, ...)
// and waits until each is ready.
func startChildren(t *testing.T, s *Store, n int, which, dir string, subject ocispec.Descriptor, prefix string, env func(i int) []string) []*child {
	t.Helper()
	cs := make([]*child, n)
	ready := make([]chan string, n)
	for i := range cs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), s.HelperEnv+"="+which, envDir+"="+dir,
			envSubject+"="+string(MustJSON(t, subject)), envPrefix+"="+fmt.Sprintf("%s-%d", prefix, i))
		if env != nil {
			cmd.Env = append(cmd.Env, env(i)...)
		}
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 4096)}
		cs[i] = c
		t.Cleanup(func() { _ = c.kill() })
		ready[i] = make(chan string, 1)
		go func(ready chan<- string) {
			sc := bufio.NewScanner(out)
			sc.Scan()
			ready <- sc.Text()
			for sc.Scan() {
				c.lines <- sc.Text()
			}
			close(c.lines)
		}(ready[i])
	}
	for i := range cs {
		if l := <-ready[i]; l != "ready" {
			t.Fatalf("child %s-%d did not start: %q", prefix, i, l)
		}
	}
	return cs
}

func (c *child) start(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the child to exit and returns what it printed.
func (c *child) wait(t *testing.T) []string {
	t.Helper()
	var out []string
	for l := range c.lines {
		out = append(out, l)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	return out
}

// kill ends the child with SIGKILL (if it still runs) and reaps it. It
// returns an error if the child had ended on its own with a failure (an
// attach failed) rather than by the signal.
func (c *child) kill() error {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		for range c.lines {
		}
		_ = c.cmd.Wait()
	}
	if st := c.cmd.ProcessState; st != nil && st.Exited() && !st.Success() {
		return fmt.Errorf("the child failed before it was killed: %v", st)
	}
	return nil
}

// killAtRandom starts the children and kills each with SIGKILL at a random
// moment: within 40 ms of its start, or (every other one) within 40 ms after
// its first attach completed, however loaded the machine is.
func killAtRandom(t *testing.T, cs []*child, first int) {
	t.Helper()
	errs := make(chan error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		c.start(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if (first+i)%2 == 1 {
				select {
				case <-c.lines:
				case <-time.After(30 * time.Second):
				}
			}
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			errs <- c.kill()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// checkListable proves a tree is consistent: a new instance lists the
// subject's referrers, and every listed referrer's manifest reads back
// verified; then the store's CheckListable.
func checkListable(t *testing.T, f *Fixture, thorough bool) []digest.Digest {
	t.Helper()
	tg := f.Open(t)
	r := List(t, tg, f.Subject, referrers.ModeAuto)
	for _, n := range r.Referrers {
		if _, err := tg.FetchManifest(context.Background(), n.Descriptor); err != nil {
			t.Fatalf("listed referrer %s does not read back: %v", n.Descriptor.Digest, err)
		}
	}
	if f.Store.CheckListable != nil {
		f.Store.CheckListable(t, f, tg, len(r.Referrers), thorough)
	}
	return Listed(r)
}

// TempFiles lists the leftover temporary files (.tmp-*) under dir.
func TempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// CrashDuringAttach proves crash safety: child processes attaching in a
// loop, four at a time to one subject, are each killed with SIGKILL at a
// random moment (every other one after its first attach completed), 20
// kills in all; after each round the subject's referrers are listed, no
// fewer than before, and each reads back verified (checkListable). Leftover
// temporary files (.tmp-*) of a killed write may remain, and do not break
// listing; planted ones (s.PlantLeftovers) do not either.
func CrashDuringAttach(t *testing.T, s *Store) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	f := NewFixture(t, s)
	before := 0
	const kills, batch = 20, 4
	children := startChildren(t, s, kills, "loop", f.Dir, f.Subject, "crash", nil)
	for i := 0; i < kills; i += batch {
		killAtRandom(t, children[i:i+batch], i)
		got := checkListable(t, f, false)
		if len(got) < before {
			t.Fatalf("after kills %d-%d: %d referrers listed, fewer than the %d before", i, i+batch-1, len(got), before)
		}
		before = len(got)
	}
	left := TempFiles(t, f.Dir)
	t.Logf("%d referrers attached across 20 killed children; %d temporary files left behind: %v", before, len(left), left)

	if s.PlantLeftovers != nil {
		s.PlantLeftovers(t, f)
	}
	if got := checkListable(t, f, true); len(got) != before {
		t.Fatalf("with planted temporary files: %d referrers listed, want %d", len(got), before)
	}
}

// ConcurrentProcesses proves that concurrent attaches from separate
// processes lose nothing: 8 child processes (each its own instance, so its
// own open of the lock file, as flock requires) start at the same instant
// and attach 5 artifacts each to one subject, six of them in auto mode and
// two in tag mode (the tag schema index also updated by the verbs with
// conditional pushes under the lock). Afterwards all 40 are listed in auto
// mode; then s.CheckConcurrent.
func ConcurrentProcesses(t *testing.T, s *Store) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const procs, each = 8, 5
	f := NewFixture(t, s)
	children := startChildren(t, s, procs, "attach", f.Dir, f.Subject, "proc", func(i int) []string {
		mode := referrers.ModeAuto
		if i%4 == 3 {
			mode = referrers.ModeTag
		}
		return []string{envCount + "=" + strconv.Itoa(each), envMode + "=" + string(mode)}
	})
	for _, c := range children {
		c.start(t) // all ready: they start together
	}
	var all, tagged []digest.Digest
	for i, c := range children {
		ds := c.wait(t)
		if len(ds) != each {
			t.Fatalf("child %d attached %d, want %d", i, len(ds), each)
		}
		for _, d := range ds {
			all = append(all, digest.Digest(d))
			if i%4 == 3 {
				tagged = append(tagged, digest.Digest(d))
			}
		}
	}
	WantListed(t, List(t, f.Open(t), f.Subject, referrers.ModeAuto), all...)
	if s.CheckConcurrent != nil {
		s.CheckConcurrent(t, f, all, tagged)
	}
}
