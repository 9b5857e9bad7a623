package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// manifestAccept lists the manifest media types this client accepts.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
	target.MediaTypeDockerManifestList, target.MediaTypeDockerManifest, target.MediaTypeArtifactManifest,
}, ", ")

// Repository is one repository of a registry. It implements target.Target.
type Repository struct {
	client   *Client
	host     string // where the API is served
	registry string // as named in references
	name     string
}

var (
	_ target.Target       = (*Repository)(nil)
	_ target.TagLister    = (*Repository)(nil)
	_ target.BlobStreamer = (*Repository)(nil)
)

// Name is "REGISTRY/REPOSITORY".
func (r *Repository) Name() string { return r.registry + "/" + r.name }

// Remote implements target.Remote: every operation is a request.
func (r *Repository) Remote() bool { return true }

func (r *Repository) url(path string) string {
	return r.client.scheme(r.host) + "://" + r.host + "/v2/" + r.name + "/" + path
}

func (r *Repository) req(method, u string, actions ...string) request {
	if len(actions) == 0 {
		actions = []string{"pull"}
	}
	return request{method: method, url: u, header: http.Header{}, repo: r.name, actions: actions}
}

// check judges resp; on failure it consumes and closes the body and returns an
// *HTTPError wrapping the sentinel judge chose.
func check(o op, resp *http.Response, conditional bool) error {
	a := answer{
		status:      resp.StatusCode,
		conditional: conditional,
		challenge:   resp.Header.Get("WWW-Authenticate") != "",
		contentType: mediaType(resp.Header),
	}
	if resp.StatusCode == http.StatusOK && o == opReferrers {
		if a.contentType != ocispec.MediaTypeImageIndex {
			// the Content-Type is wrong or missing: the body may still be an
			// image index (a static tree on a plain web server)
			a.bodyIndex = sniffIndex(resp)
		}
		if ok, kind := judge(o, a); !ok {
			// a false 200: what was read of it is at most a short prefix
			resp.Body.Close()
			ct := "no Content-Type"
			if h := resp.Header.Get("Content-Type"); h != "" {
				ct = "Content-Type " + sanitize(h, 80)
			}
			return &target.UnsupportedAnswer{
				Reason: "the referrers endpoint answered 200 with " + ct + ", not an image index",
				Err: &HTTPError{Method: resp.Request.Method, URL: redactURL(resp.Request.URL.String()), StatusCode: resp.StatusCode,
					Detail: ct + ", not an image index", Kind: kind}}
		}
		return nil
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if ok, _ := judge(o, a); ok {
			return nil
		}
	}
	b := readCapped(resp.Body, maxErrorBody)
	resp.Body.Close()
	for _, e := range parseErrorBody(b) {
		a.codes = append(a.codes, e.Code)
	}
	ok, kind := judge(o, a)
	if ok {
		// judged fine once the body is known (no such row today); keep safe.
		return nil
	}
	return newHTTPError(resp, b, kind)
}

// sniffPrefix is how much of a referrers 200 with a wrong Content-Type is read
// before deciding it cannot be an image index (it does not start with '{').
const sniffPrefix = 512

// sniffIndex reports whether the body of resp, a referrers 200 whose
// Content-Type is not the image index type, is an image index by its own
// mediaType (image-spec v1.1.1, "Image Index"): mediaType
// application/vnd.oci.image.index.v1+json, schemaVersion 2 and a manifests
// array. It reads a short prefix first, so an HTML page or other large body
// that cannot be JSON costs at most sniffPrefix bytes, and then at most
// target.MaxManifestBytes+1 (a larger body is not taken for an index). When it
// reports true, resp.Body is replaced by the bytes read (closing it closes the
// original), for readIndexPage.
func sniffIndex(resp *http.Response) bool {
	prefix, _ := io.ReadAll(io.LimitReader(resp.Body, sniffPrefix))
	if t := bytes.TrimLeft(prefix, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return false
	}
	if resp.ContentLength > target.MaxManifestBytes {
		return false
	}
	rest, err := io.ReadAll(io.LimitReader(resp.Body, target.MaxManifestBytes+1-int64(len(prefix))))
	if err != nil {
		return false
	}
	b := append(prefix, rest...)
	if len(b) > target.MaxManifestBytes {
		return false
	}
	var idx struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
	}
	if json.Unmarshal(b, &idx) != nil || idx.MediaType != ocispec.MediaTypeImageIndex || idx.SchemaVersion != 2 ||
		len(idx.Manifests) == 0 || idx.Manifests[0] != '[' {
		return false
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{bytes.NewReader(b), resp.Body}
	return true
}

// genericType reports whether a manifest answer's Content-Type says nothing
// of what the manifest is: missing, or what a plain web server sends for a
// file without a known extension.
func genericType(mt string) bool {
	switch mt {
	case "", "application/octet-stream", "binary/octet-stream", "text/plain", "application/json":
		return true
	}
	return false
}

// Resolve implements target.Target: HEAD the manifest, and GET it when the
// registry does not say its digest, type or size, or says only a generic type
// (genericType; a plain web server serving a static tree): the GET takes the
// type from the manifest's own mediaType and hashes the bytes.
func (r *Repository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	what := r.refString(reference)
	rq := r.req(http.MethodHead, r.url("manifests/"+reference))
	rq.header.Set("Accept", manifestAccept)
	resp, err := r.client.do(ctx, rq)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolve %s: %w", what, err)
	}
	if err := check(opManifestHead, resp, false); err != nil {
		if errors.Is(err, target.ErrNotFound) {
			// a HEAD answer has no body to say more: name the likely causes
			return ocispec.Descriptor{}, fmt.Errorf("resolve %s: no such manifest (unknown tag, digest or repository): %w", what, err)
		}
		return ocispec.Descriptor{}, fmt.Errorf("resolve %s: %w", what, err)
	}
	resp.Body.Close()
	desc := ocispec.Descriptor{MediaType: mediaType(resp.Header), Size: resp.ContentLength}
	dg := resp.Header.Get("Docker-Content-Digest")
	if dg != "" {
		d, err := digest.Parse(dg)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("resolve %s: registry sent a bad Docker-Content-Digest: %w", what, err)
		}
		desc.Digest = d
	}
	if want, err := digest.Parse(reference); err == nil {
		if desc.Digest != "" && desc.Digest != want {
			return ocispec.Descriptor{}, fmt.Errorf("resolve %s@%s: registry answered for %s: %w", r.Name(), want, desc.Digest, target.ErrDigestMismatch)
		}
		desc.Digest = want
	}
	if desc.Digest == "" || genericType(desc.MediaType) || desc.Size <= 0 {
		t, err := r.get(ctx, reference, digestOrEmpty(reference))
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if desc.Digest == "" {
			t.Descriptor.Digest = r.storedDigest(ctx, t.Descriptor.Digest, t.Data)
		}
		return t.Descriptor, nil
	}
	return desc, nil
}

// storedDigest is the digest a registry that does not say a tag's digest (a
// plain web server serving a static tree) stores the manifest under: d, the
// canonical sha256 of data, when the manifest is there by d; else its sha512
// when it is there by that (a manifest pushed by a sha512 digest is stored,
// and its referrers indexed, only under it); else d. One or two HEADs, only
// for such a registry; an error of theirs keeps d.
func (r *Repository) storedDigest(ctx context.Context, d digest.Digest, data []byte) digest.Digest {
	if r.hasManifest(ctx, d) || !digest.SHA512.Available() {
		return d
	}
	if d512 := digest.SHA512.FromBytes(data); r.hasManifest(ctx, d512) {
		r.client.debugf("registry: %s does not say the digest of a tag; its manifest is stored as %s", r.Name(), d512)
		return d512
	}
	return d
}

// hasManifest reports whether a HEAD of the manifest d succeeds.
func (r *Repository) hasManifest(ctx context.Context, d digest.Digest) bool {
	rq := r.req(http.MethodHead, r.url("manifests/"+d.String()))
	rq.header.Set("Accept", manifestAccept)
	resp, err := r.client.do(ctx, rq)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// refString renders reference in this repository as a user writes it:
// REPO@DIGEST for a digest, REPO:TAG for a tag.
func (r *Repository) refString(reference string) string {
	if digestOrEmpty(reference) != "" {
		return r.Name() + "@" + reference
	}
	return r.Name() + ":" + reference
}

func digestOrEmpty(s string) digest.Digest {
	d, err := digest.Parse(s)
	if err != nil {
		return ""
	}
	return d
}

// FetchManifest implements target.Target.
func (r *Repository) FetchManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("fetch manifest from %s: %w", r.Name(), err)
	}
	t, err := r.getSized(ctx, desc.Digest.String(), desc.Digest, desc.Size)
	if err != nil {
		return nil, err
	}
	return t.Data, nil
}

// FetchTagged implements target.Target with one GET: a HEAD first would add
// a round trip whenever the tag exists (a missing tag is one 404 either way),
// and what the GET reads is capped and verified.
func (r *Repository) FetchTagged(ctx context.Context, tag string) (target.Tagged, error) {
	return r.get(ctx, tag, "")
}

func (r *Repository) get(ctx context.Context, reference string, want digest.Digest) (target.Tagged, error) {
	return r.getSized(ctx, reference, want, -1)
}

// getSized GETs a manifest. want, when set, is the digest the bytes must have;
// size, when >= 0, the exact size they must have.
func (r *Repository) getSized(ctx context.Context, reference string, want digest.Digest, size int64) (target.Tagged, error) {
	what := r.refString(reference)
	rq := r.req(http.MethodGet, r.url("manifests/"+reference))
	rq.header.Set("Accept", manifestAccept)
	resp, err := r.client.do(ctx, rq)
	if err != nil {
		return target.Tagged{}, fmt.Errorf("fetch %s: %w", what, err)
	}
	if err := check(opManifestGet, resp, false); err != nil {
		return target.Tagged{}, fmt.Errorf("fetch %s: %w", what, err)
	}
	defer resp.Body.Close()
	limit := int64(target.MaxManifestBytes)
	if size >= 0 && size < limit {
		limit = size
	}
	if resp.ContentLength > limit {
		return target.Tagged{}, fmt.Errorf("fetch %s: %d bytes, more than %d: %w", what, resp.ContentLength, limit, tooLargeOrMismatch(size))
	}
	data, err := readAllSized(resp, limit+1)
	if err != nil {
		return target.Tagged{}, fmt.Errorf("fetch %s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return target.Tagged{}, fmt.Errorf("fetch %s: more than %d bytes: %w", what, limit, tooLargeOrMismatch(size))
	}
	alg := digest.Canonical
	if want != "" {
		alg = want.Algorithm()
	}
	if !alg.Available() {
		return target.Tagged{}, fmt.Errorf("fetch %s: digest algorithm %q unavailable", what, alg)
	}
	got := alg.FromBytes(data)
	if want != "" && got != want {
		return target.Tagged{}, fmt.Errorf("fetch %s: content has digest %s: %w", what, got, target.ErrDigestMismatch)
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && want == "" {
		if hd, err := digest.Parse(h); err == nil && hd.Algorithm() == alg && hd != got {
			return target.Tagged{}, fmt.Errorf("fetch %s: registry says %s, content has %s: %w", what, hd, got, target.ErrDigestMismatch)
		}
	}
	mt := mediaType(resp.Header)
	if m := target.MediaTypeOf(data); m != "" {
		mt = m
	}
	return target.Tagged{
		Descriptor: ocispec.Descriptor{MediaType: mt, Digest: got, Size: int64(len(data))},
		Data:       data,
		ETag:       resp.Header.Get("ETag"),
	}, nil
}

func tooLargeOrMismatch(size int64) error {
	if size >= 0 && size < target.MaxManifestBytes {
		return target.ErrDigestMismatch
	}
	return target.ErrTooLarge
}

// PushBlob implements target.Target: HEAD the blob and skip it when present,
// else POST an upload and PUT the content in one streamed request (monolithic
// upload, distribution-spec v1.1.1 "POST then PUT"). The content is hashed while
// it streams, and a mismatch aborts the upload.
func (r *Repository) PushBlob(ctx context.Context, desc ocispec.Descriptor, body io.Reader) error {
	exists, err := r.BlobExists(ctx, desc)
	if err != nil {
		return err
	}
	if exists {
		return nil
	}
	what := fmt.Sprintf("push blob %s to %s", desc.Digest, r.Name())
	loc, err := r.startUpload(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	q := loc.Query()
	q.Set("digest", desc.Digest.String())
	loc.RawQuery = q.Encode()

	tries := 0
	var prev *tryBody
	put := r.req(http.MethodPut, loc.String(), "pull", "push")
	put.header.Set("Content-Type", "application/octet-stream")
	put.length = desc.Size
	put.body = func() (io.ReadCloser, error) {
		s, seekable := body.(io.Seeker)
		if tries > 0 {
			if !seekable {
				return nil, errors.New("cannot resend a streamed body")
			}
			// the transport may still be reading the previous try's body
			// (it closes it when done, possibly after the answer arrived)
			select {
			case <-prev.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if _, err := s.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
		}
		tries++
		if !seekable {
			// never rewound: nothing to wait for
			return target.VerifyBlob(io.NopCloser(body), desc), nil
		}
		prev = &tryBody{r: target.VerifyBlob(io.NopCloser(body), desc), done: make(chan struct{})}
		return prev, nil
	}
	if loc.Host != r.host {
		// an upload location elsewhere gets no credentials of this registry
		put.noAuth = true
	}
	resp, err := r.client.do(ctx, put)
	if err == nil {
		err = check(opUploadFinish, resp, false)
	}
	if err != nil {
		if tries > 1 && ctx.Err() == nil {
			// a try whose answer was lost may have stored the blob, and
			// then the retry finds the upload gone: the blob is what counts
			if ok, herr := r.BlobExists(ctx, desc); herr == nil && ok {
				return nil
			}
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	drain(resp)
	return nil
}

// startUpload opens an upload session (distribution-spec v1.1.1, "Pushing
// Blobs": POST) and returns its location.
func (r *Repository) startUpload(ctx context.Context) (*url.URL, error) {
	rq := r.req(http.MethodPost, r.url("blobs/uploads/"), "pull", "push")
	rq.replayable = true // a session left behind by a lost answer is harmless
	resp, err := r.client.do(ctx, rq)
	if err != nil {
		return nil, err
	}
	if err := check(opUploadStart, resp, false); err != nil {
		return nil, err
	}
	drain(resp)
	return uploadLocation(resp, nil)
}

// uploadLocation is the Location an upload answer names, resolved against
// the request's URL; prev when it names none (and prev is not nil).
func uploadLocation(resp *http.Response, prev *url.URL) (*url.URL, error) {
	h := resp.Header.Get("Location")
	if h == "" && prev != nil {
		return prev, nil
	}
	loc, err := resp.Request.URL.Parse(h)
	if err != nil || h == "" {
		return nil, errors.New("registry sent no usable upload Location")
	}
	return loc, nil
}

// PushBlobStream implements target.BlobStreamer: it stores the size bytes of
// body, hashing them (with alg) as they are sent, in one pass: POST, one
// PATCH carrying the whole content as a single chunk (Content-Range 0-(size-1)),
// and the closing PUT with the digest (distribution-spec v1.1.1, "Pushing a
// blob in chunks"). The monolithic upload (PushBlob) needs the digest before
// the first byte is sent, so a file is read twice, once to hash it and once
// to send it. A PATCH the registry refuses (judged target.ErrUnsupported:
// 400, 405, 415, 416, 501) has stored nothing: the caller hashes the content
// and uses PushBlob. The PATCH is never resent (body is read once); an
// upload that fails is an error.
func (r *Repository) PushBlobStream(ctx context.Context, body io.Reader, size int64, alg digest.Algorithm) (digest.Digest, error) {
	what := fmt.Sprintf("push a blob of %d bytes to %s", size, r.Name())
	if !alg.Available() {
		return "", fmt.Errorf("%s: digest algorithm %q unavailable", what, alg)
	}
	loc, err := r.startUpload(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	d := alg.Digester()
	if size > 0 {
		sent := false
		patch := r.req(http.MethodPatch, loc.String(), "pull", "push")
		patch.header.Set("Content-Type", "application/octet-stream")
		patch.header.Set("Content-Range", fmt.Sprintf("0-%d", size-1))
		patch.length = size
		patch.body = func() (io.ReadCloser, error) {
			if sent {
				return nil, errors.New("cannot resend a streamed body")
			}
			sent = true
			return io.NopCloser(io.TeeReader(io.LimitReader(body, size), d.Hash())), nil
		}
		patch.noAuth = loc.Host != r.host
		resp, err := r.client.do(ctx, patch)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if err := check(opUploadChunk, resp, false); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		drain(resp)
		if loc, err = uploadLocation(resp, loc); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
	}
	dg := d.Digest()
	q := loc.Query()
	q.Set("digest", dg.String())
	loc.RawQuery = q.Encode()
	put := r.req(http.MethodPut, loc.String(), "pull", "push")
	put.noAuth = loc.Host != r.host
	resp, err := r.client.do(ctx, put)
	if err == nil {
		err = check(opUploadFinish, resp, false)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	drain(resp)
	return dg, nil
}

// tryBody is the body of one try of a request whose seekable reader is shared
// between tries. Close, which the transport calls once it is done with the body
// (possibly from another goroutine than the one reading it), waits for a Read
// in progress and ends reading; done is closed then, and only then may a retry
// rewind the shared reader. (A seekable reader's Read does not block for long,
// so neither does Close.)
type tryBody struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
	done   chan struct{}
}

func (b *tryBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errors.New("read after close")
	}
	return b.r.Read(p)
}

func (b *tryBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
	return nil
}

// BlobExists HEADs a blob.
func (r *Repository) BlobExists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	resp, err := r.client.do(ctx, r.req(http.MethodHead, r.url("blobs/"+desc.Digest.String()), "pull", "push"))
	if err != nil {
		return false, fmt.Errorf("check blob %s in %s: %w", desc.Digest, r.Name(), err)
	}
	err = check(opBlobHead, resp, false)
	if errors.Is(err, target.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check blob %s in %s: %w", desc.Digest, r.Name(), err)
	}
	drain(resp)
	return true, nil
}

// OpenBlob implements target.BlobReader: it streams a blob; the reader fails
// with target.ErrDigestMismatch at the end when the content does not match
// desc, and a missing blob is target.ErrNotFound. Redirects to other hosts
// (CDNs) are followed without our credentials.
func (r *Repository) OpenBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	resp, err := r.client.do(ctx, r.req(http.MethodGet, r.url("blobs/"+desc.Digest.String())))
	if err != nil {
		return nil, fmt.Errorf("fetch blob %s from %s: %w", desc.Digest, r.Name(), err)
	}
	if err := check(opBlobGet, resp, false); err != nil {
		return nil, fmt.Errorf("fetch blob %s from %s: %w", desc.Digest, r.Name(), err)
	}
	return target.VerifyBlob(resp.Body, desc), nil
}

// PushManifest implements target.Target. The Content-Type is the manifest's
// mediaType (distribution-spec v1.1.1, Pushing Manifests with Subject) and the registry's Docker-Content-Digest must equal
// ours (distribution-spec v1.1.1, Pushing Manifests with Subject).
func (r *Repository) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, opts target.PushOptions) (target.PushResult, error) {
	reference := desc.Digest.String()
	if opts.Tag != "" {
		reference = opts.Tag
	}
	what := fmt.Sprintf("push manifest %s to %s", desc.Digest, r.Name())
	if opts.Tag != "" {
		what += ":" + opts.Tag
	}
	if len(data) > target.MaxManifestBytes {
		return target.PushResult{}, fmt.Errorf("%s: %d bytes, more than %d: %w", what, len(data), target.MaxManifestBytes, target.ErrTooLarge)
	}
	rq := r.req(http.MethodPut, r.url("manifests/"+reference), "pull", "push")
	rq.header.Set("Content-Type", desc.MediaType)
	rq.length = int64(len(data))
	rq.body = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	rq.notAfter = opts.NotAfter
	conditional := false
	if opts.IfMatch != "" {
		rq.header.Set("If-Match", opts.IfMatch)
		conditional = true
	}
	if opts.IfNoneMatch {
		rq.header.Set("If-None-Match", "*")
		conditional = true
	}
	resp, err := r.client.do(ctx, rq)
	if err != nil {
		return target.PushResult{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := check(opManifestPut, resp, conditional); err != nil {
		return target.PushResult{}, fmt.Errorf("%s: %w", what, err)
	}
	drain(resp)
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		got, err := digest.Parse(h)
		if err != nil || got != desc.Digest {
			return target.PushResult{}, fmt.Errorf("%s: registry says it stored \"%s\": %w", what, sanitize(h, 140), target.ErrDigestMismatch)
		}
	}
	var res target.PushResult
	if s := resp.Header.Get("OCI-Subject"); s != "" {
		var m struct {
			Subject *ocispec.Descriptor `json:"subject"`
		}
		if json.Unmarshal(data, &m) == nil && m.Subject != nil && m.Subject.Digest.String() == strings.TrimSpace(s) {
			res.SubjectRecorded = true
		}
	}
	return res, nil
}

// DeleteManifest implements target.Target.
func (r *Repository) DeleteManifest(ctx context.Context, d digest.Digest) error {
	resp, err := r.client.do(ctx, r.req(http.MethodDelete, r.url("manifests/"+d.String()), "delete"))
	if err != nil {
		return fmt.Errorf("delete %s@%s: %w", r.Name(), d, err)
	}
	if err := check(opManifestDelete, resp, false); err != nil {
		return fmt.Errorf("delete %s@%s: %w", r.Name(), d, err)
	}
	drain(resp)
	return nil
}

// Referrers implements target.Target with the Referrers API
// (distribution-spec v1.1.1, "Listing Referrers"): the artifactType filter is
// sent when one is asked for (never empty), Link rel="next" pages (RFC 8288)
// are followed and merged with relative URLs resolved, other hosts or schemes
// refused, loops detected and pages, bytes and entries capped (the client's
// bounds against a hostile registry, see docs/safety.md). Only the first page
// decides "unsupported" (distribution-spec v1.1.1, Listing Referrers and
// Unavailable Referrers API); a later page that fails is an error, never a
// partial list.
func (r *Repository) Referrers(ctx context.Context, subject digest.Digest, artifactType string) (target.ReferrersResult, error) {
	what := fmt.Sprintf("list referrers of %s@%s", r.Name(), subject)
	u, err := url.Parse(r.url("referrers/" + subject.String()))
	if err != nil {
		return target.ReferrersResult{}, fmt.Errorf("%s: %w", what, err)
	}
	if artifactType != "" {
		u.RawQuery = url.Values{"artifactType": {artifactType}}.Encode()
	}
	var res target.ReferrersResult
	res.Source = target.SourceAPI
	res.FilterApplied = artifactType != ""
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page >= r.client.maxPages {
			return target.ReferrersResult{}, fmt.Errorf("%s: more than %d pages: %w", what, r.client.maxPages, target.ErrTooLarge)
		}
		if seen[u.String()] {
			return target.ReferrersResult{}, fmt.Errorf("%s: the registry's Link pages loop back to %s", what, redactURL(u.String()))
		}
		seen[u.String()] = true
		resp, err := r.client.do(ctx, r.req(http.MethodGet, u.String()))
		if err != nil {
			return target.ReferrersResult{}, fmt.Errorf("%s: %w", what, err)
		}
		if err := check(opReferrers, resp, false); err != nil {
			if page > 0 && errors.Is(err, target.ErrUnsupported) {
				err = fmt.Errorf("page %d: %w", page+1, errors.Join(errors.New("a later page is not an image index"), stripKind(err)))
			}
			return target.ReferrersResult{}, fmt.Errorf("%s: %w", what, err)
		}
		if ct := mediaType(resp.Header); ct != ocispec.MediaTypeImageIndex {
			r.client.debugf("registry: %s: the registry sent Content-Type %q for an image index (read by the body's mediaType)", redactURL(u.String()), ct)
		}
		idx, applied, err := readIndexPage(resp)
		resp.Body.Close()
		if err != nil {
			return target.ReferrersResult{}, fmt.Errorf("%s: page %d: %w", what, page+1, err)
		}
		res.FilterApplied = res.FilterApplied && applied
		if res.Manifests == nil {
			res.Manifests = idx.Manifests // the first page: no copy
		} else {
			res.Manifests = append(res.Manifests, idx.Manifests...)
		}
		if len(res.Manifests) > r.client.maxEntries {
			return target.ReferrersResult{}, fmt.Errorf("%s: more than %d referrers: %w", what, r.client.maxEntries, target.ErrTooLarge)
		}
		next := NextLink(resp.Header.Get("Link"))
		if next == "" {
			return res, nil
		}
		if u, err = resolveNext(u, next); err != nil {
			return target.ReferrersResult{}, fmt.Errorf("%s: %w", what, err)
		}
	}
}

// stripKind drops the sentinel from an HTTPError so a later page's odd answer is
// not mistaken for "unsupported".
func stripKind(err error) error {
	var he *HTTPError
	if errors.As(err, &he) {
		cp := *he
		cp.Kind = nil
		return &cp
	}
	return err
}

// readIndexPage decodes one page of a referrers response (capped at
// target.MaxManifestBytes) and says whether the artifactType filter was applied,
// by the OCI-Filters-Applied header or the legacy annotation of v1.1.0-rc1
// (distribution-spec v1.1.1, Listing Referrers; the filtersApplied annotation of distribution-spec v1.1.0-rc1).
func readIndexPage(resp *http.Response) (ocispec.Index, bool, error) {
	if resp.ContentLength > target.MaxManifestBytes {
		return ocispec.Index{}, false, fmt.Errorf("%d bytes, more than %d: %w", resp.ContentLength, target.MaxManifestBytes, target.ErrTooLarge)
	}
	b, err := readAllSized(resp, target.MaxManifestBytes+1)
	if err != nil {
		return ocispec.Index{}, false, err
	}
	if len(b) > target.MaxManifestBytes {
		return ocispec.Index{}, false, fmt.Errorf("more than %d bytes: %w", target.MaxManifestBytes, target.ErrTooLarge)
	}
	idx, err := target.DecodeIndex(b)
	if err != nil {
		return ocispec.Index{}, false, err
	}
	applied := false
	for _, v := range resp.Header.Values("OCI-Filters-Applied") {
		for _, f := range strings.Split(v, ",") {
			if strings.TrimSpace(f) == "artifactType" {
				applied = true
			}
		}
	}
	if v := idx.Annotations["org.opencontainers.referrers.filtersApplied"]; v != "" {
		for _, f := range strings.Split(v, ",") {
			if strings.TrimSpace(f) == "artifactType" {
				applied = true
			}
		}
	}
	return idx, applied, nil
}

// Tags implements target.TagLister: GET /v2/NAME/tags/list (distribution-spec
// v1.1.1, "Listing Tags"), following Link rel="next" pages as Referrers does
// (relative URLs resolved, other hosts refused, loops detected, pages, bytes
// and entries capped). No n is sent: the registry picks its page size.
func (r *Repository) Tags(ctx context.Context) ([]string, error) {
	what := fmt.Sprintf("list tags of %s", r.Name())
	u, err := url.Parse(r.url("tags/list"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var tags []string
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page >= r.client.maxPages {
			return nil, fmt.Errorf("%s: more than %d pages: %w", what, r.client.maxPages, target.ErrTooLarge)
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("%s: the registry's Link pages loop back to %s", what, redactURL(u.String()))
		}
		seen[u.String()] = true
		resp, err := r.client.do(ctx, r.req(http.MethodGet, u.String()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if err := check(opTags, resp, false); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, target.MaxManifestBytes+1))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if len(b) > target.MaxManifestBytes {
			return nil, fmt.Errorf("%s: page %d: more than %d bytes: %w", what, page+1, target.MaxManifestBytes, target.ErrTooLarge)
		}
		var body struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			return nil, fmt.Errorf("%s: page %d: %w", what, page+1, err)
		}
		tags = append(tags, body.Tags...)
		if len(tags) > r.client.maxEntries {
			return nil, fmt.Errorf("%s: more than %d tags: %w", what, r.client.maxEntries, target.ErrTooLarge)
		}
		next := NextLink(resp.Header.Get("Link"))
		if next == "" {
			return tags, nil
		}
		if u, err = resolveNext(u, next); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
}

// readAllSized reads at most limit bytes of resp's body into a buffer sized
// by its Content-Length when the registry sent one (a referrers page of
// 2,000 entries is about 500 kB: growing a buffer to it copies it a dozen
// times).
func readAllSized(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n < limit {
		b := make([]byte, 0, n+1)
		for {
			k, err := resp.Body.Read(b[len(b):cap(b)])
			b = b[:len(b)+k]
			if err == io.EOF {
				return b, nil
			}
			if err != nil {
				return b, err
			}
			if len(b) == cap(b) {
				// longer than it said: read on, capped
				rest, err := io.ReadAll(io.LimitReader(resp.Body, limit-int64(len(b))))
				return append(b, rest...), err
			}
		}
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}
