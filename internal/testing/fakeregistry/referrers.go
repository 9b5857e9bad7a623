package fakeregistry

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// HugeBodySize is the minimum number of bytes streamed by Mode.HugeBody.
const HugeBodySize = 9 << 20

// cursorParam is the query parameter carrying the referrers pagination
// cursor: the digest of the last entry of the previous page.
const cursorParam = "last"

func (r *Registry) serveReferrers(w http.ResponseWriter, req *http.Request, mode Mode, rt route) {
	if mode.Referrers != ReferrersAPI {
		serveReferrersQuirk(w, mode.Referrers)
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		methodNotAllowed(w)
		return
	}
	subject, ok := parseDigest(rt.ref)
	if !ok {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid digest")
		return
	}
	q := req.URL.Query()
	filters := q["artifactType"]
	if mode.NoFilterHeader {
		filters = nil
	}

	descs := []ocispec.Descriptor{}
	r.mu.Lock()
	if rp := r.repo(rt.name, false); rp != nil {
		for d, m := range rp.manifests {
			if m.subject != subject {
				continue
			}
			if len(filters) > 0 && !contains(filters, m.artifactType) {
				continue
			}
			var ann map[string]string
			if len(m.annotations) > 0 {
				ann = make(map[string]string, len(m.annotations))
				for k, v := range m.annotations {
					ann[k] = v
				}
			}
			descs = append(descs, ocispec.Descriptor{
				MediaType:    m.mediaType,
				Digest:       d,
				Size:         int64(len(m.body)),
				ArtifactType: m.artifactType,
				Annotations:  ann,
			})
		}
	}
	r.mu.Unlock()
	sort.Slice(descs, func(i, j int) bool { return descs[i].Digest < descs[j].Digest })

	h := w.Header()
	h.Set("Content-Type", ocispec.MediaTypeImageIndex)
	if len(filters) > 0 {
		h.Set("OCI-Filters-Applied", "artifactType")
	}
	if mode.HugeBody {
		w.WriteHeader(http.StatusOK)
		if req.Method == http.MethodGet {
			writeHuge(w)
		}
		return
	}

	if mode.PageSize > 0 {
		if last := q.Get(cursorParam); last != "" {
			i := 0
			for i < len(descs) && string(descs[i].Digest) <= last {
				i++
			}
			descs = descs[i:]
		}
		more := len(descs) > mode.PageSize
		if more {
			descs = descs[:mode.PageSize]
		}
		if more || mode.LinkStyle == LinkLoop {
			next := url.Values{}
			if len(filters) > 0 {
				next["artifactType"] = filters
			}
			if mode.LinkStyle != LinkLoop {
				next.Set(cursorParam, descs[len(descs)-1].Digest.String())
			}
			target := "/v2/" + rt.name + "/referrers/" + subject.String()
			if enc := next.Encode(); enc != "" {
				target += "?" + enc
			}
			switch mode.LinkStyle {
			case LinkCrossHost:
				target = "http://127.0.0.2:1" + target
			case LinkAbsoluteSameHost:
				target = "http://" + req.Host + target
			}
			h.Set("Link", fmt.Sprintf(`<%s>; rel="next"`, target))
		}
	}

	body, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: descs,
	})
	writeJSON(w, http.StatusOK, ocispec.MediaTypeImageIndex, body)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// serveReferrersQuirk answers the referrers endpoint of a registry without (a
// working) Referrers API.
func serveReferrersQuirk(w http.ResponseWriter, b ReferrersBehavior) {
	switch b {
	case ReferrersNotFoundText:
		notFoundText(w)
	case ReferrersNotFoundJSON:
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
	case ReferrersNotFoundHTML:
		writeText(w, http.StatusNotFound, "text/html; charset=utf-8",
			"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n")
	case ReferrersMethodNotAllowed:
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "the operation is unsupported")
	case ReferrersNotAcceptable:
		writeText(w, http.StatusNotAcceptable, "text/plain; charset=utf-8", "406 Not Acceptable\n")
	case ReferrersUnauthorizedNoChallenge:
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	case ReferrersBadRequestText:
		writeText(w, http.StatusBadRequest, "text/plain; charset=utf-8", "400 Bad Request: invalid reference format\n")
	case ReferrersFalse200:
		writeJSON(w, http.StatusOK, "application/json", []byte(`{"status":"ok","message":"welcome"}`))
	case ReferrersFalse200HTML:
		writeText(w, http.StatusOK, "text/html; charset=utf-8",
			"<!DOCTYPE html>\n<html><head><title>Registry UI</title></head><body><div id=\"app\"></div></body></html>\n")
	case ReferrersForbidden:
		writeError(w, http.StatusForbidden, "DENIED", "requested access to the resource is denied")
	case ReferrersTooManyRequests:
		w.Header().Set("Retry-After", "0")
		writeError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "too many requests")
	case ReferrersServerError:
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
	case ReferrersNameUnknown:
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
	default:
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "unknown fake referrers behaviour")
	}
}

// writeHuge streams a syntactically valid image index of at least
// HugeBodySize bytes, so that only a size cap (not a parse error) stops it.
func writeHuge(w io.Writer) {
	const entry = `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1},`
	chunk := strings.Repeat(entry, 512)
	if _, err := io.WriteString(w, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`); err != nil {
		return
	}
	for n := 0; n < HugeBodySize; n += len(chunk) {
		if _, err := io.WriteString(w, chunk); err != nil {
			return
		}
	}
	_, _ = io.WriteString(w, `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1}]}`)
}
