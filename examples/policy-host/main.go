// Command policy-host is a runnable example of a sandboxed policy host: it
// checks an on-disk tree's referrers against a policy by running the WASI
// module (package wasm/host) instead of parsing the tree itself. The module
// sees only the tree, mounted read-only, with bounded memory and time.
//
//	go run ./examples/policy-host --layout testdata/trees/layout --subject v1 \
//	    --require application/spdx+json,application/vnd.example.scan+json
//
// Exit codes, as `referrers check`: 0 met, 3 not met, 1 an error, 2 usage.
// It is a separate binary so that the CLI and the Action do not link wazero.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/internal/frontend"
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

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy-host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		layoutDir = fs.String("layout", "", "an OCI image layout directory")
		staticDir = fs.String("static", "", "a registry-v2 static tree directory (with --name)")
		name      = fs.String("name", "", "the repository in the static tree")
		subject   = fs.String("subject", "", "the subject: a tag or a digest")
		platform  = fs.String("platform", "", "os/arch[/variant] of an index subject's child")
		require   = fs.String("require", "", "artifact types that must each have a referrer (comma separated)")
		min       = fs.Int("min", 1, "referrers needed per required type")
		format    = fs.String("format", "text", "text or json")
		timeout   = fs.Duration("timeout", 10*time.Second, "the module's time limit")
		memory    = fs.Uint64("memory", 256<<20, "the module's memory limit in bytes")
		cache     = fs.String("cache", "", "a directory for wazero's compilation cache (faster starts)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "policy-host:", msg)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments " + strings.Join(fs.Args(), " "))
	}
	if (*layoutDir == "") == (*staticDir == "") {
		return usage("give exactly one of --layout or --static")
	}
	if *subject == "" || *require == "" || *min < 1 {
		return usage("--subject and --require are required, --min at least 1")
	}
	if *format != "text" && *format != "json" {
		return usage("--format must be text or json")
	}
	// The module sees the tree at /tree; the request names that path.
	tree := *layoutDir
	src := request.Source{Layout: "/tree"}
	if *staticDir != "" {
		tree, src = *staticDir, request.Source{Static: "/tree", Name: *name}
	}
	var p policy.Policy
	for _, t := range strings.Split(*require, ",") {
		if t = strings.TrimSpace(t); t != "" {
			p.Require = append(p.Require, policy.Requirement{ArtifactType: t, Min: *min})
		}
	}
	req := request.Request{APIVersion: request.APIVersion, Kind: request.KindCheck, Source: src,
		Subject: *subject, Platform: *platform, Policy: &p}
	if err := req.Validate(); err != nil {
		return usage(err.Error())
	}

	opts := []host.Option{host.WithTimeout(*timeout), host.WithMemoryLimit(*memory)}
	if *cache != "" {
		opts = append(opts, host.WithCompilationCache(*cache))
	}
	h, err := host.New(ctx, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "policy-host: error:", display.Text(err.Error()))
		return exitError
	}
	defer h.Close(ctx)
	resp, err := h.Do(ctx, tree, req)
	if err != nil {
		// An error is never a verdict. It may quote the tree or the module's
		// stderr: package display renders it on one line.
		fmt.Fprintln(stderr, "policy-host: error:", display.Text(err.Error()))
		return exitError
	}
	v := resp.Result
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return exitError
		}
	} else {
		fmt.Fprintf(stdout, "subject %s (referrers found by %s, in the sandbox)\n",
			display.Text(v.Subject.Digest.String()), display.Text(string(resp.Mode)))
		if err := frontend.WriteVerdict(stdout, *v); err != nil {
			return exitError
		}
	}
	if !v.Pass {
		return exitNotMet
	}
	return exitOK
}
