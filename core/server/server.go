// Package server is a registry over a static tree (package static): an
// http.Handler that answers distribution-spec v1.1.1 pulls, pushes
// (monolithic, chunked and streamed uploads, cross-repository mounts),
// content discovery (tags list and the Referrers API) and content management
// (deletes of manifests, tags and blobs). `referrers serve` runs it.
//
// Storage: the tree in one directory, as `referrers list static:DIR:NAME`
// and a plain web server read it. Every write is atomic (temporary file,
// fsync, rename) and every read-modify-write of a referrers index happens
// under the repository's lock, so concurrent pushes of referrers to one
// subject keep every entry, and a crash leaves the old file or the new one.
// Upload sessions write to DIR/_uploads/<id> and are moved into
// v2/<name>/blobs/<digest> once their digest is verified; the sessions live
// in memory, so a restart ends them (and removes their files).
//
// Referrers (distribution-spec v1.1.1, "Listing Referrers") are answered from
// the subject's pre-rendered index (v2/<name>/referrers/<digest>), which the
// server keeps complete: before its first write to a repository it rebuilds
// every index (static.Tree.EnsureComplete), and each push or delete updates
// the index of its subject. Entries are sorted by digest; a page holds at
// most the page size (WithPageSize) and a Link header names the next one
// (`?last=<digest>`), so pages stay consistent while pushes go on.
//
// Access: pulls are anonymous; pushes and deletes are refused (405
// UNSUPPORTED) unless allowed for anyone (WithAllowPush, WithAllowDelete) or
// for holders of a token (WithToken: 401 with a Basic challenge without it).
// WithAuthorizer plugs in other rules.
//
// Caching (RFC 9111, "HTTP Caching"; caching.go has the rules and the
// reasons): answers by digest are immutable for a year, tags and lists are
// fresh for WithCacheMaxAge (DefaultCacheMaxAge) and then revalidated with
// their ETag (If-None-Match: 304), errors and writes are no-store, so a CDN
// in front of one or more servers over the tree forwards little. With
// WithAuthorizer the answers are private unless WithPublicReads says
// otherwise.
//
// Limits: a manifest over 4 MiB is 413 (distribution-spec v1.1.1, "Pushing
// Manifests"); an upload over WithMaxUploadBytes is 413 and ends its session;
// more than WithMaxUploads sessions at once is 429; a session idle for
// WithUploadTTL expires. A request body that sends no byte for
// WithBodyIdleTimeout (one read waiting that long; a body that keeps flowing
// is never cut) ends its request with 408 and its connection; the upload
// session it fed ends with it, its data removed and its slot freed, rather
// than staying open to be resumed from its Range (distribution-spec v1.1.1,
// "Pushing a blob in chunks"), so that stalled clients hold nothing until
// the TTL; the client starts the upload again (404 BLOB_UPLOAD_UNKNOWN on
// the old session says so). The
// per-repository locks exist only while requests hold them (reads of a
// repository that does not exist take none), so made-up names cost nothing
// after their answer.
//
// Hostile input: tags that would name one of the tree's own files
// (static.ValidTag: <tag>.mediatype sidecars) are refused on push (400
// MANIFEST_INVALID) and unknown on read and delete (404 MANIFEST_UNKNOWN).
// Error answers never contain a path of the server's file system: errors
// of the tree are answered with a generic message and the spec's code
// (distribution-spec v1.1.1, "Error Codes"), their detail logged.
package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/static"
)

const uploadsDir = "_uploads"

// Server is an http.Handler serving the static tree in one directory.
type Server struct {
	dir   string
	root  *os.Root
	cfg   config
	cache cachePolicy

	// dirNames are the absolute names of the tree's directory, which no
	// answer contains (scrub).
	dirNames []string

	mu      sync.Mutex
	uploads map[string]*upload

	// locks holds a *repoLock per repository in use: writes of manifests
	// and tags hold it, referrers reads share it, so a read never sees a
	// half-done push (which would make the index look stale and cost a
	// scan) and writers queue fairly instead of polling the tree's flock.
	// Entries are counted and removed when their last holder releases
	// them, so the table holds at most one entry per request in flight,
	// whatever names clients make up.
	locksMu sync.Mutex
	locks   map[string]*repoLock

	// writes counts the server's writes of manifests and tags (any
	// repository); it keys the cache of decoded referrers indexes.
	writes atomic.Uint64

	indexes indexCache

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New serves the static tree in dir, which must exist. The caller closes it.
func New(dir string, opts ...Option) (*Server, error) {
	cfg := config{
		maxUploadBytes: DefaultMaxUploadBytes,
		maxUploads:     DefaultMaxUploads,
		uploadTTL:      DefaultUploadTTL,
		bodyIdle:       DefaultBodyIdleTimeout,
		pageSize:       DefaultPageSize,
		now:            time.Now,
		cacheHeaders:   true,
		cacheMaxAge:    DefaultCacheMaxAge,
	}
	for _, o := range opts {
		o(&cfg)
	}
	cache := newCachePolicy(cfg) // before the built-in rules fill in auth
	// a server that takes no pushes has no uploads and writes nothing
	canPush := cfg.auth != nil || cfg.allowPush || cfg.token != ""
	if cfg.auth == nil {
		cfg.auth = rules{allowPush: cfg.allowPush, allowDelete: cfg.allowDelete, token: cfg.token}
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("serve static tree: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("serve static tree: %s is not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serve static tree: %w", err)
	}
	// Sessions live in memory: what an earlier run left is an orphan. A
	// read-only server leaves them: they may be the sessions of a writer
	// serving the same tree.
	if canPush {
		if err := root.RemoveAll(uploadsDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			cfg.logger.Warn("could not remove old upload files", "dir", uploadsDir, "err", err)
		}
	}
	s := &Server{dir: dir, root: root, cfg: cfg, cache: cache, dirNames: absNames(dir), uploads: map[string]*upload{}, locks: map[string]*repoLock{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.janitor()
	return s, nil
}

// Close ends every upload session (removing its data) and releases the
// directory. Requests still running may fail.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	s.mu.Lock()
	for id, u := range s.uploads {
		delete(s.uploads, id)
		_ = s.root.Remove(u.path)
	}
	s.mu.Unlock()
	return s.root.Close()
}

// absNames are the absolute names of dir: as given, and with symbolic links
// resolved (the root directory, which every path contains, left out).
func absNames(dir string) []string {
	var out []string
	if abs, err := filepath.Abs(dir); err == nil {
		out = append(out, abs)
		if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
			out = append(out, real)
		}
	}
	return slices.DeleteFunc(out, func(d string) bool { return d == filepath.Dir(d) })
}

func (s *Server) janitor() {
	defer close(s.done)
	every := max(min(s.cfg.uploadTTL, s.cfg.bodyIdle)/4, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.expire()
		}
	}
}

// lock holds the in-process lock of repository name (it does not lock it):
// the caller locks and unlocks it, then gives it back with unref.
func (s *Server) lock(name string) *repoLock {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	l := s.locks[name]
	if l == nil {
		l = &repoLock{name: name}
		s.locks[name] = l
	}
	l.refs++
	return l
}

// unref gives back a lock taken with lock; the last holder removes it from
// the table.
func (s *Server) unref(l *repoLock) {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(s.locks, l.name)
	}
}

// repoLock is a repository's in-process lock.
type repoLock struct {
	sync.RWMutex
	name string
	refs int // under Server.locksMu
}

// repo opens repository name of the tree (no I/O).
func (s *Server) repo(name string) (*static.Tree, error) {
	return static.New(s.root.FS(), s.root, s.dir, name)
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.cfg.now()
	sw := &statusWriter{ResponseWriter: w, cache: s.cache}
	sw.limitWrites(s.cfg.bodyIdle)
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		// The body idle limit holds from the start, also for a body the
		// handler leaves unread (the server reads some of it after the
		// answer); each read of it moves the limit on.
		b := s.watchBody(sw, r.Body)
		if b.rc.SetReadDeadline(time.Now().Add(s.cfg.bodyIdle)) != nil {
			b.deadlines = false
		}
		r2 := *r // the handler does not modify the server's request
		r2.Body = b
		r = &r2
	}
	err := s.serve(sw, r)
	// a handler may have read a long upload since the last deadline: the
	// answer still written when it returns gets the whole limit
	sw.extend()
	if err != nil {
		switch {
		case err.status >= 500:
			s.cfg.logger.Error("request failed", "method", r.Method, "path", display.Text(r.URL.Path), "err", display.Text(err.Error()))
		case err.cause != nil:
			s.cfg.logger.Info("request refused", "method", r.Method, "path", display.Text(r.URL.Path), "err", display.Text(err.Error()))
		}
		if !sw.wrote {
			writeError(sw, r, s.scrub(err))
		}
	}
	s.cfg.logger.Info("request", "method", r.Method, "path", display.Text(r.URL.Path), "status", sw.code(), "ms", s.cfg.now().Sub(start).Milliseconds())
}

// scrub keeps the server's directory out of an answer: a message that names
// it (a storage error's text that reached one by mistake) is replaced by a
// generic one, with the same status and code. The detail is in the log.
func (s *Server) scrub(e *apiError) *apiError {
	for _, d := range s.dirNames {
		if strings.Contains(e.message, d) {
			return &apiError{status: e.status, code: e.code, message: genericMessage(e.status)}
		}
	}
	return e
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) *apiError {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	// no cache keeps an answer unless its handler says it may (validate)
	s.cache.noStore(w.Header())
	rt, ok, e := parseRoute(r.URL.Path)
	if !ok {
		return errorf(http.StatusNotFound, codeUnsupported, "no such endpoint: %s %s", r.Method, clip(r.URL.Path))
	}
	if e != nil {
		return e
	}
	action, allowed := actionOf(rt.kind, r.Method)
	if !allowed {
		w.Header().Set("Allow", allowedMethods(rt.kind))
		return errorf(http.StatusMethodNotAllowed, codeUnsupported, "%s is not a method of this endpoint", r.Method)
	}
	if e := s.authorize(w, r, Access{Repository: rt.name, Action: action}); e != nil {
		return e
	}
	ctx := r.Context()
	switch rt.kind {
	case kindPing:
		return s.writeBody(w, r, "application/json", []byte("{}\n"))
	case kindManifest:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return s.getManifest(w, r, rt)
		case http.MethodPut:
			return s.putManifest(ctx, w, r, rt)
		case http.MethodDelete:
			return s.deleteManifest(ctx, w, rt)
		}
	case kindBlob:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return s.getBlob(w, r, rt)
		case http.MethodDelete:
			return s.deleteBlob(w, rt)
		}
	case kindUploadStart:
		return s.startUpload(w, r, rt)
	case kindUpload:
		return s.continueUpload(w, r, rt)
	case kindTags:
		return s.listTags(w, r, rt)
	case kindReferrers:
		return s.listReferrers(ctx, w, r, rt)
	case kindCatalog:
		return s.listRepositories(w, r)
	}
	return errorf(http.StatusMethodNotAllowed, codeUnsupported, "%s is not a method of this endpoint", r.Method)
}

// actionOf is what a method on an endpoint does, and whether it exists.
func actionOf(k kind, method string) (Action, bool) {
	switch k {
	case kindPing, kindTags, kindReferrers, kindCatalog:
		return ActionPull, method == http.MethodGet || method == http.MethodHead
	case kindManifest:
		switch method {
		case http.MethodGet, http.MethodHead:
			return ActionPull, true
		case http.MethodPut:
			return ActionPush, true
		case http.MethodDelete:
			return ActionDelete, true
		}
	case kindBlob:
		switch method {
		case http.MethodGet, http.MethodHead:
			return ActionPull, true
		case http.MethodDelete:
			return ActionDelete, true
		}
	case kindUploadStart:
		return ActionPush, method == http.MethodPost
	case kindUpload:
		switch method {
		case http.MethodGet, http.MethodPatch, http.MethodPut, http.MethodDelete:
			return ActionPush, true
		}
	}
	return "", false
}

func allowedMethods(k kind) string {
	switch k {
	case kindManifest:
		return "GET, HEAD, PUT, DELETE"
	case kindBlob:
		return "GET, HEAD, DELETE"
	case kindUploadStart:
		return "POST"
	case kindUpload:
		return "GET, PATCH, PUT, DELETE"
	}
	return "GET, HEAD"
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, a Access) *apiError {
	err := s.cfg.auth.Authorize(r, a)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnauthorized):
		if c := s.cfg.auth.Challenge(); c != "" {
			w.Header().Set("WWW-Authenticate", c)
		}
		return errorf(http.StatusUnauthorized, codeUnauthorized, "authentication required to %s %s", a.Action, a.Repository)
	case errors.Is(err, ErrDenied):
		return errorf(http.StatusForbidden, codeDenied, "%s on %s is denied", a.Action, a.Repository)
	case errors.Is(err, ErrReadOnly):
		return errorf(http.StatusMethodNotAllowed, codeUnsupported, "%s is not allowed on this server (it serves the tree read-only for %ss)", a.Action, a.Action)
	}
	return &apiError{status: http.StatusInternalServerError, code: codeUnsupported, message: "authorization failed", cause: err}
}

// statusWriter remembers the status for the log and whether the answer began.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	// idle, when set, is the write idle limit: before each write the
	// connection's write deadline moves to idle from now, so an answer the
	// client keeps reading is never cut, however long it takes, and one the
	// client stopped reading (a hostile client holding a goroutine and a
	// file open) ends after idle. rc is nil where the connection takes no
	// deadlines.
	idle time.Duration
	rc   *http.ResponseController
	// cache marks every error answer no-store, also those that
	// http.ServeContent writes (after it removed our Cache-Control).
	cache cachePolicy
}

// limitWrites starts the write idle limit of w: the first deadline is set at
// once, because the server keeps a connection's write deadline from one
// request to the next and an answer without a body writes only at its end.
func (w *statusWriter) limitWrites(idle time.Duration) {
	w.rc, w.idle = http.NewResponseController(w.ResponseWriter), idle
	w.extend()
}

func (w *statusWriter) extend() {
	if w.rc != nil && w.rc.SetWriteDeadline(time.Now().Add(w.idle)) != nil {
		w.rc = nil
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
		if code >= 400 {
			w.cache.noStore(w.Header())
		}
	}
	w.extend() // the headers go out now or when the handler returns
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	// The limit holds per piece: a client must take each writeStep bytes
	// within it (at the default 60 s, 273 bytes a second).
	if len(b) == 0 {
		w.extend()
		return w.ResponseWriter.Write(b)
	}
	n := 0
	for len(b) > 0 {
		piece := b[:min(len(b), writeStep)]
		w.extend()
		m, err := w.ResponseWriter.Write(piece)
		n += m
		if err != nil {
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

// writeStep is the most an answer writes under one write deadline.
const writeStep = 16 << 10

func (w *statusWriter) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newID is an upload session's name: 128 random bits, so a session cannot be
// guessed by another client.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
