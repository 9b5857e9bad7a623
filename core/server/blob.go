package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// parseDigest reads a digest a client sent; only algorithms this build can
// compute are accepted.
func parseDigest(s string) (digest.Digest, *apiError) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", errorf(http.StatusBadRequest, codeDigestInvalid, "%q is not a valid digest: %v", clip(s), err)
	}
	if !d.Algorithm().Available() {
		return "", errorf(http.StatusBadRequest, codeDigestInvalid, "digest algorithm %q is not supported", clip(string(d.Algorithm())))
	}
	return d, nil
}

func isNotFound(err error) bool { return errors.Is(err, target.ErrNotFound) }

// getBlob answers GET and HEAD of /v2/<name>/blobs/<digest>
// (distribution-spec v1.1.1, "Pulling blobs"), with Range requests,
// immutable for caches, with the quoted digest as ETag. Blobs
// are verified when written; the content is read through the tree's
// target.BlobReader, like any blob, and a client verifies what it reads, as
// the spec asks of clients.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	d, e := parseDigest(rt.ref)
	if e != nil {
		return e
	}
	t, err := s.repo(rt.name)
	if err != nil {
		return storageError(err, codeNameUnknown)
	}
	fi, err := t.StatBlob(d)
	if err != nil {
		return storageError(err, codeBlobUnknown)
	}
	h := w.Header()
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Type", "application/octet-stream")
	if s.validate(w, r, `"`+d.String()+`"`, byDigest) {
		return nil
	}
	if r.Method == http.MethodHead {
		h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
		h.Set("Accept-Ranges", "bytes")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	f, err := t.OpenBlob(r.Context(), ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: fi.Size()})
	if err != nil {
		return storageError(err, codeBlobUnknown)
	}
	defer f.Close()
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, f)
		return nil
	}
	// no modification time: it would differ between replicas of the tree
	// (see caching.go); ServeContent then sends no Last-Modified
	http.ServeContent(w, r, "", time.Time{}, &quietFile{rs: rs, s: s, name: rt.name, d: d})
	return nil
}

// quietFile is a blob's file for http.ServeContent, which sends the text of
// a failed Seek to the client: that text names the file, so it is logged and
// the client gets a generic one.
type quietFile struct {
	rs   io.ReadSeeker
	s    *Server
	name string
	d    digest.Digest
}

var errBlobRead = errors.New("the blob could not be read")

func (q *quietFile) Read(p []byte) (int, error) {
	n, err := q.rs.Read(p)
	return n, q.quiet(err)
}

func (q *quietFile) Seek(off int64, whence int) (int64, error) {
	n, err := q.rs.Seek(off, whence)
	return n, q.quiet(err)
}

func (q *quietFile) quiet(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	q.s.cfg.logger.Error("blob read failed", "repository", q.name, "digest", q.d, "err", err)
	return errBlobRead
}

// deleteBlob answers DELETE /v2/<name>/blobs/<digest> (distribution-spec
// v1.1.1, "Deleting Blobs"). Manifests that name the blob are left as they
// are.
func (s *Server) deleteBlob(w http.ResponseWriter, rt route) *apiError {
	d, e := parseDigest(rt.ref)
	if e != nil {
		return e
	}
	t, err := s.repo(rt.name)
	if err != nil {
		return storageError(err, codeNameUnknown)
	}
	if err := t.DeleteBlob(d); err != nil {
		return storageError(err, codeBlobUnknown)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
