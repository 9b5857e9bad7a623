package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oci-referrers/referrers/core/credential"
	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/registry"
	"github.com/oci-referrers/referrers/internal/frontend"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

var version = "dev"

const usage = `referrers attaches OCI 1.1 artifacts to images and lists them.

Usage:
  referrers attach SUBJECT [FILE[:MEDIATYPE]...] --artifact-type TYPE [flags]
  referrers list SUBJECT [flags]
  referrers copy SRC DST [flags]                      (the subject and its referrers graph)
  referrers delete REFERENCE [--recursive] [--gc-fallback-index]   (removes a referrer and its tag schema entry)
  referrers check SUBJECT --require TYPE[,TYPE...]   (exit 0 met, 3 not met, 1 error)
  referrers index-for static:DIR:NAME@DIGEST [--write] | --all static:DIR:NAME
  referrers serve static:DIR [--addr HOST:PORT] [--allow-push] [--allow-delete] [--token-file FILE]
  referrers completion bash|zsh|fish                  (a shell completion script)
  referrers version

SUBJECT is one of
  [docker://]HOST[:PORT]/REPO[:TAG][@DIGEST]  a registry (Docker Hub short forms work)
  oci:DIR[:TAG|@DIGEST]                        an OCI image layout
  static:DIR:NAME[:TAG|@DIGEST]                a registry-v2 static tree (v2/NAME/...)
Run 'referrers help COMMAND' (or 'referrers COMMAND -h') for a command's flags and examples.
`

// env is what the commands read of the outside world, injected for tests.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
	// timeout is the --timeout of the command being run.
	timeout *commandTimeout
}

// commandTimeout is --timeout: the command's context is cancelled DURATION
// after the flag is parsed (before any store is opened), as
// context.WithTimeout would, and run then says so.
type commandTimeout struct {
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	d       time.Duration
	timer   *time.Timer
	expired bool
}

// errCommandTimeout is the cause of a context --timeout ended.
var errCommandTimeout = errors.New("--timeout expired")

// set is the flag's Set: a later --timeout replaces an earlier one.
func (t *commandTimeout) set(s string) error {
	d, err := frontend.ParseTimeout(s)
	if err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
	t.d, t.timer = d, nil
	if d > 0 {
		t.timer = time.AfterFunc(d, func() {
			t.mu.Lock()
			t.expired = true
			t.mu.Unlock()
			t.cancel(errCommandTimeout)
		})
	}
	return nil
}

func (t *commandTimeout) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
}

// explain names --timeout in an error it caused.
func (t *commandTimeout) explain(err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil || !t.expired {
		return err
	}
	return frontend.TimeoutExpired("--timeout", t.d, err)
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timeout := &commandTimeout{cancel: cancel}
	defer timeout.stop()
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now, timeout: timeout}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, "referrers", version)
		return exitOK
	case "help", "-h", "--help":
		if len(args) > 1 {
			if c, ok := lookupCommand(args[1]); ok {
				return run(ctx, []string{c.name, "-h"}, getenv, stdin, stdout, stdout)
			}
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	c, ok := lookupCommand(args[0])
	if !ok {
		hint := ""
		if s := suggest(args[0], commandNames()); s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
		fmt.Fprintf(stderr, "referrers: unknown command %q%s\n\n%s", args[0], hint, usage)
		return exitUsage
	}
	err = c.run(ctx, e, args[1:])
	err = timeout.explain(err)
	var ue usageError
	var nm notMet
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &nm):
		fmt.Fprintf(stderr, "referrers %s: %s\n", args[0], display.Text(err.Error()))
		return exitNotMet
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "referrers %s: %s\n", args[0], display.Text(err.Error()))
		return exitUsage
	default:
		// An error carries outside data (a registry's message, a file's
		// contents): one line, rendered by package display.
		fmt.Fprintf(stderr, "referrers %s: error: %s\n", args[0], display.Text(err.Error()))
		return exitError
	}
}

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// parseInterspersed lets flags come before, between and after positional
// arguments ("attach SUBJECT file --artifact-type x"). "-:MEDIATYPE" (standard
// input as a FILE) is a positional argument too, not a flag. A flag error is
// returned once, with a hint, instead of the flag package's full usage; -h
// prints the usage to the flag set's output.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	out := fs.Output()
	if c, ok := out.(*flagCapture); ok {
		c.fs = fs
		return nil, errCaptured
	}
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(out)
	var pos []string
	for {
		var tail []string
		if i := stdinArgIndex(fs, args); i >= 0 {
			args, tail = args[:i], args[i:] // the flag package would read it as a flag
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				fs.Usage()
				return nil, err
			}
			return nil, unknownFlag(fs, err)
		}
		args = slices.Concat(fs.Args(), tail)
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// stdinArgIndex returns the index in args of the first "-:MEDIATYPE" that is
// not a flag's value, or -1 when there is none before "--".
func stdinArgIndex(fs *flag.FlagSet, args []string) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return -1
		case strings.HasPrefix(a, "-:"):
			return i
		case len(a) > 1 && a[0] == '-' && !strings.Contains(a, "="):
			if f := fs.Lookup(strings.TrimLeft(a, "-")); f != nil && !isBoolFlag(f) {
				i++ // skip its value
			}
		}
	}
	return -1
}

// isBoolFlag reports whether f takes no value ("--latest", not "--latest true").
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// common are the flags every registry command has.
type common struct {
	username      string
	passwordStdin bool
	plainHTTP     bool
	mode          string
	platform      string
	format        string
	debug         bool
	scanBlobs     bool
	ociStyle      string // how an attach records referrers in an oci: layout (attach --oci-referrers)

	// authHint says where the credentials came from, for explain.
	authHint string
}

// flags returns the flag set of command name with the common flags registered.
func (c *common) flags(name string, e env, formats, def string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	c.register(fs, formats, def)
	fs.Func("timeout", "give up the whole command after `DURATION` (e.g. 30s, 5m; default 0: no limit);\n"+
		"a registry that goes silent is given up on anyway (60s without a byte)", e.timeout.set)
	return fs
}

func (c *common) register(fs *flag.FlagSet, formats string, def string) {
	fs.StringVar(&c.username, "username", "", "registry user name (with --password-stdin)")
	fs.BoolVar(&c.passwordStdin, "password-stdin", false, "read the registry password or token from standard input")
	fs.BoolVar(&c.plainHTTP, "plain-http", false, "speak plain HTTP to the registry (no TLS)")
	fs.StringVar(&c.mode, "referrers-mode", "auto", "how referrers are found and recorded: auto, api or tag")
	fs.StringVar(&c.platform, "platform", "", "for an index SUBJECT, use its child for os/arch[/variant]")
	fs.StringVar(&c.format, "format", def, "output format: "+formats)
	fs.BoolVar(&c.debug, "debug", false, "print each HTTP exchange and each referrers decision to stderr (no secrets)")
}

// repeated is a repeatable string flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

// open parses the subject and builds the registry client with the credential
// chain: --username/--password-stdin, then REFERRERS_USERNAME/REFERRERS_PASSWORD,
// then the containers auth.json and the Docker config (see package credential).
func (c *common) open(ctx context.Context, e env, subject string) (ref.Reference, *registry.Repository, error) {
	r, err := ref.Parse(subject)
	if err != nil {
		return ref.Reference{}, nil, usageError{err}
	}
	r = r.WithDefaultTag()
	if err := c.checkPlatform(); err != nil {
		return r, nil, err
	}
	client, err := c.client(e, []ref.Reference{r})
	if err != nil {
		return r, nil, err
	}
	return r, client.Repository(r), nil
}

// client builds the registry client for the registries of regs (one, or
// both ends of a copy): --username and --password-stdin (or
// REFERRERS_USERNAME and REFERRERS_PASSWORD) for every registry named, then
// the default credential files.
func (c *common) client(e env, regs []ref.Reference) (*registry.Client, error) {
	var stores []credential.Store
	static := func(cred credential.Credential) {
		for _, r := range regs {
			stores = append(stores, credential.Static(r.Registry, cred))
		}
	}
	names := make([]string, len(regs))
	for i, r := range regs {
		names[i] = r.Registry
	}
	switch {
	case c.passwordStdin:
		if c.username == "" {
			return nil, usagef("--password-stdin needs --username")
		}
		c.authHint = "the registry did not accept the credentials from --username and --password-stdin"
		b, err := io.ReadAll(io.LimitReader(e.stdin, 64<<10))
		if err != nil {
			return nil, fmt.Errorf("read password from stdin: %w", err)
		}
		static(credential.Credential{Username: c.username, Password: strings.TrimRight(string(b), "\r\n")})
	case c.username != "":
		return nil, usagef("--username needs --password-stdin")
	case e.getenv("REFERRERS_USERNAME") != "" || e.getenv("REFERRERS_PASSWORD") != "":
		c.authHint = "the registry did not accept the credentials from REFERRERS_USERNAME and REFERRERS_PASSWORD"
		static(credential.Credential{Username: e.getenv("REFERRERS_USERNAME"), Password: e.getenv("REFERRERS_PASSWORD")})
	}
	if c.authHint == "" {
		c.authHint = "no credentials for " + strings.Join(names, " or ") + " were accepted; looked in " + strings.Join(credential.DefaultPaths(e.getenv), ", ")
	}
	stores = append(stores, credential.Default(e.getenv))
	opts := []registry.Option{
		registry.WithCredentials(credential.Chain(stores...)),
		registry.WithPlainHTTP(c.plainHTTP),
		registry.WithUserAgent("referrers/" + version),
	}
	if c.debug {
		opts = append(opts, registry.WithDebug(display.NewWriter(e.stderr)))
	}
	return registry.New(opts...), nil
}

func (c *common) checkPlatform() error {
	if c.platform != "" {
		if _, err := referrers.ParsePlatform(c.platform); err != nil {
			return usagef("--platform: %w", err)
		}
	}
	return nil
}

// explain adds a hint to the errors whose cause the user can fix and the bare
// message does not name: credentials the registry refused (a HEAD answers 401
// with no body to explain it) and TLS spoken to a plain HTTP registry.
func (c *common) explain(err error) error {
	if err == nil {
		return nil
	}
	var he *registry.HTTPError
	switch {
	case errors.As(err, &he) && he.StatusCode == 401: // Unauthorized
		return fmt.Errorf("%w (%s)", err, c.authHint)
	case !c.plainHTTP && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%w (for a registry without TLS, add --plain-http)", err)
	}
	return err
}

// verbs returns the referrers client for one command.
func (c *common) verbs(e env) *referrers.Client {
	if c.debug {
		return referrers.New(referrers.WithDebug(display.NewWriter(e.stderr))) // its lines carry registry data
	}
	return referrers.New()
}
