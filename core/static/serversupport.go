// What the registry server (package server) needs of a tree beyond
// target.Target: tag listing and deletion, blob stat, delete, commit and
// mount.

package static

import (
	"context"
	"fmt"
	"io/fs"
	"sort"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/target"
)

// Tags lists the repository's tags, sorted: the files of the manifests
// directory that are named by a tag (not a digest, a sidecar or a temporary
// file). A repository that does not exist is target.ErrNotFound.
func (t *Tree) Tags() ([]string, error) {
	ents, err := tree.ReadDir(t.fsys, t.base+"/manifests")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	var tags []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !ValidTag(n) {
			continue
		}
		tags = append(tags, n)
	}
	sort.Strings(tags)
	return tags, nil
}

// DeleteTag removes a tag (and its sidecar); the manifest stays under its
// digest. A missing tag is target.ErrNotFound.
func (t *Tree) DeleteTag(ctx context.Context, tag string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if !ValidTag(tag) {
		return fmt.Errorf("tag %q: %w", tag, ref.ErrInvalid)
	}
	unlock, err := tree.Lock(ctx, t.root, t.base+"/"+lockName)
	if err != nil {
		return err
	}
	defer unlock()
	before := t.freshness()
	p := t.base + "/manifests/" + tag
	if _, err := tree.Stat(t.fsys, p); err != nil {
		return fmt.Errorf("%s: tag %s: %w", t.Name(), tag, err)
	}
	if err := t.dirty(before, nil); err != nil {
		return err
	}
	if err := t.root.Remove(p); err != nil {
		return fmt.Errorf("%s: delete tag %s: %w", t.Name(), tag, err)
	}
	_ = t.root.Remove(p + ".mediatype")
	if before.complete() {
		return t.touchMarker()
	}
	return nil
}

// TagsOf lists the tags whose manifest has digest d.
func (t *Tree) TagsOf(d digest.Digest) ([]string, error) {
	tags, err := t.Tags()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, tag := range tags {
		b, err := tree.ReadFile(t.fsys, t.base+"/manifests/"+tag, target.MaxManifestBytes)
		if err != nil {
			continue // removed meanwhile, or not ours to judge
		}
		if d.Algorithm().Available() && d.Algorithm().FromBytes(b) == d {
			out = append(out, tag)
		}
	}
	return out, nil
}

// StatBlob describes a stored blob. A missing blob is target.ErrNotFound.
func (t *Tree) StatBlob(d digest.Digest) (fs.FileInfo, error) {
	p, err := t.blobPath(d)
	if err != nil {
		return nil, err
	}
	fi, err := tree.Stat(t.fsys, p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", tree.ErrUnsafePath, p)
	}
	return fi, nil
}

// DeleteBlob removes a blob. A missing blob is target.ErrNotFound.
func (t *Tree) DeleteBlob(d digest.Digest) error {
	if err := t.writable(); err != nil {
		return err
	}
	p, err := t.blobPath(d)
	if err != nil {
		return err
	}
	if _, err := t.StatBlob(d); err != nil {
		return err
	}
	if err := t.root.Remove(p); err != nil {
		return fmt.Errorf("%s: delete blob %s: %w", t.Name(), d, err)
	}
	return nil
}

// CommitBlob moves the file tmp (a path in the tree's root, written and
// verified by the caller) into place as blob d, atomically.
func (t *Tree) CommitBlob(d digest.Digest, tmp string) error {
	if err := t.writable(); err != nil {
		return err
	}
	p, err := t.blobPath(d)
	if err != nil {
		return err
	}
	if err := tree.Commit(t.root, tmp, p); err != nil {
		return fmt.Errorf("%s: %w", t.Name(), err)
	}
	return nil
}

// MountBlob makes blob d of repository from (of the same tree) a blob of
// this one: a hard link where the file system allows, else a verified copy.
func (t *Tree) MountBlob(from *Tree, d digest.Digest) error {
	if err := t.writable(); err != nil {
		return err
	}
	src, err := from.blobPath(d)
	if err != nil {
		return err
	}
	fi, err := from.StatBlob(d)
	if err != nil {
		return err
	}
	dst, _ := t.blobPath(d)
	if _, err := t.StatBlob(d); err == nil {
		return nil
	}
	if err := tree.LinkFile(t.root, src, dst); err == nil {
		return nil
	}
	f, err := tree.Open(from.fsys, src)
	if err != nil {
		return err
	}
	defer f.Close()
	return tree.WriteBlob(t.root, dst, d, fi.Size(), f)
}
