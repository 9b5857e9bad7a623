package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTP caching: what a CDN or another shared cache in front of the server
// may keep, and for how long (RFC 9111, "HTTP Caching").
//
//   - Blobs and manifests addressed by digest never change: "public,
//     max-age=31536000, immutable" (RFC 9111, 5.2.2.1 max-age; RFC 8246,
//     "The Immutable Cache-Control Extension"). A deleted manifest or blob
//     may live on in caches for that long: content-addressed answers are
//     purged at the cache, not expired.
//   - Manifests by tag, tags lists, referrers lists (every page, with or
//     without artifactType), the catalog and the version check change with
//     pushes: "public, max-age=N" with N = WithCacheMaxAge (default
//     DefaultCacheMaxAge), or "public, no-cache" for 0 (RFC 9111, 5.2.2.4
//     no-cache: stored, but revalidated on every use). A stale copy is
//     revalidated with If-None-Match against its ETag.
//   - Everything else is "no-store" (RFC 9111, 5.2.2.5 no-store): errors
//     (404 of a digest pushed a second later must not be pinned; 401, 429),
//     uploads, pushes and deletes.
//
// ETags are strong (RFC 9110, 8.8.3 ETag): the quoted digest for blobs and
// manifests (by digest or by tag), and for lists a hash of the answer: its
// body and its Link header (a page's Link is part of the answer). The hash
// depends on nothing but those bytes, so every server over the same tree
// (read-only replicas behind one CDN) gives the same ETag for the same
// content, and a cache may revalidate at any of them. If-None-Match, with
// "*" or a list of entity tags, is compared weakly (RFC 9110, 13.1.2
// If-None-Match): a match is 304 Not Modified with the ETag, Cache-Control
// and Vary of the 200 (RFC 9110, 15.4.5 304 Not Modified) and no body. It is
// evaluated only where the answer would be 200 (RFC 9110, 13.2.1 When to
// Evaluate): a conditional GET of an unknown digest is still 404. Blobs carry
// no Last-Modified: a file's time differs between replicas and means
// nothing for content addressed by its digest, so If-Modified-Since is not
// used either.
//
// Public or private: "public" lets a shared cache give one client's answer
// to another, also to requests that carry Authorization (RFC 9111, 3.5
// Storing Responses to Authenticated Requests). That is right when pulls are
// anonymous, as the built-in rules make them. A custom Authorizer may decide
// pulls per client, which the server cannot know, so with WithAuthorizer
// cacheable answers are "private" (RFC 9111, 5.2.2.7 private: only the
// client's own cache keeps them) unless the embedder says reads are the same
// for everyone (WithPublicReads).
//
// Vary (RFC 9110, 12.5.5 Vary): manifests are served with their stored media
// type whatever the Accept header says (no content negotiation), so no
// answer varies on Accept. Under the built-in rules no answer depends on a
// request header, so none is named. With private answers the Authorizer
// reads the request, and the catalog lists what it allows: those answers say
// "Vary: Authorization", so a private cache shared by several identities
// keeps one copy per credential. Errors (401 and its challenge included)
// are never stored, so they need no Vary.
//
// WithCacheHeaders(false) sends no Cache-Control and no Vary (caches then
// store nothing, as before these headers existed); ETags and If-None-Match
// work as above either way.

// DefaultCacheMaxAge is how long a cache may answer a tag, a tags list or a
// referrers list without asking the origin. Ten seconds bound what a client
// that just pushed a signature or tag and then pulls through a CDN can miss
// (a CI job that signs and then verifies), while a busy tag costs the origin
// one revalidation, a 304 without body, per cache per ten seconds, however
// many clients pull it.
const DefaultCacheMaxAge = 10 * time.Second

// immutableMaxAge is a year in seconds, the longest max-age caches are
// commonly held to keep (RFC 9111, 5.2.2.1 max-age; RFC 8246, 2 The
// Immutable Cache-Control Extension).
const immutableMaxAge = 31536000

// lifetime is how a cacheable answer may be kept.
type lifetime int

const (
	byDigest lifetime = iota // content addressed: immutable
	mutable                  // tags and lists: the short max-age
)

// cachePolicy is the caching header values of one server, fixed at New.
type cachePolicy struct {
	on        bool   // WithCacheHeaders
	immutable string // Cache-Control of answers by digest
	mutable   string // Cache-Control of tags and lists
	vary      string // Vary of cacheable answers, "" for none
}

func newCachePolicy(c config) cachePolicy {
	public := c.auth == nil // the built-in rules: anonymous pulls
	if c.publicReadsSet {
		public = c.publicReads
	}
	scope, vary := "public", ""
	if !public {
		scope, vary = "private", "Authorization"
	}
	mutable := scope + ", no-cache"
	if secs := int64(c.cacheMaxAge / time.Second); secs > 0 {
		mutable = scope + ", max-age=" + strconv.FormatInt(secs, 10)
	}
	return cachePolicy{
		on:        c.cacheHeaders,
		immutable: scope + ", max-age=" + strconv.Itoa(immutableMaxAge) + ", immutable",
		mutable:   mutable,
		vary:      vary,
	}
}

// validate sets the ETag and caching headers of a 200 answer to a GET or
// HEAD and reports whether the request's If-None-Match matches etag; then
// it has answered 304 Not Modified and the caller writes nothing more.
func (s *Server) validate(w http.ResponseWriter, r *http.Request, etag string, l lifetime) bool {
	h := w.Header()
	h.Set("ETag", etag)
	if p := s.cache; p.on {
		if l == byDigest {
			h.Set("Cache-Control", p.immutable)
		} else {
			h.Set("Cache-Control", p.mutable)
		}
		if p.vary != "" {
			h.Set("Vary", p.vary)
		}
	}
	if !noneMatch(r.Header.Values("If-None-Match"), etag) {
		return false
	}
	// representation metadata stays out of a 304 (RFC 9110, 15.4.5 304
	// Not Modified); the fields a cache updates its copy with stay in
	h.Del("Content-Type")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusNotModified)
	return true
}

// noStore marks an answer that no cache may keep, when caching headers are
// on: errors, uploads, pushes and deletes. A validator set for the 200 that
// did not happen goes.
func (p cachePolicy) noStore(h http.Header) {
	if !p.on {
		return
	}
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	h.Del("Vary")
}

// listETag is the strong ETag of a list answer: a hash of its Link header
// and body, the same from every server for the same answer.
func listETag(link string, body []byte) string {
	sum := sha256.New()
	sum.Write([]byte(link))
	sum.Write([]byte{0})
	sum.Write(body)
	return `"` + hex.EncodeToString(sum.Sum(nil)) + `"`
}

// noneMatch reports whether If-None-Match field values match etag: "*", or
// an entity tag in the list equal to etag by the weak comparison (RFC 9110,
// 8.8.3.2 Comparison, and 13.1.2 If-None-Match). Malformed members are
// skipped.
func noneMatch(fields []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, f := range fields {
		for f != "" {
			f = strings.TrimLeft(f, " \t,")
			switch {
			case f == "":
			case f[0] == '*':
				return true
			default:
				tag := strings.TrimPrefix(f, "W/")
				if len(tag) > 1 && tag[0] == '"' {
					if end := strings.IndexByte(tag[1:], '"'); end >= 0 {
						if tag[:end+2] == want {
							return true
						}
						f = tag[end+2:]
						continue
					}
				}
				// not an entity tag: skip to the next member
				if i := strings.IndexByte(f, ','); i >= 0 {
					f = f[i+1:]
				} else {
					f = ""
				}
			}
		}
	}
	return false
}
