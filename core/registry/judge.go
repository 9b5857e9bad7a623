package registry

import (
	"mime"
	"net/http"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// op names the kind of request whose answer is judged.
type op int

const (
	opPing op = iota
	opManifestGet
	opManifestHead
	opManifestPut
	opManifestDelete
	opBlobHead
	opBlobGet
	opUploadStart
	opUploadChunk
	opUploadFinish
	opReferrers
	opTags
	opToken
)

// answer is what a response was judged to mean.
type answer struct {
	status int
	// conditional: the request carried If-Match or If-None-Match.
	conditional bool
	// challenge: the response carried a WWW-Authenticate challenge.
	challenge bool
	// contentType is the media type of the response, parameters dropped.
	contentType string
	// codes are the registry's error codes from the body.
	codes []string
	// bodyIndex: the body of a referrers 200 declares itself an image index by
	// its own mediaType and schemaVersion (see sniffIndex), whatever the
	// Content-Type says.
	bodyIndex bool
}

// judge is the only place where status codes get a meaning. It reports success,
// or the sentinel of package target the answer stands for (nil when it is an
// error with no more specific meaning). The rows of its test table are the
// registry behaviours met in the field: answers to a referrers GET of
// registries without the API (404 in every body, 405, 406, 400, 401 without
// a challenge) and of front ends that answer every path (distribution-spec
// v1.1.1, "Listing Referrers" and "Unavailable Referrers API").
//
// A referrers 200 is a Referrers API answer when its Content-Type is the image
// index type, or when its body is an image index by its own mediaType
// (image-spec v1.1.1, "Image Index": mediaType, schemaVersion 2, manifests):
// a plain web server serving a static tree sends application/octet-stream or
// text/plain for a pre-rendered index, and the body says what it is. A 200
// whose body is not an image index (an HTML UI answering every path, JSON of
// another kind) is not what distribution-spec v1.1.1 "Listing Referrers" lets
// a registry with the API send, and not its "no API" answer (404) either: it
// is judged unsupported, so the tag schema is read as for a 404, but the error
// carries the reason (target.UnsupportedAnswer) and the listing reports it as
// a warning, so an empty result never hides such an answer. An error instead
// would break listing on registries whose web front end catches unknown paths
// with a 200, where the tag schema is the only way to list.
func judge(o op, a answer) (ok bool, kind error) {
	s := a.status
	switch o {
	case opReferrers:
		// distribution-spec v1.1.1 "Listing Referrers": a registry with the API
		// answers 200 with an image index; it MUST NOT answer 404.
		switch {
		case s == http.StatusOK && (a.contentType == ocispec.MediaTypeImageIndex || a.bodyIndex):
			return true, nil
		case s == http.StatusOK:
			return false, target.ErrUnsupported // a "false 200": HTML, JSON of another type; the reason is reported
		case s == http.StatusNotFound && has(a.codes, "NAME_UNKNOWN"):
			return false, target.ErrNotFound // the repository is missing: an error, not a fallback
		case s == http.StatusNotFound, s == http.StatusMethodNotAllowed, s == http.StatusNotAcceptable:
			return false, target.ErrUnsupported
		case s == http.StatusBadRequest && len(a.codes) == 0:
			return false, target.ErrUnsupported
		case s == http.StatusUnauthorized && !a.challenge:
			return false, target.ErrUnsupported // Harbor <= 2.7
		}
		return false, nil
	case opManifestPut:
		switch {
		case s >= 200 && s < 300:
			return true, nil
		case s == http.StatusPreconditionFailed:
			return false, target.ErrPreconditionFailed
		case a.conditional && s == http.StatusBadRequest && (has(a.codes, "MANIFEST_BLOB_UNKNOWN") || has(a.codes, "MANIFEST_INVALID")):
			// the manifest itself was refused (an index listing a deleted
			// manifest, checked before the condition): not the header
			return false, nil
		case a.conditional && (s == http.StatusBadRequest || s == http.StatusNotImplemented):
			return false, target.ErrConditionalUnsupported
		case s == http.StatusRequestEntityTooLarge:
			return false, target.ErrTooLarge
		}
		return false, nil
	case opManifestDelete:
		switch {
		case s == http.StatusAccepted || s == http.StatusOK || s == http.StatusNoContent:
			return true, nil
		case s == http.StatusNotFound:
			return false, target.ErrNotFound
		case s == http.StatusMethodNotAllowed, has(a.codes, "UNSUPPORTED"):
			return false, target.ErrUnsupported
		}
		return false, nil
	case opUploadStart:
		if s == http.StatusAccepted || s == http.StatusCreated {
			return true, nil
		}
		return false, nil
	case opUploadChunk:
		switch s {
		case http.StatusAccepted, http.StatusNoContent:
			return true, nil
		case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType,
			http.StatusRequestedRangeNotSatisfiable, http.StatusNotImplemented:
			// chunks refused: nothing stored; upload the blob whole
			return false, target.ErrUnsupported
		}
		return false, nil
	case opUploadFinish:
		if s == http.StatusCreated || s == http.StatusNoContent || s == http.StatusOK {
			return true, nil
		}
		if s == http.StatusBadRequest && (has(a.codes, "DIGEST_INVALID") || has(a.codes, "SIZE_INVALID")) {
			return false, target.ErrDigestMismatch
		}
		return false, nil
	default: // GET and HEAD of manifests and blobs, tags list, ping, token
		switch {
		case s == http.StatusOK:
			return true, nil
		case s == http.StatusNotFound && o != opToken && o != opPing:
			return false, target.ErrNotFound
		}
		return false, nil
	}
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// mediaType returns the media type of a Content-Type header without parameters.
func mediaType(h http.Header) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.TrimSpace(strings.ToLower(strings.SplitN(ct, ";", 2)[0]))
	}
	return mt
}
