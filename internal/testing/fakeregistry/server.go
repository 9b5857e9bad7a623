package fakeregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	// sha256TagRE matches the referrers tag schema tag of a sha256 digest.
	sha256TagRE = regexp.MustCompile(`^sha256-([a-f0-9]{64})$`)
)

type routeKind int

const (
	routeNone routeKind = iota
	routeBase
	routeManifest
	routeBlob
	routeUploadStart
	routeUpload
	routeTags
	routeReferrers
)

type route struct {
	kind routeKind
	name string
	ref  string // manifest reference, blob/referrers digest or upload id
}

// parseRoute maps a /v2/ path to an endpoint. Repository names may contain slashes.
func parseRoute(p string) route {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		if p == "/v2" {
			return route{kind: routeBase}
		}
		return route{}
	}
	if rest == "" {
		return route{kind: routeBase}
	}
	s := strings.Split(rest, "/")
	n := len(s)
	join := func(k int) string { return strings.Join(s[:k], "/") }
	switch {
	case n >= 3 && s[n-2] == "manifests":
		return route{kind: routeManifest, name: join(n - 2), ref: s[n-1]}
	case n >= 4 && s[n-3] == "blobs" && s[n-2] == "uploads":
		if s[n-1] == "" {
			return route{kind: routeUploadStart, name: join(n - 3)}
		}
		return route{kind: routeUpload, name: join(n - 3), ref: s[n-1]}
	case n >= 3 && s[n-2] == "blobs" && s[n-1] == "uploads":
		return route{kind: routeUploadStart, name: join(n - 2)}
	case n >= 3 && s[n-2] == "blobs":
		return route{kind: routeBlob, name: join(n - 2), ref: s[n-1]}
	case n >= 3 && s[n-2] == "tags" && s[n-1] == "list":
		return route{kind: routeTags, name: join(n - 2)}
	case n >= 3 && s[n-2] == "referrers":
		return route{kind: routeReferrers, name: join(n - 2), ref: s[n-1]}
	}
	return route{}
}

// serve is the registry server's handler.
func (r *Registry) serve(rw http.ResponseWriter, req *http.Request) {
	mode := r.Mode()
	if mode.Latency > 0 {
		time.Sleep(mode.Latency)
	}
	w := r.logRequest(rw, req)
	defer func() {
		if !w.wrote {
			w.WriteHeader(http.StatusOK)
		}
	}()
	if status := r.takeFault(req); status != 0 {
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "0")
		}
		writeError(w, status, codeForStatus(status), "injected fault")
		return
	}
	if req.URL.Path == "/token" {
		r.serveToken(w, req, mode)
		return
	}
	rt := parseRoute(req.URL.Path)
	if rt.kind == routeNone {
		notFoundText(w)
		return
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if rt.kind != routeBase && !nameRE.MatchString(rt.name) {
		writeError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name")
		return
	}
	if !r.authorize(w, req, mode, rt.name, actionsFor(req.Method)) {
		return
	}
	switch rt.kind {
	case routeBase:
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			methodNotAllowed(w)
			return
		}
		writeJSON(w, http.StatusOK, "application/json", []byte("{}"))
	case routeManifest:
		r.serveManifest(w, req, mode, rt)
	case routeBlob:
		r.serveBlob(w, req, mode, rt)
	case routeUploadStart:
		r.serveUploadStart(w, req, mode, rt)
	case routeUpload:
		r.serveUpload(w, req, mode, rt)
	case routeTags:
		r.serveTags(w, req, mode, rt)
	case routeReferrers:
		r.serveReferrers(w, req, mode, rt)
	}
}

// actionsFor returns the token actions a method needs: pull for GET/HEAD,
// pull+push for POST/PUT/PATCH, delete for DELETE.
func actionsFor(method string) []string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return []string{"pull"}
	case http.MethodDelete:
		return []string{"delete"}
	default:
		return []string{"pull", "push"}
	}
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError writes a distribution-spec JSON error body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	b, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: code, Message: message}}})
	writeJSON(w, status, "application/json", b)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeText(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func notFoundText(w http.ResponseWriter) {
	writeText(w, http.StatusNotFound, "text/plain; charset=utf-8", "404 page not found\n")
}

func methodNotAllowed(w http.ResponseWriter) {
	writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "method not allowed")
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "DENIED"
	case http.StatusNotFound:
		return "NAME_UNKNOWN"
	case http.StatusTooManyRequests:
		return "TOOMANYREQUESTS"
	case http.StatusMethodNotAllowed:
		return "UNSUPPORTED"
	default:
		return "UNKNOWN"
	}
}

// corrupt returns a same-length copy of b whose digest differs. For JSON it
// upper-cases the first letter after a quote, so the result stays valid JSON
// (and even decodes identically with encoding/json's case-insensitive keys).
func corrupt(b []byte) []byte {
	out := append([]byte(nil), b...)
	for i := 1; i < len(out); i++ {
		if out[i-1] == '"' && out[i] >= 'a' && out[i] <= 'z' {
			out[i] -= 'a' - 'A'
			return out
		}
	}
	if len(out) > 0 {
		out[0] ^= 0xff
	}
	return out
}

// parseDigest validates a digest reference (algorithm must be available).
func parseDigest(s string) (digest.Digest, bool) {
	d, err := digest.Parse(s)
	return d, err == nil
}

// ---- manifests ----

func (r *Registry) serveManifest(w http.ResponseWriter, req *http.Request, mode Mode, rt route) {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		r.getManifest(w, req, mode, rt)
	case http.MethodPut:
		r.putManifest(w, req, mode, rt)
	case http.MethodDelete:
		r.deleteManifest(w, mode, rt)
	default:
		methodNotAllowed(w)
	}
}

func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, mode Mode, rt route) {
	if strings.Contains(rt.ref, ":") {
		if _, ok := parseDigest(rt.ref); !ok {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid digest reference")
			return
		}
	}
	r.mu.Lock()
	rp := r.repo(rt.name, false)
	if rp == nil {
		r.mu.Unlock()
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		return
	}
	d, ok := rp.resolve(rt.ref)
	if !ok && mode.TagResolvesToSubject {
		if m := sha256TagRE.FindStringSubmatch(rt.ref); m != nil {
			d = digest.Digest("sha256:" + m[1])
			_, ok = rp.manifests[d]
		}
	}
	var m *manifest
	if ok {
		m = rp.manifests[d]
	}
	r.mu.Unlock()
	if m == nil {
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
		return
	}
	etag := `"` + d.String() + `"`
	h := w.Header()
	h.Set("Docker-Content-Digest", d.String())
	if mode.ETag != ETagNone {
		h.Set("ETag", etag)
	}
	if mode.ETag == ETagHonoured && matchETag(req.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", m.mediaType)
	if req.Method == http.MethodGet && mode.HugeBody {
		w.WriteHeader(http.StatusOK)
		writeHuge(w)
		return
	}
	body := m.body
	if req.Method == http.MethodGet && mode.CorruptManifests {
		body = corrupt(body)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// matchETag reports whether an If-Match/If-None-Match header value matches
// etag ("*" matches any existing etag). Weak validators compare by value.
func matchETag(header, etag string) bool {
	if header == "" || etag == "" {
		return false
	}
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(v)
		if v == "*" {
			return true
		}
		if strings.TrimPrefix(v, "W/") == etag {
			return true
		}
	}
	return false
}

func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, mode Mode, rt route) {
	limit := mode.ManifestLimit
	if limit <= 0 {
		limit = DefaultManifestLimit
	}
	if req.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest too large")
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "reading body: "+err.Error())
		return
	}
	if int64(len(body)) > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest too large")
		return
	}
	ifMatch, ifNoneMatch := req.Header.Get("If-Match"), req.Header.Get("If-None-Match")
	if mode.ETag == ETagRejected && (ifMatch != "" || ifNoneMatch != "") {
		writeError(w, http.StatusBadRequest, "UNSUPPORTED", "conditional requests are not supported")
		return
	}

	// Reference and body validation (no lock needed).
	isDigest := strings.Contains(rt.ref, ":")
	d := digest.FromBytes(body)
	if isDigest {
		rd, ok := parseDigest(rt.ref)
		if !ok {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid digest reference")
			return
		}
		if rd.Algorithm().FromBytes(body) != rd {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "manifest digest does not match reference")
			return
		}
		d = rd
	} else if !tagRE.MatchString(rt.ref) {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "invalid tag")
		return
	}
	var p parsedManifest
	if err := json.Unmarshal(body, &p); err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest is not valid JSON: "+err.Error())
		return
	}
	ct := req.Header.Get("Content-Type")
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			ct = mt
		}
	}
	switch {
	case ct == "" && p.MediaType == "":
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "no Content-Type and no mediaType")
		return
	case ct == "":
		ct = p.MediaType
	case p.MediaType != "" && p.MediaType != ct:
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "mediaType does not match Content-Type")
		return
	}
	switch ct {
	case ocispec.MediaTypeImageManifest:
		if p.SchemaVersion == nil || *p.SchemaVersion != 2 || p.Config == nil {
			writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "image manifest needs schemaVersion 2 and a config")
			return
		}
	case ocispec.MediaTypeImageIndex:
		if p.SchemaVersion == nil || *p.SchemaVersion != 2 {
			writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "image index needs schemaVersion 2")
			return
		}
	}
	m := newManifest(ct, body)

	r.mu.Lock()
	rp := r.repo(rt.name, false)
	if !mode.LenientManifests {
		if missing := missingReferences(rp, &p); missing != "" {
			r.mu.Unlock()
			writeError(w, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "referenced content unknown: "+missing)
			return
		}
	}
	if mode.ETag == ETagHonoured && (ifMatch != "" || ifNoneMatch != "") {
		etag := ""
		if rp != nil {
			if cur, ok := rp.resolve(rt.ref); ok {
				etag = `"` + cur.String() + `"`
			}
		}
		failed := (ifMatch != "" && !matchETag(ifMatch, etag)) ||
			(ifNoneMatch != "" && matchETag(ifNoneMatch, etag))
		if failed {
			r.mu.Unlock()
			if etag != "" {
				w.Header().Set("ETag", etag)
			}
			writeError(w, http.StatusPreconditionFailed, "PRECONDITION_FAILED", "precondition failed")
			return
		}
	}
	rp = r.repo(rt.name, true)
	rp.manifests[d] = m
	if !isDigest {
		rp.setTag(rt.ref, d)
	}
	r.mu.Unlock()

	h := w.Header()
	h.Set("Location", "/v2/"+rt.name+"/manifests/"+d.String())
	if mode.WrongDigestOnPush {
		h.Set("Docker-Content-Digest", digest.FromString("wrong:"+d.String()).String())
	} else {
		h.Set("Docker-Content-Digest", d.String())
	}
	if p.Subject != nil && (mode.Referrers == ReferrersAPI || mode.SubjectHeaderWithoutAPI) {
		h.Set("OCI-Subject", p.Subject.Digest.String())
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// missingReferences returns the first config/layer blob or child manifest of
// p that is not in rp (foreign layers with urls are exempt), or "".
func missingReferences(rp *repository, p *parsedManifest) string {
	var blobs []ocispec.Descriptor
	if p.Config != nil {
		blobs = append(blobs, *p.Config)
	}
	for _, l := range p.Layers {
		if len(l.URLs) == 0 {
			blobs = append(blobs, l)
		}
	}
	for _, b := range blobs {
		if rp == nil {
			return b.Digest.String()
		}
		if _, ok := rp.blobs[b.Digest]; !ok {
			return b.Digest.String()
		}
	}
	for _, c := range p.Manifests {
		if rp == nil {
			return c.Digest.String()
		}
		if _, ok := rp.manifests[c.Digest]; !ok {
			return c.Digest.String()
		}
	}
	return ""
}

func (r *Registry) deleteManifest(w http.ResponseWriter, mode Mode, rt route) {
	if mode.DeleteDisabled {
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "deletion is disabled")
		return
	}
	r.mu.Lock()
	rp := r.repo(rt.name, false)
	if rp == nil {
		r.mu.Unlock()
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		return
	}
	d, ok := rp.resolve(rt.ref)
	if !ok {
		r.mu.Unlock()
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
		return
	}
	if strings.Contains(rt.ref, ":") {
		// Deleting by digest removes the manifest and every tag pointing at it.
		delete(rp.manifests, d)
		for t, td := range rp.tags {
			if td == d {
				delete(rp.tags, t)
			}
		}
	} else {
		delete(rp.tags, rt.ref)
	}
	r.mu.Unlock()
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

// ---- blobs ----

func (r *Registry) serveBlob(w http.ResponseWriter, req *http.Request, mode Mode, rt route) {
	d, ok := parseDigest(rt.ref)
	if !ok {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid digest")
		return
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodDelete:
		if mode.DeleteDisabled {
			writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "deletion is disabled")
			return
		}
		r.mu.Lock()
		rp := r.repo(rt.name, false)
		found := false
		if rp != nil {
			_, found = rp.blobs[d]
			delete(rp.blobs, d)
		}
		r.mu.Unlock()
		if !found {
			writeError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry")
			return
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		return
	default:
		methodNotAllowed(w)
		return
	}
	r.mu.Lock()
	var data []byte
	found := false
	if rp := r.repo(rt.name, false); rp != nil {
		data, found = rp.blobs[d]
	}
	r.mu.Unlock()
	if !found {
		writeError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry")
		return
	}
	if req.Method == http.MethodGet && mode.BlobRedirect {
		w.Header().Set("Location", r.cdnURL(rt.name, d))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	if req.Method == http.MethodGet && mode.CorruptBlobs {
		data = corrupt(data)
	}
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(data))
}

// ---- uploads ----

func (r *Registry) uploadLocation(name, id string, u *upload) string {
	loc := "/v2/" + name + "/blobs/uploads/" + id
	if u != nil && u.state != "" {
		loc += "?" + url.Values{"_state": {u.state}}.Encode()
	}
	return loc
}

func uploadRange(n int) string {
	end := n - 1
	if end < 0 {
		end = 0
	}
	return fmt.Sprintf("0-%d", end)
}

func (r *Registry) serveUploadStart(w http.ResponseWriter, req *http.Request, mode Mode, rt route) {
	if req.Method != http.MethodPost {
		methodNotAllowed(w)
		return
	}
	q := req.URL.Query()
	// Cross-repository mount; falls back to a normal upload when not possible.
	if mnt, from := q.Get("mount"), q.Get("from"); mnt != "" && from != "" {
		if d, ok := parseDigest(mnt); ok && r.canPullForMount(req, mode, from) {
			r.mu.Lock()
			var data []byte
			found := false
			if src := r.repo(from, false); src != nil {
				data, found = src.blobs[d]
			}
			if found {
				r.repo(rt.name, true).blobs[d] = data
			}
			r.mu.Unlock()
			if found {
				blobCreated(w, rt.name, d)
				return
			}
		}
	}
	// Monolithic single POST upload.
	if dq := q.Get("digest"); dq != "" {
		d, ok := parseDigest(dq)
		if !ok {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid digest")
			return
		}
		data, err := io.ReadAll(req.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", err.Error())
			return
		}
		if d.Algorithm().FromBytes(data) != d {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "provided digest did not match uploaded content")
			return
		}
		r.mu.Lock()
		r.repo(rt.name, true).blobs[d] = data
		r.mu.Unlock()
		blobCreated(w, rt.name, d)
		return
	}
	r.mu.Lock()
	id := r.nextID("upload-")
	u := &upload{repo: rt.name}
	if mode.UploadStateParam {
		u.state = r.nextID("state-")
	}
	r.uploads[id] = u
	loc := r.uploadLocation(rt.name, id, u)
	r.mu.Unlock()
	h := w.Header()
	h.Set("Location", loc)
	h.Set("Range", "0-0")
	h.Set("Docker-Upload-UUID", id)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (r *Registry) serveUpload(w http.ResponseWriter, req *http.Request, mode Mode, rt route) {
	id := rt.ref
	var body []byte
	if req.Method == http.MethodPatch || req.Method == http.MethodPut {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			writeError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", err.Error())
			return
		}
	}
	r.mu.Lock()
	u := r.uploads[id]
	if u == nil || u.repo != rt.name {
		r.mu.Unlock()
		writeError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
		return
	}
	if u.state != "" && req.Method != http.MethodGet && req.Method != http.MethodDelete &&
		req.URL.Query().Get("_state") != u.state {
		r.mu.Unlock()
		writeError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "missing or stale _state parameter")
		return
	}
	h := w.Header()
	switch req.Method {
	case http.MethodGet:
		loc, n := r.uploadLocation(rt.name, id, u), len(u.data)
		r.mu.Unlock()
		h.Set("Location", loc)
		h.Set("Range", uploadRange(n))
		h.Set("Docker-Upload-UUID", id)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		delete(r.uploads, id)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		if mode.NoChunkedUploads {
			r.mu.Unlock()
			writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "chunked uploads are not supported")
			return
		}
		if cr := req.Header.Get("Content-Range"); cr != "" {
			start, _, _ := strings.Cut(strings.TrimPrefix(cr, "bytes="), "-")
			if s, err := strconv.Atoi(strings.TrimSpace(start)); err != nil || s != len(u.data) {
				n := len(u.data)
				r.mu.Unlock()
				h.Set("Range", uploadRange(n))
				writeError(w, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "chunk out of order")
				return
			}
		}
		u.data = append(u.data, body...)
		if u.state != "" {
			u.state = r.nextID("state-")
		}
		loc, n := r.uploadLocation(rt.name, id, u), len(u.data)
		r.mu.Unlock()
		h.Set("Location", loc)
		h.Set("Range", uploadRange(n))
		h.Set("Docker-Upload-UUID", id)
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
	case http.MethodPut:
		d, ok := parseDigest(req.URL.Query().Get("digest"))
		if !ok {
			r.mu.Unlock()
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "missing or invalid digest parameter")
			return
		}
		data := append(u.data, body...)
		delete(r.uploads, id)
		if d.Algorithm().FromBytes(data) != d {
			r.mu.Unlock()
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "provided digest did not match uploaded content")
			return
		}
		r.repo(rt.name, true).blobs[d] = data
		r.mu.Unlock()
		blobCreated(w, rt.name, d)
	default:
		r.mu.Unlock()
		methodNotAllowed(w)
	}
}

// ---- tags ----

func (r *Registry) serveTags(w http.ResponseWriter, req *http.Request, mode Mode, rt route) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		methodNotAllowed(w)
		return
	}
	r.mu.Lock()
	rp := r.repo(rt.name, false)
	var tags []string
	if rp != nil {
		tags = rp.sortedTags()
	}
	r.mu.Unlock()
	if rp == nil {
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		return
	}
	q := req.URL.Query()
	if last := q.Get("last"); last != "" {
		i := 0
		for i < len(tags) && tags[i] <= last {
			i++
		}
		tags = tags[i:]
	}
	ns := q.Get("n")
	if ns == "" && mode.TagsPageSize > 0 {
		ns = strconv.Itoa(mode.TagsPageSize)
	}
	if ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid n")
			return
		}
		if len(tags) > n {
			tags = tags[:n]
			if n > 0 {
				next := url.Values{"n": {ns}, "last": {tags[n-1]}}
				w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?%s>; rel="next"`, rt.name, next.Encode()))
			}
		}
	}
	b, _ := json.Marshal(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, append([]string{}, tags...)})
	writeJSON(w, http.StatusOK, "application/json", b)
}
