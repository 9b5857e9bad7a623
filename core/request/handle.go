package request

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/layout"
	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/core/target"
)

// Handle answers req. It validates req first (a Request not from Decode may
// be invalid). Errors wrap ErrMalformed or ErrSource; any other error is a
// bug.
func Handle(ctx context.Context, req Request) (Response, error) {
	return handle(ctx, req)
}

// handle is Handle; it hashes each inline document once (Validate's last
// check), after the checks that need no hashing.
func handle(ctx context.Context, req Request) (Response, error) {
	if err := req.validate(); err != nil {
		return Response{}, err
	}
	if err := verifyDocuments(req.Source.Documents); err != nil {
		return Response{}, err
	}
	t, closeFn, err := open(req.Source)
	if err != nil {
		return Response{}, fmt.Errorf("%w: %w", ErrSource, err)
	}
	defer closeFn()
	subject, err := referrers.ResolveSubject(ctx, t, req.Subject, req.Platform)
	if err != nil {
		return Response{}, fmt.Errorf("%w: subject %s: %w", ErrSource, req.Subject, err)
	}
	resp := Response{APIVersion: APIVersion}
	client := referrers.New()
	switch req.Kind {
	case KindIndexFor:
		idx, err := referrers.IndexFor(ctx, t, subject.Digest)
		if err != nil {
			return Response{}, fmt.Errorf("%w: %w", ErrSource, err)
		}
		resp.Kind, resp.Index = KindIndexForResult, &idx
	case KindList:
		res, err := client.List(ctx, t, subject, referrers.ListOptions{
			ArtifactTypes: req.ArtifactTypes, Annotations: req.Annotations, Depth: req.Depth,
			SortAnnotation: req.SortAnnotation, Latest: req.Latest, IncludeChildren: req.IncludeChildren})
		if err != nil {
			return Response{}, fmt.Errorf("%w: %w", ErrSource, err)
		}
		resp.Kind, resp.Subject, resp.Mode, resp.Warnings = KindListResult, &subject, res.Mode, res.Warnings
		resp.Referrers = res.Referrers
		if resp.Referrers == nil {
			resp.Referrers = []*referrers.Node{}
		}
		resp.Children = res.Children
		for i := range resp.Children {
			if resp.Children[i].Referrers == nil {
				resp.Children[i].Referrers = []*referrers.Node{}
			}
		}
	case KindCheck:
		res, err := client.List(ctx, t, subject, referrers.ListOptions{})
		if err != nil {
			return Response{}, fmt.Errorf("%w: %w", ErrSource, err) // an error is never a verdict
		}
		verdict := policy.Evaluate(subject, res.Index().Manifests, *req.Policy)
		resp.Kind, resp.Subject, resp.Mode, resp.Warnings = KindCheckResult, &subject, res.Mode, res.Warnings
		resp.Result = &verdict
	}
	return resp, nil
}

// open opens the request's source for reading.
func open(s Source) (target.Target, func() error, error) {
	switch {
	case s.Layout != "":
		// One request, one view of index.json (and no clock to judge its
		// age by inside the sandbox).
		l, err := layout.Open(s.Layout, layout.WithStableIndex(true))
		if err != nil {
			return nil, nil, err
		}
		return l, l.Close, nil
	case s.Static != "":
		t, err := static.Open(s.Static, s.Name)
		if err != nil {
			return nil, nil, err
		}
		return t, t.Close, nil
	default:
		d, err := newDocuments(s.Documents)
		return d, func() error { return nil }, err
	}
}

var _ target.BlobReader = (*documents)(nil)

// documents is a read-only target over inline documents. Its referrers
// mechanism is a scan of the documents' subject fields, as a tree's is.
type documents struct {
	byDigest map[digest.Digest]Document
	order    []digest.Digest
}

var errReadOnly = errors.New("inline documents are read-only")

func newDocuments(docs []Document) (*documents, error) {
	d := &documents{byDigest: make(map[digest.Digest]Document, len(docs))}
	for _, doc := range docs {
		if _, dup := d.byDigest[doc.Digest]; dup {
			continue
		}
		d.byDigest[doc.Digest] = doc
		d.order = append(d.order, doc.Digest)
	}
	return d, nil
}

func (d *documents) Name() string { return "documents" }

func (d *documents) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	dg, err := digest.Parse(reference)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%q: inline documents have no tags: %w", reference, target.ErrNotFound)
	}
	doc, ok := d.byDigest[dg]
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("%s is not among the documents: %w", dg, target.ErrNotFound)
	}
	return ocispec.Descriptor{MediaType: doc.MediaType, Digest: doc.Digest, Size: int64(len(doc.Data))}, nil
}

func (d *documents) FetchManifest(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	doc, ok := d.byDigest[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s is not among the documents: %w", desc.Digest, target.ErrNotFound)
	}
	if len(doc.Data) > target.MaxManifestBytes {
		return nil, fmt.Errorf("%s: %w", desc.Digest, target.ErrTooLarge)
	}
	return doc.Data, nil // verified by Validate
}

func (d *documents) FetchTagged(_ context.Context, tag string) (target.Tagged, error) {
	return target.Tagged{}, fmt.Errorf("tag %q: inline documents have no tags: %w", tag, target.ErrNotFound)
}

// OpenBlob implements target.BlobReader: a document is content like any
// blob, read by its digest; anything else is not among the documents.
func (d *documents) OpenBlob(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	doc, ok := d.byDigest[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s is not among the documents: %w", desc.Digest, target.ErrNotFound)
	}
	return target.VerifyBlob(io.NopCloser(bytes.NewReader(doc.Data)), desc), nil
}

func (d *documents) PushBlob(context.Context, ocispec.Descriptor, io.Reader) error {
	return errReadOnly
}

func (d *documents) PushManifest(context.Context, ocispec.Descriptor, []byte, target.PushOptions) (target.PushResult, error) {
	return target.PushResult{}, errReadOnly
}

func (d *documents) DeleteManifest(context.Context, digest.Digest) error { return errReadOnly }

// Referrers scans every document's subject field (image-spec v1.1.1,
// "subject"); a document that is not a manifest with a subject is skipped.
func (d *documents) Referrers(_ context.Context, subject digest.Digest, _ string) (target.ReferrersResult, error) {
	res := target.ReferrersResult{Source: target.SourceScan, Manifests: []ocispec.Descriptor{}}
	for _, dg := range d.order {
		doc := d.byDigest[dg]
		desc := ocispec.Descriptor{MediaType: doc.MediaType, Digest: doc.Digest, Size: int64(len(doc.Data))}
		entry, subj, err := target.ParseReferrer(desc, doc.Data)
		if err != nil || subj == nil || subj.Digest != subject {
			continue
		}
		res.Manifests = append(res.Manifests, entry)
	}
	return res, nil
}

// IndexFor is the referrers index of subject by a scan of the documents
// (referrers.Indexer).
func (d *documents) IndexFor(ctx context.Context, subject digest.Digest) (ocispec.Index, error) {
	res, err := d.Referrers(ctx, subject, "")
	if err != nil {
		return ocispec.Index{}, err
	}
	return target.NewIndex(res.Manifests), nil
}
