// Package static is the registry-v2 static tree (the `static:` transport) as
// a target.Target: `static:DIR:NAME[:TAG|@DIGEST]`.
//
// Files, under DIR:
//
//	v2/<name>/manifests/<tag or digest>             the manifest bytes
//	v2/<name>/manifests/<tag or digest>.mediatype   its Content-Type
//	v2/<name>/blobs/<digest>                        blobs
//	v2/<name>/referrers/<digest>                    pre-rendered referrers index of a subject
//	v2/<name>/referrers/<digest>.mediatype          application/vnd.oci.image.index.v1+json
//	v2/<name>/referrers/.complete                   freshness marker (see below)
//
// A plain web server that maps URL paths to these files serves pulls and the
// Referrers API (GET /v2/<name>/referrers/<digest>) from the tree. A subject
// without referrers has no file, or an empty image index (a rebuild with
// AllOptions.Empty writes one for every stored manifest, so that such a server
// answers 200, not 404); both mean "no referrers", and an empty file is
// trusted or not by the freshness rules below like any other. The response
// headers such a server needs are package hosting's.
//
// Freshness: a referrers file is trusted while it is at least as new as the
// manifests directory (whose modification time changes whenever a manifest
// file is added, replaced or removed), or while the .complete marker is: the
// marker says every referrers file was right at that time (written by
// `index-for --all` and kept by our own attaches, which update the subject's
// file and the marker under the tree's lock). Otherwise Referrers scans the
// stored manifests' subject fields (IndexFor). Writes by
// other tools make the tree stale, never wrong. Timestamps are coarse on some
// file systems (a few ms): a foreign write within that window after ours is
// not noticed until the next one. Our own writes do not rely on timestamps
// to survive a crash: before the manifests change they remove, durably, the
// marker and the subject's referrers file, and write them again at the end; a crash in between leaves the tree stale.
package static

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
)

const (
	maxSidecar = 1024
	marker     = ".complete"
	lockName   = ".referrers.lock"
)

// Tree is one repository of a static tree.
type Tree struct {
	dir  string
	name string
	base string // v2/<name>
	fsys fs.FS
	root *os.Root // nil: read-only
}

// Open opens repository name of the tree in dir, through os.OpenRoot. The
// caller closes it.
func Open(dir, name string) (*Tree, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open static tree %s: %w", dir, err)
	}
	t, err := New(tree.ReadFS(root), root, dir, name)
	if err != nil {
		root.Close()
		return nil, err
	}
	return t, nil
}

// New returns repository name of the tree in fsys (dir names it in
// messages). root, when not nil, is the same tree and enables writes.
func New(fsys fs.FS, root *os.Root, dir, name string) (*Tree, error) {
	if err := ref.ValidRepository(name); err != nil {
		return nil, fmt.Errorf("static tree %s: repository %q: %w: %w", dir, name, ref.ErrInvalid, err)
	}
	return &Tree{dir: dir, name: name, base: "v2/" + name, fsys: fsys, root: root}, nil
}

// Close releases the directory.
func (t *Tree) Close() error {
	if t.root != nil {
		return t.root.Close()
	}
	return nil
}

// Name is "static:DIR:NAME".
func (t *Tree) Name() string { return "static:" + t.dir + ":" + t.name }

// ValidTag reports whether tag can name a tag of a static tree: a tag of
// the grammar of distribution-spec v1.1.1, "Pulling manifests"
// ([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}), whose file v2/<name>/manifests/<tag>
// cannot be one of the files the tree keeps beside its manifests: a media
// type sidecar (<tag or digest>.mediatype, compared without regard to case,
// for case-insensitive file systems), or a file whose name starts with a dot
// (the temporary files of atomic writes, .tmp-*, and the .complete marker and
// .referrers.lock, which the grammar already excludes). A tag that fails it
// would read, list or delete another tag's sidecar; pushes of it are
// refused, reads and deletes find nothing. The server (package server) and
// `referrers attach --tag` onto a static tree refuse the same names.
func ValidTag(tag string) bool {
	if !ref.ValidTag(tag) || strings.HasPrefix(tag, ".") {
		return false
	}
	const sidecar = ".mediatype"
	return len(tag) < len(sidecar) || !strings.EqualFold(tag[len(tag)-len(sidecar):], sidecar)
}

func (t *Tree) manifestPath(reference string) (string, error) {
	if d, err := digest.Parse(reference); err == nil {
		return t.base + "/manifests/" + d.String(), nil
	}
	if !ValidTag(reference) {
		return "", fmt.Errorf("%s: %q is neither a tag nor a digest: %w", t.Name(), reference, ref.ErrInvalid)
	}
	return t.base + "/manifests/" + reference, nil
}

func (t *Tree) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	return t.base + "/blobs/" + d.String(), nil
}

func (t *Tree) referrersPath(d digest.Digest) string { return t.base + "/referrers/" + d.String() }

func (t *Tree) mediaType(p string, data []byte) (string, error) {
	b, err := tree.ReadFile(t.fsys, p+".mediatype", maxSidecar)
	if err == nil {
		if mt := strings.TrimSpace(string(b)); mt != "" {
			return mt, nil
		}
	} else if !errors.Is(err, target.ErrNotFound) {
		return "", err
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(data, &m) != nil || m.MediaType == "" {
		return "", fmt.Errorf("%s: %s has no .mediatype and no mediaType field: %w", t.Name(), p, target.ErrInvalidManifest)
	}
	return m.MediaType, nil
}

// read reads a manifest by tag or digest; a digest is verified, a tag is
// digested with sha256.
func (t *Tree) read(reference string) (ocispec.Descriptor, []byte, error) {
	p, err := t.manifestPath(reference)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	var b []byte
	d, derr := digest.Parse(reference)
	if derr == nil {
		b, err = tree.ReadVerified(t.fsys, p, d, target.MaxManifestBytes)
	} else {
		b, err = tree.ReadFile(t.fsys, p, target.MaxManifestBytes)
		if err == nil {
			d = t.tagDigest(b)
		}
	}
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: manifest %s: %w", t.Name(), reference, err)
	}
	mt, err := t.mediaType(p, b)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}, b, nil
}

// tagDigest is the digest of a tagged manifest: sha256, unless the tree
// stores the manifest under another algorithm's digest only (a tag has no
// Docker-Content-Digest to say which).
func (t *Tree) tagDigest(b []byte) digest.Digest {
	d := digest.SHA256.FromBytes(b)
	if _, err := fs.Stat(t.fsys, t.base+"/manifests/"+d.String()); err == nil {
		return d
	}
	for _, alg := range []digest.Algorithm{digest.SHA512, digest.SHA384} {
		if !alg.Available() {
			continue
		}
		if o := alg.FromBytes(b); o != "" {
			if _, err := fs.Stat(t.fsys, t.base+"/manifests/"+o.String()); err == nil {
				return o
			}
		}
	}
	return d
}

// Resolve reads the manifest a tag or digest names.
func (t *Tree) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	d, _, err := t.read(reference)
	return d, err
}

// FetchManifest reads a manifest by digest, verified.
func (t *Tree) FetchManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	_, b, err := t.read(desc.Digest.String())
	return b, err
}

// FetchTagged reads a tag; its ETag is the digest of what it holds.
func (t *Tree) FetchTagged(ctx context.Context, tag string) (target.Tagged, error) {
	if !ValidTag(tag) {
		return target.Tagged{}, fmt.Errorf("tag %q: %w", tag, ref.ErrInvalid)
	}
	d, b, err := t.read(tag)
	if err != nil {
		return target.Tagged{}, err
	}
	return target.Tagged{Descriptor: d, Data: b, ETag: d.Digest.String()}, nil
}

func (t *Tree) writable() error {
	if t.root == nil {
		return fmt.Errorf("%s is open read-only: %w", t.Name(), target.ErrUnsupported)
	}
	return nil
}

// PushBlob writes a blob atomically after verifying it.
func (t *Tree) PushBlob(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if err := t.writable(); err != nil {
		return err
	}
	p, err := t.blobPath(desc.Digest)
	if err != nil {
		return err
	}
	if err := tree.WriteBlob(t.root, p, desc.Digest, desc.Size, r); err != nil {
		return fmt.Errorf("%s: %w", t.Name(), err)
	}
	return nil
}

// PushManifest writes the manifest under its digest (and tag) with its
// .mediatype sidecar. For a manifest with a subject it also updates the
// subject's pre-rendered referrers index, under the tree's lock: from the
// fresh file plus the new entry, or from a scan when the file is stale.
// IfMatch (a digest, from FetchTagged) and IfNoneMatch are honoured.
func (t *Tree) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, opts target.PushOptions) (target.PushResult, error) {
	if err := t.writable(); err != nil {
		return target.PushResult{}, err
	}
	entry, subject, err := tree.CheckManifest(desc, data, opts.Tag)
	if err != nil {
		return target.PushResult{}, err
	}
	if opts.Tag != "" && !ValidTag(opts.Tag) {
		return target.PushResult{}, fmt.Errorf("tag %q: the static tree keeps its own files under such names (see ValidTag): %w", opts.Tag, ref.ErrInvalid)
	}
	mt := entry.MediaType
	if desc.MediaType != "" {
		mt = desc.MediaType
	}
	// The first push to a repository creates it (the lock lives in it).
	if err := t.root.MkdirAll(t.base, 0o755); err != nil {
		return target.PushResult{}, fmt.Errorf("%s: create repository: %w", t.Name(), err)
	}
	unlock, err := tree.Lock(ctx, t.root, t.base+"/"+lockName)
	if err != nil {
		return target.PushResult{}, err
	}
	defer unlock()
	before := t.freshness()

	if opts.Tag != "" {
		cur, _, err := t.read(opts.Tag)
		exists := err == nil
		if err != nil && !errors.Is(err, target.ErrNotFound) {
			return target.PushResult{}, err
		}
		switch {
		case opts.IfNoneMatch && exists:
			return target.PushResult{}, fmt.Errorf("%s: tag %s exists: %w", t.Name(), opts.Tag, target.ErrPreconditionFailed)
		case opts.IfMatch != "" && (!exists || cur.Digest.String() != opts.IfMatch):
			return target.PushResult{}, fmt.Errorf("%s: tag %s changed: %w", t.Name(), opts.Tag, target.ErrPreconditionFailed)
		}
	}
	// The subject's referrers are known before anything is written: a tree
	// that cannot be scanned fails the push with nothing stored.
	var entries []ocispec.Descriptor
	if subject != nil {
		prior, ok, err := t.fresh(subject.Digest, before)
		if err != nil {
			return target.PushResult{}, err
		}
		if !ok && !before.dir.IsZero() {
			idx, err := t.IndexFor(ctx, subject.Digest)
			if err != nil {
				return target.PushResult{}, fmt.Errorf("artifact %s not stored: its subject's referrers index could not be rebuilt: %w", desc.Digest, err)
			}
			prior = idx.Manifests
		}
		entries = withEntry(prior, entry)
	}
	if err := t.dirty(before, subject); err != nil {
		return target.PushResult{}, err
	}
	refs := []string{desc.Digest.String()}
	if opts.Tag != "" {
		refs = append(refs, opts.Tag)
	}
	for _, r := range refs {
		p := t.base + "/manifests/" + r
		if err := t.writeSidecar(p+".mediatype", mt); err != nil {
			return target.PushResult{}, fmt.Errorf("%s: %w", t.Name(), err)
		}
		if err := tree.WriteFile(t.root, p, data); err != nil {
			return target.PushResult{}, fmt.Errorf("%s: %w", t.Name(), err)
		}
	}
	if subject != nil {
		if err := t.writeReferrers(subject.Digest, entries, false); err != nil {
			return target.PushResult{}, fmt.Errorf("artifact %s stored, but its subject's referrers index was not: %w", desc.Digest, err)
		}
	}
	if before.complete() {
		if err := t.touchMarker(); err != nil {
			return target.PushResult{}, err
		}
	}
	return target.PushResult{SubjectRecorded: subject != nil, Indexed: true}, nil
}

// writeSidecar writes a .mediatype file unless it already says mt (a
// re-push, or a subject's index file): one write and two fsyncs saved.
func (t *Tree) writeSidecar(p, mt string) error {
	if b, err := tree.ReadFile(t.fsys, p, maxSidecar); err == nil && string(b) == mt {
		return nil
	}
	return tree.WriteFile(t.root, p, []byte(mt))
}

// DeleteManifest removes a manifest stored under its digest (and its sidecar),
// updating its subject's referrers index. Tags that point to it are left.
func (t *Tree) DeleteManifest(ctx context.Context, d digest.Digest) error {
	if err := t.writable(); err != nil {
		return err
	}
	unlock, err := tree.Lock(ctx, t.root, t.base+"/"+lockName)
	if err != nil {
		return err
	}
	defer unlock()
	before := t.freshness()
	desc, b, err := t.read(d.String())
	if err != nil {
		return err
	}
	_, subject, _ := target.ParseReferrer(desc, b)
	var prior []ocispec.Descriptor
	priorOK := false
	if subject != nil {
		if prior, priorOK, err = t.fresh(subject.Digest, before); err != nil {
			return err
		}
	}
	if err := t.dirty(before, subject); err != nil {
		return err
	}
	p := t.base + "/manifests/" + d.String()
	if err := t.root.Remove(p); err != nil {
		return fmt.Errorf("%s: delete %s: %w", t.Name(), d, err)
	}
	_ = t.root.Remove(p + ".mediatype")
	if subject != nil {
		entries := prior
		if !priorOK {
			idx, err := t.IndexFor(ctx, subject.Digest)
			if err != nil {
				return err
			}
			entries = idx.Manifests
		}
		kept := entries[:0]
		for _, e := range entries {
			if e.Digest != d {
				kept = append(kept, e)
			}
		}
		if err := t.writeReferrers(subject.Digest, kept, false); err != nil {
			return err
		}
	}
	if before.complete() {
		return t.touchMarker()
	}
	return nil
}

// Referrers answers from the subject's pre-rendered index when it is fresh
// (Source "index"), else by scanning every manifest stored by digest (Source
// "scan"). The artifactType filter is left to the verbs.
func (t *Tree) Referrers(ctx context.Context, subject digest.Digest, artifactType string) (target.ReferrersResult, error) {
	entries, ok, err := t.fresh(subject, t.freshness())
	if err != nil {
		return target.ReferrersResult{}, err
	}
	if ok {
		return target.ReferrersResult{Manifests: entries, Source: target.SourceIndex}, nil
	}
	idx, err := t.IndexFor(ctx, subject)
	if err != nil {
		return target.ReferrersResult{}, err
	}
	return target.ReferrersResult{Manifests: idx.Manifests, Source: target.SourceScan}, nil
}

// stored lists the manifests stored under a digest name.
func (t *Tree) stored() ([]ocispec.Descriptor, error) {
	ents, err := tree.ReadDir(t.fsys, t.base+"/manifests")
	if errors.Is(err, target.ErrNotFound) {
		return nil, fmt.Errorf("%s: no repository %s (no %s/manifests): %w", t.Name(), t.name, t.base, target.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	var out []ocispec.Descriptor
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".mediatype") || strings.HasPrefix(n, ".") || !strings.Contains(n, ":") {
			continue // sidecars, temporary files, tags
		}
		d, err := digest.Parse(n)
		if err != nil {
			return nil, fmt.Errorf("%s: manifests/%s is named neither by a tag nor by a digest: %w", t.Name(), n, tree.ErrUnsafePath)
		}
		out = append(out, ocispec.Descriptor{Digest: d})
	}
	return out, nil
}

func (t *Tree) scanner() *tree.Scanner {
	return &tree.Scanner{FS: t.fsys, Path: func(d digest.Digest) (string, error) { return t.manifestPath(d.String()) }}
}
