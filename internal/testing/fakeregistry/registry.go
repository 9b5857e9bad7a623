// Package fakeregistry is an in-memory, scripted OCI distribution-spec v1.1.1
// registry for hermetic tests. Its zero Mode is a spec-compliant registry with
// the Referrers API; the Mode knobs reproduce quirks of real registries
// (missing Referrers API with assorted status codes, broken pagination links,
// ignored or rejected conditional requests, Basic/Bearer authentication,
// CDN redirects, corrupt or huge bodies, injected faults, latency).
//
// All state lives behind one mutex and every request that reads and writes
// the tag store does so under a single critical section, so that lost-update
// races observed by clients are races of the client, not of the fake.
//
// Typical use:
//
//	reg := fakeregistry.New(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
//	reg.PutBlob("a/b", []byte("{}"))
//	subject := reg.PutManifest("a/b", "v1", ocispec.MediaTypeImageManifest, body)
//	... run the client against reg.Host() ...
//	reg.SetMode(fakeregistry.Mode{}) // the registry gains the Referrers API
//	for _, q := range reg.Requests() { ... }
//
// Error responses use the distribution-spec body
// {"errors":[{"code":"...","message":"..."}]}; conditional PUT failures use
// status 412 with the (non-spec) code PRECONDITION_FAILED.
package fakeregistry

import (
	"bytes"
	_ "crypto/sha256" // register digest algorithms for go-digest
	_ "crypto/sha512"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Request is one logged request to the registry server (not the CDN).
type Request struct {
	Method string      // HTTP method
	Path   string      // path including the query string, as sent
	Header http.Header // subset: Authorization, If-Match, If-None-Match, Content-Type, Content-Range, Accept
	Status int         // response status code (0 while the response has not started)
}

var loggedHeaders = []string{"Authorization", "If-Match", "If-None-Match", "Content-Type", "Content-Range", "Accept"}

// Registry is a running fake registry. All methods are safe for concurrent use.
type Registry struct {
	srv *httptest.Server
	cdn *httptest.Server

	mu         sync.Mutex
	mode       Mode
	repos      map[string]*repository
	uploads    map[string]*upload
	tokens     map[string]map[string]map[string]bool // token -> repo -> action -> granted
	tokenReqs  int
	requests   []Request
	faults     []*fault
	cdnSawAuth bool
	cdnReqs    int
	seq        uint64
}

type repository struct {
	manifests map[digest.Digest]*manifest
	tags      map[string]digest.Digest
	history   map[string][]digest.Digest
	blobs     map[digest.Digest][]byte
}

type manifest struct {
	mediaType    string
	body         []byte
	subject      digest.Digest // "" when none
	artifactType string        // descriptor artifactType for the referrers API
	annotations  map[string]string
	parsed       *parsedManifest // nil when the body is not JSON
}

type parsedManifest struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

type upload struct {
	repo  string
	data  []byte
	state string // current _state token when Mode.UploadStateParam
}

type fault struct {
	method, pathContains string
	status, remaining    int
}

// New starts a fake registry on 127.0.0.1 (plus a CDN server used by
// Mode.BlobRedirect) and registers t.Cleanup to close both.
func New(t testing.TB, m Mode) *Registry {
	t.Helper()
	r := &Registry{
		mode:    m,
		repos:   map[string]*repository{},
		uploads: map[string]*upload{},
		tokens:  map[string]map[string]map[string]bool{},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.cdn = httptest.NewServer(http.HandlerFunc(r.serveCDN))
	t.Cleanup(func() {
		r.srv.Close()
		r.cdn.Close()
	})
	return r
}

// URL returns the base URL, "http://127.0.0.1:PORT".
func (r *Registry) URL() string { return r.srv.URL }

// Host returns "127.0.0.1:PORT".
func (r *Registry) Host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// SetMode replaces the behaviour knobs; requests already in flight keep the old mode.
func (r *Registry) SetMode(m Mode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = m
}

// Mode returns the current behaviour knobs.
func (r *Registry) Mode() Mode {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mode
}

// Requests returns a copy of the request log, in arrival order.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Request, len(r.requests))
	for i, q := range r.requests {
		q.Header = q.Header.Clone()
		out[i] = q
	}
	return out
}

// ResetRequests clears the request log.
func (r *Registry) ResetRequests() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = nil
}

// TokenRequests returns how many requests the token endpoint has received.
func (r *Registry) TokenRequests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tokenReqs
}

// CDNSawAuthorization reports whether any request to the CDN carried an Authorization header.
func (r *Registry) CDNSawAuthorization() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cdnSawAuth
}

// CDNRequests returns how many requests the CDN server has received.
func (r *Registry) CDNRequests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cdnReqs
}

// FailNext makes the next n requests whose method equals method ("" = any)
// and whose path-with-query contains pathContains answer status with a JSON
// error body (and Retry-After: 0 for 429 and 503). Faults are checked before
// authentication and routing, in the order they were added.
func (r *Registry) FailNext(method, pathContains string, status int, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &fault{method: method, pathContains: pathContains, status: status, remaining: n})
}

// PutManifest stores body as a manifest in repo without any validation and,
// when reference is a tag, points the tag at it. mediaType "" means the
// body's "mediaType" field. It panics if reference is a digest that does not
// match body.
func (r *Registry) PutManifest(repo, reference string, mediaType string, body []byte) digest.Digest {
	d := digest.FromBytes(body)
	isDigest := strings.Contains(reference, ":")
	if isDigest {
		rd, err := digest.Parse(reference)
		if err != nil {
			panic(fmt.Sprintf("fakeregistry.PutManifest: bad digest reference %q: %v", reference, err))
		}
		if rd.Algorithm().FromBytes(body) != rd {
			panic(fmt.Sprintf("fakeregistry.PutManifest: reference %s does not match body", reference))
		}
		d = rd
	}
	m := newManifest(mediaType, body)
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo, true)
	rp.manifests[d] = m
	if !isDigest {
		rp.setTag(reference, d)
	}
	return d
}

// PutBlob stores body as a blob in repo and returns its sha256 digest.
func (r *Registry) PutBlob(repo string, body []byte) digest.Digest {
	d := digest.FromBytes(body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.repo(repo, true).blobs[d] = append([]byte(nil), body...)
	return d
}

// Manifest returns a copy of the manifest stored in repo under reference (tag or digest).
func (r *Registry) Manifest(repo, reference string) (mediaType string, body []byte, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo, false)
	if rp == nil {
		return "", nil, false
	}
	d, ok := rp.resolve(reference)
	if !ok {
		return "", nil, false
	}
	m := rp.manifests[d]
	return m.mediaType, append([]byte(nil), m.body...), true
}

// Tags returns the tags of repo, sorted.
func (r *Registry) Tags(repo string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo, false)
	if rp == nil {
		return nil
	}
	return rp.sortedTags()
}

// TagHistory returns every digest ever written to repo:tag, oldest first
// (including writes of the same digest).
func (r *Registry) TagHistory(repo, tag string) []digest.Digest {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo, false)
	if rp == nil {
		return nil
	}
	return append([]digest.Digest(nil), rp.history[tag]...)
}

// HasBlob reports whether repo holds blob d.
func (r *Registry) HasBlob(repo string, d digest.Digest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo, false)
	if rp == nil {
		return false
	}
	_, ok := rp.blobs[d]
	return ok
}

// repo returns the repository, creating it when create is set. Caller holds r.mu.
func (r *Registry) repo(name string, create bool) *repository {
	if r.repos == nil {
		r.repos = map[string]*repository{}
	}
	rp := r.repos[name]
	if rp == nil && create {
		rp = &repository{
			manifests: map[digest.Digest]*manifest{},
			tags:      map[string]digest.Digest{},
			history:   map[string][]digest.Digest{},
			blobs:     map[digest.Digest][]byte{},
		}
		r.repos[name] = rp
	}
	return rp
}

func (rp *repository) setTag(tag string, d digest.Digest) {
	rp.tags[tag] = d
	rp.history[tag] = append(rp.history[tag], d)
}

// resolve maps a tag or digest reference to a stored manifest digest.
func (rp *repository) resolve(reference string) (digest.Digest, bool) {
	if strings.Contains(reference, ":") {
		d := digest.Digest(reference)
		_, ok := rp.manifests[d]
		return d, ok
	}
	d, ok := rp.tags[reference]
	return d, ok
}

func (rp *repository) sortedTags() []string {
	tags := make([]string, 0, len(rp.tags))
	for t := range rp.tags {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return tags
}

// newManifest builds the stored form of a manifest body. mediaType "" means
// the body's mediaType field; parameters of the media type are dropped.
func newManifest(mediaType string, body []byte) *manifest {
	m := &manifest{body: append([]byte(nil), body...)}
	var p parsedManifest
	if err := json.Unmarshal(body, &p); err == nil {
		m.parsed = &p
		if p.Subject != nil {
			m.subject = p.Subject.Digest
		}
		switch {
		case p.ArtifactType != "":
			m.artifactType = p.ArtifactType
		case p.Config != nil:
			m.artifactType = p.Config.MediaType
		}
		m.annotations = p.Annotations
		if mediaType == "" {
			mediaType = p.MediaType
		}
	}
	if mt, _, err := mime.ParseMediaType(mediaType); err == nil {
		mediaType = mt
	}
	m.mediaType = mediaType
	return m
}

// nextID returns a fresh opaque identifier. Caller holds r.mu.
func (r *Registry) nextID(prefix string) string {
	r.seq++
	return fmt.Sprintf("%s%08x", prefix, r.seq)
}

// recorder wraps the ResponseWriter to store the status in the request log
// before the response reaches the client.
type recorder struct {
	http.ResponseWriter
	reg   *Registry
	idx   int
	wrote bool
}

func (w *recorder) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.reg.mu.Lock()
	if w.idx < len(w.reg.requests) {
		w.reg.requests[w.idx].Status = code
	}
	w.reg.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// logRequest appends req to the log and returns the recording writer.
func (r *Registry) logRequest(w http.ResponseWriter, req *http.Request) *recorder {
	h := http.Header{}
	for _, k := range loggedHeaders {
		if v := req.Header.Values(k); len(v) > 0 {
			h[k] = append([]string(nil), v...)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, Request{Method: req.Method, Path: req.URL.RequestURI(), Header: h})
	return &recorder{ResponseWriter: w, reg: r, idx: len(r.requests) - 1}
}

// takeFault consumes and returns a matching injected fault status, or 0.
func (r *Registry) takeFault(req *http.Request) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.faults {
		if f.remaining <= 0 {
			continue
		}
		if f.method != "" && f.method != req.Method {
			continue
		}
		if !strings.Contains(req.URL.RequestURI(), f.pathContains) {
			continue
		}
		f.remaining--
		return f.status
	}
	return 0
}

// serveCDN serves blobs at /blobs/<repo>/<digest> for Mode.BlobRedirect.
func (r *Registry) serveCDN(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.cdnReqs++
	if req.Header.Get("Authorization") != "" {
		r.cdnSawAuth = true
	}
	mode := r.mode
	var data []byte
	var d digest.Digest
	found := false
	rest, ok := strings.CutPrefix(req.URL.Path, "/blobs/")
	if i := strings.LastIndex(rest, "/"); ok && i > 0 {
		d = digest.Digest(rest[i+1:])
		if rp := r.repo(rest[:i], false); rp != nil {
			data, found = rp.blobs[d]
		}
	}
	r.mu.Unlock()
	if !found {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	if mode.CorruptBlobs {
		data = corrupt(data)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(data))
}

// cdnURL returns the signed CDN URL of a blob.
func (r *Registry) cdnURL(repo string, d digest.Digest) string {
	return r.cdn.URL + "/blobs/" + repo + "/" + d.String() + "?" + url.Values{"sig": {"fake-signature"}}.Encode()
}
