// Package layout is the OCI image layout store (image-spec v1.1.1
// image-layout.md: the oci-layout file, index.json and blobs/<alg>/<encoded>)
// as a target.Target, the `oci:DIR[:TAG|@DIGEST]` transport.
//
// Referrers are recorded both ways peers read them (WithStyle picks one):
// the artifact manifest becomes an untagged entry of index.json (so `oras
// discover --oci-layout` finds it), and an entry of its subject's referrers
// tag schema index, stored under the tag <alg>-<hex> (so regctl's
// `artifact list ocidir://` finds it); both are written under the lock, in
// one replacement of index.json, and a delete removes both. Listing scans the manifests index.json reaches (through nested indexes) for
// their subject field; the result of a scan is kept, keyed by index.json's
// identity (size, modification time, inode), in memory and, with WithCacheDir,
// on disk, so that a later list costs a stat and the referrers' entries, not a
// read of every manifest. Our own attaches update that cache instead of
// invalidating it. A tag-schema index stored under the fallback tag (what
// regctl's ocidir:// writes) is read by the verbs beside the scan and merged.
//
// All access goes through an fs.FS for reads and an *os.Root for writes, so
// no path or symlink leaves the directory; index.json is replaced atomically
// under an inter-process lock (tree.Lock).
package layout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
)

// MaxIndexBytes caps index.json (about 100k entries fit in 32 MiB).
const MaxIndexBytes = 64 << 20

// lockName is the lock file that serializes index.json updates.
const lockName = ".referrers.lock"

// ErrNotLayout is returned for a directory without a valid oci-layout file.
var ErrNotLayout = errors.New("not an OCI image layout")

// Layout is one OCI image layout.
type Layout struct {
	name      string
	fsys      fs.FS
	root      *os.Root // nil: read-only
	scanBlobs bool
	cacheDir  string
	// stable trusts a racy snapshot while index.json keeps its key (see
	// WithStableIndex).
	stable bool
	// style is how pushed referrers are recorded (WithStyle).
	style Style

	mu    sync.Mutex
	cache *snapshot // the last scan, valid while index.json keeps its key
}

// Option configures a Layout.
type Option func(*Layout)

// WithScanBlobs makes Referrers also scan every blob of blobs/ that could be a
// manifest (at most 4 MiB), finding referrers that index.json does not reach.
// Such a scan is never cached.
func WithScanBlobs(on bool) Option { return func(l *Layout) { l.scanBlobs = on } }

// WithCacheDir keeps scan results in dir across processes (one small JSON file
// per layout). Empty: in memory only.
func WithCacheDir(dir string) Option { return func(l *Layout) { l.cacheDir = dir } }

// WithStableIndex is for a Layout that answers one question and is closed:
// a snapshot of an index.json modified within the last two seconds ("racy",
// see snapshot) is normally checked by content before every use, because a
// same-size rewrite in the file system's timestamp granularity would keep
// its key; with this option it is checked by key only, so one question
// sees one index.json. package request uses it: in the WASI sandbox the
// clock is fixed in the past, so every snapshot would stay racy and
// index.json would be read and decoded again at every step of a listing.
func WithStableIndex(on bool) Option { return func(l *Layout) { l.stable = on } }

// Open opens the layout in dir for reading and writing, through os.OpenRoot.
// The caller closes it.
func Open(dir string, opts ...Option) (*Layout, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open layout %s: %w", dir, err)
	}
	l := New(tree.ReadFS(root), root, dir, opts...)
	if err := l.check(); err != nil {
		root.Close()
		return nil, err
	}
	return l, nil
}

// New returns the layout in fsys, named name in messages. root, when not nil,
// must be the same tree (its FS is fsys) and enables writes.
func New(fsys fs.FS, root *os.Root, name string, opts ...Option) *Layout {
	l := &Layout{name: name, fsys: fsys, root: root}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Close releases the directory.
func (l *Layout) Close() error {
	if l.root != nil {
		return l.root.Close()
	}
	return nil
}

func (l *Layout) check() error {
	b, err := tree.ReadFile(l.fsys, ocispec.ImageLayoutFile, 4096)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotLayout, l.name, err)
	}
	var v ocispec.ImageLayout
	if err := json.Unmarshal(b, &v); err != nil || v.Version == "" {
		return fmt.Errorf("%w: %s: oci-layout file is not {\"imageLayoutVersion\": ...}", ErrNotLayout, l.name)
	}
	return nil
}

// Name is "oci:" and the directory.
func (l *Layout) Name() string { return "oci:" + l.name }

// BlobPath returns the path of a blob in the layout: blobs/<alg>/<encoded>.
func BlobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	return "blobs/" + string(d.Algorithm()) + "/" + d.Encoded(), nil
}

// index reads and decodes index.json with the key it had.
func (l *Layout) index() (ocispec.Index, key, error) {
	idx, k, _, err := l.readIndex()
	return idx, k, err
}

// readIndex is index with the digest of the bytes it decoded.
func (l *Layout) readIndex() (ocispec.Index, key, digest.Digest, error) {
	k, err := l.key()
	if err != nil {
		return ocispec.Index{}, key{}, "", err
	}
	b, err := tree.ReadFile(l.fsys, ocispec.ImageIndexFile, MaxIndexBytes)
	if err != nil {
		return ocispec.Index{}, key{}, "", fmt.Errorf("%s: %w", l.name, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Index{}, key{}, "", fmt.Errorf("%s: index.json: %w: %w", l.name, target.ErrInvalidManifest, err)
	}
	for i, m := range idx.Manifests {
		if err := m.Digest.Validate(); err != nil {
			return ocispec.Index{}, key{}, "", fmt.Errorf("%s: index.json entry %d: digest %q: %w: %w", l.name, i, m.Digest, target.ErrInvalidManifest, err)
		}
	}
	return idx, k, digest.FromBytes(b), nil
}

// snapshot is what the layout knows for one index.json key: tags and
// referrers by subject.
type snapshot struct {
	Key       key                                    `json:"key"`
	Tags      map[string]ocispec.Descriptor          `json:"tags"`
	Referrers map[digest.Digest][]ocispec.Descriptor `json:"referrers"`
	Digests   map[digest.Digest]ocispec.Descriptor   `json:"-"` // in memory only: it grows with the manifests, and a blob read answers
	Scanned   bool                                   `json:"-"`
	// entries are index.json's manifests, in memory only, so that a scan
	// after a plain view (Resolve, then Referrers) does not read and decode
	// index.json again.
	entries []ocispec.Descriptor
	// Hash is the digest of the index.json the snapshot was made from, kept
	// when Racy: index.json was modified so shortly before (racyWindow) that
	// a same-size in-place rewrite within the file system's timestamp
	// granularity would keep the key. A racy snapshot is only used after
	// index.json is hashed again and matches (git's "racy clean" rule).
	Hash digest.Digest `json:"hash,omitempty"`
	Racy bool          `json:"racy,omitempty"`
}

// racyWindow is how recent an index.json modification must be for a
// snapshot of it to be checked by content before use.
const racyWindow = 2 * time.Second

// usable reports whether s may answer for the index.json whose key is k.
func (l *Layout) usable(s *snapshot, k key) bool {
	if s == nil || s.Key != k {
		return false
	}
	if !s.Racy || l.stable {
		return true
	}
	_, _, h, err := l.readIndex()
	return err == nil && h == s.Hash
}

// settled returns s, or, when s is racy but index.json (just checked by
// content) is now older than racyWindow, a copy that is no longer racy, kept
// in memory and on disk: later lists trust the key again instead of hashing
// index.json every time.
func (l *Layout) settled(s *snapshot, k key) *snapshot {
	if !s.Racy || time.Since(time.Unix(0, k.MTime)) <= racyWindow {
		return s
	}
	cp := *s
	cp.Racy = false
	l.setCache(&cp)
	l.saveDisk(&cp)
	return &cp
}

// stamp marks s racy when index.json (of key k, content digest h) changed
// within racyWindow.
func stamp(s *snapshot, k key, h digest.Digest) {
	s.Hash = h
	s.Racy = time.Since(time.Unix(0, k.MTime)) <= racyWindow
}

// tags maps each tag (org.opencontainers.image.ref.name) to its entry; a tag
// on two different digests is an error.
func tags(name string, idx ocispec.Index) (map[string]ocispec.Descriptor, map[digest.Digest]ocispec.Descriptor, error) {
	t := map[string]ocispec.Descriptor{}
	ds := map[digest.Digest]ocispec.Descriptor{}
	for _, m := range idx.Manifests {
		plain := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
		ds[m.Digest] = plain
		tag := m.Annotations[ocispec.AnnotationRefName]
		if tag == "" {
			continue
		}
		if prev, ok := t[tag]; ok && prev.Digest != m.Digest {
			return nil, nil, fmt.Errorf("%s: tag %q names two manifests (%s and %s) in index.json: %w", name, tag, prev.Digest, m.Digest, target.ErrInvalidManifest)
		}
		t[tag] = plain
	}
	return t, ds, nil
}

// view returns the snapshot for the current index.json, without scanning
// unless scan is true.
func (l *Layout) view(scan bool) (*snapshot, error) {
	s, _, err := l.viewScanned(scan)
	return s, err
}

// viewScanned is view that also says whether it scanned the manifests now.
func (l *Layout) viewScanned(scan bool) (*snapshot, bool, error) {
	k, err := l.key()
	if err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	c := l.cache
	l.mu.Unlock()
	if c != nil && (c.Scanned || !scan) && l.usable(c, k) {
		return l.settled(c, k), false, nil
	}
	// Another process may have saved a scan of this key since ours was kept.
	if d := l.loadDisk(k); d != nil && l.usable(d, k) {
		d = l.settled(d, k)
		l.setCache(d)
		return d, false, nil
	}
	var s *snapshot
	var idx ocispec.Index
	if c != nil && scan && c.entries != nil && l.usable(c, k) {
		// A plain view of this index.json is at hand: scan what it read.
		cp := *c
		s, idx.Manifests = &cp, c.entries
	} else {
		var h digest.Digest
		idx, k, h, err = l.readIndex()
		if err != nil {
			return nil, false, err
		}
		t, ds, err := tags(l.name, idx)
		if err != nil {
			return nil, false, err
		}
		s = &snapshot{Key: k, Tags: t, Digests: ds, entries: idx.Manifests}
		stamp(s, k, h)
	}
	if scan {
		sc := &tree.Scanner{FS: l.fsys, Path: BlobPath, Follow: true}
		found, _, err := sc.Scan(context.Background(), idx.Manifests, "")
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", l.name, err)
		}
		s.Referrers, s.Scanned = found, true
		l.saveDisk(s)
	}
	l.setCache(s)
	return s, scan, nil
}

func (l *Layout) setCache(s *snapshot) {
	l.mu.Lock()
	l.cache = s
	l.mu.Unlock()
}

// Resolve turns a tag (an org.opencontainers.image.ref.name of index.json) or
// a digest into the manifest's descriptor.
func (l *Layout) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	if d, err := digest.Parse(reference); err == nil {
		return l.resolveDigest(d)
	}
	if !ref.ValidTag(reference) {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %q is neither a tag nor a digest: %w", l.Name(), reference, ref.ErrInvalid)
	}
	s, err := l.view(false)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, ok := s.Tags[reference]
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("%s: tag %s: %w", l.Name(), reference, target.ErrNotFound)
	}
	if desc.MediaType == "" || desc.Size == 0 {
		return l.resolveDigest(desc.Digest)
	}
	return desc, nil
}

func (l *Layout) resolveDigest(d digest.Digest) (ocispec.Descriptor, error) {
	if s, err := l.view(false); err == nil {
		if desc, ok := s.Digests[d]; ok && desc.MediaType != "" && desc.Size > 0 {
			return desc, nil
		}
	}
	p, err := BlobPath(d)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	b, err := tree.ReadVerified(l.fsys, p, d, target.MaxManifestBytes)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: manifest %s: %w", l.Name(), d, err)
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.MediaType == "" {
		return ocispec.Descriptor{}, fmt.Errorf("%s: blob %s is not a manifest with a mediaType: %w", l.Name(), d, target.ErrInvalidManifest)
	}
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(b))}, nil
}

// FetchManifest reads a manifest blob, verified and capped.
func (l *Layout) FetchManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	p, err := BlobPath(desc.Digest)
	if err != nil {
		return nil, err
	}
	b, err := tree.ReadVerified(l.fsys, p, desc.Digest, target.MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Name(), err)
	}
	return b, nil
}

// FetchTagged reads the manifest a tag names; its ETag is the digest, which a
// conditional push compares under the lock.
func (l *Layout) FetchTagged(ctx context.Context, tag string) (target.Tagged, error) {
	desc, err := l.Resolve(ctx, tag)
	if err != nil {
		return target.Tagged{}, err
	}
	b, err := l.FetchManifest(ctx, desc)
	if err != nil {
		return target.Tagged{}, err
	}
	return target.Tagged{Descriptor: desc, Data: b, ETag: desc.Digest.String()}, nil
}

// BlobExists reports whether the layout holds the blob.
func (l *Layout) BlobExists(d digest.Digest) bool {
	p, err := BlobPath(d)
	if err != nil {
		return false
	}
	fi, err := fs.Stat(l.fsys, p)
	return err == nil && fi.Mode().IsRegular()
}

func (l *Layout) writable() error {
	if l.root == nil {
		return fmt.Errorf("%s is open read-only: %w", l.Name(), target.ErrUnsupported)
	}
	return nil
}

// PushBlob writes a blob atomically after verifying its digest and size.
func (l *Layout) PushBlob(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if err := l.writable(); err != nil {
		return err
	}
	p, err := BlobPath(desc.Digest)
	if err != nil {
		return err
	}
	if _, err := l.view(false); err != nil {
		return err // nothing is written to a layout whose index.json cannot be read
	}
	if err := tree.WriteBlob(l.root, p, desc.Digest, desc.Size, r); err != nil {
		return fmt.Errorf("%s: %w", l.Name(), err)
	}
	return nil
}

// PushManifest writes the manifest blob and records it in index.json under
// the lock: tagged (org.opencontainers.image.ref.name) when opts.Tag is set,
// else as an untagged entry unless one is there. IfMatch (a digest, from
// FetchTagged) and IfNoneMatch are honoured under the lock, so a layout is a
// store where the tag schema's compare-and-swap works.
func (l *Layout) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, opts target.PushOptions) (target.PushResult, error) {
	if err := l.writable(); err != nil {
		return target.PushResult{}, err
	}
	entry, subject, err := tree.CheckManifest(desc, data, opts.Tag)
	if err != nil {
		return target.PushResult{}, err
	}
	if _, err := l.view(false); err != nil {
		return target.PushResult{}, err // nothing is written to a layout whose index.json cannot be read
	}
	p, _ := BlobPath(desc.Digest)
	if err := tree.WriteBlob(l.root, p, desc.Digest, int64(len(data)), bytesReader(data)); err != nil {
		return target.PushResult{}, fmt.Errorf("%s: %w", l.Name(), err)
	}
	unlock, err := tree.Lock(ctx, l.root, lockName)
	if err != nil {
		return target.PushResult{}, err
	}
	defer unlock()

	// A scan of the state before this write, if we have one, is carried over.
	prev, _ := l.view(false)
	idx, _, err := l.index()
	if err != nil {
		return target.PushResult{}, err
	}
	plain := ocispec.Descriptor{MediaType: entry.MediaType, Digest: desc.Digest, Size: int64(len(data)), ArtifactType: entry.ArtifactType}
	changed := false
	if opts.Tag != "" {
		var cur *ocispec.Descriptor
		kept := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if m.Annotations[ocispec.AnnotationRefName] == opts.Tag {
				m := m
				cur = &m
				continue
			}
			kept = append(kept, m)
		}
		switch {
		case opts.IfNoneMatch && cur != nil:
			return target.PushResult{}, fmt.Errorf("%s: tag %s exists: %w", l.Name(), opts.Tag, target.ErrPreconditionFailed)
		case opts.IfMatch != "" && (cur == nil || cur.Digest.String() != opts.IfMatch):
			return target.PushResult{}, fmt.Errorf("%s: tag %s changed: %w", l.Name(), opts.Tag, target.ErrPreconditionFailed)
		}
		tagged := plain
		tagged.Annotations = map[string]string{ocispec.AnnotationRefName: opts.Tag}
		idx.Manifests = append(kept, tagged)
		changed = true
	} else {
		found := false
		for _, m := range idx.Manifests {
			if m.Digest == desc.Digest {
				found = true
				break
			}
		}
		if !found && (subject == nil || l.style != StyleTag) {
			idx.Manifests = append(idx.Manifests, plain)
			changed = true
		}
		if subject != nil && l.style != StyleIndex {
			ch, err := l.withTagEntry(&idx, subject.Digest, entry)
			if err != nil {
				return target.PushResult{}, err
			}
			changed = changed || ch
		}
	}
	if changed {
		if err := l.writeIndex(idx, prev, subject, entry); err != nil {
			return target.PushResult{}, err
		}
	}
	return target.PushResult{SubjectRecorded: subject != nil, Indexed: true}, nil
}

// writeIndex replaces index.json and, when the previous snapshot was scanned,
// carries it over to the new key with the new referrer added.
func (l *Layout) writeIndex(idx ocispec.Index, prev *snapshot, subject *ocispec.Descriptor, entry ocispec.Descriptor) error {
	if idx.SchemaVersion == 0 {
		idx.SchemaVersion = 2
	}
	if idx.MediaType == "" {
		idx.MediaType = ocispec.MediaTypeImageIndex
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := tree.WriteFile(l.root, ocispec.ImageIndexFile, b); err != nil {
		return fmt.Errorf("%s: %w", l.Name(), err)
	}
	k, err := l.key()
	if err != nil {
		return err
	}
	t, ds, err := tags(l.name, idx)
	if err != nil {
		return err
	}
	s := &snapshot{Key: k, Tags: t, Digests: ds}
	stamp(s, k, digest.FromBytes(b))
	if prev != nil && prev.Scanned {
		s.Referrers = make(map[digest.Digest][]ocispec.Descriptor, len(prev.Referrers)+1)
		for k, v := range prev.Referrers {
			s.Referrers[k] = v
		}
		if subject != nil {
			s.Referrers[subject.Digest] = addEntry(s.Referrers[subject.Digest], entry)
		}
		s.Scanned = true
		l.saveDisk(s)
	}
	l.setCache(s)
	return nil
}

func addEntry(list []ocispec.Descriptor, e ocispec.Descriptor) []ocispec.Descriptor {
	out := make([]ocispec.Descriptor, 0, len(list)+1)
	for _, d := range list {
		if d.Digest != e.Digest {
			out = append(out, d)
		}
	}
	out = append(out, e)
	sortDescs(out)
	return out
}

// DeleteManifest removes the index.json entries of d and, when d is a
// referrer, its entry in its subject's referrers tag schema index (the tag
// goes when that index is left empty): both records a push made. The blob
// stays: another index may list it as a child. ErrNotFound when no record
// names d.
func (l *Layout) DeleteManifest(ctx context.Context, d digest.Digest) error {
	if err := l.writable(); err != nil {
		return err
	}
	unlock, err := tree.Lock(ctx, l.root, lockName)
	if err != nil {
		return err
	}
	defer unlock()
	idx, _, err := l.index()
	if err != nil {
		return err
	}
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		if m.Digest != d {
			kept = append(kept, m)
		}
	}
	changed := len(kept) != len(idx.Manifests)
	idx.Manifests = kept
	b, err := l.FetchManifest(ctx, ocispec.Descriptor{Digest: d})
	if err == nil {
		if _, subject, _ := target.ParseReferrer(ocispec.Descriptor{Digest: d}, b); subject != nil {
			ch, err := l.withoutTagEntry(&idx, subject.Digest, d)
			if err != nil {
				return err
			}
			changed = changed || ch
		}
	}
	if !changed {
		return fmt.Errorf("%s: manifest %s: %w", l.Name(), d, target.ErrNotFound)
	}
	b, err = json.Marshal(idx)
	if err != nil {
		return err
	}
	l.setCache(nil)
	return tree.WriteFile(l.root, ocispec.ImageIndexFile, b)
}

// Referrers lists the referrers of subject found by scanning the manifests
// index.json reaches (Source "scan"), or from the snapshot of an earlier scan
// while index.json is unchanged (Source "index"). The artifactType filter is
// left to the verbs.
func (l *Layout) Referrers(ctx context.Context, subject digest.Digest, artifactType string) (target.ReferrersResult, error) {
	if l.scanBlobs {
		found, err := l.scanAllBlobs(ctx, subject)
		if err != nil {
			return target.ReferrersResult{}, err
		}
		return target.ReferrersResult{Manifests: found, Source: target.SourceScan}, nil
	}
	s, scanned, err := l.viewScanned(true)
	if err != nil {
		return target.ReferrersResult{}, err
	}
	source := target.SourceIndex
	if scanned {
		source = target.SourceScan
	}
	return target.ReferrersResult{Manifests: append([]ocispec.Descriptor(nil), s.Referrers[subject]...), Source: source}, nil
}

// IndexFor builds the referrers index of subject by a fresh scan (as
// `referrers index-for` does), ignoring any cached snapshot.
func (l *Layout) IndexFor(ctx context.Context, subject digest.Digest) (ocispec.Index, error) {
	idx, _, err := l.index()
	if err != nil {
		return ocispec.Index{}, err
	}
	sc := &tree.Scanner{FS: l.fsys, Path: BlobPath, Follow: true}
	found, _, err := sc.Scan(ctx, idx.Manifests, subject)
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("%s: %w", l.name, err)
	}
	return target.NewIndex(found[subject]), nil
}

func sortDescs(ds []ocispec.Descriptor) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].Digest < ds[j-1].Digest; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}
