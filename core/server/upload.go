package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/static"
)

// upload is one blob upload session (distribution-spec v1.1.1, "Pushing
// blobs"): its data so far is the file path, of size bytes.
type upload struct {
	id, name string
	path     string

	mu   sync.Mutex // one request of the session at a time
	size int64

	// waitSince is when (UnixNano of the server's clock) a read of a
	// request body into the session began to wait; 0 between reads.
	waitSince atomic.Int64
	// ended is set with gone: a body still read into the session stops.
	ended atomic.Bool

	// under Server.mu
	used time.Time
	busy int
	gone bool
	body *idleBody // the body being read into the session, if any
}

func (u *upload) location() string { return "/v2/" + u.name + "/blobs/uploads/" + u.id }

// rangeValue is the Range header of a session: the bytes received, as
// "0-<last>" ("0-0" when none, as distribution answers).
func (u *upload) rangeValue() string { return "0-" + strconv.FormatInt(max(u.size-1, 0), 10) }

func (u *upload) progress(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Location", u.location())
	h.Set("Range", u.rangeValue())
	h.Set("Docker-Upload-UUID", u.id)
	h.Set("Content-Length", "0")
}

// startUpload answers POST /v2/<name>/blobs/uploads/: a mount (?mount=, with
// or without ?from=), a monolithic upload (?digest=), or a new session.
func (s *Server) startUpload(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	q := r.URL.Query()
	t, err := s.repo(rt.name)
	if err != nil {
		return storageError(err, codeNameUnknown)
	}
	if m := q.Get("mount"); m != "" {
		d, e := parseDigest(m)
		if e != nil {
			return e
		}
		ok, e := s.mount(r, t, d, q.Get("from"), q.Has("from"))
		if e != nil {
			return e
		}
		if ok {
			blobCreated(w, rt.name, d)
			return nil
		}
		// not found: an ordinary session, as the spec says
	}
	if dg := q.Get("digest"); dg != "" {
		d, e := parseDigest(dg)
		if e != nil {
			return e
		}
		u, e := s.newSession(rt.name)
		if e != nil {
			return e
		}
		defer s.release(u)
		defer s.end(u) // a single request: no session outlives it
		u.mu.Lock()
		defer u.mu.Unlock()
		if e := s.finish(w, r, t, u, d); e != nil {
			return e
		}
		blobCreated(w, rt.name, d)
		return nil
	}
	u, e := s.newSession(rt.name)
	if e != nil {
		return e
	}
	s.release(u)
	u.progress(w)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// mount links blob d into t from repository from (distribution-spec v1.1.1,
// "Mounting a blob from another repository"); without from, from any
// repository of the tree the client may pull. ok is false when no source
// holds it.
func (s *Server) mount(r *http.Request, t *static.Tree, d digest.Digest, from string, hasFrom bool) (bool, *apiError) {
	if _, err := t.StatBlob(d); err == nil {
		return true, nil
	}
	var sources []string
	if hasFrom {
		if e := checkName(from); e != nil {
			return false, e
		}
		sources = []string{from}
	} else {
		sources = s.holders(d)
	}
	for _, name := range sources {
		if s.cfg.auth.Authorize(r, Access{Repository: name, Action: ActionPull}) != nil {
			continue
		}
		src, err := s.repo(name)
		if err != nil {
			continue
		}
		err = t.MountBlob(src, d)
		if err == nil {
			return true, nil
		}
		if !isNotFound(err) {
			return false, storageError(err, codeBlobUnknown)
		}
	}
	return false, nil
}

// holders lists the repositories of the tree that hold blob d, for a mount
// without a source.
func (s *Server) holders(d digest.Digest) []string {
	var out []string
	_ = fs.WalkDir(s.root.FS(), "v2", func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		switch e.Name() {
		case "manifests", "referrers", "blobs", uploadsDir:
			return fs.SkipDir
		}
		if fi, err := fs.Stat(s.root.FS(), p+"/blobs/"+d.String()); err == nil && fi.Mode().IsRegular() {
			out = append(out, strings.TrimPrefix(p, "v2/"))
		}
		return nil
	})
	return out
}

// continueUpload answers GET, PATCH, PUT and DELETE of
// /v2/<name>/blobs/uploads/<id>.
func (s *Server) continueUpload(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	u, e := s.acquire(rt.name, rt.ref)
	if e != nil {
		return e
	}
	defer s.release(u)
	u.mu.Lock()
	defer u.mu.Unlock()
	if s.isGone(u) {
		return errorf(http.StatusNotFound, codeBlobUploadUnknown, "upload session %s has ended", clip(rt.ref))
	}
	switch r.Method {
	case http.MethodGet:
		u.progress(w)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		s.end(u)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		if e := s.appendChunk(w, r, u); e != nil {
			return e
		}
		u.progress(w)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	// PUT: the last chunk, if any, and the digest
	dg := r.URL.Query().Get("digest")
	if dg == "" {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "closing an upload needs ?digest=")
	}
	d, e := parseDigest(dg)
	if e != nil {
		return e
	}
	t, err := s.repo(rt.name)
	if err != nil {
		return storageError(err, codeNameUnknown)
	}
	if e := s.finish(w, r, t, u, d); e != nil {
		return e
	}
	blobCreated(w, rt.name, d)
	return nil
}

// finish appends the request's body and moves the session's data into place
// as blob d after checking its digest. The session ends, whatever happens,
// unless the chunk was out of order (416), which the client may retry.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, t *static.Tree, u *upload, d digest.Digest) *apiError {
	if e := s.appendChunk(w, r, u); e != nil {
		if e.status != http.StatusRequestedRangeNotSatisfiable {
			s.end(u)
		}
		return e
	}
	defer s.end(u)
	f, err := s.root.OpenFile(u.path, os.O_RDWR, 0)
	if err != nil {
		return storageError(err, codeBlobUploadUnknown)
	}
	v := d.Algorithm().Hash()
	_, err = io.Copy(v, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return storageError(err, codeBlobUploadInvalid)
	}
	if got := digest.NewDigest(d.Algorithm(), v); got != d {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "the upload's %d bytes have digest %s, not %s", u.size, got, d)
	}
	if err := t.CommitBlob(d, u.path); err != nil {
		return storageError(err, codeBlobUploadInvalid)
	}
	return nil
}

// appendChunk adds the request's body to the session (distribution-spec
// v1.1.1, "Pushing a blob in chunks"): with Content-Range, only at the
// session's end (else 416, with the session's progress in the answer's
// headers); capped at the upload size limit (413 ends the
// session). A body cut short leaves the session as it was.
func (s *Server) appendChunk(w http.ResponseWriter, r *http.Request, u *upload) *apiError {
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok {
			return errorf(http.StatusBadRequest, codeBlobUploadInvalid, "Content-Range %q is not <start>-<end>", clip(cr))
		}
		if start != u.size {
			u.progress(w)
			return errorf(http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, "chunk starts at %d, the upload has %d bytes", start, u.size)
		}
		if r.ContentLength >= 0 && end-start+1 != r.ContentLength {
			return errorf(http.StatusBadRequest, codeBlobUploadInvalid, "Content-Range %q and Content-Length %d disagree", clip(cr), r.ContentLength)
		}
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	room := s.cfg.maxUploadBytes - u.size
	if r.ContentLength > room {
		s.end(u)
		return errorf(http.StatusRequestEntityTooLarge, codeSizeInvalid, "the upload would be over the %d byte limit", s.cfg.maxUploadBytes)
	}
	f, err := s.root.OpenFile(u.path, os.O_WRONLY, 0)
	if err != nil {
		return storageError(err, codeBlobUploadUnknown)
	}
	defer f.Close()
	if _, err := f.Seek(u.size, io.SeekStart); err != nil {
		return storageError(err, codeBlobUploadInvalid)
	}
	body := &progressReader{r: io.LimitReader(r.Body, room+1), u: u, now: s.cfg.now}
	s.watch(u, r.Body)
	n, err := io.Copy(f, body)
	s.watch(u, nil)
	switch {
	case n > room:
		s.end(u)
		return errorf(http.StatusRequestEntityTooLarge, codeSizeInvalid, "the upload is over the %d byte limit", s.cfg.maxUploadBytes)
	case errors.Is(body.err, errStalled):
		// The session ends: a stalled client would otherwise hold its
		// slot and its data until the TTL (see WithBodyIdleTimeout).
		s.end(u)
		w.Header().Set("Connection", "close")
		return errorf(http.StatusRequestTimeout, codeBlobUploadInvalid, "no byte of the chunk arrived for %v: the upload session has ended, start the upload again", s.cfg.bodyIdle)
	case body.err != nil:
		_ = f.Truncate(u.size)
		return errorf(http.StatusBadRequest, codeBlobUploadInvalid, "reading the chunk failed after %d bytes", n)
	case err != nil: // writing it
		_ = f.Truncate(u.size)
		return storageError(err, codeBlobUploadInvalid)
	case r.ContentLength >= 0 && n != r.ContentLength:
		_ = f.Truncate(u.size)
		return errorf(http.StatusBadRequest, codeBlobUploadInvalid, "the chunk has %d bytes, Content-Length said %d", n, r.ContentLength)
	case s.isGone(u):
		return errorf(http.StatusNotFound, codeBlobUploadUnknown, "the upload session ended while the chunk was sent")
	}
	u.size += n
	return nil
}

// watch notes body as the one being read into u (nil: none), which the
// janitor ends when one of its reads waits for the body idle limit
// (Server.expire).
func (s *Server) watch(u *upload, body io.Reader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.body, _ = body.(*idleBody)
}

// parseContentRange reads "<start>-<end>" (also with a "bytes " or "bytes="
// prefix, as some clients send it).
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "bytes")
	s = strings.TrimLeft(s, " =")
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// newSession opens a session (429 when WithMaxUploads are open) and holds it
// for the caller, who releases it.
func (s *Server) newSession(name string) (*upload, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.uploads) >= s.cfg.maxUploads {
		return nil, errorf(http.StatusTooManyRequests, codeTooManyRequests, "%d uploads are open, the most this server allows; retry later", len(s.uploads))
	}
	id := newID()
	u := &upload{id: id, name: name, path: path.Join(uploadsDir, id), used: s.cfg.now(), busy: 1}
	if err := s.root.MkdirAll(uploadsDir, 0o755); err != nil {
		return nil, storageError(err, codeBlobUploadInvalid)
	}
	f, err := s.root.OpenFile(u.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, storageError(fmt.Errorf("create upload file: %w", err), codeBlobUploadInvalid)
	}
	f.Close()
	s.uploads[id] = u
	return u, nil
}

// acquire finds session id of repository name and holds it.
func (s *Server) acquire(name, id string) (*upload, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[id]
	if !ok || u.name != name {
		return nil, errorf(http.StatusNotFound, codeBlobUploadUnknown, "no upload session %s in %s (it may have expired)", clip(id), name)
	}
	u.busy++
	u.used = s.cfg.now()
	return u, nil
}

func (s *Server) release(u *upload) {
	s.mu.Lock()
	u.busy--
	u.used = s.cfg.now()
	s.mu.Unlock()
}

func (s *Server) isGone(u *upload) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.gone
}

// end closes a session and removes its data (already moved into place when
// it succeeded).
func (s *Server) end(u *upload) {
	s.mu.Lock()
	if !u.gone {
		u.gone = true
		u.ended.Store(true)
		delete(s.uploads, u.id)
	}
	s.mu.Unlock()
	if err := s.root.Remove(u.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.cfg.logger.Warn("could not remove upload data", "path", u.path, "err", err)
	}
}

// expire ends the sessions idle for longer than the TTL, and those whose
// request has waited for the body idle limit in one read of its body (the
// read is ended too, where the connection takes deadlines; where it does
// not, the request goes on until its client sends or goes, but the
// session's slot and data are freed at once).
func (s *Server) expire() {
	now := s.cfg.now()
	var old []*upload
	var stalled []*idleBody
	s.mu.Lock()
	for id, u := range s.uploads {
		idle := u.busy == 0 && now.Sub(u.used) > s.cfg.uploadTTL
		since := u.waitSince.Load()
		stall := since != 0 && now.Sub(time.Unix(0, since)) > s.cfg.bodyIdle
		if idle || stall {
			u.gone = true
			u.ended.Store(true)
			delete(s.uploads, id)
			old = append(old, u)
		}
		if stall && u.body != nil {
			stalled = append(stalled, u.body)
		}
	}
	s.mu.Unlock()
	for _, b := range stalled {
		b.abort()
	}
	for _, u := range old {
		_ = s.root.Remove(u.path)
		s.cfg.logger.Info("upload session expired", "repository", u.name, "id", u.id)
	}
}
