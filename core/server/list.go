package server

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/core/target"
)

// pageSize reads the client's n (at most the server's page size).
func (s *Server) pageSize(q url.Values) (int, *apiError) {
	n := s.cfg.pageSize
	if v := q.Get("n"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			return 0, errorf(http.StatusBadRequest, codeUnsupported, "n=%q is not a count", clip(v))
		}
		n = min(i, n)
	}
	return n, nil
}

// page cuts the sorted list to the entries after last, at most n, and sets
// a Link to the next page (at path) when there are more (distribution-spec
// v1.1.1, "Listing Tags"). It never returns nil, so the JSON is a list.
func page(w http.ResponseWriter, list []string, last string, n int, path string) []string {
	if last != "" {
		i := sort.SearchStrings(list, last)
		if i < len(list) && list[i] == last {
			i++
		}
		list = list[i:]
	}
	if len(list) > n {
		list = list[:n]
		if n > 0 {
			next := url.Values{"n": {strconv.Itoa(n)}, "last": {list[n-1]}}
			w.Header().Set("Link", "<"+path+"?"+next.Encode()+`>; rel="next"`)
		}
	}
	if list == nil {
		list = []string{}
	}
	return list
}

// listTags answers GET /v2/<name>/tags/list[?n=&last=] (distribution-spec
// v1.1.1, "Listing Tags"): tags in lexical order, after last, at most n, with
// a Link to the next page when there are more.
func (s *Server) listTags(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	q := r.URL.Query()
	n, e := s.pageSize(q)
	if e != nil {
		return e
	}
	t, err := s.repo(rt.name)
	if err != nil {
		return storageError(err, codeNameUnknown)
	}
	tags, err := t.Tags()
	if err != nil {
		return storageError(err, codeNameUnknown)
	}
	tags = page(w, tags, q.Get("last"), n, "/v2/"+rt.name+"/tags/list")
	return s.writeJSON(w, r, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

// listReferrers answers GET /v2/<name>/referrers/<digest>[?artifactType=]
// (distribution-spec v1.1.1, "Listing Referrers"; distribution-spec v1.1.1, Listing Referrers): always an
// image index, never a 404 for a subject without referrers; the filter is
// applied and said so in OCI-Filters-Applied. Entries are sorted by digest and
// paged with ?last=<digest> (a Link names the next page).
func (s *Server) listReferrers(ctx context.Context, w http.ResponseWriter, r *http.Request, rt route) *apiError {
	d, e := parseDigest(rt.ref)
	if e != nil {
		return e
	}
	q := r.URL.Query()
	n, e := s.pageSize(q)
	if e != nil {
		return e
	}
	t, err := s.repo(rt.name)
	if err != nil {
		return storageError(err, codeNameUnknown)
	}
	entries, e := s.referrersOf(ctx, t, rt.name, d)
	if e != nil {
		return e
	}
	// entries may be shared with the cache: read only from here on
	at := q.Get("artifactType")
	if at != "" {
		var kept []ocispec.Descriptor
		for _, e := range entries {
			if e.ArtifactType == at {
				kept = append(kept, e)
			}
		}
		entries = kept
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if last := q.Get("last"); last != "" {
		i := sort.Search(len(entries), func(i int) bool { return string(entries[i].Digest) > last })
		entries = entries[i:]
	}
	if len(entries) > n {
		entries = entries[:n]
		if n > 0 {
			next := url.Values{"n": {strconv.Itoa(n)}, "last": {entries[n-1].Digest.String()}}
			if at != "" {
				next.Set("artifactType", at)
			}
			w.Header().Set("Link", `</v2/`+rt.name+`/referrers/`+d.String()+`?`+next.Encode()+`>; rel="next"`)
		}
	}
	return s.writeJSON(w, r, ocispec.MediaTypeImageIndex, target.NewIndex(entries))
}

// referrersOf reads the referrers of d in repository name, sorted by digest,
// from the cache of decoded indexes when it is current. The answer may be
// shared with the cache: the caller only reads it.
func (s *Server) referrersOf(ctx context.Context, t *static.Tree, name string, d digest.Digest) ([]ocispec.Descriptor, *apiError) {
	// A repository that does not exist has no referrers: answered without
	// taking (and so without creating) its lock.
	if !s.exists(name) {
		return nil, nil
	}
	l := s.lock(name)
	defer s.unref(l)
	l.RLock()
	defer l.RUnlock()
	key := name + "@" + d.String()
	stamp, newest := s.stamp(name, d, s.writes.Load())
	if entries, hit := s.indexes.get(key, stamp); hit {
		return entries, nil
	}
	res, err := t.Referrers(ctx, d, "")
	if errors.Is(err, target.ErrTooLarge) {
		// a pre-rendered index over the cap (written by another tool):
		// the scan has no cap, and the answer is paged
		var idx ocispec.Index
		idx, err = t.IndexFor(ctx, d)
		res = target.ReferrersResult{Manifests: idx.Manifests, Source: target.SourceScan}
	}
	switch {
	case err == nil:
		entries := sorted(res.Manifests)
		if res.Source == target.SourceIndex && settled(newest, time.Now()) {
			s.indexes.put(key, stamp, entries)
		}
		return entries, nil
	case isNotFound(err): // no manifests yet: no referrers
		return nil, nil
	}
	return nil, storageError(err, codeNameUnknown)
}

// exists reports whether the tree holds repository name (a directory
// v2/<name>); a read of one that does not answers without touching the
// server's per-repository state.
func (s *Server) exists(name string) bool {
	fi, err := fs.Stat(s.root.FS(), "v2/"+name)
	return err == nil && fi.IsDir()
}

// listRepositories answers GET /v2/_catalog[?n=&last=], which
// distribution-spec v1.1.1 leaves out but registry tools use to browse: the
// repositories of the tree (directories under v2/ with a manifests/ or
// blobs/ directory) the client may pull, sorted, paged like tags.
func (s *Server) listRepositories(w http.ResponseWriter, r *http.Request) *apiError {
	q := r.URL.Query()
	n, e := s.pageSize(q)
	if e != nil {
		return e
	}
	var repos []string
	_ = fs.WalkDir(s.root.FS(), "v2", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		switch d.Name() {
		case "manifests", "blobs":
			name := path.Dir(strings.TrimPrefix(p, "v2/"))
			if checkName(name) == nil && (len(repos) == 0 || repos[len(repos)-1] != name) &&
				s.cfg.auth.Authorize(r, Access{Repository: name, Action: ActionPull}) == nil {
				repos = append(repos, name)
			}
			return fs.SkipDir
		case "referrers", uploadsDir:
			return fs.SkipDir
		}
		return nil
	})
	sort.Strings(repos)
	repos = slices.Compact(repos)
	repos = page(w, repos, q.Get("last"), n, "/v2/_catalog")
	return s.writeJSON(w, r, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// writeJSON answers a list (tags, referrers, catalog) with v.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) *apiError {
	b, err := json.Marshal(v)
	if err != nil {
		return &apiError{status: http.StatusInternalServerError, code: codeUnsupported, message: "encode answer", cause: err}
	}
	return s.writeBody(w, r, contentType, b)
}

// writeBody answers a GET or HEAD of a list with body b (and the Link set
// before): cacheable for the short max-age, with an ETag of what it says.
func (s *Server) writeBody(w http.ResponseWriter, r *http.Request, contentType string, b []byte) *apiError {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if s.validate(w, r, listETag(h.Get("Link"), b), mutable) {
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
	return nil
}
