// The pre-rendered referrers indexes: when they can be trusted (freshness,
// the .complete marker), how a write keeps them right across a crash, and
// the rebuild of one or all of them.

package static

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/target"
)

// freshness is what the tree's timestamps say, read under the lock.
type freshness struct {
	dir    time.Time // manifests directory
	marker time.Time // .complete, zero when absent
}

func (t *Tree) freshness() freshness {
	var f freshness
	if fi, err := fs.Stat(t.fsys, t.base+"/manifests"); err == nil {
		f.dir = fi.ModTime()
	}
	if fi, err := fs.Stat(t.fsys, t.base+"/referrers/"+marker); err == nil {
		f.marker = fi.ModTime()
	}
	return f
}

// complete reports whether every referrers file is up to date.
func (f freshness) complete() bool { return !f.marker.IsZero() && !f.marker.Before(f.dir) }

// fresh reads subject's pre-rendered index if it can be trusted; ok is false
// when it cannot (then scan).
func (t *Tree) fresh(subject digest.Digest, f freshness) ([]ocispec.Descriptor, bool, error) {
	p := t.referrersPath(subject)
	fi, err := tree.Stat(t.fsys, p)
	switch {
	case errors.Is(err, target.ErrNotFound):
		return nil, f.complete(), nil
	case errors.Is(err, tree.ErrUnsafePath):
		// a symlink out of the tree is an error, as every read of one is
		return nil, false, fmt.Errorf("%s: referrers index of %s: %w", t.Name(), subject, err)
	case err != nil:
		return nil, false, nil
	case !f.complete() && fi.ModTime().Before(f.dir):
		return nil, false, nil
	}
	b, err := tree.ReadFile(t.fsys, p, target.MaxManifestBytes)
	if err != nil {
		return nil, false, fmt.Errorf("%s: referrers index of %s: %w", t.Name(), subject, err)
	}
	idx, err := target.DecodeIndex(b)
	if err != nil {
		return nil, false, fmt.Errorf("%s: referrers index of %s: %w", t.Name(), subject, err)
	}
	return idx.Manifests, true, nil
}

// dirty makes sure that a crash in the middle of a write of ours leaves
// the tree stale (a scan, or a rebuild by EnsureComplete), never trusted
// with an index that misses the write. Before the manifests change it
// removes, durably, what would vouch for the old state: the .complete marker
// when the tree was complete, and the pre-rendered index of the subject the
// write touches (both rewritten at the write's end). Timestamps alone cannot say
// it: a file and the directory can get the same time within the file
// system's clock tick.
func (t *Tree) dirty(before freshness, subject *ocispec.Descriptor) error {
	var gone []string
	if before.complete() {
		gone = append(gone, t.base+"/referrers/"+marker)
	}
	if subject != nil {
		gone = append(gone, t.referrersPath(subject.Digest))
	}
	removed := false
	for _, p := range gone {
		err := t.root.Remove(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", t.Name(), err)
		}
		removed = removed || err == nil
	}
	if !removed {
		return nil
	}
	d, err := t.root.Open(t.base + "/referrers")
	if err != nil {
		return fmt.Errorf("%s: %w", t.Name(), err)
	}
	err = d.Sync()
	d.Close()
	if err != nil {
		return fmt.Errorf("%s: sync referrers directory: %w", t.Name(), err)
	}
	return nil
}

// touchMarker marks the tree complete again at the end of a write of ours
// that found it complete. It is created after every other write, so its
// time is not before the manifests directory's. It is not synced: losing it
// in a crash leaves the tree stale, never wrong.
func (t *Tree) touchMarker() error {
	f, err := t.root.OpenFile(t.base+"/referrers/"+marker, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", t.Name(), err)
	}
	_, err = f.WriteString(markerText)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

const markerText = "every referrers file here was up to date when this file was written\n"

func (t *Tree) writeMarker() error {
	return tree.WriteFile(t.root, t.base+"/referrers/"+marker, []byte(markerText))
}

// writeReferrers stores subject's referrers index. With keep, a file that
// already holds it is left as it is: IndexForAllWith's marker vouches for
// every file, whatever its time (others rely on the new file's time).
func (t *Tree) writeReferrers(subject digest.Digest, entries []ocispec.Descriptor, keep bool) error {
	b, err := json.Marshal(target.NewIndex(entries))
	if err != nil {
		return err
	}
	p := t.referrersPath(subject)
	if err := t.writeSidecar(p+".mediatype", ocispec.MediaTypeImageIndex); err != nil {
		return err
	}
	if keep {
		if old, err := tree.ReadFile(t.fsys, p, int64(len(b))); err == nil && string(old) == string(b) {
			return nil
		}
	}
	return tree.WriteFile(t.root, p, b)
}

func withEntry(list []ocispec.Descriptor, e ocispec.Descriptor) []ocispec.Descriptor {
	out := make([]ocispec.Descriptor, 0, len(list)+1)
	for _, d := range list {
		if d.Digest != e.Digest {
			out = append(out, d)
		}
	}
	return append(out, e)
}

// IndexFor builds the referrers index of subject by scanning every stored
// manifest's subject field.
func (t *Tree) IndexFor(ctx context.Context, subject digest.Digest) (ocispec.Index, error) {
	items, err := t.stored()
	if err != nil {
		return ocispec.Index{}, err
	}
	found, _, err := t.scanner().Scan(ctx, items, subject)
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("%s: %w", t.Name(), err)
	}
	return target.NewIndex(found[subject]), nil
}

// WriteIndexFor scans for subject's referrers and stores the result as its
// pre-rendered index.
func (t *Tree) WriteIndexFor(ctx context.Context, subject digest.Digest) (ocispec.Index, error) {
	if err := t.writable(); err != nil {
		return ocispec.Index{}, err
	}
	unlock, err := tree.Lock(ctx, t.root, t.base+"/"+lockName)
	if err != nil {
		return ocispec.Index{}, err
	}
	defer unlock()
	idx, err := t.IndexFor(ctx, subject)
	if err != nil {
		return ocispec.Index{}, err
	}
	return idx, t.writeReferrers(subject, idx.Manifests, false)
}

// AllResult reports a rebuild of every referrers index.
type AllResult struct {
	// Subjects maps each subject with referrers to its index.
	Subjects map[digest.Digest]ocispec.Index
	// Empty are the manifests stored by digest whose referrers file is an
	// empty image index: those that have one and no referrers any more, and
	// with AllOptions.Empty every one without referrers.
	Empty []digest.Digest
	// Removed are the referrers files of digests that name no stored
	// manifest and have no referrers.
	Removed []digest.Digest
	// Manifests and Bytes are what the single pass read.
	Manifests int
	Bytes     int64
}

// AllOptions are the choices of IndexForAllWith.
type AllOptions struct {
	// Write stores the result; without it, IndexForAllWith only reports.
	Write bool
	// Empty gives every manifest stored by digest a referrers file, an
	// empty image index for those without referrers, so that a web server
	// serving the tree answers 200 with an empty index for them, as a
	// registry with the API must (distribution-spec v1.1.1, "Listing
	// Referrers"), and not 404, which clients take for a registry without it.
	Empty bool
}

// IndexForAll is IndexForAllWith(ctx, AllOptions{Write: write}).
func (t *Tree) IndexForAll(ctx context.Context, write bool) (AllResult, error) {
	return t.IndexForAllWith(ctx, AllOptions{Write: write})
}

// IndexForAllWith rebuilds every pre-rendered referrers index in one pass
// over the stored manifests and marks the tree complete. A stored manifest
// that has a referrers file and no referrers any more keeps the file, as an
// empty index (an empty index is as right as none, and a web server needs
// it); the files of digests that name no stored manifest and have no
// referrers are removed. A file that already holds its index is not
// rewritten.
func (t *Tree) IndexForAllWith(ctx context.Context, opts AllOptions) (AllResult, error) {
	if opts.Write {
		if err := t.writable(); err != nil {
			return AllResult{}, err
		}
		unlock, err := tree.Lock(ctx, t.root, t.base+"/"+lockName)
		if err != nil {
			return AllResult{}, err
		}
		defer unlock()
	}
	items, err := t.stored()
	if err != nil {
		return AllResult{}, err
	}
	found, st, err := t.scanner().Scan(ctx, items, "")
	if err != nil {
		return AllResult{}, fmt.Errorf("%s: %w", t.Name(), err)
	}
	res := AllResult{Subjects: map[digest.Digest]ocispec.Index{}, Manifests: st.Files, Bytes: st.Bytes}
	for s, es := range found {
		res.Subjects[s] = target.NewIndex(es)
	}
	// bare: stored manifests without referrers; true when they get a file
	bare := map[digest.Digest]bool{}
	for _, it := range items {
		if _, ok := found[it.Digest]; !ok {
			bare[it.Digest] = opts.Empty
		}
	}
	if ents, err := fs.ReadDir(t.fsys, t.base+"/referrers"); err == nil {
		for _, e := range ents {
			d, err := digest.Parse(e.Name())
			if err != nil {
				continue
			}
			if _, ok := bare[d]; ok {
				bare[d] = true
			} else if _, ok := found[d]; !ok {
				res.Removed = append(res.Removed, d)
			}
		}
	}
	for d, file := range bare {
		if file {
			res.Empty = append(res.Empty, d)
		}
	}
	sort.Slice(res.Empty, func(i, j int) bool { return res.Empty[i] < res.Empty[j] })
	sort.Slice(res.Removed, func(i, j int) bool { return res.Removed[i] < res.Removed[j] })
	if !opts.Write {
		return res, nil
	}
	for s, idx := range res.Subjects {
		if err := t.writeReferrers(s, idx.Manifests, true); err != nil {
			return res, fmt.Errorf("%s: %w", t.Name(), err)
		}
	}
	for _, d := range res.Empty {
		if err := t.writeReferrers(d, nil, true); err != nil {
			return res, fmt.Errorf("%s: %w", t.Name(), err)
		}
	}
	for _, d := range res.Removed {
		p := t.referrersPath(d)
		if err := t.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("%s: %w", t.Name(), err)
		}
		_ = t.root.Remove(p + ".mediatype")
	}
	t.removeTemps()
	return res, t.writeMarker()
}

// removeTemps removes the temporary files a killed write of ours left in
// manifests/ and referrers/. Every writer of those holds the tree's lock, as
// the caller does, so none of them is in use. (blobs/ is written without the
// lock and left alone.)
func (t *Tree) removeTemps() {
	for _, dir := range []string{"/manifests", "/referrers"} {
		ents, err := fs.ReadDir(t.fsys, t.base+dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".tmp-") && e.Type().IsRegular() {
				_ = t.root.Remove(t.base + dir + "/" + e.Name())
			}
		}
	}
}

// EnsureComplete rebuilds every referrers index (IndexForAll) unless the tree
// is marked complete and fresh, so that later pushes and deletes keep the
// pre-rendered indexes right without scans. A repository with no manifests
// yet needs nothing.
func (t *Tree) EnsureComplete(ctx context.Context) error {
	if t.freshness().complete() {
		return nil
	}
	if _, err := tree.Stat(t.fsys, t.base+"/manifests"); errors.Is(err, target.ErrNotFound) {
		return nil
	}
	_, err := t.IndexForAll(ctx, true)
	return err
}
