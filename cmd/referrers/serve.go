package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/server"
)

// cmdServe is `referrers serve static:DIR`: a registry over the static tree
// (package server).
func cmdServe(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	addr := fs.String("addr", "127.0.0.1:5000", "listen on HOST:PORT (port 0 picks a free one; the address is printed)")
	allowPush := fs.Bool("allow-push", false, "let anyone push (uploads, mounts, manifests)")
	allowDelete := fs.Bool("allow-delete", false, "let anyone delete manifests, tags and blobs")
	tokenFile := fs.String("token-file", "", "let holders of the token in FILE push and delete (Bearer, or Basic with any user name); also REFERRERS_SERVE_TOKEN")
	maxUpload := fs.Int64("max-upload-bytes", server.DefaultMaxUploadBytes, "largest blob upload")
	maxUploads := fs.Int("max-uploads", server.DefaultMaxUploads, "most upload sessions open at once (then 429)")
	ttl := fs.Duration("upload-ttl", server.DefaultUploadTTL, "an idle upload session expires after this long")
	bodyIdle := fs.Duration("body-idle-timeout", server.DefaultBodyIdleTimeout, "a request body that sends no byte for this long ends its request (408) and the upload session it feeds;\nan answer the client stops reading for this long ends too")
	pageSize := fs.Int("page-size", server.DefaultPageSize, "most entries in one tags list or referrers page (then a Link to the next)")
	cacheMaxAge := fs.Duration("cache-max-age", server.DefaultCacheMaxAge, "how long a CDN or other cache may answer tags, tags lists and referrers lists without asking\n(whole seconds; 0: revalidate every time); answers by digest are immutable")
	noCacheHeaders := fs.Bool("no-cache-headers", false, "send no Cache-Control (caches in front store nothing)")
	logRequests := fs.Bool("log-requests", false, "log one line per request to stderr")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this PEM certificate (chain) file, with --tls-key")
	tlsKey := fs.String("tls-key", "", "the PEM private key of --tls-cert")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: referrers serve static:DIR [--addr HOST:PORT] [--allow-push] [--allow-delete] [--token-file FILE]

Serves the static tree in DIR as a registry (distribution-spec v1.1.1 with the
Referrers API). Read-only unless --allow-push/--allow-delete or a token is set.`)
		printDefaults(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one static:DIR, got %d arguments", len(pos))
	}
	dir, ok := strings.CutPrefix(pos[0], "static:")
	switch {
	case !ok:
		return usagef("%q: serve takes static:DIR (a registry-v2 static tree)", pos[0])
	case dir == "":
		return usagef("static: empty directory")
	case strings.Contains(dir, ":"):
		return usagef("%q: serve takes the whole tree, static:DIR, without :NAME (a static DIR cannot contain ':')", pos[0])
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if *cacheMaxAge < 0 {
		return usagef("--cache-max-age %v: want 0 or more", *cacheMaxAge)
	}
	token := strings.TrimSpace(e.getenv("REFERRERS_SERVE_TOKEN"))
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("read token: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return usagef("--token-file %s is empty", *tokenFile)
		}
	}
	writes := *allowPush || *allowDelete || token != ""
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) && writes {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	level := slog.LevelWarn
	if *logRequests {
		level = slog.LevelInfo
	}
	// A log line carries what clients sent (the path of a request): slog
	// quotes a value with controls, and package display renders each line
	// so that no value can carry a workflow command ("##[") either.
	logger := slog.New(slog.NewTextHandler(display.NewWriter(e.stderr), &slog.HandlerOptions{Level: level}))
	srv, err := server.New(dir,
		server.WithAllowPush(*allowPush), server.WithAllowDelete(*allowDelete), server.WithToken(token),
		server.WithMaxUploadBytes(*maxUpload), server.WithMaxUploads(*maxUploads), server.WithUploadTTL(*ttl),
		server.WithBodyIdleTimeout(*bodyIdle),
		server.WithPageSize(*pageSize), server.WithLogger(logger),
		server.WithCacheMaxAge(*cacheMaxAge), server.WithCacheHeaders(!*noCacheHeaders))
	if err != nil {
		return err
	}
	defer srv.Close()
	// Headers must arrive within ReadHeaderTimeout. There is no ReadTimeout:
	// it would bound a whole request body, cutting long uploads that keep
	// flowing; the server bounds each wait for a body's next byte instead
	// (--body-idle-timeout).
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	scheme := "http"
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	fmt.Fprintf(e.stderr, "serving static:%s on %s://%s (%s)\n", dir, scheme, ln.Addr(), describeAccess(*allowPush, *allowDelete, token != ""))
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		if scheme == "http" {
			fmt.Fprintf(e.stderr, "warning: %s is reachable from other machines, over plain HTTP (a token travels in clear text: use --tls-cert/--tls-key)\n", ln.Addr())
		}
		if *allowPush || *allowDelete {
			fmt.Fprintln(e.stderr, "warning: anyone who can reach it may write: prefer --token-file")
		}
	}
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(e.stderr, "stopped")
	return nil
}

func describeAccess(push, del, token bool) string {
	var parts []string
	switch {
	case push && del:
		parts = append(parts, "anyone may pull, push and delete")
	case push:
		parts = append(parts, "anyone may pull and push")
	case del:
		parts = append(parts, "anyone may pull and delete")
	default:
		parts = append(parts, "anyone may pull")
	}
	if token && !(push && del) {
		parts = append(parts, "token holders may also push and delete")
	}
	if !push && !del && !token {
		parts = append(parts, "read-only")
	}
	return strings.Join(parts, "; ")
}
