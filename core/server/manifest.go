package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/core/target"
)

// getManifest answers GET and HEAD of /v2/<name>/manifests/<reference>
// (distribution-spec v1.1.1, "Pulling manifests"), with the stored media
// type, the digest and an ETag (the quoted digest) for conditional pushes
// and requests; by digest it is immutable, by tag cacheable for the short
// max-age (see caching.go).
func (s *Server) getManifest(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	t, err := s.repo(rt.name)
	if err != nil {
		return storageError(err, codeNameUnknown)
	}
	var desc ocispec.Descriptor
	var data []byte
	life := byDigest
	if d, err := digest.Parse(rt.ref); err == nil {
		if !d.Algorithm().Available() {
			return errorf(http.StatusBadRequest, codeDigestInvalid, "digest algorithm %q is not supported", clip(string(d.Algorithm())))
		}
		desc, err = t.Resolve(r.Context(), rt.ref)
		if err == nil {
			data, err = t.FetchManifest(r.Context(), desc)
		}
		if err != nil {
			return storageError(err, codeManifestUnknown)
		}
	} else if strings.Contains(rt.ref, ":") {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "%q is not a valid digest: %v", clip(rt.ref), err)
	} else {
		if e := checkTag(rt.ref); e != nil {
			return readOfReserved(e)
		}
		tg, err := t.FetchTagged(r.Context(), rt.ref)
		if err != nil {
			return storageError(err, codeManifestUnknown)
		}
		desc, data, life = tg.Descriptor, tg.Data, mutable
	}
	h := w.Header()
	h.Set("Content-Type", desc.MediaType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Docker-Content-Digest", desc.Digest.String())
	if s.validate(w, r, `"`+desc.Digest.String()+`"`, life) {
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
	return nil
}

// putManifest answers PUT /v2/<name>/manifests/<reference>[?tag=...]
// (distribution-spec v1.1.1, "Pushing Manifests", and "Pushing Manifests with
// Subject": OCI-Subject names the subject the server recorded). A digest
// reference is checked against the body with its own algorithm; a tag gets
// the sha256 digest. The manifest's blobs need not exist (a manifest may name
// layers that are not distributable, or be pushed before its content).
func (s *Server) putManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, rt route) *apiError {
	if r.ContentLength > target.MaxManifestBytes {
		return errorf(http.StatusRequestEntityTooLarge, codeSizeInvalid, "manifest of %d bytes is over the %d byte limit", r.ContentLength, target.MaxManifestBytes)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, target.MaxManifestBytes+1))
	switch {
	case errors.Is(err, errStalled):
		w.Header().Set("Connection", "close")
		return errorf(http.StatusRequestTimeout, codeManifestInvalid, "no byte of the manifest arrived for %v", s.cfg.bodyIdle)
	case err != nil:
		return errorf(http.StatusBadRequest, codeManifestInvalid, "reading the manifest failed after %d bytes", len(data))
	}
	if len(data) > target.MaxManifestBytes {
		return errorf(http.StatusRequestEntityTooLarge, codeSizeInvalid, "manifest is over the %d byte limit", target.MaxManifestBytes)
	}
	var tags []string
	var d digest.Digest
	if pd, err := digest.Parse(rt.ref); err == nil {
		if !pd.Algorithm().Available() {
			return errorf(http.StatusBadRequest, codeDigestInvalid, "digest algorithm %q is not supported", clip(string(pd.Algorithm())))
		}
		d = pd
		if got := d.Algorithm().FromBytes(data); got != d {
			return errorf(http.StatusBadRequest, codeDigestInvalid, "the manifest has digest %s, not %s", got, d)
		}
		tags = r.URL.Query()["tag"]
	} else if strings.Contains(rt.ref, ":") {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "%q is not a valid digest: %v", clip(rt.ref), err)
	} else {
		d = digest.Canonical.FromBytes(data)
		tags = []string{rt.ref}
	}
	for _, tag := range tags {
		if e := checkTag(tag); e != nil {
			return e
		}
	}
	mt, e := checkManifest(r.Header.Get("Content-Type"), data)
	if e != nil {
		return e
	}
	t, unlock, e := s.writeRepo(ctx, rt.name)
	if e != nil {
		return e
	}
	defer unlock()
	desc := ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(data))}
	opts := target.PushOptions{}
	if len(tags) > 0 {
		opts.Tag = tags[0]
		if m := r.Header.Get("If-Match"); m != "" && len(tags) == 1 {
			opts.IfMatch = strings.Trim(m, `"`)
		}
		opts.IfNoneMatch = r.Header.Get("If-None-Match") == "*" && len(tags) == 1
	}
	if _, err := t.PushManifest(ctx, desc, data, opts); err != nil {
		return storageError(err, codeManifestInvalid)
	}
	for _, tag := range tags[min(1, len(tags)):] {
		if _, err := t.PushManifest(ctx, desc, data, target.PushOptions{Tag: tag}); err != nil {
			return storageError(err, codeManifestInvalid)
		}
	}
	h := w.Header()
	h.Set("Location", "/v2/"+rt.name+"/manifests/"+d.String())
	h.Set("Docker-Content-Digest", d.String())
	if _, subject, err := target.ParseReferrer(desc, data); err == nil && subject != nil {
		h.Set("OCI-Subject", subject.Digest.String())
	}
	if rt.ref == d.String() {
		for _, tag := range tags {
			h.Add("OCI-Tag", tag)
		}
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// checkTag refuses a tag outside the grammar of distribution-spec v1.1.1
// ("Pulling manifests": [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}) and one the static
// tree cannot store because its file would be one of the tree's own
// (static.ValidTag: a .mediatype sidecar). Both are 400 MANIFEST_INVALID:
// the spec's error codes (distribution-spec v1.1.1, "Error Codes") have no
// code for a bad tag (TAG_INVALID is distribution's, not the spec's), and
// MANIFEST_INVALID is what a push with a tag the registry refuses gets.
func checkTag(tag string) *apiError {
	switch {
	case !ref.ValidTag(tag):
		return errorf(http.StatusBadRequest, codeManifestInvalid, "%q is not a valid tag", clip(tag))
	case !static.ValidTag(tag):
		return &apiError{status: http.StatusBadRequest, code: codeManifestInvalid, message: fmt.Sprintf("tag %q is reserved: the static tree keeps its own files under such names (<tag>.mediatype)", clip(tag)), reserved: true}
	}
	return nil
}

// readOfReserved is the answer to a read or delete of a tag checkTag
// refused: a reserved tag can never be stored, so it is unknown (404
// MANIFEST_UNKNOWN); one outside the grammar stays 400.
func readOfReserved(e *apiError) *apiError {
	if e.reserved {
		return &apiError{status: http.StatusNotFound, code: codeManifestUnknown, message: notFoundMessage(codeManifestUnknown)}
	}
	return e
}

// writeRepo opens repository name for a write of manifests or tags: under
// its lock (the caller calls unlock) and with every referrers index complete.
func (s *Server) writeRepo(ctx context.Context, name string) (*static.Tree, func(), *apiError) {
	t, err := s.repo(name)
	if err != nil {
		return nil, nil, storageError(err, codeNameUnknown)
	}
	l := s.lock(name)
	l.Lock()
	if err := t.EnsureComplete(ctx); err != nil {
		l.Unlock()
		s.unref(l)
		return nil, nil, storageError(err, codeNameUnknown)
	}
	return t, func() { s.writes.Add(1); l.Unlock(); s.unref(l) }, nil
}

// manifestShape is what checkManifest reads of a manifest.
type manifestShape struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
}

// checkManifest validates a pushed manifest and returns its media type: the
// Content-Type, which must agree with the mediaType field when both are set
// (image-spec v1.1.1 manifest.md and image-index.md). The descriptors must
// be well formed; the content they name is not required.
func checkManifest(contentType string, data []byte) (string, *apiError) {
	mt := strings.TrimSpace(strings.Split(contentType, ";")[0])
	var m manifestShape
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return "", errorf(http.StatusBadRequest, codeManifestInvalid, "the manifest is not a JSON object: %v", err)
	}
	if dec.More() {
		return "", errorf(http.StatusBadRequest, codeManifestInvalid, "data after the manifest's JSON object")
	}
	switch {
	case mt == "" && m.MediaType == "":
		return "", errorf(http.StatusBadRequest, codeManifestInvalid, "no Content-Type and no mediaType field: the manifest's media type is unknown")
	case mt == "":
		mt = m.MediaType
	case m.MediaType != "" && m.MediaType != mt:
		return "", errorf(http.StatusBadRequest, codeManifestInvalid, "Content-Type %q does not match the manifest's mediaType %q", clip(mt), clip(m.MediaType))
	}
	if m.SchemaVersion == nil || *m.SchemaVersion != 2 {
		return "", errorf(http.StatusBadRequest, codeManifestInvalid, "schemaVersion must be 2")
	}
	switch mt {
	case ocispec.MediaTypeImageManifest, target.MediaTypeDockerManifest:
		if m.Config == nil {
			return "", errorf(http.StatusBadRequest, codeManifestInvalid, "an image manifest needs a config descriptor")
		}
	case ocispec.MediaTypeImageIndex, target.MediaTypeDockerManifestList:
		if m.Config != nil || m.Layers != nil {
			return "", errorf(http.StatusBadRequest, codeManifestInvalid, "an index has no config or layers")
		}
	}
	check := func(what string, ds ...ocispec.Descriptor) *apiError {
		for i, d := range ds {
			if err := d.Digest.Validate(); err != nil {
				return errorf(http.StatusBadRequest, codeManifestInvalid, "%s %d: digest %q: %v", what, i, clip(string(d.Digest)), err)
			}
			if d.Size < 0 {
				return errorf(http.StatusBadRequest, codeManifestInvalid, "%s %d: negative size", what, i)
			}
			if d.MediaType == "" {
				return errorf(http.StatusBadRequest, codeManifestInvalid, "%s %d: no mediaType", what, i)
			}
		}
		return nil
	}
	if m.Config != nil {
		if e := check("config", *m.Config); e != nil {
			return "", e
		}
	}
	if e := check("layer", m.Layers...); e != nil {
		return "", e
	}
	if e := check("manifest", m.Manifests...); e != nil {
		return "", e
	}
	if m.Subject != nil {
		if e := check("subject", *m.Subject); e != nil {
			return "", e
		}
	}
	return mt, nil
}

// deleteManifest answers DELETE /v2/<name>/manifests/<reference>
// (distribution-spec v1.1.1, "Deleting tags" and "Deleting Manifests"). A
// digest removes the manifest, the tags that hold it, and its entry in its
// subject's referrers index; a tag removes only the tag.
func (s *Server) deleteManifest(ctx context.Context, w http.ResponseWriter, rt route) *apiError {
	d, derr := digest.Parse(rt.ref)
	switch {
	case derr == nil:
	case strings.Contains(rt.ref, ":"):
		return errorf(http.StatusBadRequest, codeDigestInvalid, "%q is not a valid digest: %v", clip(rt.ref), derr)
	default:
		if e := checkTag(rt.ref); e != nil {
			return readOfReserved(e)
		}
	}
	if !s.exists(rt.name) { // nothing to delete, and no lock to create
		return &apiError{status: http.StatusNotFound, code: codeManifestUnknown, message: notFoundMessage(codeManifestUnknown)}
	}
	t, unlock, e := s.writeRepo(ctx, rt.name)
	if e != nil {
		return e
	}
	defer unlock()
	if derr == nil {
		if err := deleteByDigest(ctx, t, d); err != nil {
			return storageError(err, codeManifestUnknown)
		}
	} else if err := t.DeleteTag(ctx, rt.ref); err != nil {
		return storageError(err, codeManifestUnknown)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func deleteByDigest(ctx context.Context, t *static.Tree, d digest.Digest) error {
	if !d.Algorithm().Available() {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "digest algorithm %q is not supported", clip(string(d.Algorithm())))
	}
	if err := t.DeleteManifest(ctx, d); err != nil {
		return err
	}
	tags, err := t.TagsOf(d)
	if err != nil {
		return nil // no tags directory left: nothing holds it
	}
	for _, tag := range tags {
		if err := t.DeleteTag(ctx, tag); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}
