// Command wasm is the WASI module (GOOS=wasip1 GOARCH=wasm; built by
// scripts/wasm.sh into wasm/host/referrers.wasm): one JSON request
// (package request) on stdin, one JSON response on stdout, diagnostics on
// stderr. Exit codes: 0 handled, 2 malformed request, 3 source unreadable,
// anything else an internal error. Hosts mount the tree read-only (wasm/host
// does, at the path the request names) and give no network: the module
// imports no net/http, which a test checks.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/oci-referrers/referrers/core/request"
)

func main() {
	os.Exit(run(context.Background(), os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	resp, err := request.Answer(ctx, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "referrers.wasm:", err)
		resp = request.ErrorResponse(err)
	}
	w := bufio.NewWriter(stdout)
	if werr := resp.Encode(w); werr != nil || w.Flush() != nil {
		fmt.Fprintln(stderr, "referrers.wasm: writing the response:", werr)
		return 1
	}
	return request.ExitCode(err)
}
