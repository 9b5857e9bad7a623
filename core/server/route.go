package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/oci-referrers/referrers/core/ref"
)

type kind int

const (
	kindPing kind = iota
	kindManifest
	kindBlob
	kindUploadStart
	kindUpload
	kindTags
	kindReferrers
	kindCatalog
)

// route is what a request path names (distribution-spec v1.1.1, "Endpoints").
type route struct {
	kind kind
	name string // repository
	ref  string // tag or digest, blob digest, upload session
}

// reserved path elements cannot be repository name components: in the tree
// they would collide with another repository's directories.
var reserved = map[string]bool{"manifests": true, "blobs": true, "referrers": true, "tags": true, "uploads": true}

// parseRoute reads /v2/<name>/... from the right, so a name with any number
// of components is found. ok is false for a path that is not an endpoint.
func parseRoute(p string) (rt route, ok bool, err *apiError) {
	switch p {
	case "/v2/", "/v2":
		return route{kind: kindPing}, true, nil
	case "/v2/_catalog":
		return route{kind: kindCatalog}, true, nil
	}
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return route{}, false, nil
	}
	el := strings.Split(rest, "/")
	n := len(el)
	switch {
	case n >= 3 && el[n-2] == "tags" && el[n-1] == "list":
		rt = route{kind: kindTags, name: strings.Join(el[:n-2], "/")}
	case n >= 4 && el[n-3] == "blobs" && el[n-2] == "uploads":
		rt = route{kind: kindUpload, name: strings.Join(el[:n-3], "/"), ref: el[n-1]}
		if rt.ref == "" {
			rt.kind = kindUploadStart
		}
	case n >= 3 && el[n-2] == "blobs" && el[n-1] == "uploads":
		rt = route{kind: kindUploadStart, name: strings.Join(el[:n-2], "/")}
	case n >= 3 && el[n-2] == "manifests":
		rt = route{kind: kindManifest, name: strings.Join(el[:n-2], "/"), ref: el[n-1]}
	case n >= 3 && el[n-2] == "blobs":
		rt = route{kind: kindBlob, name: strings.Join(el[:n-2], "/"), ref: el[n-1]}
	case n >= 3 && el[n-2] == "referrers":
		rt = route{kind: kindReferrers, name: strings.Join(el[:n-2], "/"), ref: el[n-1]}
	default:
		return route{}, false, nil
	}
	if e := checkName(rt.name); e != nil {
		return rt, true, e
	}
	return rt, true, nil
}

func checkName(name string) *apiError {
	if err := ref.ValidRepository(name); err != nil {
		return errorf(http.StatusBadRequest, codeNameInvalid, "invalid repository name %q: %v", clip(name), err)
	}
	for _, c := range strings.Split(name, "/") {
		if reserved[c] {
			return errorf(http.StatusBadRequest, codeNameInvalid, "repository name %q: the component %q is reserved by the static tree layout", clip(name), c)
		}
	}
	return nil
}

// clip shortens what a client sent before it goes into a message.
func clip(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("%s…(%d bytes)", s[:200], len(s))
	}
	return s
}
