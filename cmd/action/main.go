// Command referrers-action is the GitHub Action's binary (action.yml runs it):
// it reads the step's inputs from INPUT_* variables and attaches, lists or
// checks referrers. See README.md, "GitHub Action".
package main

import (
	"context"
	"os"
	"os/signal"
)

// version is set by scripts/release.sh (-X main.version=...).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
