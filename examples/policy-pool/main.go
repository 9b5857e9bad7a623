// Command policy-pool is a runnable example of a policy engine that
// evaluates many admission checks concurrently on reused WASI instances
// (package wasm/host's Pool): each instance is instantiated once and
// answers many requests, so a check costs well under the few tens of
// milliseconds a fresh instance would.
//
//	go run ./examples/policy-pool --layout testdata/trees/layout \
//	    --subjects v1,multi,v512 --require application/spdx+json --repeat 100
//
// It prints one line per subject (the verdict, and how many of its checks
// agreed), and exits 0 when every subject passes, 3 when one does not, 1 on
// an error, 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/wasm/host"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const (
	exitOK     = 0
	exitError  = 1
	exitUsage  = 2
	exitNotMet = 3
)

// check is one admission question and its answer.
type check struct {
	subject string
	pass    bool
	err     error
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy-pool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		layoutDir = fs.String("layout", "", "an OCI image layout directory")
		subjects  = fs.String("subjects", "", "subjects to check: tags or digests (comma separated)")
		require   = fs.String("require", "", "artifact types that must each have a referrer (comma separated)")
		repeat    = fs.Int("repeat", 1, "checks per subject, as an engine asked again and again")
		workers   = fs.Int("workers", 8, "goroutines asking at once")
		size      = fs.Int("instances", runtime.GOMAXPROCS(0), "reused instances in the pool")
		timeout   = fs.Duration("timeout", time.Second, "the time limit of one check")
		cache     = fs.String("cache", "", "a directory for wazero's compilation cache (faster starts)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 || *layoutDir == "" || *subjects == "" || *require == "" || *repeat < 1 || *workers < 1 {
		fmt.Fprintln(stderr, "policy-pool: --layout, --subjects and --require are required; --repeat and --workers at least 1")
		return exitUsage
	}
	var p policy.Policy
	for _, t := range strings.Split(*require, ",") {
		if t = strings.TrimSpace(t); t != "" {
			p.Require = append(p.Require, policy.Requirement{ArtifactType: t})
		}
	}
	subs := strings.Split(*subjects, ",")

	opts := []host.Option{host.WithPoolSize(*size), host.WithTimeout(*timeout)}
	if *cache != "" {
		opts = append(opts, host.WithCompilationCache(*cache))
	}
	pool, err := host.NewPool(ctx, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "policy-pool: error:", display.Text(err.Error()))
		return exitError
	}
	defer pool.Close(ctx)

	// The engine: workers take checks from a queue and ask the pool; the
	// pool bounds how many run at once.
	jobs := make(chan string)
	results := make(chan check)
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for s := range jobs {
				req := request.Request{APIVersion: request.APIVersion, Kind: request.KindCheck,
					Source: request.Source{Layout: host.Mount}, Subject: s, Policy: &p}
				resp, err := pool.Do(ctx, *layoutDir, req)
				c := check{subject: s, err: err}
				if err == nil {
					c.pass = resp.Result.Pass
				}
				results <- c
			}
		})
	}
	go func() {
		for range *repeat {
			for _, s := range subs {
				jobs <- s
			}
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()

	type tally struct {
		pass, fail int
		err        error
	}
	byS := map[string]*tally{}
	for c := range results {
		t := byS[c.subject]
		if t == nil {
			t = &tally{}
			byS[c.subject] = t
		}
		switch {
		case c.err != nil:
			t.err = c.err
		case c.pass:
			t.pass++
		default:
			t.fail++
		}
	}
	code := exitOK
	for _, s := range subs {
		t := byS[s]
		switch {
		case t.err != nil:
			// An error is never a verdict.
			fmt.Fprintf(stderr, "policy-pool: %s: error: %s\n", display.Text(s), display.Text(t.err.Error()))
			code = exitError
		case t.fail > 0 && t.pass > 0:
			fmt.Fprintf(stderr, "policy-pool: %s: %d checks passed and %d failed: the answers differ\n", display.Text(s), t.pass, t.fail)
			code = exitError
		case t.fail > 0:
			fmt.Fprintf(stdout, "%s: not met (%d checks)\n", display.Text(s), t.fail)
			if code == exitOK {
				code = exitNotMet
			}
		default:
			fmt.Fprintf(stdout, "%s: met (%d checks)\n", display.Text(s), t.pass)
		}
	}
	st := pool.Stats()
	fmt.Fprintf(stderr, "policy-pool: %d checks on %d instances\n", st.Calls, st.Created)
	return code
}
