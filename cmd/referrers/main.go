// Command referrers attaches OCI 1.1 artifacts (SBOMs, signatures, scan results)
// to images and lists them. See the README for usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	collectLess(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// collectLess sets GOGC to 200 unless the user set GOGC. A command lives for
// a fraction of a second and allocates a few megabytes: with the default of
// 100 the collector starts its first cycle at a 4 MB heap, which listing 2,000
// referrers crosses, and on two cores that cycle took about 10 ms of a 70 ms
// list (measured with hyperfine, see RATIONALE.md, "A long list is decoded and
// written without reflection"). Uploads stream through fixed buffers, so the
// peak RSS of a 300 MiB attach stayed at 8.8 MiB.
func collectLess(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}
