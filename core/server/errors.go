package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
)

// Error codes of distribution-spec v1.1.1, "Error Codes".
const (
	codeBlobUnknown       = "BLOB_UNKNOWN"
	codeBlobUploadInvalid = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid     = "DIGEST_INVALID"
	codeManifestInvalid   = "MANIFEST_INVALID"
	codeManifestUnknown   = "MANIFEST_UNKNOWN"
	codeNameInvalid       = "NAME_INVALID"
	codeNameUnknown       = "NAME_UNKNOWN"
	codeSizeInvalid       = "SIZE_INVALID"
	codeUnauthorized      = "UNAUTHORIZED"
	codeDenied            = "DENIED"
	codeUnsupported       = "UNSUPPORTED"
	codeTooManyRequests   = "TOOMANYREQUESTS"
)

// apiError is one answer of the error kind: a status and the body's one
// entry.
type apiError struct {
	status  int
	code    string
	message string
	cause   error // logged, not sent

	reserved bool // a tag refused by static.ValidTag only (checkTag)
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.status, e.code, e.message, e.cause)
	}
	return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message)
}

func errorf(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, a...)}
}

// storageError turns an error of the tree into an answer; notFound is the
// code a missing object gets. The message sent is generic: the error's text
// may name files of the tree (as the server's directory sees them), which
// is logged (cause) and never sent to the client.
func storageError(err error, notFound string) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, target.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: notFound, message: notFoundMessage(notFound)}
	case errors.Is(err, target.ErrDigestMismatch):
		return &apiError{status: http.StatusBadRequest, code: codeDigestInvalid, message: "the content does not match its digest", cause: err}
	case errors.Is(err, target.ErrTooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeSizeInvalid, message: "over the server's size limit", cause: err}
	case errors.Is(err, target.ErrInvalidManifest):
		return &apiError{status: http.StatusBadRequest, code: codeManifestInvalid, message: "manifest invalid", cause: err}
	case errors.Is(err, ref.ErrInvalid):
		return &apiError{status: http.StatusBadRequest, code: codeManifestInvalid, message: "invalid reference (a tag or digest this server cannot store)", cause: err}
	case errors.Is(err, target.ErrPreconditionFailed):
		return &apiError{status: http.StatusPreconditionFailed, code: codeManifestInvalid, message: "precondition failed: the tag exists (If-None-Match) or holds another manifest (If-Match)", cause: err}
	case errors.Is(err, tree.ErrUnsafePath):
		return &apiError{status: http.StatusInternalServerError, code: codeUnsupported, message: "the tree holds an unsafe path (a symlink out of it, or not a regular file)", cause: err}
	}
	return &apiError{status: http.StatusInternalServerError, code: codeUnsupported, message: "storage error", cause: err}
}

// genericMessage is what a client is told instead of a message that would
// name a file of the server (see Server.scrub).
func genericMessage(status int) string {
	if status >= 500 {
		return "storage error"
	}
	return http.StatusText(status)
}

func notFoundMessage(code string) string {
	switch code {
	case codeBlobUnknown:
		return "blob unknown to registry"
	case codeManifestUnknown:
		return "manifest unknown to registry"
	case codeNameUnknown:
		return "repository name not known to registry"
	case codeBlobUploadUnknown:
		return "blob upload unknown to registry"
	}
	return "not found"
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError sends e; a HEAD gets the status and no body.
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	if r.Method == http.MethodHead {
		w.WriteHeader(e.status)
		return
	}
	b, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: e.code, Message: e.message}}})
	w.WriteHeader(e.status)
	_, _ = w.Write(append(b, '\n'))
}
