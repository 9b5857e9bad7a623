package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(tags, last)
		if i < len(tags) && tags[i] == last {
			i++
		}
		tags = tags[i:]
	}
	if len(tags) > n {
		tags = tags[:n]
		if n > 0 {
			next := url.Values{"n": {strconv.Itoa(n)}, "last": {tags[n-1]}}
			w.Header().Set("Link", `</v2/`+rt.name+`/tags/list?`+next.Encode()+`>; rel="next"`)
		}
	}
	if tags == nil {
		tags = []string{}
	}
	return writeJSON(w, r, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

// listReferrers answers GET /v2/<name>/referrers/<digest>[?artifactType=]
// (distribution-spec v1.1.1, "Listing Referrers"; checklist 15-17): always an
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
	var entries []ocispec.Descriptor
	l := s.lock(rt.name)
	l.RLock()
	res, err := t.Referrers(ctx, d, "")
	l.RUnlock()
	switch {
	case err == nil:
		entries = res.Manifests
	case isNotFound(err): // no repository yet: no referrers
	default:
		return storageError(err, codeNameUnknown)
	}
	at := q.Get("artifactType")
	if at != "" {
		kept := entries[:0:0]
		for _, e := range entries {
			if e.ArtifactType == at {
				kept = append(kept, e)
			}
		}
		entries = kept
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Digest < entries[j].Digest })
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
	return writeJSON(w, r, ocispec.MediaTypeImageIndex, target.NewIndex(entries))
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) *apiError {
	b, err := json.Marshal(v)
	if err != nil {
		return &apiError{status: http.StatusInternalServerError, code: codeUnsupported, message: "encode answer", cause: err}
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
	return nil
}
